"""TextStats must give the features the packaged model was trained on, bit for bit.

``reference_row`` (``text_stats_reference.py``) is a frozen copy of the pure-Python
implementation the default model was trained with (ponder up to the vectorised rewrite);
whatever TextStats becomes, it must agree with it on every text, one at a time and in
batches.
"""

from __future__ import annotations

import json
import math
import os
import random
from pathlib import Path

import numpy as np
import pytest

from ponder.classifiers import TextStats
from ponder.classifiers._textstats import short_row
from tests.classifiers.text_stats_reference import reference, reference_row

# --- the corpus ------------------------------------------------------------------------------

_HAND = [
    "",
    " ",
    "\n",
    "   \t\n\r\n  ",
    "\x1c\x1d\x1e\x1f\x0b\x0c\x85\xa0\u1680\u2000\u200a\u2028\u2029\u202f\u205f\u3000",
    "x",
    "What is the capital of France?",
    "Janet has 3 apples and buys 5 more. How many apples does she have now?",
    "Prove that $\\sum_{k=1}^n k = \\frac{n(n+1)}{2}$ and \\\\alpha \\beta\\gamma \\1 \\ \\é.",
    "```python\nimport math\ndef area(r):\n    return math.pi * r ** 2;\n```\n````\n``",
    '#include <stdio.h>\nint main(void) { printf("hi"); println(x); const int y = 3; }',
    "def_x xdef édef defé _def def2 2def return; lambda: elif function() void const",
    "printfx printf println printlnx #include#include #includes a#include",
    "Question: Which of these is a mammal?\nA. shark\nB) dolphin\n(c) trout\n  (D)\teel\nE.x\n"
    "I. no\n(i) no\nAnswer:",
    "User: hi\nAssistant: hello\n Human : x\nSystem:\nQ: what?\nA : yes\nUser\n:no\nuser: no",
    "1,000,000 and 1.2.3 and 3..4 and ,5 and 5, and 1.5e10 and 0.5 and 12,34.56,78",
    "٣٤٥ and ３.１４ and 𝟏𝟐 and ¹²³ and ½ and 1٣2",
    "héllo wörld ünïcode naïve café",
    "数学问题：计算 2+3=? 答案是5。 日本語のテキスト",
    "emoji 😀🎉 and flags 🇫🇷 and zwj 👩‍💻",
    "e\u0301 combining a\u0308 marks",
    "lone surrogate \ud800 and \udfff here",
    "tabs\tand\r\ncarriage\rreturns\n\n\nblank lines",
    "word" * 3000,
    "a " * 5000,
    "$^={};?" * 500,
    "9" * 20000,
    "\\frac" * 3000,
    "A. x\n" * 3000,
    " \n" * 6000,
    "\u3000" * 9000,
    "é" * 10000,
]


def _fuzz(seed: int, count: int) -> list[str]:
    rng = random.Random(seed)
    atoms = [
        "a", "Z", "q", "7", "0", ".", ",", "\\", "$", "^", "=", "{", "}", ";", "?", "`", "```",
        "#include", "def", "return", "import", "elif", "lambda", "function", "const", "void",
        "printf", "println", "_", "(", ")", "A.", "B)", "(c)", "User", "Q", ":", " ", " ",
        "\t", "\n", "\n", "\r", "\x0b", "\x1c", "\xa0", "\u2028", "\u3000", "é", "ß", "İ",
        "٣", "３", "𝟏", "😀", "数", "\u0301", "\ud800", "\x00", "\x7f", "[CLS]",
    ]  # fmt: skip
    out = []
    for _ in range(count):
        n = rng.choice([0, 1, 3, 10, 50, 200, 1000, 3000, 9000, 20000])
        out.append("".join(rng.choice(atoms) for _ in range(n)))
    return out


def _shared_prompts(limit: int) -> list[str]:
    root = Path(os.environ.get("PONDER_SHARED", Path(__file__).resolve().parents[3] / "shared"))
    texts: list[str] = []
    for path in sorted((root / "data" / "math-benchmarks").glob("*/test.jsonl"))[:6]:
        for line in path.read_text(encoding="utf-8").splitlines()[:100]:
            row = json.loads(line)
            q = row.get("problem") or row.get("question")
            if isinstance(q, str):
                texts.append(q)
    gsm = root / "data" / "gsm8k-openai" / "test.jsonl"
    if gsm.is_file():
        texts += [json.loads(x)["question"] for x in gsm.read_text().splitlines()[:300]]
    return texts[:limit]


def _corpus() -> list[str]:
    long_mixed = "".join(_HAND[1:]) * 20
    return [*_HAND, long_mixed, long_mixed[:8192], long_mixed[:8193], long_mixed[:8194],
            *_fuzz(0, 300), *_shared_prompts(800)]  # fmt: skip


CORPUS = _corpus()


def test_corpus_is_varied() -> None:
    assert len(CORPUS) > 300
    assert any(len(t) > 150_000 for t in CORPUS)
    assert "" in CORPUS
    assert any(t and not t.strip() for t in CORPUS)
    assert any(not t.isascii() for t in CORPUS)


@pytest.mark.parametrize("i", range(len(_HAND)))
def test_each_hand_written_text_matches_thereference(i: int) -> None:
    text = _HAND[i]
    ours = TextStats().transform([text])
    np.testing.assert_allclose(ours, reference([text]), rtol=0, atol=1e-9)


def test_one_at_a_time_matches_thereference() -> None:
    ref = reference(CORPUS)
    stats = TextStats()
    for i, text in enumerate(CORPUS):
        got = stats.transform([text])[0]
        if not np.allclose(got, ref[i], rtol=0, atol=1e-9):
            bad = [
                (name, float(a), float(b))
                for name, a, b in zip(TextStats.feature_names, got, ref[i], strict=True)
                if abs(a - b) > 1e-9
            ]
            pytest.fail(f"text {i} ({text[:60]!r}, {len(text)} chars) differs: {bad}")


def test_both_ways_match_the_reference_on_every_text() -> None:
    """A single short text goes through string methods, anything else through the
    vectorised pass: each must agree with the reference on the whole corpus."""
    ref = reference(CORPUS)
    short = np.array([short_row(t) for t in CORPUS], dtype=np.float32)
    np.testing.assert_allclose(short, ref, rtol=0, atol=1e-9)
    for i, text in enumerate(CORPUS):
        pair = TextStats().transform([text, text])  # a batch: never the short path
        np.testing.assert_allclose(pair, ref[[i, i]], rtol=0, atol=1e-9, err_msg=repr(text[:60]))


def test_batches_match_thereference() -> None:
    ref = reference(CORPUS)
    np.testing.assert_allclose(TextStats().transform(CORPUS), ref, rtol=0, atol=1e-9)
    rng = random.Random(1)
    shuffled = CORPUS[:]
    rng.shuffle(shuffled)
    np.testing.assert_allclose(
        TextStats().transform(shuffled), reference(shuffled), rtol=0, atol=1e-9
    )


def test_the_reference_itself_is_what_it_was() -> None:
    """Pins a few values of the oracle, so an edit to it cannot pass unnoticed."""
    row = reference_row("Q: Is 2^10 = 1,024? $\\sqrt{x}$\nA. yes\ndef f(): return 1;")
    assert row[9] == pytest.approx(math.log1p(4))  # 2, 10, 1,024, 1
    assert row[15] == pytest.approx(math.log1p(1))  # one choice line
    assert row[16] == pytest.approx(math.log1p(1))  # one turn line (Q:)
    assert row[11] == pytest.approx(math.log1p(2))  # def, return
