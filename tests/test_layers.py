"""The package's layers, checked on its import graph: what may import what.

The contracts live in ``pyproject.toml`` (``[tool.importlinter]``); import-linter reads
every import, including the ones inside functions that keep start-up fast, so a lazy import
cannot slip a layer past this test.
"""

from __future__ import annotations

from pathlib import Path

import grimp
import pytest
from importlinter import cli

ROOT = Path(__file__).resolve().parents[1]


def test_layer_contracts_hold(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(ROOT)
    assert cli.lint_imports(no_cache=True, no_logo=True) == 0, "see the report above"


def test_no_private_module_is_imported_from_another_subpackage() -> None:
    """``ponder.<a>`` may import ``ponder.<b>``'s public names only: what one package needs
    of another is exported from that package's ``__init__``. (Modules at the top of
    ``ponder``, such as ``ponder._menu``, are shared by every subpackage.)"""
    graph = grimp.build_graph("ponder", cache_dir=None)
    crossing = []
    for importer in sorted(graph.modules):
        for imported in graph.find_modules_directly_imported_by(importer):
            a, b = importer.split("."), imported.split(".")
            if len(b) < 3 or not any(p.startswith("_") for p in b[2:]):
                continue  # ponder.x, or a public module of a subpackage
            if len(a) >= 2 and a[1] == b[1]:
                continue  # within one subpackage
            crossing.append(f"{importer} imports {imported}")
    assert crossing == []
