"""Token estimates and per-call prices shared by the importers.

Most public routing data records correctness but not tokens, so importers estimate them from
text with the usual rule of thumb of four characters a token (English, BPE tokenizers). The
estimate is recorded in the row (``input_tokens`` / ``output_tokens``) so a user can re-price
it with their own table.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

CHARS_PER_TOKEN = 4


def estimate_tokens(text: str) -> int:
    """``ceil(len(text) / 4)``: the rough token count of ``text`` (0 for empty text)."""
    return math.ceil(len(text) / CHARS_PER_TOKEN)


@dataclass(frozen=True)
class Price:
    """US dollars per million input and output tokens."""

    input_per_m: float
    output_per_m: float

    def cost(self, input_tokens: float, output_tokens: float) -> float:
        """US dollars for one call with these token counts."""
        return (input_tokens * self.input_per_m + output_tokens * self.output_per_m) / 1e6
