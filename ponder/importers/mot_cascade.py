"""MoT cascade results (MurongYue/LLM_MoT_cascade, ICLR'24; no licence: research data only).

Source folder: ``shared/data/mot-cascade``; reads every ``GPT4_result/*.compact.jsonl`` and
``GPT3_result/*.compact.jsonl`` (derived files holding ``question``, gold ``answer``, the
per-sample extracted answers ``results`` and the repo's majority ``prediction``).

The split is the dataset (``gsm8k``, ``asdiv``, ``crepe``, ``date``, ``navigate``, ``tabmwp``;
``None`` = all six); ``task`` is that name. Every file of a dataset becomes one arm, and arms
are merged into one row per query:

    file                                 arm                         samples per row
    GPT4_result/<ds>_cot1                gpt-4-cot1                  3
    GPT4_result/<ds>_greedy_pot2         gpt-4-pot2-greedy           1 (temperature 0)
    GPT3_result/date_cot1                gpt-3.5-turbo-cot1          20 (temperature not stated)
    GPT3_result/date_cot1_t=0.4          gpt-3.5-turbo-cot1-t0.4     20
    GPT3_result/date_cot1_40             gpt-3.5-turbo-cot1-n40      40

(cot = chain of thought, pot = program of thought; 1/2 = the two demonstration sets.)

Merging: question texts repeat within a dataset (CREPE 240 times, TabMWP 72, ASDiv once; the
CREPE/TabMWP context is not part of the stored question), so a query is keyed by
(question text, occurrence number of that text in the file). Every file of a dataset lists the
queries in the same order, so this is the row's position; a key whose gold answer differs
between files is an error. Ids are ``mot-<dataset>-<position>``.

Samples: ``answer`` = :func:`normalise_answer` of the extracted answer, ``score`` =
:func:`answers_equal` to gold (numbers are compared at the lower of the two precisions, as the
repo's ``finqa_equal``; strings after whitespace/case normalisation). A sample with no extracted
answer (``None``: e.g. a program that failed) has ``answer`` absent and score 0. Rows with
fewer results than the arm's nominal count are padded with such failed samples, so every row
of an arm records what was paid for. Greedy arms keep only the first result: 33 rows of each
GSM8K greedy file hold 3 results identical to the sampled file's (a copy in the repo).
The arm ``score`` is its first sample's (one call); voting is replayed from the samples.
No costs or tokens: the generated texts are not in the derived files.
"""

from __future__ import annotations

import math
import re
from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ponder.importers._common import ImporterError, get_field, read_jsonl
from ponder.outcomes import ArmOutcome, OutcomeRow, Sample

DATASETS: dict[str, str] = {
    "gsm8k": "gsm",
    "asdiv": "asdiv",
    "crepe": "crepe",
    "date": "date",
    "navigate": "navigate",
    "tabmwp": "tabmwp",
}
# folder -> (model name, samples per query of a non-greedy run)
MODELS: dict[str, tuple[str, int]] = {
    "GPT4_result": ("gpt-4", 3),
    "GPT3_result": ("gpt-3.5-turbo", 20),
}
_FILE = re.compile(
    r"^(?P<ds>[a-z0-9]+)_(?P<greedy>greedy_)?(?P<method>[cp]ot\d)(?P<suffix>_t=[\d.]+|_\d+)?$"
)
_NUMBER = re.compile(r"^[-+]?(\d+(\.\d*)?|\.\d+)$")


# ---- answer normalisation ---------------------------------------------------------------


def _number(x: Any) -> float | None:
    if isinstance(x, bool) or x is None:
        return None
    if isinstance(x, int | float):
        return float(x) if math.isfinite(x) else None
    t = str(x).strip().replace(",", "").removeprefix("$").strip()
    return float(t) if _NUMBER.match(t) else None


def _decimals(x: Any) -> int:
    # As the repo's get_precision: digits after '.', or 5 when there is no '.'.
    s = str(x).strip().replace(",", "")
    return len(s.split(".")[-1]) if "." in s else 5


def normalise_answer(x: Any) -> str | None:
    """Canonical string of an extracted answer, for voting: numbers as ``18`` / ``0.25``
    (rounded to 6 decimals), booleans as ``yes``/``no``, text lower-cased with single spaces
    and no trailing full stop; ``None`` stays ``None``."""
    if x is None:
        return None
    if isinstance(x, bool):
        return "yes" if x else "no"
    v = _number(x)
    if v is not None:
        r = round(v, 6) + 0.0  # + 0.0 turns -0.0 into 0.0
        return str(int(r)) if r.is_integer() else f"{r:.6f}".rstrip("0").rstrip(".")
    s = " ".join(str(x).split()).lower()
    return s[:-1] if s.endswith(".") else s


def answers_equal(pred: Any, gold: Any) -> bool:
    if pred is None:
        return False
    p, g = _number(pred), _number(gold)
    if p is not None and g is not None:
        places = min(_decimals(pred), _decimals(gold))
        return round(p, places) == round(g, places)
    return normalise_answer(pred) == normalise_answer(gold)


# ---- files ------------------------------------------------------------------------------


@dataclass(frozen=True)
class ArmFile:
    path: Path
    dataset: str  # canonical name, e.g. "gsm8k"
    arm: str
    n_samples: int
    greedy: bool


def parse_file(path: Path) -> ArmFile | None:
    """The arm a ``<ds>_<variant>.compact.jsonl`` file holds, or ``None`` if not a result file."""
    stem = path.name.removesuffix(".compact.jsonl")
    m = _FILE.match(stem)
    model = MODELS.get(path.parent.name)
    if m is None or model is None:
        return None
    dataset = next((k for k, v in DATASETS.items() if v == m["ds"]), None)
    if dataset is None:
        return None
    name, n = model
    arm = f"{name}-{m['method']}"
    suffix = m["suffix"] or ""
    if suffix.startswith("_t="):
        arm += f"-t{suffix[3:]}"
    elif suffix:
        n = int(suffix[1:])
        arm += f"-n{n}"
    if m["greedy"]:
        arm += "-greedy"
        n = 1
    return ArmFile(path, dataset, arm, n, bool(m["greedy"]))


def arm_files(source: Path) -> list[ArmFile]:
    files = []
    for folder in sorted(MODELS):
        for path in sorted((source / folder).glob("*.compact.jsonl")):
            f = parse_file(path)
            if f is not None:
                files.append(f)
    return files


def _samples(results: list[Any], gold: Any, f: ArmFile) -> list[Sample]:
    kept = results[:1] if f.greedy else list(results)
    kept += [None] * (f.n_samples - len(kept))
    return [Sample(answer=normalise_answer(r), score=float(answers_equal(r, gold))) for r in kept]


def load(source: Path, split: str | None = None) -> Iterator[OutcomeRow]:
    if split is not None and split not in DATASETS:
        raise ImporterError(
            f"mot-cascade: unknown dataset '{split}', expected one of {sorted(DATASETS)}"
        )
    files = arm_files(source)
    if not files:
        raise ImporterError(f"{source}: no GPT4_result/ or GPT3_result/ *.compact.jsonl files")
    for dataset in DATASETS:
        if split is not None and dataset != split:
            continue
        yield from _load_dataset(dataset, [f for f in files if f.dataset == dataset])


def _load_dataset(dataset: str, files: list[ArmFile]) -> Iterator[OutcomeRow]:
    keys: dict[tuple[str, int], int] = {}  # (question, occurrence) -> row position
    golds: list[Any] = []
    arms: list[dict[str, ArmOutcome]] = []
    for f in files:
        seen: dict[str, int] = defaultdict(int)
        for lineno, r in enumerate(read_jsonl(f.path), start=1):
            where = f"{f.path}:{lineno}"
            question = str(get_field(r, "question", where))
            gold = get_field(r, "answer", where)
            key = (question, seen[question])
            seen[question] += 1
            pos = keys.setdefault(key, len(keys))
            if pos == len(golds):
                golds.append(gold)
                arms.append({})
            elif normalise_answer(golds[pos]) != normalise_answer(gold):
                raise ImporterError(f"{where}: gold {gold!r} differs from {golds[pos]!r} elsewhere")
            results = get_field(r, "results", where)
            if not isinstance(results, list):
                raise ImporterError(f"{where}: 'results' is not a list")
            samples = _samples(results, gold, f)
            arms[pos][f.arm] = ArmOutcome(score=samples[0].score, samples=samples)
    for (question, _), pos in keys.items():
        yield OutcomeRow(
            id=f"mot-{dataset}-{pos:04d}", prompt=question, task=dataset, arms=arms[pos]
        )
