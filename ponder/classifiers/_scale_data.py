"""The evidence the absolute scale is fitted on, read from the shared data folders.

Only sets a shipped model may learn from are read: published aggregate scores (facts, each
row citing its source), the question texts they average over (``benchmark-items``, MIT /
Apache-2.0) and the permissive per-query tables that anchor item difficulty: MMLU-Pro with 31
models (Apache-2.0), reasoning-gym's puzzles with reasoning and plain arms (Apache-2.0), and
the 80 Vicuna questions scored per answer (``vicuna80`` Apache-2.0, ``qlora80`` MIT), the one
absolute anchor for everyday requests, where small chat models sit near the ceiling.

Arms of the per-query tables that are also in the published table share its key
(:data:`TABLE_ARMS`): that is what puts every table on one scale.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ponder.classifiers._arm_keys import key_model, model_name, setting_of, thinks
from ponder.classifiers._featurize import Featurizer
from ponder.classifiers._scale import AbsoluteScale, Aggregate, FloatArray, IntArray, PerQuery

SCALE_SOURCES = (
    "published/scores.csv",
    "benchmark-items",
    "mmlu-test",
    "gsm8k-openai/test.jsonl",
    "mmlu-pro",
    "reasoning-gym",
    "vicuna80",
    "qlora80",
)
"""What :func:`fit_scale` reads under the data folder (recorded in a model's sources)."""
Select = Callable[[dict[str, object]], bool]
ITEM_SETS: dict[str, tuple[str, Select | None]] = {
    "AIME 2024": ("aime_2024.jsonl", None),
    "AIME 2025": ("aime_2025.jsonl", None),
    "AIME 2025 I": ("aime_2025.jsonl", lambda r: r["meta"]["part"] == "I"),  # type: ignore[index]
    "MATH-500": ("math500.jsonl", None),
    "MATH level 5": ("math_test.jsonl", lambda r: r["meta"]["level"] == 5),  # type: ignore[index]
    "MMLU-Pro": ("mmlu_pro.jsonl", None),
    "HumanEval": ("humaneval.jsonl", None),
    "IFEval": ("ifeval.jsonl", None),
    "SimpleQA": ("simpleqa.jsonl", None),
}
"""Published benchmarks whose items are in ``benchmark-items`` (MMLU's and GSM8K's come from
``mmlu-test`` and ``gsm8k-openai``, both MIT: see :func:`_other_items`). The others (GPQA, HLE,
LiveCodeBench, IFBench, LiveBench, ...) have no questions here and are left out: without
items an accuracy can only move arm abilities, and would pull them toward whatever the
features of unrelated items say."""
FREE_OFFSET = frozenset({"SimpleQA"})
"""SimpleQA kept only the questions GPT-4 got wrong: its items are hard by selection, which
their features cannot show, so its offset is not shrunk (it informs arms, not difficulty)."""
DOMAIN = {
    "AIME 2024": "maths",
    "AIME 2025": "maths",
    "AIME 2025 I": "maths",
    "MATH-500": "maths",
    "MATH level 5": "maths",
    "MMLU-Pro": "knowledge",
    "SimpleQA": "knowledge",
    "MMLU": "knowledge",
    "GSM8K": "maths",
    "HumanEval": "code",
    "IFEval": "instructions",
}
TABLE_ARMS: dict[str, str] = {
    # mmlu-pro: the runs that are the published models
    "gpt-4o(run_gpt4o.py,2024-07)": "gpt-4o-2024-05-13@default",
    "Meta-Llama-3_1-70B-Instruct": "llama-3.1-70b-instruct@default",
    "Meta-Llama-3_1-8B-Instruct": "llama-3.1-8b-instruct@default",
    "Mixtral-8x7B-Instruct-v0.1": "mixtral-8x7b-instruct@default",
    # llmrouter
    "llama-3.1-8b-instruct": "llama-3.1-8b-instruct@default",
    "mixtral-8x7b-instruct-v0.1": "mixtral-8x7b-instruct@default",
    # reasoning-gym (OpenRouter names; o3-mini at its default effort, medium)
    "openai/o3-mini": "o3-mini@medium",
    "deepseek/deepseek-r1": "deepseek-r1@default",
    "qwen/qwq-32b": "qwq-32b@default",
    "x-ai/grok-3-mini-beta": "grok-3-mini@default",
    "anthropic/claude-3.5-sonnet": "claude-3.5-sonnet-20241022@default",
    "anthropic/claude-sonnet-4": "claude-sonnet-4@off",
    "meta-llama/llama-3.3-70b-instruct": "llama-3.3-70b-instruct@default",
    "meta-llama/llama-4-maverick": "llama-4-maverick@default",
    "meta-llama/llama-4-scout": "llama-4-scout@default",
    "google/gemma-3-27b-it": "gemma-3-27b-it@default",
    "mistralai/mistral-small-3.1-24b-instruct": "mistral-small-3.1-24b@default",
    # the 80 Vicuna questions
    "openai/gpt-3.5-turbo-0301": "gpt-3.5-turbo@default",
    "openai/gpt-3.5-turbo": "gpt-3.5-turbo@default",
    "openai/gpt-4": "gpt-4@default",
    "google/bard-20230327": "bard@default",
    "google/bard": "bard@default",
}


SNAPSHOTS = {
    "gpt-3.5-turbo-0125": "gpt-3.5-turbo",
    "gpt-3.5-turbo-0301": "gpt-3.5-turbo",
    "gpt-3.5-turbo-0613": "gpt-3.5-turbo",
    "gpt-3.5-turbo-1106": "gpt-3.5-turbo",
    "gpt-4-0314": "gpt-4",
    "gpt-4-0613": "gpt-4",
}
"""Snapshots of one model counted as the model: each has a published row or two, and only
together do they tie the everyday anchors (scored on gpt-3.5 and gpt-4) to the rest."""
ANCHOR_SMOOTHING = 0.03
"""A judged good answer counts as 0.97, a poor one as 0.03: gpt-3.5 answered all 70 everyday
questions well, and a 100% rate alone would push its knowledge without bound."""


@dataclass(frozen=True)
class PublishedRow:
    key: str
    benchmark: str
    score: float
    publisher: str
    source: str


@dataclass
class ScaleData:
    """Texts, the arms and models they are scored for, and the two kinds of evidence."""

    texts: list[str]
    arm_keys: list[str]
    model_keys: list[str]
    arm_model: list[int]
    per_query: PerQuery
    aggregate: Aggregate
    rows: list[PublishedRow]
    offset_names: list[str]
    free_offsets: list[int]
    item_index: dict[str, IntArray]


def _jsonl(path: Path) -> Iterable[dict[str, object]]:
    with path.open(encoding="utf-8") as f:
        for line in f:
            if line.strip():
                yield json.loads(line)


def read_published(path: Path) -> list[PublishedRow]:
    """The rows of ``scores.csv`` with a clear setting and items in ``benchmark-items``."""
    out: list[PublishedRow] = []
    with path.open(encoding="utf-8", newline="") as f:
        for r in csv.DictReader(f):
            setting = setting_of(r["setting"])
            if setting is None or r["benchmark"] not in DOMAIN:
                continue
            score = float(r["score"])
            if not 0.0 <= score <= 1.0:
                continue
            model = model_name(r["model"])
            key = f"{SNAPSHOTS.get(model, model)}@{setting}"
            out.append(PublishedRow(key, r["benchmark"], score, r["publisher"], r["source_url"]))
    return out


def _other_items(shared: Path) -> dict[str, list[str]]:
    """MMLU's test questions with their four choices, and GSM8K's test problems."""
    mmlu: list[str] = []
    for path in sorted((shared / "mmlu-test" / "test").glob("*.csv")):
        with path.open(encoding="utf-8", newline="") as f:
            for r in csv.DictReader(f):
                choices = "\n".join(f"{c}. {r[f'choice{i}']}" for i, c in enumerate("ABCD"))
                mmlu.append(f"{r['question']}\n{choices}")
    gsm8k = [str(r["question"]) for r in _jsonl(shared / "gsm8k-openai" / "test.jsonl")]
    return {"MMLU": mmlu, "GSM8K": gsm8k}


def _text(prompt: object) -> str:
    if isinstance(prompt, str):
        return prompt
    if isinstance(prompt, list):  # chat messages: the user's turns
        return "\n".join(str(m["content"]) for m in prompt if m.get("role") == "user")
    return str(prompt)


def load_scale_data(
    shared: Path,
    *,
    items_per_benchmark: int = 400,
    mmlu_pro_queries: int = 3000,
    gym_queries: int = 3000,
    llmrouter_queries: int = 0,
    anchor_weight: float = 4.0,
    aggregate_cap: float = 100.0,
    seed: int = 0,
    exclude: Iterable[str] = (),
) -> ScaleData:
    """Read every source; ``exclude`` drops published rows of those benchmarks (and keys
    ``key:benchmark`` drop one arm's row), for leave-one-out evaluation."""
    rng = np.random.default_rng(seed)
    texts: list[str] = []
    text_id: dict[str, int] = {}

    def tid(text: str) -> int:
        got = text_id.get(text)
        if got is None:
            got = text_id[text] = len(texts)
            texts.append(text)
        return got

    arm_keys: list[str] = []
    arm_id: dict[str, int] = {}

    def aid(key: str) -> int:
        got = arm_id.get(key)
        if got is None:
            got = arm_id[key] = len(arm_keys)
            arm_keys.append(key)
        return got

    # Items of each benchmark with published scores (a seeded subsample of large sets).
    items_dir = shared / "benchmark-items"
    item_index: dict[str, IntArray] = {}
    for bench, (file, select) in ITEM_SETS.items():
        rows = [r for r in _jsonl(items_dir / file) if select is None or select(r)]
        if len(rows) > items_per_benchmark:
            keep = sorted(rng.choice(len(rows), items_per_benchmark, replace=False))
            rows = [rows[i] for i in keep]
        item_index[bench] = np.array([tid(_text(r["prompt"])) for r in rows], dtype=np.int64)
    for bench, prompts in _other_items(shared).items():
        if len(prompts) > items_per_benchmark:
            keep = sorted(rng.choice(len(prompts), items_per_benchmark, replace=False))
            prompts = [prompts[i] for i in keep]
        item_index[bench] = np.array([tid(p) for p in prompts], dtype=np.int64)

    dropped = set(exclude)
    published = [
        r
        for r in read_published(shared / "published" / "scores.csv")
        if r.benchmark not in dropped and f"{r.key}:{r.benchmark}" not in dropped
    ]
    offsets: dict[str, int] = {}
    agg_ai, agg_items, agg_acc, agg_oi, agg_w = [], [], [], [], []
    for row in published:
        name = f"{row.publisher}|{row.benchmark}"
        o = offsets.setdefault(name, len(offsets))
        items = item_index[row.benchmark]
        agg_ai.append(aid(row.key))
        agg_items.append(items)
        agg_acc.append(row.score)
        agg_oi.append(o)
        agg_w.append(min(float(len(items)), aggregate_cap))
    free = [o for name, o in offsets.items() if name.split("|", 1)[1] in FREE_OFFSET]

    qi: list[int] = []
    ai: list[int] = []
    ys: list[float] = []
    ws: list[float] = []

    def add_table(
        path: Path, table: str, n_queries: int | None, weight: float, good: float | None = None
    ) -> None:
        add_rows(list(_jsonl(path)), table, n_queries, weight, good)

    def add_rows(
        rows: list[dict[str, object]],
        table: str,
        n_queries: int | None,
        weight: float,
        good: float | None = None,
    ) -> None:
        if n_queries is not None and len(rows) > n_queries:
            keep = sorted(rng.choice(len(rows), n_queries, replace=False))
            rows = [rows[i] for i in keep]
        for r in rows:
            q = tid(_text(r["prompt"]))
            for arm, cell in r["arms"].items():  # type: ignore[attr-defined]
                score = cell.get("score") if isinstance(cell, dict) else None
                if score is None:
                    continue
                qi.append(q)
                ai.append(aid(TABLE_ARMS.get(arm, f"{table}:{model_name(arm)}@default")))
                if good is not None:
                    score = ANCHOR_SMOOTHING + (1 - 2 * ANCHOR_SMOOTHING) * float(score >= good)
                ys.append(float(score))
                ws.append(weight)

    add_table(shared / "mmlu-pro" / "outcomes.jsonl", "mmlu-pro", mmlu_pro_queries, 1.0)
    if llmrouter_queries:
        from ponder.importers import llmrouter

        rows = [
            {"prompt": r.prompt, "arms": {a: {"score": o.score} for a, o in r.arms.items()}}
            for r in llmrouter.load(shared / "llmrouter", "train")
        ]
        add_rows(rows, "llmrouter", llmrouter_queries, 1.0)
    add_table(shared / "reasoning-gym" / "outcomes.jsonl", "reasoning-gym", gym_queries, 1.0)
    # A judge's 7 of 10 or better is a good answer (scores are (s - 1) / 9): graded as is,
    # a 9 of 10 would read as a one-in-ten failure and no arm could reach the ceiling.
    good = (7 - 1) / 9 - 1e-9
    add_table(shared / "vicuna80" / "outcomes.jsonl", "chat80", None, anchor_weight, good)
    add_table(shared / "qlora80" / "outcomes.jsonl", "chat80", None, anchor_weight, good)

    model_keys: list[str] = []
    model_id: dict[str, int] = {}
    arm_model = []
    for key in arm_keys:
        m = key_model(key)
        if m not in model_id:
            model_id[m] = len(model_keys)
            model_keys.append(m)
        arm_model.append(model_id[m])

    def ints(v: list[int]) -> IntArray:
        return np.asarray(v, dtype=np.int64)

    def floats(v: list[float]) -> FloatArray:
        return np.asarray(v, dtype=np.float64)

    return ScaleData(
        texts=texts,
        arm_keys=arm_keys,
        model_keys=model_keys,
        arm_model=arm_model,
        per_query=PerQuery(ints(qi), ints(ai), floats(ys), floats(ws)),
        aggregate=Aggregate(
            ints(agg_ai), tuple(agg_items), floats(agg_acc), ints(agg_oi), floats(agg_w)
        ),
        rows=published,
        offset_names=list(offsets),
        free_offsets=free,
        item_index=item_index,
    )


def fit_on(scale: AbsoluteScale, data: ScaleData, X: FloatArray) -> AbsoluteScale:
    """``scale`` (its parameters set) fitted on ``data``, whose texts ``X`` featurizes."""
    return scale.fit(
        X,
        data.arm_keys,
        data.arm_model,
        data.model_keys,
        data.per_query,
        data.aggregate,
        len(data.offset_names),
        data.free_offsets,
        [thinks(k) for k in data.arm_keys],
    )


def fit_scale(
    shared: Path,
    featurizer: Featurizer,
    *,
    max_iter: int = 800,
    seed: int = 0,
    columns: Sequence[int] | None = None,
    l2_need: float | None = 300.0,
    l2_load: float | None = None,
    l2_query: float = 30.0,
    anchor_weight: float = 4.0,
    progress: Callable[[str], None] | None = None,
) -> AbsoluteScale:
    """The absolute scale fitted on every source under ``shared`` (see the module doc),
    with each benchmark's item traits kept for placing arms from their scores later."""
    say = progress or (lambda _msg: None)
    say(f"reading published scores and anchors from {shared}")
    data = load_scale_data(shared, seed=seed, anchor_weight=anchor_weight)
    say(f"featurizing {len(data.texts)} texts")
    X = np.asarray(featurizer.transform(data.texts), dtype=np.float64)
    say(
        f"fitting the scale: {len(data.arm_keys)} arms, {len(data.per_query.y)} per-query "
        f"outcomes, {len(data.aggregate.acc)} published scores"
    )
    scale = AbsoluteScale(
        max_iter=max_iter, columns=columns, l2_need=l2_need, l2_load=l2_load, l2_query=l2_query
    )
    fit_on(scale, data, X)
    return scale.keep_items({b: X[ix] for b, ix in data.item_index.items()})
