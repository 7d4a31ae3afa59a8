"""Model prices from litellm's offline price table, without importing litellm.

litellm ships its price table as a JSON file inside the package. Reading that file directly
takes milliseconds, where ``import litellm`` takes seconds and may try the network for a
fresher table; routing decisions need neither.
"""

from __future__ import annotations

import importlib.util
import json
import math
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any, TypeVar

import numpy as np
import numpy.typing as npt

from ponder.errors import MenuError

_TABLE = "model_prices_and_context_window_backup.json"
T = TypeVar("T", float, npt.NDArray[np.float64])


CHARS_PER_TOKEN = 4


def estimate_tokens(text: str) -> int:
    """``ceil(len(text) / 4)``: tokens at about four characters a token (English, BPE
    tokenizers). Good enough to price a call when the real count is not known."""
    return math.ceil(len(text) / CHARS_PER_TOKEN)


@dataclass(frozen=True)
class Price:
    """US dollars per million tokens."""

    input: float
    output: float

    def cost(self, input_tokens: T, output_tokens: T | float) -> T:
        """US dollars for one call with these token counts (numbers or numpy arrays)."""
        out: T = (input_tokens * self.input + output_tokens * self.output) / 1e6
        return out


@lru_cache(maxsize=1)
def _price_table() -> dict[str, Any]:
    # find_spec locates the package without running its __init__ (which is slow and may
    # fetch a price table over the network); importlib.resources.files would run it.
    spec = importlib.util.find_spec("litellm")
    try:
        if spec is None or not spec.submodule_search_locations:
            raise ModuleNotFoundError("litellm is not installed")
        path = Path(next(iter(spec.submodule_search_locations))) / _TABLE
        text = path.read_text(encoding="utf-8")
    except (ModuleNotFoundError, FileNotFoundError) as exc:
        raise MenuError(
            f"litellm's price table is not available ({exc}); set input_price and "
            "output_price on the arm"
        ) from None
    table: dict[str, Any] = json.loads(text)
    return table


def lookup_price(model: str) -> Price:
    """The litellm price of ``model``; a provider prefix such as ``openai/`` is optional."""
    table = _price_table()
    candidates = [model]
    if "/" in model:
        candidates.append(model.split("/", 1)[1])
    for name in candidates:
        entry = table.get(name)
        if isinstance(entry, dict) and "input_cost_per_token" in entry:
            return Price(
                input=float(entry["input_cost_per_token"]) * 1e6,
                output=float(entry.get("output_cost_per_token", 0.0)) * 1e6,
            )
    raise MenuError(
        f"no price for model '{model}' in litellm's price table; set input_price and "
        "output_price (USD per million tokens) on the arm"
    )


def model_info(model: str) -> dict[str, Any]:
    """litellm's table entry for ``model`` (empty when unknown)."""
    table = _price_table()
    for name in (model, model.split("/", 1)[-1]):
        entry = table.get(name)
        if isinstance(entry, dict):
            return entry
    return {}
