"""Help without ``<bool>`` after plain flags.

Typer 0.29 (which vendors Click since 0.26, so the installed Click's version does not matter)
fills the type column of its rich help from ``display_type_rich()`` for every option, flags
included. Earlier releases skipped booleans there (``if metavar_str != "BOOLEAN"``); the
rework of that column into Typer's own ``<type>`` labels (fastapi/typer#1410 and the
vendoring after it) lost the skip, while Typer's plain formatter still leaves flags out
(``get_help_record`` skips ``is_flag`` options). A flag takes no value, so ``--json <bool>``
reads as if it wanted one. An option's ``metavar`` wins over its type in that column, so an
empty one on every flag, ``--help`` and ``--version`` included, leaves the column blank; the
metavar is used nowhere else for options."""

from __future__ import annotations

from typing import Any

from typer.core import TyperCommand, TyperGroup, TyperOption


def _blank_flag_types(params: list[Any]) -> list[Any]:
    for param in params:
        is_flag = isinstance(param, TyperOption) and param.is_flag and not param.count
        if is_flag and param.metavar is None:
            param.metavar = ""
    return params


class Command(TyperCommand):
    """A command whose help shows no type after flags."""

    def get_params(self, ctx: Any) -> list[Any]:  # Click's Context, vendored or not
        return _blank_flag_types(list(super().get_params(ctx)))


class Group(TyperGroup):
    """The ``ponder`` group: its own options (``--version``, ``--help``) as above."""

    def get_params(self, ctx: Any) -> list[Any]:  # Click's Context, vendored or not
        return _blank_flag_types(list(super().get_params(ctx)))
