"""Which arms can take a request: its parameters, the tools it offers, the schema its answer
must follow, the images it shows.

ponder passes a parameter on or refuses it, never drops it: litellm would drop what a
provider does not take only if asked to (``drop_params``), and ponder does not ask. So
before an arm is tried the router checks that it can take every parameter of the request
(litellm's list of the parameters each provider takes) and every capability it needs
(:data:`~ponder._openai_params.Feature`: the menu's ``supports`` for the arm, else what
litellm's model table says, nothing for a model it does not know). A routed request is
routed among the arms that can; a request no arm can take is refused
(:class:`~ponder.errors.UnsupportedParameterError`) before anything is held or spent.
"""

from __future__ import annotations

import functools
from collections.abc import Collection, Mapping
from typing import Any

from ponder._menu import Arm
from ponder._openai_params import BY_NAME, FEATURES, Feature
from ponder.router._llm import litellm

_CHECKS: Mapping[Feature, str] = {
    "tools": "supports_function_calling",
    "json_schema": "supports_response_schema",
    "images": "supports_vision",
}
"""litellm's test of each capability, by model."""
assert set(_CHECKS) == set(FEATURES)


def features(arm: Arm) -> frozenset[Feature]:
    """What ``arm`` can do beyond text: the menu's word, else litellm's table."""
    if arm.supports is not None:
        return frozenset(arm.supports)
    return _known_features(arm.model)


@functools.lru_cache(maxsize=256)
def _known_features(model: str) -> frozenset[Feature]:
    lm = litellm()
    out: set[Feature] = set()
    for feature, check in _CHECKS.items():
        try:
            if getattr(lm, check)(model=model):
                out.add(feature)
        except Exception:  # a model litellm cannot place: it is not known to do it
            continue
    return frozenset(out)


@functools.lru_cache(maxsize=256)
def _provider_params(model: str) -> frozenset[str] | None:
    """The OpenAI parameters litellm passes to ``model``'s provider, or ``None`` when it
    cannot say (then litellm itself refuses at the call what the provider cannot take)."""
    try:
        names = litellm().get_supported_openai_params(model=model)
    except Exception:
        return None
    return None if names is None else frozenset(names)


def cannot_take(arm: Arm, params: Collection[str], needs: Collection[Feature]) -> str | None:
    """Why ``arm`` cannot serve a request with these parameters and needs, or ``None``."""
    lacking = sorted(set(needs) - features(arm)) if needs else []
    if lacking:
        return f"'{arm.label}' does not support {', '.join(lacking)}"
    taken = _provider_params(arm.model) if params else None
    if taken is None:
        return None
    refused = sorted(
        n for n in params if n in BY_NAME and not BY_NAME[n].everywhere and n not in taken
    )
    if refused:
        return f"'{arm.label}' ({arm.model}) does not take {', '.join(refused)}"
    return None


def servable(
    arms: Collection[Arm], params: Mapping[str, Any], needs: Collection[Feature]
) -> tuple[tuple[bool, ...], list[str]]:
    """Per arm, whether it can serve the request; and why each that cannot, cannot."""
    ok: list[bool] = []
    why: list[str] = []
    for arm in arms:
        reason = cannot_take(arm, params, needs)
        ok.append(reason is None)
        if reason is not None:
            why.append(reason)
    return tuple(ok), why
