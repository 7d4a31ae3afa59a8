"""The shared sets with 8 or more recorded samples a query, one sampled arm each.

Fifteen sets (issue 20): ``tdg/`` (MATH train, gpt-3.5-turbo and gpt-4, 8 samples),
``activeprompt/`` (code-davinci-002 on five tasks, 10), ``adacons/`` (BBH Date, Penguins and
Logical deduction, code-davinci-002 and vicuna-13b, 40 a seed), ``qwen-math-sampled`` (8) and
mot-cascade's GPT-3.5 Date (20 and 40). All but qwen-math-sampled are research data with no
licence: benchmarks only, never the training data of a shipped artifact.

adacons records three seeds of 40 samples a query; each seed is one replay of the query (a
row here, ``#s<k>`` added to its id) and the three share a group, so folds and bootstrap
resamples keep a query's seeds together. vicuna-13b's first sample of each seed is less
often cut off than the rest (the set's SOURCE.txt): the file order is kept, as a live arm
would draw it.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ponder.importers import import_rows
from ponder.outcomes import OutcomeRow, OutcomeTable, rows_to_table

ARM = "sampled"
"""Every set's one arm is renamed to this, so that a policy can be carried between sets."""


@dataclass(frozen=True)
class SampleSet:
    """One set: its table (one arm, :data:`ARM`), the group of each row and its label."""

    key: str
    label: str
    table: OutcomeTable
    groups: np.ndarray

    @property
    def max_samples(self) -> int:
        return max(len(r or ()) for r in self.table.samples[ARM])


def _rows(path: Path) -> Iterator[dict[str, Any]]:
    with path.open(encoding="utf-8") as f:
        for line in f:
            if line.strip():
                yield json.loads(line)


def _row(rid: str, prompt: Any, task: str | None, arm: dict[str, Any]) -> OutcomeRow:
    samples = arm["samples"]
    score = sum(float(s["score"]) for s in samples) / len(samples)
    return OutcomeRow.model_validate(
        {
            "id": rid,
            "prompt": prompt,
            "task": task,
            "arms": {ARM: {"score": score, "samples": samples}},
        }
    )


def _from_jsonl(
    path: Path, arm: str, keep: Callable[[dict[str, Any]], bool], seeds: int = 40
) -> tuple[OutcomeTable, np.ndarray]:
    """Rows of ``arm`` in ``path`` that ``keep`` accepts; more than ``seeds`` samples are
    cut into seeds of that many, one row each, grouped by query."""
    rows, groups = [], []
    for r in _rows(path):
        if not keep(r) or arm not in r["arms"]:
            continue
        samples = r["arms"][arm].get("samples") or []
        parts = [samples[k : k + seeds] for k in range(0, len(samples), seeds)] or [[]]
        for k, part in enumerate(parts):
            if not part:
                continue
            rid = r["id"] if len(parts) == 1 else f"{r['id']}#s{k + 1}"
            rows.append(_row(rid, r["prompt"], r.get("task"), {"samples": part}))
            groups.append(r["id"])
    return rows_to_table(rows), np.array(groups)


def _renamed(table: OutcomeTable, arm: str) -> tuple[OutcomeTable, np.ndarray]:
    rows = []
    for i in range(table.n_queries):
        samples = table.samples[arm][i]
        if not samples:
            continue
        arm_row = {"samples": [s.model_dump(exclude_none=True) for s in samples]}
        rows.append(_row(table.ids[i], table.prompts[i], table.tasks[i], arm_row))
    out = rows_to_table(rows)
    return out, np.array(out.ids)


def _tdg(arm: str) -> Callable[[Path], tuple[OutcomeTable, np.ndarray]]:
    return lambda data: _from_jsonl(data / "tdg" / "outcomes.jsonl", arm, lambda r: True)


def _activeprompt(prefix: str) -> Callable[[Path], tuple[OutcomeTable, np.ndarray]]:
    return lambda data: _from_jsonl(
        data / "activeprompt" / "outcomes.jsonl",
        "code-davinci-002",
        lambda r: r["id"].startswith(prefix + "-"),
    )


def _adacons(dataset: str, arm: str) -> Callable[[Path], tuple[OutcomeTable, np.ndarray]]:
    return lambda data: _from_jsonl(
        data / "adacons" / "outcomes.jsonl",
        arm,
        lambda r: r["id"].startswith(f"adacons-{dataset}-"),
    )


def _qwen(data: Path) -> tuple[OutcomeTable, np.ndarray]:
    table = rows_to_table(import_rows("qwen-math-sampled", data / "qwen-math-sampled"))
    return _renamed(table, "qwen-math-cot")


def _date(arm: str) -> Callable[[Path], tuple[OutcomeTable, np.ndarray]]:
    def load(data: Path) -> tuple[OutcomeTable, np.ndarray]:
        table = rows_to_table(import_rows("mot-cascade", data / "mot-cascade", split="date"))
        return _renamed(table, arm)

    return load


SETS: dict[str, tuple[str, str, Callable[[Path], tuple[OutcomeTable, np.ndarray]]]] = {
    "tdg-gpt35": ("tdg", "MATH train, gpt-3.5-turbo (8)", _tdg("gpt-3.5-turbo")),
    "tdg-gpt4": ("tdg", "MATH train, gpt-4 (8)", _tdg("gpt-4")),
    "ap-gsm8k": ("activeprompt", "GSM8K, code-davinci-002 (10)", _activeprompt("ap-gsm8k")),
    "ap-csqa": ("activeprompt", "CSQA, code-davinci-002 (10)", _activeprompt("ap-csqa")),
    "ap-strategyqa": (
        "activeprompt",
        "StrategyQA, code-davinci-002 (10)",
        _activeprompt("ap-strategyqa"),
    ),
    "ap-letters3": (
        "activeprompt",
        "LastLetters 3, code-davinci-002 (10)",
        _activeprompt("ap-lastletters3"),
    ),
    "ap-letters2": (
        "activeprompt",
        "LastLetters 2, code-davinci-002 (10)",
        _activeprompt("ap-lastletters2"),
    ),
    "ac-date-codex": (
        "adacons",
        "BBH Date, code-davinci-002 (40 x 3)",
        _adacons("date", "code-davinci-002"),
    ),
    "ac-date-vicuna": ("adacons", "BBH Date, vicuna-13b (40 x 3)", _adacons("date", "vicuna-13b")),
    "ac-penguins-codex": (
        "adacons",
        "BBH Penguins, code-davinci-002 (40 x 3)",
        _adacons("penguins", "code-davinci-002"),
    ),
    "ac-penguins-vicuna": (
        "adacons",
        "BBH Penguins, vicuna-13b (40 x 3)",
        _adacons("penguins", "vicuna-13b"),
    ),
    "ac-logical3-codex": (
        "adacons",
        "BBH Logical ded. 3, code-davinci-002 (40)",
        _adacons("logical_three", "code-davinci-002"),
    ),
    "qwen": ("qwen-math-sampled", "MATH, Qwen math (8)", _qwen),
    "date20": ("mot-cascade", "BBH Date, GPT-3.5 CoT (20)", _date("gpt-3.5-turbo-cot1")),
    "date40": ("mot-cascade", "BBH Date, GPT-3.5 CoT (40)", _date("gpt-3.5-turbo-cot1-n40")),
}


def available(data: Path) -> list[str]:
    """The keys of the sets whose folder is under ``data``."""
    return [k for k, (folder, _, _) in SETS.items() if (data / folder).is_dir()]


def load_set(data: Path, key: str) -> SampleSet:
    _, label, load = SETS[key]
    table, groups = load(data)
    return SampleSet(key, label, table, groups)
