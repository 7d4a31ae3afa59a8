from __future__ import annotations

import os
import pickle
import socket
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from ponder.classifiers._featurize import (
    Concat,
    Featurizer,
    FeaturizerSpec,
    HashedNgrams,
    StaticEmbedding,
    TextStats,
    build_featurizer,
    default_featurizer_spec,
    packaged_static_dir,
    static_model_available,
)
from ponder.errors import ModelArtifactError

REPO = Path(__file__).resolve().parents[2]

CODE = """Fix this function:
```python
import math
def area(r):
    return math.pi * r ** 2;
```"""
MATH = (
    r"Compute $\int_0^1 \frac{x^2}{\sqrt{1+x}}\,dx$"
    r" and show that $a^2 + b^2 = c^2$ when a = 3, b = 4."
)
MCQ = "Which planet is largest?\nA. Mars\nB. Jupiter\nC. Venus\n(D) Earth"
CHAT = "User: hi\nAssistant: hello, how can I help?\nUser: what is 2+2?"
TEXTS = [CODE, MATH, MCQ, CHAT, "", "héllo wörld ünïcode"]

needs_static = pytest.mark.skipif(
    not static_model_available(), reason="packaged static model or model2vec missing"
)


def _stats(text: str) -> dict[str, float]:
    row = TextStats().transform([text])[0]
    return dict(zip(TextStats.feature_names, row.tolist(), strict=True))


@pytest.mark.parametrize("featurizer", [TextStats(), HashedNgrams(64)])
def test_shapes_and_dtype(featurizer: Featurizer) -> None:
    out = featurizer.transform(TEXTS)
    assert out.dtype == np.float32
    assert out.shape[0] == len(TEXTS)
    assert np.isfinite(out).all()
    assert featurizer.transform([]).shape == (0, out.shape[1])


def test_stats_names_match_columns() -> None:
    assert TextStats().transform(["x"]).shape == (1, len(TextStats.feature_names))
    assert len(set(TextStats.feature_names)) == len(TextStats.feature_names)


def test_stats_separate_code_from_math() -> None:
    code, math_ = _stats(CODE), _stats(MATH)
    for name in ("log_code_fences", "log_code_words", "log_semicolons"):
        assert code[name] > math_[name] == 0.0, name
    for name in ("log_latex_cmds", "log_dollars", "log_carets", "log_equals"):
        assert math_[name] > code[name], name


def test_stats_choices_turns_and_text_shape() -> None:
    mcq, chat = _stats(MCQ), _stats(CHAT)
    assert mcq["log_choice_lines"] == pytest.approx(np.log1p(4))
    assert chat["log_choice_lines"] == 0.0
    assert chat["log_turn_lines"] == pytest.approx(np.log1p(3))
    assert mcq["log_turn_lines"] == 0.0
    assert _stats("héllo wörld")["non_ascii_ratio"] == pytest.approx(2 / 11, rel=1e-6)
    assert _stats("ab12")["digit_ratio"] == pytest.approx(0.5)
    assert _stats("a\nb\nc")["log_lines"] == pytest.approx(np.log1p(3))
    assert _stats("")["log_lines"] == 0.0


def test_hashed_rows_are_unit_norm_and_empty_is_zero() -> None:
    out = HashedNgrams(128).transform(["the cat sat on the mat", ""])
    assert np.linalg.norm(out[0]) == pytest.approx(1.0, abs=1e-6)
    assert not out[1].any()


def test_hashed_case_insensitive_and_order_sensitive() -> None:
    h = HashedNgrams()
    a, b, c = h.transform(["Dog bites man", "dog BITES man", "man bites dog"])
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c)  # same unigrams, different bigrams


def test_hashed_stable_across_processes() -> None:
    code = (
        "import sys, numpy as np\n"
        "from ponder.classifiers._featurize import HashedNgrams\n"
        f"out = HashedNgrams(97).transform({TEXTS!r})\n"
        "sys.stdout.buffer.write(out.tobytes())\n"
    )
    results = []
    for seed in ("1", "12345"):
        env = {**os.environ, "PYTHONHASHSEED": seed, "PYTHONPATH": str(REPO)}
        proc = subprocess.run(
            [sys.executable, "-c", code], env=env, capture_output=True, check=True, cwd=REPO
        )
        results.append(np.frombuffer(proc.stdout, dtype=np.float32).reshape(len(TEXTS), 97))
    here = HashedNgrams(97).transform(TEXTS)
    np.testing.assert_array_equal(results[0], results[1])
    np.testing.assert_array_equal(results[0], here)


def test_hashed_rejects_bad_width() -> None:
    with pytest.raises(ValueError):
        HashedNgrams(0)


@needs_static
def test_static_paraphrases_closer_than_unrelated() -> None:
    emb = StaticEmbedding().transform(
        [
            "How do I reverse a list in Python?",
            "What is the way to invert the order of a Python list?",
            "The French revolution began in 1789 with the storming of the Bastille.",
        ]
    )
    assert emb.dtype == np.float32
    assert emb.shape == (3, 128)
    np.testing.assert_allclose(np.linalg.norm(emb, axis=1), 1.0, atol=1e-5)
    para, unrelated = float(emb[0] @ emb[1]), float(emb[0] @ emb[2])
    assert para > unrelated + 0.2, (para, unrelated)


@needs_static
def test_static_matches_model2vec_encode() -> None:
    from model2vec import StaticModel

    ref = StaticModel.from_pretrained(packaged_static_dir(), quantize_to="float32")
    texts = ["short", MATH, "x " * 5000, "", "\u2603\u2603"]
    ours = StaticEmbedding().transform(texts)
    np.testing.assert_allclose(ours, ref.encode(texts).astype(np.float32), atol=1e-5)


@needs_static
def test_static_load_makes_no_network_access(monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(*args: object, **kwargs: object) -> None:
        raise AssertionError(f"network access attempted: {args}")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)
    assert StaticEmbedding().transform(["hello"]).shape == (1, 128)


def test_static_missing_dir_raises(tmp_path: Path) -> None:
    f = StaticEmbedding(str(tmp_path / "nope"))
    with pytest.raises(ModelArtifactError, match="not found"):
        f.transform(["hello"])
    (tmp_path / "partial").mkdir()
    (tmp_path / "partial" / "config.json").write_text("{}")
    with pytest.raises(ModelArtifactError, match=r"model\.safetensors"):
        StaticEmbedding(str(tmp_path / "partial")).transform(["hello"])


def test_static_corrupt_files_raise(tmp_path: Path) -> None:
    pytest.importorskip("model2vec")
    for name in ("config.json", "model.safetensors", "tokenizer.json"):
        (tmp_path / name).write_text("garbage")
    with pytest.raises(ModelArtifactError, match="cannot load"):
        StaticEmbedding(str(tmp_path)).transform(["hello"])


@needs_static
def test_static_plain_model_needs_no_model2vec(monkeypatch: pytest.MonkeyPatch) -> None:
    """The packaged model is read with tokenizers and safetensors alone (model2vec's loader
    imports the Hugging Face hub client: a third of a second of every cold start)."""
    before = StaticEmbedding().transform(["hello there"])
    monkeypatch.setitem(sys.modules, "model2vec", None)  # makes the import fail
    np.testing.assert_array_equal(StaticEmbedding().transform(["hello there"]), before)


def test_static_without_tokenizers_raises(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "tokenizers", None)  # makes the import fail
    with pytest.raises(ModelArtifactError, match="model2vec"):
        StaticEmbedding(str(packaged_static_dir())).transform(["hello"])


@needs_static
def test_static_pickles_without_vectors() -> None:
    f = StaticEmbedding()
    before = f.transform(["pickle me"])
    blob = pickle.dumps(f)
    assert len(blob) < 1000
    np.testing.assert_array_equal(pickle.loads(blob).transform(["pickle me"]), before)


def test_concat_stacks_columns() -> None:
    stats, hashed = TextStats(), HashedNgrams(32)
    out = Concat([stats, hashed]).transform(TEXTS)
    assert out.dtype == np.float32
    assert out.shape == (len(TEXTS), len(TextStats.feature_names) + 32)
    np.testing.assert_array_equal(out[:, -32:], hashed.transform(TEXTS))


def test_spec_round_trip_through_json() -> None:
    f = Concat([TextStats(), HashedNgrams(50), Concat([HashedNgrams(7)])])
    spec = FeaturizerSpec.model_validate_json(f.spec.model_dump_json())
    assert spec == f.spec
    np.testing.assert_array_equal(build_featurizer(spec).transform(TEXTS), f.transform(TEXTS))


@needs_static
def test_static_spec_round_trip_uses_packaged_default() -> None:
    f = Concat([TextStats(), StaticEmbedding()])
    assert f.spec.parts[1].params == {"path": None}
    rebuilt = build_featurizer(FeaturizerSpec.model_validate_json(f.spec.model_dump_json()))
    np.testing.assert_array_equal(rebuilt.transform(TEXTS), f.transform(TEXTS))


@pytest.mark.parametrize(
    "spec",
    [
        FeaturizerSpec(kind="hashed", params={"n_features": "many"}),
        FeaturizerSpec(kind="hashed", params={"n_features": 0}),
        FeaturizerSpec(kind="stats", params={"bogus": 1}),
        FeaturizerSpec(kind="stats", parts=(FeaturizerSpec(kind="stats"),)),
        FeaturizerSpec(kind="concat"),
    ],
)
def test_bad_spec_is_an_artifact_error(spec: FeaturizerSpec) -> None:
    with pytest.raises(ModelArtifactError):
        build_featurizer(spec)


def test_default_spec_prefers_static_when_available(monkeypatch: pytest.MonkeyPatch) -> None:
    spec = default_featurizer_spec()
    assert spec.kind == "concat"
    assert spec.parts[0].kind == "stats"
    assert spec.parts[1].kind == ("static" if static_model_available() else "hashed")

    import ponder.classifiers._featurize as mod

    monkeypatch.setattr(mod, "packaged_static_dir", lambda: Path("/nonexistent/ponder-model"))
    fallback = default_featurizer_spec()
    assert [p.kind for p in fallback.parts] == ["stats", "hashed"]


def test_import_does_not_load_model2vec() -> None:
    code = (
        "import sys\nimport ponder.classifiers._featurize\nassert 'model2vec' not in sys.modules\n"
    )
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    subprocess.run([sys.executable, "-c", code], env=env, check=True, cwd=REPO)


def _long(middle: str) -> str:
    """A long prompt whose first and last 5,000 characters do not depend on ``middle``."""
    head = "Summarise the report below, then answer: what is 6 times 7?\n"
    tail = "\nEnd of report. Question again: what is 6 times 7? Show your working."
    filler = "The committee met on Tuesday and discussed the budget. " * 100
    return head + filler + middle * (200_000 // len(middle)) + filler + tail


@pytest.mark.parametrize(
    "featurizer",
    [TextStats(), HashedNgrams(64), pytest.param(StaticEmbedding(), marks=needs_static)],
    ids=["stats", "hashed", "static"],
)
def test_a_long_text_is_read_by_its_head_and_tail(featurizer: Featurizer) -> None:
    """Routing cost must not grow with the prompt: only the head and tail of a long text
    are read, so what lies between (here, of the same length) changes nothing."""
    a = _long("Revenue rose 4% in Q3; costs fell. ")
    b = _long("$x^2 = 9$ {def f(): return 3;} ??? ")
    assert len(a) == len(b) > 150_000
    fa, fb = featurizer.transform([a, b])
    np.testing.assert_array_equal(fa, fb)
    short = featurizer.transform([a[90_000:93_000] + a[-3000:], b[90_000:93_000] + b[-3000:]])
    assert not np.array_equal(short[0], short[1])  # texts under the cap are read whole
