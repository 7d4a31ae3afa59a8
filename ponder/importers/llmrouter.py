"""LLMRouter (ulab-uiuc/LLMRouter, MIT): 9 open models scored 0..1 on 14 tasks.

Source folder: ``shared/data/llmrouter``. Reads ``data/dcrouter_preprocessed/{train,test}.json``
(``question`` + ``scores`` per model), joins each question by exact text to
``data/example_data/query_data/default_query_{train,test}.jsonl`` for ``task`` (``task_name``),
and prices each arm with ``data/example_data/llm_candidates/default_llm.json``.

Splits:

* ``train``: all 5608 rows.
* ``test``: the 500 test rows minus the 119 whose question text also occurs in train
  (dedupe is ON by default so train/test evaluation does not leak): 381 rows.
* ``test-all``: all 500 test rows, overlap included.

Ids are ``llmrouter-<split>-<index in the source file>``, so a test row keeps its id whether
or not the overlap is dropped.

Cost of an arm = (input_tokens x input_price + output_tokens x output_price) / 1e6 with the
``input_price`` / ``output_price`` fields ($/M tokens) of ``default_llm.json``. The data has no
responses, so tokens are estimates: input = ceil(len(question) / 4) on the raw question (not
LLMRouter's formatted prompt); output = :data:`OUTPUT_TOKENS` per task, a documented guess
from LLMRouter's prompts (``llmrouter/utils/prompting.py``): multiple choice asks for the
letter "in a parenthesis" with no length limit, so a short justification; math and GSM8K are
free-form worked solutions; code tasks ask for a function body only.

Six question texts occur twice in ``default_query_train.jsonl`` with different tasks (e.g.
``mmlu`` and ``openbook_qa``); the first occurrence in file order wins.
"""

from __future__ import annotations

import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from ponder._pricing import Price, estimate_tokens
from ponder.importers._common import ImporterError, get_field, read_json, read_jsonl
from ponder.outcomes import ArmOutcome, OutcomeRow

SPLITS = ("train", "test", "test-all")

OUTPUT_TOKENS: dict[str, int] = {
    # multiple choice: "(C)" plus a sentence or two of justification
    "mmlu": 64,
    "gpqa": 64,
    "arc_challenge": 64,
    "commonsense_qa": 64,
    "openbook_qa": 64,
    # logic-grid puzzle answered as an option, with a little reasoning
    "agentverse-logicgrid": 128,
    # short factual answers scored by F1
    "natural_qa": 32,
    "trivia_qa": 32,
    # one generated sentence covering the given concepts
    "commongen": 48,
    # worked arithmetic solutions
    "gsm8k": 256,
    "agentverse-mgsm": 256,
    # competition maths, longer derivations ending in \boxed{}
    "math": 384,
    # a function body between [BEGIN] ... [Done]
    "mbpp": 160,
    "human_eval": 160,
}
DEFAULT_OUTPUT_TOKENS = 128

_DATA = "data"
_SCORES = "dcrouter_preprocessed/{split}.json"
_QUERIES = "example_data/query_data/default_query_{split}.jsonl"
_PRICES = "example_data/llm_candidates/default_llm.json"


def output_tokens_for(task: str) -> int:
    return OUTPUT_TOKENS.get(task, DEFAULT_OUTPUT_TOKENS)


def load_prices(path: Path) -> dict[str, Price]:
    """Model card name -> price; also indexed by the card's ``model`` id and its last part."""
    cards = read_json(path)
    if not isinstance(cards, dict):
        raise ImporterError(f"{path}: expected an object of model cards")
    prices: dict[str, Price] = {}
    for name, card in cards.items():
        where = f"{path}: model '{name}'"
        price = Price(
            float(get_field(card, "input_price", where)),
            float(get_field(card, "output_price", where)),
        )
        keys = [name, str(card.get("model", ""))]
        keys.append(keys[1].rsplit("/", 1)[-1])
        for key in keys:
            if key:
                prices.setdefault(key.lower(), price)
    return prices


def _task_index(path: Path) -> dict[str, str]:
    tasks: dict[str, str] = {}
    for i, q in enumerate(read_jsonl(path), start=1):
        where = f"{path}:{i}"
        tasks.setdefault(get_field(q, "query", where), get_field(q, "task_name", where))
    return tasks


def _scores(path: Path) -> list[dict[str, Any]]:
    rows = read_json(path)
    if not isinstance(rows, list):
        raise ImporterError(f"{path}: expected a JSON list of rows")
    return rows


def load(source: Path, split: str | None = None) -> Iterator[OutcomeRow]:
    split = split or "train"
    if split not in SPLITS:
        raise ImporterError(f"llmrouter: unknown split '{split}', expected one of {SPLITS}")
    base = source / _DATA
    file_split = "train" if split == "train" else "test"
    rows = _scores(base / _SCORES.format(split=file_split))
    tasks = _task_index(base / _QUERIES.format(split=file_split))
    prices = load_prices(base / _PRICES)
    drop: set[str] = set()
    if split == "test":
        train_rows = _scores(base / _SCORES.format(split="train"))
        drop = {str(r.get("question")) for r in train_rows}

    unpriced: set[str] = set()
    for i, r in enumerate(rows):
        where = f"{base / _SCORES.format(split=file_split)}: row {i}"
        question = get_field(r, "question", where)
        if question in drop:
            continue
        task = tasks.get(question)
        if task is None:
            raise ImporterError(
                f"{where}: question does not join to {_QUERIES.format(split=file_split)}"
            )
        n_in = estimate_tokens(question)
        n_out = output_tokens_for(task)
        arms: dict[str, ArmOutcome] = {}
        for model, score in sorted(get_field(r, "scores", where).items()):
            price = prices.get(model.lower())
            if price is None:
                unpriced.add(model)
            arms[model] = ArmOutcome(
                score=float(score),
                cost=None if price is None else price.cost(n_in, n_out),
                input_tokens=n_in,
                output_tokens=n_out,
            )
        yield OutcomeRow(
            id=f"llmrouter-{file_split}-{i:04d}", prompt=question, task=task, arms=arms
        )
    if unpriced:
        warnings.warn(
            f"llmrouter: no price in {_PRICES} for arms {sorted(unpriced)}; cost left empty",
            stacklevel=2,
        )
