"""The Python WordPiece must give the ids ``tokenizers`` gives, and the static embedding the
vectors it gave before it read the model itself (the packaged model was trained on them)."""

from __future__ import annotations

import csv
import json
import os
import random
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from ponder.classifiers._featurize import StaticEmbedding, clip, packaged_static_dir
from ponder.classifiers._wordpiece import WordPiece

tokenizers = pytest.importorskip("tokenizers")

LIMIT = 512

_HAND = [
    "",
    " ",
    "Hello, World! How's it going?",
    "What is 2+2? Answer: 4.",
    "\x00nul\x01soh\x0bvt\x0cff\x1cfs\x7fdel\ttab\nnl\rcr\r\nend",
    "UPPER lower MiXeD CamelCase snake_case kebab-case dot.case",
    "supercalifragilisticexpialidocious xqzjwv antidisestablishmentarianism",
    "a" * 100,
    "a" * 101,
    "ab" * 60 + " tail",
    "[CLS] special [SEP] tokens [MASK] and [UNK] and [PAD]",
    "[cls] lower [Sep] mixed [mask]",
    "café naïve résumé façade Ångström",
    "İstanbul ǅ ß ẞ ﬁ ﬀ Σίσυφος ΣΑΣ",
    "数学问题：计算 2+3=? 日本語のテキスト 한국어",
    "emoji 😀🎉 flags 🇫🇷 zwj 👩‍💻 keycap 1️⃣",
    "nbsp\xa0here ideographic\u3000space line\u2028sep para\u2029sep zwsp\u200bx",
    " \u0301x a\u0301 e\u0301\u0323 combining",
    "fullwidth ＡＢＣ１２３ arabic ٣٤٥ devanagari १२३",
    "replacement \ufffd char and bom \ufeff here",
    "curly ‘quotes’ and “double” — dashes – and … ellipsis",
    "mixed’word and word’s and ’leading trailing’",
    "```python\nimport math\ndef area(r):\n    return math.pi * r ** 2;\n```",
    "$\\int_0^1 \\frac{x^2}{\\sqrt{1+x}}\\,dx$ and $a^2+b^2=c^2$",
    "!\"#$%&'()*+,-./:;<=>?@[\\]^_`{|}~",
    "word " * 700,
    "é " * 700,
    "x\u00e9" * 400,
]


def _fuzz(seed: int, count: int) -> list[str]:
    rng = random.Random(seed)
    atoms = [
        "a", "Z", "the", "token", "ization", "7", "42", ".", ",", "'", "#", "##", "[", "]",
        "CLS", "[CLS]", "[UNK]", " ", " ", "\t", "\n", "\r", "\x0b", "\x1c", "\x00", "\x7f",
        "é", "É", "ß", "İ", "ﬁ", "\u0301", "\xa0", "\u2028", "\u3000", "\u200b", "数", "😀",
        "‘", "’", "—", "٣", "\ufffd", "\ud7ff", "qzx",
    ]  # fmt: skip
    out = []
    for _ in range(count):
        n = rng.choice([1, 2, 5, 20, 100, 400, 1500])
        out.append("".join(rng.choice(atoms) for _ in range(n)))
    return out


def _shared_prompts() -> list[str]:
    root = Path(os.environ.get("PONDER_SHARED", Path(__file__).resolve().parents[3] / "shared"))
    texts: list[str] = []
    for path in sorted((root / "data" / "math-benchmarks").glob("*/test.jsonl")):
        for line in path.read_text(encoding="utf-8").splitlines()[:60]:
            row = json.loads(line)
            q = row.get("problem") or row.get("question")
            if isinstance(q, str):
                texts.append(q)
    gsm = root / "data" / "gsm8k-openai" / "test.jsonl"
    if gsm.is_file():
        texts += [json.loads(x)["question"] for x in gsm.read_text().splitlines()[:300]]
    rg = root / "data" / "reasoning-gym" / "outcomes.jsonl"
    if rg.is_file():  # chat prompts with unicode maths, tables and puzzles
        for line in rg.read_text(encoding="utf-8").splitlines()[:1500:3]:
            turns = json.loads(line)["prompt"]
            texts.append("\n".join(str(t.get("content", "")) for t in turns))
    for path in sorted((root / "data" / "mmlu-test" / "test").glob("*.csv"))[::6]:
        with path.open(encoding="utf-8", newline="") as fh:
            texts += [" ".join(row) for row in list(csv.reader(fh))[1:40]]
    return texts


def _long_ascii() -> list[str]:
    """Texts past the 2,048 characters a long ASCII text is first tokenized in."""
    prose = " ".join(t.encode("ascii", "ignore").decode() for t in _shared_prompts()[:400])
    prose = prose or "Janet has 3 apples and buys 5 more, then sells 2. " * 200
    slices = [prose[i * 997 : i * 997 + 3072] for i in range(12)]
    return [
        *slices,
        "a" * 2047 + " " + "b" * 2000,
        "x" * 3000,
        "word, " * 1000,
        "\t".join(["tab", "separated", "words"] * 400),
        "supercalifragilistic " * 150,
        " " * 2100 + "late start " * 100,
    ]


CORPUS = [*_HAND, *_long_ascii(), *_fuzz(0, 400), *_shared_prompts()]


def _tokenizer(limit: int | None) -> Any:
    tok = tokenizers.Tokenizer.from_file(str(packaged_static_dir() / "tokenizer.json"))
    tok.no_padding()
    if limit is None:
        tok.no_truncation()
    else:
        tok.enable_truncation(limit)
    return tok


@pytest.mark.parametrize("limit", [LIMIT, None])
def test_ids_match_the_tokenizer(limit: int | None) -> None:
    tok = _tokenizer(limit)
    fast = WordPiece.of(tok, limit)
    assert fast is not None
    for text in CORPUS:
        want = tok.encode(text, add_special_tokens=False).ids
        assert fast.encode(text) == want, repr(text[:80])


def test_most_texts_take_the_fast_way() -> None:
    """The point of it: ASCII text never reaches the Rust tokenizer."""
    tok = _tokenizer(LIMIT)
    fast = WordPiece.of(tok, LIMIT)
    assert fast is not None
    calls: list[list[str]] = []

    def slow(texts: list[str]) -> list[list[int]]:
        calls.append(texts)
        return [[] for _ in texts]

    fast._slow = slow  # type: ignore[method-assign]
    fast.encode("Janet has 3 apples; she buys 5 more. How many?\n(A) 8 (B) 15")
    assert calls == []
    fast.encode("Janet’s apples: she buys 5 more.")
    assert calls == [["Janet’s"]]  # only the word with a non-ASCII character


def test_refuses_a_tokenizer_it_does_not_reproduce() -> None:
    state = json.loads(_tokenizer(LIMIT).to_str())
    state["normalizer"]["lowercase"] = False
    cased = tokenizers.Tokenizer.from_str(json.dumps(state))
    assert WordPiece.of(cased, LIMIT) is None
    state = json.loads(_tokenizer(LIMIT).to_str())
    state["pre_tokenizer"] = {"type": "Whitespace"}
    assert WordPiece.of(tokenizers.Tokenizer.from_str(json.dumps(state)), LIMIT) is None


def _reference_embed(texts: list[str]) -> np.ndarray:
    """The static embedding as ponder computed it before reading the model itself (frozen):
    model2vec loads the model, the Rust tokenizer tokenizes."""
    from model2vec import StaticModel

    model = StaticModel.from_pretrained(packaged_static_dir(), quantize_to="float32")
    vectors = np.ascontiguousarray(model.embedding, dtype=np.float32)
    out = np.zeros((len(texts), vectors.shape[1]), dtype=np.float32)
    max_chars = model.max_length * model.median_token_length if model.max_length else None
    encodings = model.tokenizer.encode_batch_fast(
        [t[:max_chars] for t in texts] if max_chars else [clip(t) for t in texts],
        add_special_tokens=False,
    )
    unk = model.unk_token_id
    for i, enc in enumerate(encodings):
        ids = [j for j in enc.ids if j != unk]
        if ids:
            out[i] = vectors.take(ids, axis=0).mean(axis=0)
    norms = np.linalg.norm(out, axis=1, keepdims=True)
    np.divide(out, norms, out=out, where=norms > 0)
    return out


def test_embedding_matches_the_model2vec_path() -> None:
    pytest.importorskip("model2vec")
    texts = [*CORPUS, "word " * 5000, "Janet’s " * 3000]
    ref = _reference_embed(texts)
    ours = StaticEmbedding().transform(texts)
    np.testing.assert_allclose(ours, ref, rtol=0, atol=1e-9)
    for i in (0, 5, 20, len(texts) - 1):  # one at a time too
        np.testing.assert_allclose(
            StaticEmbedding().transform([texts[i]])[0], ref[i], rtol=0, atol=1e-9
        )


def test_a_weighted_model_goes_through_model2vec(tmp_path: Path) -> None:
    """Layouts our lookup does not read (token weights, vocabulary mappings) are left to
    model2vec, and give what it gives."""
    model2vec = pytest.importorskip("model2vec")
    from safetensors.numpy import load_file, save_file

    src = packaged_static_dir()
    for name in ("config.json", "tokenizer.json"):
        (tmp_path / name).write_bytes((src / name).read_bytes())
    tensors = load_file(str(src / "model.safetensors"))
    weights = np.linspace(0.5, 2.0, len(tensors["embeddings"])).astype(np.float32)
    save_file({**tensors, "weights": weights}, str(tmp_path / "model.safetensors"))
    texts = ["How do I reverse a list in Python?", "Janet’s ducks lay 16 eggs per day."]
    ref = model2vec.StaticModel.from_pretrained(tmp_path, quantize_to="float32").encode(texts)
    f = StaticEmbedding(str(tmp_path))
    np.testing.assert_allclose(f.transform(texts), ref, rtol=0, atol=1e-6)
    assert f._lookup is None and f._model is not None
