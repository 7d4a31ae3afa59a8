"""Names for arms on the absolute scale: ``model@setting``.

Published tables, outcome tables and menus spell one arm many ways (``openai/o3-mini``,
``o3-mini`` at effort ``medium``; ``claude-sonnet-4-5`` with a thinking budget, "thinking on
(64k budget)"). The scale needs one key per (model, reasoning setting) and one model name
shared by a model's settings, since knowledge belongs to the model and reasoning to the
setting. Settings are ``minimal``, ``low``, ``medium``, ``high`` (effort), ``on`` and ``off``
(a thinking switch) and ``default`` (whatever the provider does when asked nothing).
"""

from __future__ import annotations

import math
import re

EFFORTS = ("minimal", "low", "medium", "high")
EFFORT_POSITION: dict[str, float] = {
    e: math.log1p(tokens)
    for e, tokens in {"minimal": 0, "low": 1000, "medium": 2500, "high": 6000}.items()
}
"""Where each effort sits on a ladder, for placing an effort no table scores between its
neighbours: the log of the thinking tokens it is assumed to spend (the menu's
``EFFORT_TOKENS``), since accuracy grows about linearly in the log of test-time compute.
Low then lies most of the way from minimal to medium, as the published ladders show (gpt-5
on AIME 2025: minimal 0.32, low 0.83, medium 0.92, high 0.94), where equal spacing put it
halfway."""
_DEFAULT_EFFORT = ("gpt-5", "o1", "o3", "o4")
"""Families that reason at effort ``medium`` when asked for none (OpenAI's documented default)."""
_SWITCHED = ("claude-", "gemini-2.5-flash")
"""Families whose thinking is off unless a budget is given."""


def model_name(model: str) -> str:
    """The model without a provider prefix or a routing suffix, lower case."""
    name = model.strip().lower().split("/")[-1]
    return name.removesuffix(":thinking")


def setting_of(raw: str) -> str | None:
    """A published row's setting text as one of the settings above (None: unclear)."""
    s = raw.strip().lower()
    if "?" in s or "effort not stated" in s:
        return None
    for effort in EFFORTS:
        if s.startswith(effort):
            return effort
    if s.startswith(("thinking off", "no extended thinking")):
        return "off"
    if s.startswith("thinking on") or s.startswith("default (thinking"):
        return "on"
    if s.startswith(("default", "not stated")):
        return "default"
    return None


def arm_key(model: str, *, effort: str | None = None, thinking_budget: int | None = None) -> str:
    """The scale key of a menu arm from its model and reasoning settings."""
    name = model_name(model)
    if effort is not None:
        return f"{name}@{effort}"
    if thinking_budget is not None:
        return f"{name}@{'on' if thinking_budget > 0 else 'off'}"
    if name.startswith(_DEFAULT_EFFORT) and not re.search(r"-chat", name):
        return f"{name}@medium"
    if name.startswith(_SWITCHED):
        return f"{name}@off"
    return f"{name}@default"


def key_model(key: str) -> str:
    return key.split("@", 1)[0]


def candidates(key: str) -> tuple[str, ...]:
    """Keys to try for ``key``, best first: itself, then the model's ``default`` setting,
    then, for a model that is off by default, its ``off`` setting (and the reverse)."""
    model, setting = key.split("@", 1)
    out = [key]
    for alt in ("default", "off", "medium"):
        if alt != setting and (setting in ("default", "off") or alt == "default"):
            out.append(f"{model}@{alt}")
    return tuple(dict.fromkeys(out))


def thinks(key: str) -> bool:
    """Whether the arm reasons before it answers: an effort above ``minimal``, thinking
    ``on``, or, at the provider's default, a reasoning model (by name)."""
    from ponder.classifiers._reasoning import reasoning_strength

    model, setting = key.split("@", 1)
    if setting in ("low", "medium", "high", "on"):
        return True
    if setting in ("minimal", "off"):
        return False
    return reasoning_strength(model.split(":")[-1]) >= 0.5
