from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from ponder._litellm import import_litellm
from ponder.cli._common import one_line_errors, out_console, plural, status, usd
from ponder.errors import ConfigError

if TYPE_CHECKING:
    from ponder.router import Router


@one_line_errors
def ask(
    query: Annotated[str, typer.Argument(help="The question to answer.")],
    config: Annotated[
        Path | None,
        typer.Option(
            help="Router config (YAML/TOML); default: PONDER_* variables and the "
            "packaged menu and model."
        ),
    ] = None,
    max_cost: Annotated[float | None, typer.Option(help="Per-request cost ceiling in USD.")] = None,
    lam: Annotated[
        float | None,
        typer.Option(help="Cost weight: 0 buys the best quality; higher saves more."),
    ] = None,
    as_json: Annotated[
        bool, typer.Option("--json", help="Print the whole completion with its trace as JSON.")
    ] = False,
) -> None:
    """Answer one query through the router: **this calls the providers** and spends money.

    Prints the answer, then which arms ran, how many samples each drew, how well they agreed
    and what each cost. Provider keys come from the usual variables (`OPENAI_API_KEY`,
    `ANTHROPIC_API_KEY`, ...) or the arms' `api_key_env`.
    """
    from ponder.router import Router

    router = Router.from_config(config)
    _check_keys(router)
    with status("routing and answering"):
        out = router.complete(query, max_cost=max_cost, lam=lam)
    if as_json:
        typer.echo(out.model_dump_json(indent=2))
        return
    from rich.table import Table

    console = out_console()
    console.print(out.content or "[dim](empty answer)[/dim]")
    t = out.ponder
    table = Table(title=f"chosen first: {t.chosen_arm} · answered by: {t.answered_by}")
    for col in ("arm", "samples", "agreement", "answer", "cost", "outcome"):
        table.add_column(
            col, justify="right" if col in ("samples", "agreement", "cost") else "left"
        )
    for a in t.attempts:
        table.add_row(
            a.arm,
            f"{a.samples_used}/{a.samples_requested}",
            f"{a.agreement:.2f}",
            (a.answer or "")[:30],
            usd(a.cost),
            a.outcome + (f" ({a.error})" if a.error else ""),
        )
    console.print(table)
    stop = f" · stopped: {t.stopped}" if t.stopped else ""
    console.print(f"total {usd(t.cost)} · {plural(t.samples_used, 'sample')}{stop}")


def _check_keys(router: Router) -> None:
    """Refuse before any call when an arm's provider has no key in the environment: else
    the router tries each arm in turn, with retries, and ends on litellm's "Missing
    credentials" many seconds later. Arms with ``api_key_env`` are checked by the router;
    arms with an ``api_base`` (a server of your own) may need no key, so they pass.
    litellm is imported only when an arm is left to check, and the way every part of
    ponder imports it (without fetching its price table over the network)."""
    unchecked = [a for a in router.menu.arms if a.api_key_env is None and a.api_base is None]
    if not unchecked:
        return
    litellm = import_litellm()
    for arm in unchecked:
        found = litellm.validate_environment(model=arm.model)
        missing = found.get("missing_keys") or []
        if not found.get("keys_in_environment") and missing:
            provider = litellm.get_llm_provider(arm.model)[1]
            raise ConfigError(
                f"no key for {provider} (set {' or '.join(missing)}), which arm '{arm.label}' calls"
            )
