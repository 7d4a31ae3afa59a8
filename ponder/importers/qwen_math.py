"""Qwen2.5-Math sampled MATH solutions (QwenLM/Qwen2.5-Math, MIT).

Source folder: ``shared/data/qwen-math-sampled``; reads ``math_cot_100.jsonl``: 100 MATH
problems, each with 8 sampled chain-of-thought responses, their extracted answers (``pred``),
correctness (``score``) and a reward-model score (``pred_score``). The generating model is not
named in the file (it is the example input of Qwen's ``rm_maj_eval.py``).

One arm, :data:`ARM`, with 8 ``samples`` ``{answer: pred[i] as str, score, rm_score}``;
``rm_score`` (an extra field the schema allows) is the reward model's score of that sample,
for verifier best-of-N simulations. The arm ``score`` is the first sample's, i.e. the arm is
one call; the samples let the simulator replay n-sample voting. ``task`` is
``math-level<1..5>``; ``input_tokens`` = ceil(len(system + question) / 4) and
``output_tokens`` = ceil(len(first response) / 4) (estimates). No cost: the model and its
price are unknown.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from ponder._pricing import estimate_tokens
from ponder.importers._common import ImporterError, get_field, read_jsonl
from ponder.outcomes import ArmOutcome, OutcomeRow, Sample

ARM = "qwen-math-cot"
_LEVEL = re.compile(r"(\d+)")


def _rm_score(value: Any) -> float | None:
    while isinstance(value, list) and value:
        value = value[0]
    return float(value) if isinstance(value, int | float) else None


def load(source: Path, split: str | None = None) -> Iterator[OutcomeRow]:
    path = source / "math_cot_100.jsonl"
    for i, r in enumerate(read_jsonl(path)):
        where = f"{path}: row {i}"
        preds = get_field(r, "pred", where)
        scores = get_field(r, "score", where)
        rm = r.get("pred_score") or [None] * len(preds)
        responses = r.get("response") or []
        if not preds or len(preds) != len(scores) or len(rm) != len(preds):
            raise ImporterError(f"{where}: pred, score and pred_score lengths differ")
        samples = [
            Sample.model_validate(
                {
                    "answer": None if p is None else str(p),
                    "score": float(bool(s)),
                    "rm_score": _rm_score(q),
                }
            )
            for p, s, q in zip(preds, scores, rm, strict=True)
        ]
        level = _LEVEL.search(str(get_field(r, "level", where)))
        if level is None:
            raise ImporterError(f"{where}: cannot read a level from {r.get('level')!r}")
        question = str(get_field(r, "question", where))
        arm = ArmOutcome(
            score=samples[0].score,
            input_tokens=estimate_tokens(str(r.get("system") or "") + question),
            output_tokens=estimate_tokens(str(responses[0])) if responses else None,
            samples=samples,
        )
        yield OutcomeRow(
            id=f"qwen-math-{r.get('idx', i)}",
            prompt=question,
            task=f"math-level{level.group(1)}",
            arms={ARM: arm},
        )
