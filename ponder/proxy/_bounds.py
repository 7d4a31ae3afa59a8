"""What a client may change of the operator's routing controls: only towards spending less.

The operator sets the ceiling (``max_cost``) and the quality-vs-cost weight (``lam``) for
the server and, per routing profile, for ``ponder/<profile>``. A client's
``x-ponder-max-cost`` / ``x-ponder-lam`` headers, or the body's ``ponder`` object, may
tighten them and never loosen them: a ceiling above the operator's is read as the
operator's (a client could otherwise buy the dearest arm, or a 2-billion-token answer, on
a budget meant for cheap ones), and a ``lam`` below the operator's (more weight on
quality, so dearer arms) is read as the operator's. A client that should be allowed more
gets a profile from the operator; the profile's own ``max_cost`` and ``lam`` are then the
bounds (:meth:`ponder.router.Router.bounds`).
"""

from __future__ import annotations

from ponder.proxy._wire import Controls
from ponder.router import Bounds


def bounded(operator: Bounds, client: Controls) -> Bounds:
    """The client's controls where they spend less than the operator's, else the
    operator's: the lower ceiling and the higher ``lam``."""
    ceiling = operator.max_cost
    if client.max_cost is not None:
        ceiling = client.max_cost if ceiling is None else min(ceiling, client.max_cost)
    lam = operator.lam if client.lam is None else max(operator.lam, client.lam)
    return Bounds(ceiling, lam)
