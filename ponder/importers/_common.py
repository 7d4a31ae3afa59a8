"""Small helpers the importers share: the error type and strict file readers."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from ponder.errors import PonderError


class ImporterError(PonderError, ValueError):
    """An importer was asked for something it cannot do: an unknown importer or split, a
    missing or malformed source file, or data that does not join as documented."""


def require_file(path: Path) -> Path:
    """Return ``path`` if it is an existing file, else raise :class:`ImporterError`."""
    if not path.is_file():
        where = "is a directory, expected a file" if path.is_dir() else "file not found"
        raise ImporterError(f"{path}: {where}")
    return path


def read_json(path: Path) -> Any:
    require_file(path)
    try:
        with path.open(encoding="utf-8") as fh:
            return json.load(fh)
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise ImporterError(f"{path}: malformed JSON ({exc})") from None


def read_jsonl(path: Path) -> Iterator[dict[str, Any]]:
    """Yield the JSON objects of a JSON Lines file, skipping blank lines."""
    require_file(path)
    with path.open(encoding="utf-8") as fh:
        for lineno, line in enumerate(fh, start=1):
            if not line.strip():
                continue
            try:
                obj = json.loads(line)
            except json.JSONDecodeError as exc:
                raise ImporterError(f"{path}:{lineno}: malformed JSON ({exc.msg})") from None
            if not isinstance(obj, dict):
                raise ImporterError(f"{path}:{lineno}: expected a JSON object")
            yield obj


def get_field(obj: dict[str, Any], key: str, where: str) -> Any:
    """``obj[key]``, or an :class:`ImporterError` naming ``where`` when the key is missing."""
    try:
        return obj[key]
    except KeyError:
        raise ImporterError(f"{where}: missing field '{key}'") from None
