"""Holding a request to its ceiling: the whole prompt priced, the answer's length capped.

:class:`Ceiling` is the one place a cost is compared with a request's ceiling: whether an
arm fits (the decision, escalation, a pass-through model, calibration), what is left after
what was spent, how long an answer may be, and what the budgets hold while the request
runs. The token counts it prices (:func:`prompt_tokens`, :func:`text_tokens`) are also what
a stream's cost is settled at when the provider does not report usage.

A ceiling is a promise only if both sides of the bill are bounded before the call. The
input side is every message the provider will see (a system prompt, earlier turns, tool
results), not just the question the classifier reads: a 900 KB system prompt under a short
question is the whole bill. It is counted with litellm's tokenizer for models litellm
knows, and otherwise over-estimated from the size of the messages, since an estimate that
can fall short lets a request pass its ceiling. The output side is bounded by
``max_tokens``: the router sets it, or lowers the client's, so that the prompt plus the
longest answer the provider may write (thinking included) fits what is left of the
ceiling at the arm's price.
"""

from __future__ import annotations

import asyncio
import json
import math
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt

from ponder._menu import Arm
from ponder._pricing import model_info
from ponder.errors import NoArmFitsError
from ponder.router._llm import litellm, request_params
from ponder.router._request import ANSWER_KEYS, answer_tokens

if TYPE_CHECKING:
    from ponder.router._decision import ArmEstimate

BYTES_PER_TOKEN = 2
"""The estimate for models litellm cannot count: two bytes of the messages' JSON a token.
English takes about four characters a token and other scripts at least one token a
character (two to three bytes), so this over-counts natural text in any script, about
twice for English; the JSON framing (role, field names) stands for the provider's
per-message tokens."""

_OFF_LOOP_BYTES = 32_000
"""Above this size (roughly 8,000 tokens) a tokenizer takes milliseconds to hundreds of
milliseconds (0.3 s for 1 MB): it runs on a worker thread, not on the event loop."""


def _blob(msgs: Sequence[Mapping[str, Any]]) -> bytes:
    text = json.dumps(list(msgs), ensure_ascii=False, separators=(",", ":"), default=str)
    return text.encode("utf-8", "replace")


def conservative_tokens(msgs: Sequence[Mapping[str, Any]]) -> int:
    """An over-estimate of the prompt tokens of ``msgs`` from their size alone: every
    field of every message counts (content, parts, names, tool calls), see
    :data:`BYTES_PER_TOKEN`."""
    return math.ceil(len(_blob(msgs)) / BYTES_PER_TOKEN)


def _tokenizer_is_local(lm: Any, model: str) -> bool:
    """Whether litellm counts ``model``'s tokens without downloading a tokenizer: for some
    models (Llama) it fetches one from the Hugging Face hub, which a request must not wait
    on. An unknown litellm layout is not trusted."""
    utils = getattr(lm, "utils", None)
    kind_of = getattr(utils, "huggingface_tokenizer_kind", None)
    bundled = getattr(utils, "_BUNDLED_TOKENIZER_LOAD_LOCKS", None)
    if kind_of is None or bundled is None:
        return False
    try:
        kind = kind_of(model)
    except Exception:  # a private helper: any failure means "cannot tell"
        return False
    return kind is None or kind in bundled


def prompt_tokens(model: str, msgs: Sequence[Mapping[str, Any]]) -> int:
    """The prompt tokens ``model`` will be billed for ``msgs``: litellm's count when litellm
    knows the model (its price table has it), else :func:`conservative_tokens`.

    Images are counted at litellm's default size rather than by fetching them: a request
    must not make the router download what its client points at. litellm does not count
    what is inside other parts (a file's data, audio), so a request with them is never
    priced under :func:`conservative_tokens`.
    """
    estimate = conservative_tokens(msgs)
    counted = _litellm_count(model, messages=list(msgs), use_default_image_token_count=True)
    if counted is None:
        return estimate
    return counted if _text_only(msgs) else max(counted, estimate)


def text_tokens(model: str, text: str) -> int:
    """The tokens of ``text`` (an answer) as ``model`` counts them, by the same rule as
    :func:`prompt_tokens`: litellm's count when it knows the model, else two bytes a token.
    A stream whose provider reported no usage (or that was cut) is settled at this."""
    counted = _litellm_count(model, text=text)
    if counted is None:
        return math.ceil(len(text.encode("utf-8", "replace")) / BYTES_PER_TOKEN)
    return counted


def _litellm_count(model: str, **what: Any) -> int | None:
    """litellm's token count for a model it knows and counts locally, else ``None``."""
    if not model_info(model):
        return None
    lm = litellm()
    if not _tokenizer_is_local(lm, model):
        return None
    try:
        return int(lm.token_counter(model=model, **what))
    except Exception:  # a message shape litellm's counter cannot read: estimate
        return None


def _text_only(msgs: Sequence[Mapping[str, Any]]) -> bool:
    """Whether every content part is text (or an image, which litellm prices itself)."""
    for m in msgs:
        content = m.get("content")
        if isinstance(content, list):
            for part in content:
                if not isinstance(part, Mapping) or part.get("type") not in ("text", "image_url"):
                    return False
    return True


def count_prompts(models: Collection[str], msgs: Sequence[Mapping[str, Any]]) -> dict[str, int]:
    """:func:`prompt_tokens` for each model (once per model, not per arm)."""
    return {m: prompt_tokens(m, msgs) for m in set(models)}


async def acount_prompts(
    models: Collection[str], msgs: Sequence[Mapping[str, Any]]
) -> dict[str, int]:
    """:func:`count_prompts`, on a worker thread when the request is large."""
    if len(_blob(msgs)) > _OFF_LOOP_BYTES:
        return await asyncio.to_thread(count_prompts, models, msgs)
    return count_prompts(models, msgs)


def least_output(arm: Arm, answer: int | None) -> int:
    """The output tokens one sample must be allowed for an answer worth having: the arm's
    thinking budget and its expected answer (or the client's shorter limit). An arm whose
    prompt plus this does not fit the ceiling is not tried."""
    room = arm.output_tokens if answer is None else min(answer, arm.output_tokens)
    return arm.thinking_tokens + room


@dataclass(frozen=True)
class Ceiling:
    """A request's ceiling in USD (``None``: none), and everything asked of it.

    Every arm's worst case (all its samples drawn, each with its thinking and expected
    answer) is compared with what is left of the ceiling before it runs, and each call's
    answer is capped so that the call cannot cost more than what is left: the ceiling, not
    the estimate, then bounds the spend."""

    limit: float | None

    def fitting(self, worst: npt.ArrayLike, spent: float = 0.0) -> npt.NDArray[np.bool_]:
        """Which worst-case costs fit in what is left after ``spent`` (element-wise)."""
        cost = spent + np.asarray(worst, dtype=np.float64)
        if self.limit is None:
            return np.ones(cost.shape, dtype=bool)
        return cost <= self.limit

    def fits(self, worst: float, spent: float = 0.0) -> bool:
        """Whether an arm whose worst case is ``worst`` fits after ``spent``."""
        return bool(self.fitting(worst, spent))

    def left(self, spent: float = 0.0) -> float | None:
        """What is left of the ceiling after ``spent`` (``None``: no ceiling)."""
        return None if self.limit is None else self.limit - spent

    def output_cap(
        self, arm: Arm, prompt: int, *, spent: float = 0.0, samples: int = 1
    ) -> int | None:
        """The most output tokens per sample (thinking included) for which ``samples``
        samples of ``prompt`` tokens each cost at most what is left after ``spent``;
        ``None`` when nothing bounds it (no ceiling, or output that costs nothing)."""
        price = arm.price()
        left = self.left(spent)
        if left is None or price.output <= 0:
            return None
        per_sample = left / max(1, samples) * 1e6 - prompt * price.input
        return max(0, math.floor(per_sample / price.output))

    def capped_params(
        self,
        arm: Arm,
        user: Mapping[str, Any],
        prompt: int,
        *,
        spent: float = 0.0,
        samples: int = 1,
    ) -> dict[str, Any]:
        """The arm's request parameters (:func:`~ponder.router._llm.request_params`) with
        the answer's length bounded by what is left of the ceiling after ``spent``, for
        ``samples`` samples: the client's ``max_tokens`` / ``max_completion_tokens`` is
        lowered when it asks for more, and ``max_tokens`` is set when nothing bounded the
        answer (the model's own output limit counts when litellm knows it, so a generous
        ceiling changes nothing on the wire).

        :class:`NoArmFitsError` when not even :func:`least_output` fits; the decision and
        escalation check that before an arm runs, so this is the last guard, not the rule.
        """
        params = request_params(arm, user)
        cap = self.output_cap(arm, prompt, spent=spent, samples=samples)
        if cap is None:
            return params
        need = least_output(arm, answer_tokens(user))
        if cap < need:
            raise NoArmFitsError(
                f"arm '{arm.label}': a {prompt}-token prompt and a {need}-token answer do "
                f"not fit the ${self.left(spent):.6f} left of the ceiling"
            )
        given = {k: params[k] for k in ANSWER_KEYS if isinstance(params.get(k), int)}
        limit = model_info(arm.model).get("max_output_tokens")
        allowed = max(given.values()) if given else limit if isinstance(limit, int) else None
        if allowed is not None and allowed <= cap:
            return params
        if not given:
            params["max_tokens"] = cap
        for key, value in given.items():
            params[key] = min(value, cap)
        return params

    def reserve(self, arms: Sequence[ArmEstimate], start: str, escalations: int) -> float:
        """What to hold while a request runs: the ceiling, or without one, the worst case
        of the arm it starts at plus as many escalations at the dearest arm's worst case."""
        if self.limit is not None:
            return self.limit
        first = next(e for e in arms if e.arm == start)
        dearest = max(e.worst_cost for e in arms)
        return first.worst_cost + escalations * dearest

