"""The lexical head: its TF-IDF must be scikit-learn's, and it must be chosen where words
decide which arm wins, and only there."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import numpy as np
import pytest

from ponder.classifiers import (
    DifficultyClassifier,
    FeaturizerSpec,
    load_classifier,
    save_classifier,
)
from ponder.classifiers._lexical import READ_CHARS, Lexicon, _read, _terms
from ponder.outcomes import OutcomeTable
from tests.classifiers.tables import drawn_table

STATS = FeaturizerSpec(kind="stats")
TEXTS = [
    "What is the capital of France? Answer in one word.",
    "what IS the capital of Spain?? answer: one word",
    "Écrivez une fonction Python qui inverse une chaîne; naïve café résumé.",
    "def f(x): return x ** 2  # square it, then square it again",
    "The the the the cat sat on the mat the end",
    "a b c d e f",  # single characters are no tokens
    "",
    "river " * 2000 + "closing question: which river?",  # longer than the read window
    "数学问题 计算 2+3 日本語 テキスト",
]


def test_transform_is_scikit_learns_tfidf() -> None:
    text = pytest.importorskip("sklearn.feature_extraction.text")
    corpus = TEXTS * 3 + [f"extra words number {i} here" for i in range(40)]
    ours = Lexicon().fit(corpus)
    theirs = text.TfidfVectorizer(sublinear_tf=True, ngram_range=(1, 2), min_df=2).fit(
        [_read(t) for t in corpus]
    )
    assert list(ours.terms_) == sorted(theirs.vocabulary_)
    order = [theirs.vocabulary_[t] for t in ours.terms_]
    expected = theirs.transform([_read(t) for t in TEXTS])[:, order].toarray()
    np.testing.assert_allclose(ours.transform(TEXTS).toarray(), expected, rtol=0, atol=1e-12)


def test_a_capped_vocabulary_keeps_the_most_frequent_terms() -> None:
    corpus = TEXTS * 3 + [f"extra words number {i} here" for i in range(40)]
    full, capped = Lexicon().fit(corpus), Lexicon(max_features=20).fit(corpus)
    assert len(capped.terms_) == 20 and set(capped.terms_) <= set(full.terms_)
    counts = Counter(t for x in corpus for t in _terms(x))
    tf = {t: counts[t] for t in full.terms_}
    kept, dropped = min(tf[t] for t in capped.terms_), max(
        tf[t] for t in full.terms_ if t not in capped.terms_
    )
    assert kept >= dropped  # ties at the cut may fall either way, as in scikit-learn


def test_a_long_prompt_is_read_by_its_two_ends() -> None:
    head, tail = "alpha " * READ_CHARS, "omega " * READ_CHARS
    read = _read(head + "middle " * 5000 + tail)
    assert "middle" not in read and read.startswith("alpha") and read.rstrip().endswith("omega")
    assert _read("short text") == "short text"


def _word_cue_table(n: int, seed: int, cue: bool) -> OutcomeTable:
    """Two arms, prompts alike in every surface statistic. With ``cue``, the small arm fails
    on prompts about rivers and the large arm on prompts about oceans (otherwise both
    succeed at random): only the words say which arm to send a prompt to."""
    rng = np.random.default_rng(seed)
    topic = rng.integers(0, 2, size=n)
    filler = ["tell", "me", "about", "the", "old", "quiet", "green", "valley", "today"]
    prompts = tuple(
        f"{'river' if t else 'ocean'} " + " ".join(rng.choice(filler, size=6)) for t in topic
    )
    if cue:
        p = np.stack([np.where(topic == 1, 0.1, 0.9), np.where(topic == 1, 0.9, 0.1)], axis=1)
    else:
        p = np.full((n, 2), 0.6)
    return drawn_table(prompts, p, ("small", "large"), (0.001, 0.002), rng, tokens=20)


def _fit(table: OutcomeTable) -> DifficultyClassifier:
    return DifficultyClassifier(
        backend="logistic", featurizer=STATS, cv_folds=3, arm_models=("lexical",), sampling=False
    ).fit(table)


def test_words_that_decide_the_arm_choose_the_lexical_head(tmp_path: Path) -> None:
    clf = _fit(_word_cue_table(900, seed=1, cue=True))
    assert clf.params_["arm_model"] == "lexical"
    m = clf.metrics_
    lexical = max(v for k, v in m.items() if k.startswith("oof_routing_gain_lexical"))
    assert lexical > m["oof_routing_gain_shared"] + 0.2
    prompts = ["river tell me about the old valley", "ocean tell me about the old valley"]
    p = clf.predict_proba(prompts)
    assert p[0, 0] < 0.3 < 0.7 < p[0, 1]  # rivers: the large arm
    assert p[1, 1] < 0.3 < 0.7 < p[1, 0]  # oceans: the small arm
    save_classifier(clf, tmp_path / "m", sources=["synthetic"])
    again = load_classifier(tmp_path / "m")
    assert again.params_["arm_model"] == "lexical"
    np.testing.assert_allclose(again.predict_proba(prompts), p, rtol=1e-12)


def test_words_that_say_nothing_keep_the_shared_model() -> None:
    clf = _fit(_word_cue_table(900, seed=2, cue=False))
    assert clf.params_["arm_model"] == "shared"


def test_a_refit_lexicon_forgets_the_first_corpus() -> None:
    first, second = TEXTS * 2, [f"other words entirely {i % 7}" for i in range(30)]
    lex = Lexicon().fit(first)
    lex.transform(TEXTS)
    lex.fit(second)
    fresh = Lexicon().fit(second)
    assert lex.terms_ == fresh.terms_
    again, expected = lex.transform(second).toarray(), fresh.transform(second).toarray()
    np.testing.assert_array_equal(again, expected)
