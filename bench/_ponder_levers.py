"""Run ``ponder`` with some of issue 13's overhead levers undone, for ``bench_proxy.py``'s
ladder of what each lever gained:

    python bench/_ponder_levers.py price,unlogged,uvloop serve --config ...

undoes the named levers, then runs the ponder CLI with the remaining arguments:

- ``price``: no per-call price for litellm (it searches its price table for the arm's model
  on every call, as before);
- ``unlogged``: litellm's success and failure logging and its callbacks run on ponder's
  calls, as before;
- ``uvloop``: uvicorn serves on asyncio's event loop and the h11 parser even when
  ``uvicorn[standard]`` (uvloop, httptools) is installed.

Each is undone by replacing one name in this process only: the code the ladder measures is
ponder's own, otherwise unchanged. ``--workers`` is not undone here (the ladder compares a
server started with and without it).
"""

from __future__ import annotations

import contextlib
import sys
from typing import Any

LEVERS = ("price", "unlogged", "uvloop")


def undo(levers: set[str]) -> None:
    unknown = levers - set(LEVERS)
    if unknown:
        raise SystemExit(f"unknown levers: {sorted(unknown)} (known: {', '.join(LEVERS)})")
    import ponder.router._llm as llm

    if "price" in levers:
        priced = llm._kwargs

        def unpriced(*args: Any, **kwargs: Any) -> dict[str, Any]:
            out = priced(*args, **kwargs)
            out.pop("input_cost_per_token", None)
            out.pop("output_cost_per_token", None)
            return out

        llm._kwargs = unpriced
    if "unlogged" in levers:
        llm.unlogged = contextlib.nullcontext
    if "uvloop" in levers:
        import uvicorn

        run = uvicorn.run

        def plain(*args: Any, **kwargs: Any) -> None:
            run(*args, **{**kwargs, "loop": "asyncio", "http": "h11"})

        uvicorn.run = plain  # type: ignore[assignment]


def main() -> None:
    levers = {x for x in sys.argv[1].split(",") if x}
    sys.argv = ["ponder", *sys.argv[2:]]
    undo(levers)
    from ponder.cli import main as ponder

    ponder()


if __name__ == "__main__":
    main()
