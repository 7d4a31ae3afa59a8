"""RouteLLM eval data (lm-sys/RouteLLM, Apache-2.0): Mixtral-8x7B vs GPT-4-1106 correctness.

Source folder: ``shared/data/routellm``.

* ``routellm-gsm8k``: ``routellm/evals/gsm8k/gsm8k_responses.csv``, 1319 GSM8K-test prompts
  with both models' correctness (True/False) and full responses.
* ``routellm-mmlu``: ``routellm/evals/mmlu/responses/mmlu_<subject>.csv``, 57 files, 14042
  prompts with correctness only; ``task`` is the subject.

Decontamination, as RouteLLM does it (``routellm/evals/benchmarks.py``, classes ``GSM8K`` and
``MMLU``): rows whose ``prompt`` equals an ``eval_prompt`` of the benchmark's
``contaminated_prompts.jsonl`` are dropped (12 GSM8K rows -> 1307; 5 MMLU rows -> 14037).
Ids keep the row's position in its source file, so they do not shift when rows are dropped.

Prices (litellm-style, $ per million tokens)::

    arm name                    RouteLLM column / litellm model name
    gpt-4-1106-preview          gpt-4-1106-preview / gpt-4-1106-preview
    mixtral-8x7b-instruct-v0.1  mistralai/Mixtral-8x7B-Instruct-v0.1 /
                                together_ai/mistralai/Mixtral-8x7B-Instruct-v0.1
                                ("Mixtral-8x7B" in older MMLU files, also accepted)

Tokens: input = ceil(len(prompt) / 4) on the stored prompt. RouteLLM actually sent an 8-shot
(GSM8K) or 5-shot (MMLU) prefix as well; it is not stored and not counted, so costs are those
of a zero-shot deployment. GSM8K output = ceil(len(response) / 4) of each model's response.
MMLU output = :data:`MMLU_OUTPUT_TOKENS` = 1: RouteLLM generated the answer letter with
``max_new_tokens=1`` (``routellm/evals/mmlu/generate_responses.py``).
"""

from __future__ import annotations

import csv
from collections.abc import Iterator
from pathlib import Path

from ponder._pricing import Price, estimate_tokens
from ponder.importers._common import ImporterError, get_field, read_jsonl, require_file
from ponder.outcomes import ArmOutcome, OutcomeRow

GPT4 = "gpt-4-1106-preview"
MIXTRAL = "mixtral-8x7b-instruct-v0.1"

# litellm model_prices: gpt-4-1106-preview $10 / $30 per M; Mixtral-8x7B-Instruct $0.60 / $0.60
# per M (together_ai / anyscale list price).
PRICES: dict[str, Price] = {
    GPT4: Price(input=10.0, output=30.0),
    MIXTRAL: Price(input=0.60, output=0.60),
}
# CSV column -> arm name. Both spellings of the Mixtral column are accepted.
COLUMNS: dict[str, str] = {
    "gpt-4-1106-preview": GPT4,
    "mistralai/Mixtral-8x7B-Instruct-v0.1": MIXTRAL,
    "Mixtral-8x7B": MIXTRAL,
}
MMLU_OUTPUT_TOKENS = 1

_EVALS = Path("routellm/evals")


def contaminated_prompts(path: Path) -> set[str]:
    """The ``eval_prompt`` texts RouteLLM excludes from a benchmark."""
    return {str(get_field(o, "eval_prompt", str(path))) for o in read_jsonl(path)}


def _bool(cell: str, where: str) -> float:
    v = cell.strip().lower()
    if v not in {"true", "false"}:
        raise ImporterError(f"{where}: expected True/False, got {cell[:40]!r}")
    return 1.0 if v == "true" else 0.0


def _read_csv(path: Path) -> tuple[list[str], list[dict[str, str]]]:
    require_file(path)
    csv.field_size_limit(2**31 - 1)
    with path.open(newline="", encoding="utf-8") as fh:
        reader = csv.DictReader(fh)
        rows = list(reader)
        header = list(reader.fieldnames or [])
    if "prompt" not in header:
        raise ImporterError(f"{path}: the header has no 'prompt' column")
    return header, rows


def _arm_columns(path: Path, header: list[str]) -> dict[str, str]:
    cols = {c: COLUMNS[c] for c in header if c in COLUMNS}
    if sorted(cols.values()) != sorted(PRICES):
        raise ImporterError(f"{path}: expected columns for {sorted(PRICES)}, found {header}")
    return cols


def load_gsm8k(source: Path, split: str | None = None) -> Iterator[OutcomeRow]:
    folder = source / _EVALS / "gsm8k"
    path = folder / "gsm8k_responses.csv"
    header, rows = _read_csv(path)
    cols = _arm_columns(path, header)
    drop = contaminated_prompts(folder / "contaminated_prompts.jsonl")
    for i, r in enumerate(rows):
        prompt = r["prompt"]
        if prompt in drop:
            continue
        n_in = estimate_tokens(prompt)
        arms: dict[str, ArmOutcome] = {}
        for col, arm in cols.items():
            where = f"{path}: row {i + 2} column '{col}'"
            response = r.get(f"{col}_response")
            if response is None:
                raise ImporterError(f"{path}: no '{col}_response' column")
            n_out = estimate_tokens(response)
            arms[arm] = ArmOutcome(
                score=_bool(r[col], where),
                cost=PRICES[arm].cost(n_in, n_out),
                input_tokens=n_in,
                output_tokens=n_out,
            )
        yield OutcomeRow(id=f"routellm-gsm8k-{i:04d}", prompt=prompt, task="gsm8k", arms=arms)


def load_mmlu(source: Path, split: str | None = None) -> Iterator[OutcomeRow]:
    folder = source / _EVALS / "mmlu"
    files = sorted((folder / "responses").glob("mmlu_*.csv"))
    if not files:
        raise ImporterError(f"{folder / 'responses'}: no mmlu_<subject>.csv files found")
    drop = contaminated_prompts(folder / "contaminated_prompts.jsonl")
    for path in files:
        subject = path.stem.removeprefix("mmlu_")
        header, rows = _read_csv(path)
        cols = _arm_columns(path, header)
        for i, r in enumerate(rows):
            prompt = r["prompt"]
            if prompt in drop:
                continue
            n_in = estimate_tokens(prompt)
            arms = {
                arm: ArmOutcome(
                    score=_bool(r[col], f"{path}: row {i + 2} column '{col}'"),
                    cost=PRICES[arm].cost(n_in, MMLU_OUTPUT_TOKENS),
                    input_tokens=n_in,
                    output_tokens=MMLU_OUTPUT_TOKENS,
                )
                for col, arm in cols.items()
            }
            yield OutcomeRow(
                id=f"routellm-mmlu-{subject}-{i:04d}", prompt=prompt, task=subject, arms=arms
            )
