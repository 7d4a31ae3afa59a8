"""What every command shares: one-line errors, the console, progress display."""

from __future__ import annotations

import functools
import math
import socket
import sys
import warnings
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, ParamSpec, TypeVar

import typer

from ponder.errors import PonderError

if TYPE_CHECKING:
    from rich.console import Console

P = ParamSpec("P")
R = TypeVar("R")


def fail(message: str, code: int = 2) -> typer.Exit:
    """Print a one-line error on stderr and return the Exit to raise."""
    typer.echo(f"error: {message}", err=True)
    return typer.Exit(code)


def one_line_errors(fn: Callable[P, R]) -> Callable[P, R]:
    """Turn ponder's typed errors (and bad paths, bad values, input nested too deeply for a
    parser) into one line and a non-zero exit."""

    @functools.wraps(fn)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        with warnings.catch_warnings():
            warnings.showwarning = _one_line_warning
            return _run(fn, *args, **kwargs)

    return wrapper


def _one_line_warning(
    message: Warning | str,
    category: type[Warning],
    filename: str,
    lineno: int,
    file: object = None,
    line: str | None = None,
) -> None:
    """A warning as the CLI says things, ``warning: ...`` on one line of stderr: not Python's
    form with the source file, line number and code line, which mean nothing to the reader."""
    typer.echo(f"warning: {_first_line(str(message))}", err=True)


def _run(fn: Callable[P, R], *args: P.args, **kwargs: P.kwargs) -> R:
    try:
        return fn(*args, **kwargs)
    except PonderError as exc:
        raise fail(_first_line(str(exc))) from None
    except OSError as exc:
        # "[Errno 2] No such file or directory: 'x'" reads better as "x: No such file..."
        if exc.filename is not None and exc.strerror:
            raise fail(f"{exc.filename}: {exc.strerror}") from None
        raise fail(_first_line(str(exc))) from None
    except (ValueError, KeyError) as exc:
        msg = exc.args[0] if isinstance(exc, KeyError) and exc.args else exc
        raise fail(_first_line(str(msg))) from None
    except RecursionError:
        raise fail("the input is nested too deeply to read") from None


def _first_line(message: str) -> str:
    """The promise is one line: a multi-line message (a parser's, say) keeps its first."""
    return message.strip().splitlines()[0] if message.strip() else "failed"


@contextmanager
def status(message: str) -> Iterator[Callable[[str], None]]:
    """A spinner with a changing message on a terminal; silent otherwise (CI logs stay clean)."""
    if not sys.stderr.isatty():
        yield lambda _msg: None
        return
    from rich.console import Console

    console = Console(stderr=True)
    with console.status(message) as st:
        yield lambda msg: st.update(msg)


def out_console() -> Console:
    """The console results are printed on: the terminal's width on a terminal, and wide
    when piped (rich's default of 80 columns cuts arm and task names mid-word in a file)."""
    from rich.console import Console

    return Console(width=None if sys.stdout.isatty() else 240)


def check_folds_by(value: str) -> None:
    """Refuse a ``--folds-by`` the classifier does not know, before any data is read."""
    from ponder.classifiers import FOLDS_BY

    if value not in FOLDS_BY:
        known = ", ".join(f"'{v}'" for v in FOLDS_BY)
        raise ValueError(f"--folds-by must be one of {known}, not '{value}'")


def usd(amount: float) -> str:
    """Dollars with two significant digits past the leading zeros and never in exponent
    form: ``$0.0000064``, ``$0.0031``, ``$1.25``."""
    if not math.isfinite(amount) or amount == 0:
        return f"${amount:g}" if not math.isfinite(amount) else "$0"
    places = max(2, 1 - math.floor(math.log10(abs(amount))))
    return f"${amount:.{places}f}"


def plural(n: float, word: str) -> str:
    return f"{n:g} {word}" if n == 1 else f"{n:g} {word}s"


def import_lightgbm_alone() -> None:
    """Import LightGBM without scikit-learn, when neither is imported yet.

    LightGBM imports scikit-learn (and with it SciPy's statistics) whenever it is installed,
    for its scikit-learn estimators: 0.6 s and 65 MB of RSS, for an API ponder never calls
    (it trains with ``lightgbm.train`` and predicts with ``lightgbm.Booster``). With
    ``sklearn`` marked missing for the length of the import, LightGBM leaves those
    estimators out; the mark is removed at once, so a later ``import sklearn`` (ponder's
    logistic baseline, its cross-validation folds) works as usual. For commands that load
    a model, before anything imports LightGBM.
    """
    if "lightgbm" in sys.modules or "sklearn" in sys.modules:
        return
    sys.modules["sklearn"] = None  # type: ignore[assignment]  # "import sklearn" fails
    try:
        import lightgbm  # noqa: F401
    except ImportError:
        pass  # not installed: loading a LightGBM model says so
    finally:
        del sys.modules["sklearn"]


def listen(host: str, port: int) -> socket.socket:
    """A socket bound to ``host:port``, made before a server starts: a port in use is one
    line and exit code 2 (uvicorn logs its own error and exits 1 or 3), and port 0 can
    report the port it got."""
    try:
        family, kind, proto, _, address = socket.getaddrinfo(
            host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE
        )[0]
    except socket.gaierror as exc:
        raise fail(f"cannot listen on {host}: {exc.strerror}") from None
    sock = socket.socket(family, kind, proto)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(address)
    except OSError as exc:
        sock.close()
        hint = "; is another server on it? pick another --port" if port else ""
        raise fail(f"cannot listen on {host}:{port}: {exc.strerror}{hint}") from None
    return sock
