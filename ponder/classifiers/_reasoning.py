"""How strongly an arm reasons before it answers, on a 0-1 scale.

The interaction model learns a query's *reasoning need* from the contrast between arms that
think (o3-mini, DeepSeek-R1, QwQ, a model given a thinking budget) and arms that answer
straight away, on the same queries. To learn it, and to apply it to an arm it never saw,
each arm needs a strength: 1 for a model that writes a long hidden chain of thought (the
reasoning arms of the public tables, a thinking budget of 4,000 tokens or more, effort
``medium`` or ``high``), 0 for one that does not, and a fraction in between for small
budgets and low effort. Names are matched by pattern because outcome tables carry nothing
else; a menu arm's own settings take precedence.
"""

from __future__ import annotations

import re

_REASONING_NAME = re.compile(
    r"(?:^|[/_\-\s])(?:o1|o3|o4)(?:-mini|-pro|-preview)?(?:$|[/_\-\s])"
    r"|deepseek-r1|(?:^|[/_\-])r1(?:$|[/_\-])|deepseek-reasoner|qwq|grok-3-mini|grok-4"
    r"|thinking|reasoning|gpt-5|gemini-2\.5|magistral",
    re.IGNORECASE,
)
_NOT_REASONING = re.compile(r"gpt-5[^/]*-chat|non-?reasoning|no-?think", re.IGNORECASE)

EFFORT_STRENGTH: dict[str, float] = {"minimal": 0.1, "low": 0.6, "medium": 1.0, "high": 1.0}
FULL_BUDGET = 4000
"""Thinking tokens at which a budget counts as a reasoning model's full chain of thought."""


def reasoning_strength(name: str, *, effort: str | None = None, budget: int | None = None) -> float:
    """The arm's reasoning strength: from its effort or thinking budget when it has one,
    else from its model name."""
    if effort is not None:
        return EFFORT_STRENGTH.get(effort, 1.0)
    if budget is not None:
        return min(1.0, max(0.0, budget / FULL_BUDGET))
    if _NOT_REASONING.search(name):
        return 0.0
    return 1.0 if _REASONING_NAME.search(name) else 0.0
