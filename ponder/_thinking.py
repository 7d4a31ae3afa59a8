"""How hard an arm thinks, checked against what its provider accepts and mapped to the
provider's own request parameters.

Providers disagree: Anthropic takes a token budget (``thinking.budget_tokens``, at least 1024
and below ``max_tokens``), OpenAI's reasoning models take an effort level
(``reasoning_effort``), Gemini takes a budget. A menu that asks a provider for something it
cannot do is refused when the menu is loaded, not on the first request. Model facts come from
litellm's offline table (see :mod:`ponder._pricing`); models it does not know are taken on
trust, since their prices must then be given by hand anyway.

:func:`reasoning_strength` puts the same settings (or, without them, the model's name) on
the 0-1 scale the classifiers use to tell arms that think from arms that do not.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from ponder._pricing import model_info
from ponder.errors import MenuError


@dataclass(frozen=True)
class Thinking:
    """What a model is asked to think: a token budget or an effort level (at most one),
    and the visible answer's expected length above it. ``label`` names it in errors."""

    model: str
    thinking_budget: int | None = None
    reasoning_effort: str | None = None
    output_tokens: int = 0
    label: str = ""

    def __post_init__(self) -> None:
        if not self.label:
            object.__setattr__(self, "label", self.model)


ANTHROPIC_MIN_BUDGET = 1024
# Gemini 2.5 caps the thinking budget by family (Google's documented ranges); Pro also
# cannot think less than 128 tokens.
GEMINI_MAX_BUDGET = {"pro": 32768, "flash": 24576}
GEMINI_PRO_MIN_BUDGET = 128


def provider_of(model: str) -> str | None:
    info = model_info(model)
    provider = info.get("litellm_provider")
    if isinstance(provider, str):
        return provider
    if "/" in model:
        return model.split("/", 1)[0]
    return None


def check_thinking(arm: Thinking) -> None:
    """Raise MenuError when the arm's thinking setting cannot reach its provider as asked."""
    if arm.thinking_budget is None and arm.reasoning_effort is None:
        return
    info = model_info(arm.model)
    provider = provider_of(arm.model)
    known = bool(info)
    if known and not info.get("supports_reasoning"):
        raise MenuError(
            f"arm '{arm.label}': {arm.model} does not support thinking "
            "(litellm's table says supports_reasoning is false); drop thinking_budget / "
            "reasoning_effort or pick a reasoning model"
        )
    if arm.thinking_budget is not None:
        if provider == "openai":
            raise MenuError(
                f"arm '{arm.label}': OpenAI models take reasoning_effort "
                "(minimal/low/medium/high), not a thinking_budget"
            )
        if provider == "anthropic" and arm.thinking_budget < ANTHROPIC_MIN_BUDGET:
            raise MenuError(
                f"arm '{arm.label}': Anthropic needs thinking_budget >= "
                f"{ANTHROPIC_MIN_BUDGET}, got {arm.thinking_budget}"
            )
        if provider is not None and (provider == "gemini" or provider.startswith("vertex_ai")):
            _check_gemini_budget(arm)
        limit = info.get("max_output_tokens")
        if isinstance(limit, int) and arm.thinking_budget + arm.output_tokens > limit:
            raise MenuError(
                f"arm '{arm.label}': thinking_budget + output_tokens = "
                f"{arm.thinking_budget + arm.output_tokens} exceeds {arm.model}'s "
                f"{limit} output tokens"
            )


def _check_gemini_budget(arm: Thinking) -> None:
    budget = arm.thinking_budget or 0
    family = "pro" if "-pro" in arm.model else "flash" if "-flash" in arm.model else None
    if family is None:
        return
    top = GEMINI_MAX_BUDGET[family]
    if budget > top:
        raise MenuError(
            f"arm '{arm.label}': Gemini {family} takes thinking_budget <= {top}, got {budget}"
        )
    if family == "pro" and budget < GEMINI_PRO_MIN_BUDGET:
        raise MenuError(
            f"arm '{arm.label}': Gemini pro cannot think less than {GEMINI_PRO_MIN_BUDGET} "
            f"tokens (thinking cannot be turned off), got {budget}"
        )


def thinking_params(arm: Thinking) -> dict[str, Any]:
    """The request parameters (litellm's names) that carry the arm's thinking setting.

    ``max_tokens`` leaves room for the visible answer above the budget, which Anthropic
    requires (the budget must be below ``max_tokens``).
    """
    if arm.reasoning_effort is not None:
        return {"reasoning_effort": arm.reasoning_effort}
    if arm.thinking_budget is None:
        return {}
    return {
        "thinking": {"type": "enabled", "budget_tokens": arm.thinking_budget},
        "max_tokens": arm.thinking_budget + arm.output_tokens,
    }


# How strongly an arm reasons before it answers, on a 0-1 scale. It lives here, beside the
# provider facts, rather than in the classifiers, because the menu needs it to price an
# arm's hidden thinking and must not depend on the ML package for that.
#
# The interaction model learns a query's *reasoning need* from the contrast between arms
# that think (o3-mini, DeepSeek-R1, QwQ, a model given a thinking budget) and arms that
# answer straight away, on the same queries. To learn it, and to apply it to an arm it
# never saw, each arm needs a strength: 1 for a model that writes a long hidden chain of
# thought (the reasoning arms of the public tables, a thinking budget of 4,000 tokens or
# more, effort ``medium`` or ``high``), 0 for one that does not, and a fraction in between
# for small budgets and low effort. Names are matched by pattern because outcome tables
# carry nothing else; a menu arm's own settings take precedence.

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
