"""Reading the YAML or TOML mappings that menus and router configs are written in."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ponder.errors import PonderError


def read_mapping(path: Path, error: type[PonderError], what: str) -> dict[str, Any]:
    """The top-level mapping of a ``.yaml``/``.yml``/``.toml`` file; ``error`` otherwise.

    Every failure (missing file, unknown suffix, parse error, not a mapping) becomes one
    ``error`` naming the file, because the callers turn it into a one-line message.
    """
    if path.is_dir():
        raise error(f"{path}: is a directory, expected a {what} file")
    if not path.is_file():
        raise error(f"{path}: {what} file not found")
    suffix = path.suffix.lower()
    if suffix not in (".yaml", ".yml", ".toml"):
        raise error(f"{path}: unknown {what} format '{suffix}' (use .yaml or .toml)")
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        raise error(f"{path}: not UTF-8 text (byte {exc.start}: {exc.reason})") from None
    except OSError as exc:
        raise error(f"{path}: cannot read: {exc.strerror or exc}") from None
    try:
        if suffix == ".toml":
            try:
                import tomllib
            except ModuleNotFoundError:  # Python 3.10
                import tomli as tomllib  # type: ignore[no-redef]
            data = tomllib.loads(text)
        else:
            import yaml

            data = yaml.safe_load(text)
    except Exception as exc:  # parser errors have many types; all mean "not parseable"
        raise error(f"{path}: cannot parse: {_parse_error(exc)}") from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise error(f"{path}: expected a mapping at the top level")
    return dict(data)


def _parse_error(exc: Exception) -> str:
    """The parser's complaint with where it is: YAML's first line ("while parsing a block
    collection") names neither the line nor the problem, which sit in its marks. TOML's
    message already ends "(at line L, column C)"."""
    mark = getattr(exc, "problem_mark", None)
    problem = getattr(exc, "problem", None)
    if mark is not None and problem:
        context = getattr(exc, "context", None)
        where = f"line {mark.line + 1}, column {mark.column + 1}"
        return f"{where}: {problem}" + (f" ({context})" if context else "")
    return str(exc).splitlines()[0]
