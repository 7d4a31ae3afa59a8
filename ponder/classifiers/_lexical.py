"""A lexical head: per-arm corrections from the query's words, on top of the shared logit.

The shared difficulty reads a 128-dimension embedding and surface statistics: it knows what
*kind* of query this is, and how hard such queries are for everyone. Which of two arms wins
on a query often turns on narrower cues (a topic one model was tuned on, a phrasing that
trips one of them), which a word 1-2-gram TF-IDF keeps and an averaged embedding blurs; the
TF-IDF routers of the RouterBench and RouteLLM papers live on them. Here they correct the
shared logit rather than replace it: each arm gets an L2 logistic regression on the TF-IDF
vector with the shared model's logit as a fixed offset, so with little data the head
shrinks to the shared model, not to the arm's base rate.

The vocabulary and IDF weights are fitted on the training prompts and saved with the model;
the transform is written out here (scikit-learn's ``TfidfVectorizer`` semantics: lowercase,
tokens of two or more word characters, unigrams and bigrams, sublinear term frequency,
smoothed IDF, L2 norm) so that serving one query costs dict lookups, not a scikit-learn
call. ``tests/classifiers/test_lexical.py`` holds the two equal. A long prompt is read by its
first and last :data:`READ_CHARS` characters, at training and at serving alike.
"""

from __future__ import annotations

import math
import re
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from itertools import pairwise
from typing import Any

import numpy as np

from ponder.classifiers._difficulty import FloatArray, IntArray, Observations

READ_CHARS = 1500
"""Characters read from each end of a long prompt (the instructions and the question)."""
MAX_FEATURES = 10_000
MIN_DF = 2
_TOKEN = re.compile(r"(?u)\b\w\w+\b")


def _read(text: str) -> str:
    if len(text) <= 2 * READ_CHARS:
        return text
    return f"{text[:READ_CHARS]}\n{text[-READ_CHARS:]}"


def _terms(text: str) -> list[str]:
    words = _TOKEN.findall(_read(text).lower())
    return words + [f"{a} {b}" for a, b in pairwise(words)]


@dataclass
class Lexicon:
    """A fitted word 1-2-gram TF-IDF vocabulary: ``terms_`` in column order, ``idf_``."""

    max_features: int = MAX_FEATURES
    min_df: int = MIN_DF
    terms_: tuple[str, ...] = ()
    idf_: FloatArray = field(default_factory=lambda: np.zeros(0))

    def fit(self, texts: Sequence[str]) -> Lexicon:
        df: Counter[str] = Counter()
        tf: Counter[str] = Counter()
        for text in texts:
            counts = Counter(_terms(text))
            df.update(counts.keys())
            tf.update(counts)
        kept = [t for t, d in df.items() if d >= self.min_df]
        # The most frequent terms over the corpus (as scikit-learn), ties by the term.
        kept.sort(key=lambda t: (-tf[t], t))
        kept = sorted(kept[: self.max_features])
        n = len(texts)
        self.terms_ = tuple(kept)
        self.idf_ = np.array([math.log((1 + n) / (1 + df[t])) + 1.0 for t in kept])
        return self

    def _tables(self) -> tuple[dict[str, int], list[float]]:
        """Each term's column and the IDFs as plain floats, made once per fit (a refit
        replaces ``terms_``, which is what the cache is keyed on)."""
        cached = self.__dict__.get("_tables_of")
        if cached is None or cached[0] is not self.terms_:
            index = {t: j for j, t in enumerate(self.terms_)}
            cached = self._tables_of = (self.terms_, index, self.idf_.tolist())
        return cached[1], cached[2]

    def transform(self, texts: Sequence[str]) -> Any:
        """A ``scipy.sparse.csr_matrix`` (len(texts), len(terms_)), each row L2-normalised."""
        from scipy.sparse import csr_matrix

        index, idf = self._tables()
        log = math.log
        indptr, indices, values = [0], [], []
        for text in texts:
            found = [j for j in map(index.get, _terms(text)) if j is not None]
            counts = sorted(Counter(found).items())
            w = [(1.0 + log(c)) * idf[j] for j, c in counts]
            norm = math.sqrt(sum(x * x for x in w))
            indices += [j for j, _ in counts]
            values += [x / norm for x in w] if norm > 0 else w
            indptr.append(len(indices))
        return csr_matrix(
            (np.array(values, dtype=np.float64), np.array(indices, dtype=np.int64), indptr),
            shape=(len(texts), len(self.terms_)),
        )

    def state(self) -> dict[str, Any]:
        return {"terms": list(self.terms_), "idf": self.idf_.tolist()}

    @classmethod
    def from_state(cls, s: dict[str, Any]) -> Lexicon:
        return cls(terms_=tuple(s["terms"]), idf_=np.asarray(s["idf"], dtype=np.float64))


def _offset_logistic(
    X: Any, offset: FloatArray, y: FloatArray, C: float
) -> tuple[FloatArray, float]:
    """Weights and intercept of ``sigmoid(offset + X w + b)`` fitted to soft labels ``y`` in
    [0, 1], with penalty ``|w|^2 / (2 C)`` (the intercept unpenalised)."""
    from scipy.optimize import minimize

    n_features = X.shape[1]

    def loss(wb: FloatArray) -> tuple[float, FloatArray]:
        w, b = wb[:-1], wb[-1]
        z = offset + X @ w + b
        value = float(np.sum(np.logaddexp(0.0, z) - y * z) + 0.5 / C * (w @ w))
        g = 1.0 / (1.0 + np.exp(-z)) - y
        return value, np.concatenate([X.T @ g + w / C, [g.sum()]])

    fit = minimize(
        loss,
        np.zeros(n_features + 1),
        jac=True,
        method="L-BFGS-B",
        # Routing reads the ranking of arms, not the fourth digit of the loss: looser
        # tolerances than scipy's defaults halve the iterations.
        options={"maxiter": 300, "ftol": 1e-6, "gtol": 1e-4},
    )
    return np.asarray(fit.x[:-1], dtype=np.float64), float(fit.x[-1])


@dataclass
class LexicalHead:
    """Per trained arm, logit = shared logit + ``coef_[j] . tfidf(query) + intercept_[j]``."""

    C: float = 1.0
    lexicon_: Lexicon = field(default_factory=Lexicon)
    coef_: FloatArray = field(default_factory=lambda: np.zeros((0, 0)))
    intercept_: FloatArray = field(default_factory=lambda: np.zeros(0))

    def fit(self, Z: Any, lexicon: Lexicon, obs: Observations, offset: FloatArray) -> LexicalHead:
        """``Z`` is ``lexicon``'s matrix of every query of the table; ``offset`` the shared
        logit of each observation."""
        self.lexicon_ = lexicon
        self.coef_ = np.zeros((obs.n_arms, Z.shape[1]))
        self.intercept_ = np.zeros(obs.n_arms)
        for j in range(obs.n_arms):
            m = obs.aj == j
            if m.any():
                self.coef_[j], self.intercept_[j] = _offset_logistic(
                    Z[obs.qi[m]], offset[m], obs.y[m], self.C
                )
        return self

    def row_terms(self, Z: Any, obs: Observations) -> FloatArray:
        """The correction of each observation's own (query, arm) pair."""
        per_query = np.asarray(Z @ self.coef_.T)  # (queries, arms): small, unlike Z[obs.qi]
        out: FloatArray = per_query[obs.qi, obs.aj] + self.intercept_[obs.aj]
        return out

    def terms(self, texts: Sequence[str], arm_ids: IntArray) -> FloatArray:
        """Corrections (len(texts), len(arm_ids)); 0 where the id is -1 (an arm without logs)."""
        Z = self.lexicon_.transform(texts)
        ids = np.maximum(arm_ids, 0)
        out: FloatArray = np.asarray(Z @ self.coef_[ids].T) + self.intercept_[ids][None, :]
        out[:, arm_ids < 0] = 0.0
        return out

    def state(self) -> dict[str, Any]:
        return {
            "C": self.C,
            "lexicon": self.lexicon_.state(),
            "coef": self.coef_.tolist(),
            "intercept": [float(v) for v in self.intercept_],
        }

    @classmethod
    def from_state(cls, s: dict[str, Any]) -> LexicalHead:
        return cls(
            C=float(s["C"]),
            lexicon_=Lexicon.from_state(s["lexicon"]),
            coef_=np.asarray(s["coef"], dtype=np.float64),
            intercept_=np.asarray(s["intercept"], dtype=np.float64),
        )
