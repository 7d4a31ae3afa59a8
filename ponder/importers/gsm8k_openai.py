"""OpenAI grade-school-math example solutions (openai/grade-school-math, MIT).

Source folder: ``shared/data/gsm8k-openai``; reads ``example_model_solutions.jsonl``: the 1319
GSM8K test questions, each graded for four systems of Cobbe et al. (2021):

    arm                 source field          what it is
    gpt3-6b             6b_finetuning         fine-tuned 6B model, one sample
    gpt3-6b-verifier    6b_verification       6B, many samples, verifier picks the best
    gpt3-175b           175b_finetuning       fine-tuned 175B model, one sample
    gpt3-175b-verifier  175b_verification     175B, many samples, verifier picks the best

``score`` is ``is_correct``. The data has no costs or token counts, so ``cost`` is left absent
(price these arms from a menu). ``task`` is ``gsm8k``; ids are ``gsm8k-openai-test-<index>``.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

from ponder.importers._common import ImporterError, get_field, read_jsonl
from ponder.outcomes import ArmOutcome, OutcomeRow

ARMS: dict[str, str] = {
    "gpt3-6b": "6b_finetuning",
    "gpt3-6b-verifier": "6b_verification",
    "gpt3-175b": "175b_finetuning",
    "gpt3-175b-verifier": "175b_verification",
}


def load(source: Path, split: str | None = None) -> Iterator[OutcomeRow]:
    path = source / "example_model_solutions.jsonl"
    for i, r in enumerate(read_jsonl(path)):
        where = f"{path}: row {i}"
        arms: dict[str, ArmOutcome] = {}
        for arm, key in ARMS.items():
            correct = get_field(get_field(r, key, where), "is_correct", f"{where} {key}")
            if not isinstance(correct, bool):
                raise ImporterError(f"{where} {key}: is_correct is not a boolean: {correct!r}")
            arms[arm] = ArmOutcome(score=float(correct))
        yield OutcomeRow(
            id=f"gsm8k-openai-test-{i:04d}",
            prompt=str(get_field(r, "question", where)),
            task="gsm8k",
            arms=arms,
        )
