"""Importers: turn public routing data (``shared/data/<folder>``) into canonical outcome rows.

Each importer reads one dataset folder and yields validated :class:`~ponder.outcomes.OutcomeRow`
objects; write them with :func:`ponder.outcomes.write_jsonl`. RouterBench needs no importer:
its wide CSV is read directly by :func:`ponder.outcomes.load_outcomes`.

    >>> rows = import_rows("routellm-gsm8k", Path("../shared/data/routellm"))

``split`` selects part of a source where the importer has parts (see ``Importer.splits``);
``None`` means the importer's ``default_split``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

from ponder.importers import gsm8k_openai, llmrouter, mot_cascade, qwen_math, routellm, routerarena
from ponder.importers._common import ImporterError
from ponder.outcomes import OutcomeRow

Loader = Callable[[Path, str | None], Iterator[OutcomeRow]]


@dataclass(frozen=True)
class Importer:
    name: str
    licence: str
    description: str
    load: Loader
    """``load(source_folder, split)`` yields rows; ``split`` is already checked."""
    folder: str
    """The folder under ``shared/data`` this importer reads."""
    splits: tuple[str, ...] = ()
    """Accepted ``split`` values; empty when the importer has no parts."""
    default_split: str | None = None


IMPORTERS: dict[str, Importer] = {
    imp.name: imp
    for imp in (
        Importer(
            name="llmrouter",
            licence="MIT",
            description="LLMRouter: 9 open models, 14 tasks, scores 0..1, costs from token "
            "estimates x default_llm.json prices. Splits: train (5608), test (381: the 119 "
            "texts also in train dropped), test-all (500).",
            load=llmrouter.load,
            folder="llmrouter",
            splits=llmrouter.SPLITS,
            default_split="train",
        ),
        Importer(
            name="routellm-gsm8k",
            licence="Apache-2.0",
            description="RouteLLM GSM8K: Mixtral-8x7B vs GPT-4-1106 correctness, 1307 prompts "
            "after RouteLLM's decontamination; costs from prompt/response token estimates.",
            load=routellm.load_gsm8k,
            folder="routellm",
        ),
        Importer(
            name="routellm-mmlu",
            licence="Apache-2.0",
            description="RouteLLM MMLU: Mixtral-8x7B vs GPT-4-1106 correctness, 14037 prompts "
            "after decontamination, task = subject; 1 output token (answer letter).",
            load=routellm.load_mmlu,
            folder="routellm",
        ),
        Importer(
            name="routerarena",
            licence="Apache-2.0",
            description="RouterArena sub_10: 809 queries, claude-3-haiku and gemini-2.0-flash "
            "with recorded scores, token usage and cost; task = category.",
            load=routerarena.load,
            folder="routerarena",
        ),
        Importer(
            name="gsm8k-openai",
            licence="MIT",
            description="OpenAI GSM8K example solutions: GPT-3 6B/175B, single sample vs "
            "verifier best-of-many, 1319 test questions; no costs.",
            load=gsm8k_openai.load,
            folder="gsm8k-openai",
        ),
        Importer(
            name="qwen-math-sampled",
            licence="MIT",
            description="100 MATH problems x 8 sampled CoT solutions with correctness and "
            "reward-model scores; one arm with samples; task = math-level<n>.",
            load=qwen_math.load,
            folder="qwen-math-sampled",
        ),
        Importer(
            name="mot-cascade",
            licence="none (research data)",
            description="MoT cascade: GPT-4 (3 samples / greedy) on six reasoning datasets, "
            "GPT-3.5 (20/40 samples) on Date; per-sample answers. Split = dataset.",
            load=mot_cascade.load,
            folder="mot-cascade",
            splits=tuple(mot_cascade.DATASETS),
        ),
    )
}


def get_importer(name: str) -> Importer:
    try:
        return IMPORTERS[name]
    except KeyError:
        raise ImporterError(
            f"unknown importer '{name}'; known importers: {', '.join(sorted(IMPORTERS))}"
        ) from None


def import_rows(name: str, source: str | Path, split: str | None = None) -> Iterator[OutcomeRow]:
    """Rows of importer ``name`` read from the dataset folder ``source``.

    Raises :class:`ImporterError` (a :class:`~ponder.errors.PonderError`) at once for an unknown
    importer or split or a missing folder, and while iterating for missing or malformed files.
    """
    imp = get_importer(name)
    if split is None:
        split = imp.default_split
    elif split not in imp.splits:
        accepted = ", ".join(imp.splits) if imp.splits else "none (this importer has no splits)"
        raise ImporterError(f"{name}: unknown split '{split}'; accepted: {accepted}")
    folder = Path(source)
    if not folder.is_dir():
        raise ImporterError(
            f"{name}: source folder {folder} not found (expected shared/data/{imp.folder})"
        )
    return imp.load(folder, split)


__all__ = ["IMPORTERS", "Importer", "ImporterError", "get_importer", "import_rows"]
