"""Work whose cost grows with the request, moved off the event loop when the request is long.

The proxy serves every request on one event loop: a decision that takes milliseconds on a
long prompt (featurizing it, in particular) stalls every other request and ``/health``
meanwhile (three 990K-character prompts at once held ``/health`` for 365 ms). Below the
size where that matters a worker thread's hand-off would cost more than the work.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import ParamSpec, TypeVar

P = ParamSpec("P")
T = TypeVar("T")

OFF_LOOP_CHARS = 8_192
"""Above this many characters of routed text the decision runs on a worker thread. It is
the size at which the classifier's featurizer starts reading only the head and tail of a
text, where featurizing costs about a millisecond."""


async def sized(size: int, fn: Callable[P, T], /, *args: P.args, **kwargs: P.kwargs) -> T:
    """``fn(*args, **kwargs)``: on a worker thread when ``size`` (characters) is over
    :data:`OFF_LOOP_CHARS`, else here."""
    if size > OFF_LOOP_CHARS:
        return await asyncio.to_thread(fn, *args, **kwargs)
    return fn(*args, **kwargs)
