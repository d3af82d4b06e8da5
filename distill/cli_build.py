"""Typer commands built from config dataclasses: a setting's flag, aliases and help are written
once, on its field (`distill.config.setting`), and read here.

    distill train --help     # every option below `--recipe` is a field of TrainConfig

A command's options default to None, so only what the user typed overrides the recipe
(CLI > recipe > defaults, distill.config.load_config); the help shows the field's default.
"""

from __future__ import annotations

import dataclasses
import importlib
import inspect
import types
import typing
from collections.abc import Callable
from pathlib import Path
from typing import Any

import typer
from typer.models import ArgumentInfo

from distill.config import flag

RECIPE = typer.Option(None, "--recipe", help="Recipe YAML; CLI flags override its keys.")
Param = inspect.Parameter


def load(target: str) -> Any:
    """'module:name' -> the object (stages import torch & co. only when they run)."""
    module, name = target.split(":")
    return getattr(importlib.import_module(module), name)


def _cli_type(hint: Any, csv: bool) -> Any:
    """The type typer parses a field's value as (None: not typed)."""
    if typing.get_origin(hint) in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(hint) if a is not type(None)]
        lists = [a for a in args if typing.get_origin(a) is list]  # `str | list[str]`: repeatable
        hint = args[0] if len(args) == 1 else lists[0] if lists else str
    if typing.get_origin(hint) is list:
        item = (typing.get_args(hint) or (str,))[0]
        # a comma-list flag is repeatable too: `--checks a --checks b,c` is [a, b, c]
        return list[str] if csv or item not in (int, float) else list[item]
    return hint if hint in (str, int, float, bool) else str


def _default_text(f: dataclasses.Field) -> str:
    if f.default_factory is not dataclasses.MISSING:  # type: ignore[misc]
        value = f.default_factory()  # type: ignore[misc]
        value = ",".join(map(str, value)) if isinstance(value, list) else value
        if len(str(value)) > 40:  # a long list (instruct's blacklist): the help says what it is
            return ""
    else:
        value = f.default
    # `is`, not `in`: 0 == False, and a default of 0 (eval's greedy temperature) is shown
    if value is None or value is False or value in ("", []) or f.metadata.get("argument"):
        return ""
    return f" (default: {value})"


def options(cls: type, hide: tuple[str, ...] = ()) -> list[Param]:
    """One keyword parameter per field of `cls` that is on the command line (less `hide`)."""
    hints = typing.get_type_hints(cls)
    params = []
    for f in dataclasses.fields(cls):
        meta = f.metadata
        if not meta.get("cli", True) or not f.init or f.name in hide:
            continue
        kind = _cli_type(hints[f.name], meta.get("csv", False))
        text = (meta.get("help") or "") + _default_text(f)
        if meta.get("argument"):
            default = typer.Argument(None, metavar=meta["argument"].upper(), help=text)
        else:
            decls = list(meta.get("flags") or ())
            if not decls:
                name = flag(f.name)
                decls = [f"{name}/--no-{name[2:]}" if kind is bool else name]
            elif kind is bool and len(decls) == 1 and "/" not in decls[0]:
                # a switch a recipe may turn on (merge: true) is turned off from the command
                # line too (CLI > recipe for every setting)
                decls = [f"{decls[0]}/--no-{decls[0][2:]}"]
            default = typer.Option(None, *decls, help=text, show_default=False)
        params.append(Param(f.name, Param.KEYWORD_ONLY, default=default, annotation=kind | None))
    return params


def stage_command(
    app: typer.Typer,
    name: str,
    config: str,
    stage: str,
    run: str | Callable[..., Any],
    doc: str,
    extra: dict[str, tuple[Any, Any]] | None = None,
    wrap: Callable[[Callable[[], Any]], Any] | None = None,
    hide: tuple[str, ...] = (),
) -> None:
    """Register `distill NAME`: its options are the fields of `config` ('module:Class'), plus
    `--recipe` and `extra` ({param: (type, typer.Option)}: handed to `run` as keywords, not
    config keys), less `hide` (fields of a shared group this command has no use for: recipe
    keys still). `run` ('module:function', or a function) gets the resolved config; `wrap` runs
    the call (the CLI's one-line error handling)."""
    from distill.config import load_config

    cls = load(config)
    extra = extra or {}
    csv = {f.name for f in dataclasses.fields(cls) if f.metadata.get("csv")}
    args = options(cls, hide)
    positional = [p for p in args if isinstance(p.default, ArgumentInfo)]
    rest = [p for p in args if p not in positional]
    params = [
        *positional,
        Param("recipe", Param.KEYWORD_ONLY, default=RECIPE, annotation=Path | None),
        *rest,
        *(Param(k, Param.KEYWORD_ONLY, default=o, annotation=t) for k, (t, o) in extra.items()),
    ]

    def command(**kwargs: Any) -> None:
        recipe = kwargs.pop("recipe", None)
        keywords = {k: kwargs.pop(k) for k in extra}
        for key in csv & kwargs.keys():
            given = kwargs[key]
            if given is not None:  # each time the flag was given, its comma list
                given = [given] if isinstance(given, str) else given
                kwargs[key] = [v.strip() for g in given for v in g.split(",") if v.strip()]

        def go() -> Any:
            from distill.paths import check_recipe

            stage_run = load(run) if isinstance(run, str) else run
            cfg = load_config(cls, stage, recipe, kwargs)
            check_recipe(recipe, [(stage, cfg)])  # a stage never writes over its recipe
            return stage_run(cfg, **keywords)

        return wrap(go) if wrap else go()

    command.__signature__ = inspect.Signature(params)  # type: ignore[attr-defined]
    command.__doc__ = doc
    command.__name__ = name.replace("-", "_")
    app.command(name)(command)
