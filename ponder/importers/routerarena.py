"""RouterArena (RouteWorks/RouterArena, Apache-2.0): cached answers of several models.

Source folder: ``shared/data/routerarena``. Every ``cached_results/<model>.jsonl`` is one arm
(named by ``llm_selected``, else the file stem); rows are joined by ``global_index``
(e.g. ``MMLUPro_law_3``), and ``task`` is the category prefix (``MMLUPro_law``). The prompt is
the stored ``question`` (the full formatted prompt the models saw).

Per arm: ``score`` = ``evaluation_result.score``; ``input_tokens`` / ``output_tokens`` from
``token_usage``; ``cost`` = the recorded ``evaluation_result.inference_cost`` and only when
that is absent ``token_usage`` x ``model_cost/cost.json`` prices (the recorded cost equals
that product exactly for both shipped models).

Scores are METEOR, exact match, accuracy and the like; all lie in [0, 1] except one METEOR
value of -0.033 (claude-3-haiku, ``NarrativeQA_4102``): METEOR's fragmentation penalty can
push a near-zero match slightly below 0 in some implementations. Such values are clipped to
[0, 1] (a bad answer, not a negative one). Rows with ``success`` false are treated as "not
measured" for that arm.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from ponder._pricing import Price
from ponder.importers._common import ImporterError, get_field, read_json, read_jsonl
from ponder.outcomes import ArmOutcome, OutcomeRow

_SUFFIX = re.compile(r"_\d+$")


def category(global_index: str) -> str:
    """``"MMLUPro_law_3"`` -> ``"MMLUPro_law"``."""
    return _SUFFIX.sub("", global_index)


def _dict(value: Any, where: str) -> dict[str, Any]:
    # Older RouterArena dumps store nested objects as Python-literal strings.
    if isinstance(value, str):
        try:
            value = ast.literal_eval(value)
        except (ValueError, SyntaxError):
            raise ImporterError(f"{where}: cannot parse {value[:60]!r}") from None
    if not isinstance(value, dict):
        raise ImporterError(f"{where}: expected an object")
    return value


def load_prices(path: Path) -> dict[str, Price]:
    if not path.is_file():
        return {}
    table = read_json(path)
    return {
        name: Price(
            float(get_field(p, "input_token_price_per_million", f"{path}: {name}")),
            float(get_field(p, "output_token_price_per_million", f"{path}: {name}")),
        )
        for name, p in table.items()
    }


def _arm(r: dict[str, Any], price: Price | None, where: str) -> ArmOutcome:
    ev = _dict(get_field(r, "evaluation_result", where), f"{where} evaluation_result")
    usage = _dict(get_field(r, "token_usage", where), f"{where} token_usage")
    n_in = float(get_field(usage, "input_tokens", f"{where} token_usage"))
    n_out = float(get_field(usage, "output_tokens", f"{where} token_usage"))
    cost = ev.get("inference_cost")
    if cost is None and price is not None:
        cost = price.cost(n_in, n_out)
    score = min(1.0, max(0.0, float(get_field(ev, "score", f"{where} evaluation_result"))))
    return ArmOutcome(
        score=score,
        cost=None if cost is None else float(cost),
        input_tokens=n_in,
        output_tokens=n_out,
    )


def load(source: Path, split: str | None = None) -> Iterator[OutcomeRow]:
    files = sorted((source / "cached_results").glob("*.jsonl"))
    if not files:
        raise ImporterError(f"{source / 'cached_results'}: no <model>.jsonl files found")
    prices = load_prices(source / "model_cost" / "cost.json")
    prompts: dict[str, str] = {}
    arms: dict[str, dict[str, ArmOutcome]] = {}
    for path in files:
        for lineno, r in enumerate(read_jsonl(path), start=1):
            where = f"{path}:{lineno}"
            gid = str(get_field(r, "global_index", where))
            model = str(r.get("llm_selected") or path.stem)
            if str(r.get("success", True)).lower() == "false":
                continue
            question = str(get_field(r, "question", where))
            if prompts.setdefault(gid, question) != question:
                raise ImporterError(f"{where}: '{gid}' has a different question in another file")
            row_arms = arms.setdefault(gid, {})
            if model in row_arms:
                raise ImporterError(f"{where}: duplicate '{gid}' for model '{model}'")
            row_arms[model] = _arm(r, prices.get(model), where)
    for gid, row_arms in arms.items():
        yield OutcomeRow(
            id=f"routerarena-{gid}", prompt=prompts[gid], task=category(gid), arms=row_arms
        )
