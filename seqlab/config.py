"""CLI flags derived from config dataclasses: one source of truth for names, defaults and help.

A field's help text lives in ``field(metadata={"help": ...})``; ``choices`` may be given there too.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import typing
from pathlib import Path
from typing import Any, TypeVar

from seqlab.errors import UserError

T = TypeVar("T")


class HelpFormatter(argparse.ArgumentDefaultsHelpFormatter):
    """Shows each flag's default, except a None one: dataclass flags default to None (so an
    override is visible) and name their real default in their help already."""

    def _get_help_string(self, action: argparse.Action) -> str | None:
        if action.default is None:
            return action.help
        return super()._get_help_string(action)


def _flag(name: str) -> str:
    return "--" + name.replace("_", "-")


def add_dataclass_args(parser: argparse.ArgumentParser, cls: type, skip: tuple = ()) -> None:
    """Add one ``--flag`` per dataclass field; defaults stay None so overrides are visible."""
    hints = typing.get_type_hints(cls)
    for f in dataclasses.fields(cls):
        if f.name in skip or f.metadata.get("cli") is False:
            continue
        typ = hints[f.name]
        default = f.default if f.default is not dataclasses.MISSING else None
        help_text = f.metadata.get("help", "")
        help_text += f" (default: {default})" if default not in (None, "") else ""
        kwargs: dict[str, Any] = {"default": None, "help": help_text, "dest": f.name}
        if typ is bool:
            kwargs["action"] = argparse.BooleanOptionalAction
        else:
            base = typing.get_args(typ)[0] if typing.get_origin(typ) in (typing.Union,) else typ
            if base is type(None):
                base = str
            kwargs["type"] = base if base in (int, float, str) else str
            kwargs["metavar"] = f.metadata.get("metavar", f.name.upper())
            if "choices" in f.metadata:
                kwargs["choices"] = f.metadata["choices"]
        parser.add_argument(_flag(f.name), **kwargs)


def from_args(cls: type[T], args: argparse.Namespace, base: dict | None = None) -> T:
    """Build ``cls`` from defaults, then ``base`` (e.g. a --config file), then explicit flags."""
    names = {f.name for f in dataclasses.fields(cls)}
    values = {k: v for k, v in (base or {}).items() if k in names}
    values.update({k: v for k, v in vars(args).items() if k in names and v is not None})
    try:
        return cls(**values)
    except (TypeError, ValueError) as e:
        raise UserError(str(e)) from e


def load_config_file(path: str | None) -> dict:
    """Read a run's ``config.json`` (for ``--config``); nested sections are flattened."""
    if not path:
        return {}
    p = Path(path)
    if p.is_dir():
        p = p / "config.json"
    try:
        data = json.loads(p.read_text())
    except FileNotFoundError as e:
        raise UserError(f"config file not found: {p}") from e
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise UserError(f"{p} is not valid JSON: {e}") from e
    flat: dict = {}
    for k, v in data.items():
        if isinstance(v, dict):
            flat.update(v)
        else:
            flat[k] = v
    return flat


def check(cond: bool, message: str) -> None:
    """Validate a config value in ``__post_init__``; raises ValueError shown as one line."""
    if not cond:
        raise ValueError(message)
