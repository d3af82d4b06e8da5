"""Recipe YAML -> stage dataclass, with CLI overrides.

    distill generate --recipe recipes/smoke.yaml --n 8

Precedence: CLI flags > recipe keys > dataclass defaults. A recipe is either flat (the stage's
fields) or one file for a whole run with a section per stage (`generate:`, `filter:`, ...);
each command reads its own section. An unknown key is an error that names it.
"""

from __future__ import annotations

import dataclasses
import difflib
import math
import os
import re
import types
import typing
from pathlib import Path
from typing import Any, TypeVar

import yaml

from distill.errors import DistillError

STAGES = ("instruct", "generate", "filter", "select", "train", "export", "eval", "publish", "smoke")

T = TypeVar("T")


def setting(
    default: Any = dataclasses.MISSING,
    help: str = "",
    *,
    factory: Any = None,
    flags: tuple[str, ...] = (),
    result: bool = True,
    cli: bool = True,
    csv: bool = False,
    argument: str | None = None,
    trainer: bool = False,
    card: bool = False,
) -> Any:
    """A config field declared once: its default, its help, and what the command line and the
    run's bookkeeping need to know of it (distill/cli_build.py builds the typer option from it).

    flags: the option's names when not flag(name) (aliases, `--x/--no-x` pairs); result: False
    for keys that never change what a run produces (paths, logging, resume) -- a resumed run may
    differ in those; cli: False for recipe-only keys; csv: a list given as `a,b,c` on the
    command line; argument: a positional argument of this name instead of an option; trainer:
    handed to TRL's trainer config under the same name; card: shown in the model card's table."""
    meta = {
        "help": help,
        "flags": tuple(flags),
        "result": result,
        "cli": cli,
        "csv": csv,
        "argument": argument,
        "trainer": trainer,
        "card": card,
    }
    if factory is not None:
        return dataclasses.field(default_factory=factory, metadata=meta)
    return dataclasses.field(default=default, metadata=meta)


def like(group: type, name: str, default: Any, help: str | None = None) -> Any:
    """A field of a shared group (a dataclass the config extends) with another default in this
    stage: its flags and metadata stay declared once, on the group; `help` replaces the group's
    where the stage reads the key otherwise."""
    meta = dict(group.__dataclass_fields__[name].metadata)  # type: ignore[attr-defined]
    if help is not None:
        meta["help"] = help
    return dataclasses.field(default=default, metadata=meta)


def keys_where(cls: type, key: str, default: bool = False) -> list[str]:
    """The fields of a config whose setting() has `key` (e.g. "trainer", "card", "result")."""
    return [f.name for f in dataclasses.fields(cls) if f.metadata.get(key, default)]


def result_keys(cls: type) -> list[str]:
    """The fields of a config that change what its stage produces (setting(result=True))."""
    return keys_where(cls, "result", default=True)


def _suggest(key: str, known: list[str]) -> str:
    close = difflib.get_close_matches(key, known, n=1)
    return f" (did you mean '{close[0]}'?)" if close else ""


def flag(field: str) -> str:
    """A config field's command-line flag: `max_tokens` -> `--max-tokens`."""
    return "--" + field.replace("_", "-")


def check_values(
    cfg: Any, rules: list[tuple[str, bool, str]], flags: dict[str, str] | None = None
) -> None:
    """Refuse the first out-of-range value by its flag, one rule per value
    (`--temperature -1: must be >= 0`), so the line says which of several numbers is wrong.
    `rules`: (field, ok, what it must be); `flags`: a field's flag where it is not flag(field)."""
    for name, ok, rule in rules:
        value = getattr(cfg, name)
        if isinstance(value, float) and not math.isfinite(value):
            ok, rule = False, "a finite number"  # inf passes every >= check; nan none
        if not ok:
            shown = (flags or {}).get(name) or flag(name)
            value = f"{value:g}" if isinstance(value, float) else value  # -1, not -1.0
            raise DistillError(f"{shown} {value}: must be {rule}")


# A number as written in a recipe or a --set value that YAML 1.1 leaves a string (6e-4, 1E-2,
# 1.0e3); not nan/inf, which no setting takes.
_FLOAT = re.compile(r"[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?")


def _redacted(value: Any) -> str:
    """A value as an error line shows it: a server URL typed into the wrong key without its token."""
    from distill.urls import redact_urls

    return redact_urls(repr(value))


def _coerce(value: Any, hint: Any, where: str) -> Any:
    """Light type checking so a recipe typo like `n: eight` fails here, not mid-run."""
    if value is None:
        # `n:` with no value: not a number to compare later; `api_key_env:` not a text a stage
        # can read (a `str | None` key takes it: unset)
        if hint in (int, float, bool, str):
            raise DistillError(f"{where}: expected {hint.__name__}, got no value")
        return None
    origin = typing.get_origin(hint)
    args = typing.get_args(hint)
    if origin in (typing.Union, types.UnionType):
        non_none = [a for a in args if a is not type(None)]
        if len(non_none) == 1:
            return _coerce(value, non_none[0], where)
        return value
    if hint is float and isinstance(value, (int, float)) and not isinstance(value, bool):
        return float(value)
    if hint is float and isinstance(value, str) and _FLOAT.fullmatch(value.strip()):
        return float(value)  # PyYAML reads 6e-4 and 1.0e3 (no dot, no exponent sign) as text
    if hint is int and isinstance(value, int) and not isinstance(value, bool):
        return value
    if hint is bool and isinstance(value, bool):
        return value
    if hint is str and isinstance(value, (str, int, float)) and not isinstance(value, bool):
        return str(value)
    if hint in (float, int, bool, str):
        raise DistillError(f"{where}: expected {hint.__name__}, got {_redacted(value)}")
    if origin is list:
        if not isinstance(value, list):
            raise DistillError(f"{where}: expected a list, got {_redacted(value)}")
        return (
            [_coerce(v, args[0], f"{where}[{i}]") for i, v in enumerate(value)] if args else value
        )
    if origin is dict and not isinstance(value, dict):
        raise DistillError(f"{where}: expected a mapping, got {_redacted(value)}")
    return value


# Each stage's config, for naming the section a misplaced key belongs to.
STAGE_CONFIGS = {
    "instruct": "distill.instruct.config:InstructConfig",
    "generate": "distill.generate.config:GenerateConfig",
    "filter": "distill.filter.config:FilterConfig",
    "select": "distill.select.config:SelectConfig",
    "train": "distill.train.config:TrainConfig",
    "export": "distill.train.config:ExportConfig",
    "eval": "distill.eval:EvalConfig",
    "publish": "distill.publish:PublishConfig",
}


def _unknown(cls: type, key: str, known: list[str]) -> str:
    """Why `key` is not one of `cls`'s: the stages it is a key of (`temperature` under train:
    eval's and generate's, not a near name such as kd_temperature), else a near name."""
    import importlib

    classes = {}
    for stage, target in STAGE_CONFIGS.items():
        module, name = target.split(":")
        classes[stage] = getattr(importlib.import_module(module), name)
    if cls not in classes.values():
        return _suggest(key, known)
    others = [
        stage
        for stage, other in classes.items()
        if other is not cls and key in {f.name for f in dataclasses.fields(other) if f.init}
    ]
    if not others:
        return _suggest(key, known)
    close = difflib.get_close_matches(key, known, n=1)
    mine = next(stage for stage, other in classes.items() if other is cls)
    return f": a key of {', '.join(others)}, not of {mine} (move it to that section)" + (
        f", or did you mean '{close[0]}'?" if close else ""
    )


def typed_keys(
    cls: type, data: dict[str, Any], where: str, lines: dict[str, str] | None = None
) -> dict[str, Any]:
    """`data`'s keys checked against dataclass `cls` and its values typed, naming any unknown
    key and bad value; the dataclass is not built (nor its other checks run). `lines`: a key's
    own `where` (its recipe file and line)."""
    hints = typing.get_type_hints(cls)
    known = [f.name for f in dataclasses.fields(cls) if f.init]
    kwargs = {}
    for key, value in data.items():
        at = (lines or {}).get(key, where)
        if key not in known:
            raise DistillError(f"{at}: unknown key '{key}'{_unknown(cls, str(key), known)}")
        kwargs[key] = _coerce(value, hints[key], f"{at}: key '{key}'")
    return kwargs


def from_dict(
    cls: type[T], data: dict[str, Any], where: str, lines: dict[str, str] | None = None
) -> T:
    """Build dataclass `cls` from `data`, naming any unknown key and bad value (at its line
    where `lines` has it)."""
    if not isinstance(data, dict):
        raise DistillError(f"{where}: expected a mapping of {cls.__name__} keys, got {data!r}")
    kwargs = typed_keys(cls, data, where, lines)
    try:
        return cls(**kwargs)
    except DistillError as e:
        raise DistillError(f"{where}: {e}") from None


def load_recipe(path: str | Path) -> dict[str, Any]:
    """A recipe file's top-level mapping; one clear line if it is missing, not YAML or not a
    mapping."""
    p = Path(path)
    if not p.is_file():
        raise DistillError(f"recipe not found: {p}")
    try:
        data = yaml.safe_load(p.read_text()) or {}
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        line = f":{mark.line + 1}" if mark else ""
        raise DistillError(f"{p}{line}: not valid YAML ({getattr(e, 'problem', e)})") from None
    if not isinstance(data, dict):
        raise DistillError(f"{p}: a recipe must be a mapping of keys, got {type(data).__name__}")
    return data


def key_lines(path: str | Path, stage: str | None, where: str) -> dict[str, str]:
    """{key: `where` with the recipe's line of that key} for `stage`'s section of a recipe (its
    top level: stage None), so an unknown key or bad value is named where it is written:
    `recipes/r.yaml [train] line 23`. Empty when the file cannot be read again."""
    try:
        root = yaml.compose(Path(path).read_text())
    except (OSError, yaml.YAMLError):
        return {}
    node = root
    if stage is not None and isinstance(root, yaml.MappingNode):
        node = next((v for k, v in root.value if getattr(k, "value", None) == stage), None)
    if not isinstance(node, yaml.MappingNode):
        return {}
    return {
        k.value: f"{where} line {k.start_mark.line + 1}"
        for k, _ in node.value
        if isinstance(k, yaml.ScalarNode)
    }


def recipe_section(data: dict[str, Any], stage: str, path: str | Path) -> dict[str, Any]:
    """A sectioned recipe's `stage:` keys (empty when it has no such section)."""
    section = data.get(stage) or {}
    if not isinstance(section, dict):
        raise DistillError(f"{path}: section '{stage}' must be a mapping")
    return dict(section)


RUN_KEYS = ("dir", "name")  # a sectioned recipe's `run:` keys


def run_section(data: dict[str, Any], path: str | Path) -> dict[str, Any]:
    """A sectioned recipe's `run:` keys, checked (a typo in `dir` sent the run elsewhere)."""
    section = data.get("run") or {}
    if not isinstance(section, dict):
        raise DistillError(f"{path}: run must be a mapping (run: {{dir: ..., name: ...}})")
    for key in section:
        if key not in RUN_KEYS:
            raise DistillError(
                f"{path}: unknown key '{key}' in run: (have: {', '.join(RUN_KEYS)})"
                f"{_suggest(str(key), list(RUN_KEYS))}"
            )
    return section


def recipe_run_dir(data: dict[str, Any], path: str | Path) -> str:
    """The recipe's `run: {dir: ...}` (`~` expanded: no stage expands it), else
    runs/<recipe name>."""
    return os.path.expanduser(str(run_section(data, path).get("dir") or f"runs/{Path(path).stem}"))


def is_sectioned(data: dict[str, Any]) -> bool:
    """A recipe with a section per stage, not one stage's keys: it has `run:`, or a stage's
    name holding anything but a string (a section), or nothing but stage names. A flat recipe
    may have a key named like a stage, with a string (filter's `select: shortest`, publish's
    `eval: eval.json`)."""
    if "run" in data or any(
        k in STAGES and v is not None and not isinstance(v, str) for k, v in data.items()
    ):
        return True
    return bool(data) and all(k in STAGES and v is None for k, v in data.items())


def read_recipe(path: str | Path, stage: str, data: dict[str, Any] | None = None) -> dict[str, Any]:
    """The keys of `stage` in a recipe file (flat, or its `stage:` section); `data`: the file
    as load_recipe read it already."""
    data = load_recipe(path) if data is None else data
    if is_sectioned(data):
        others = [k for k in data if k not in STAGES and k != "run"]
        if others:
            raise DistillError(
                f"{path}: unknown key '{others[0]}' (a sectioned recipe has only {', '.join(STAGES)})"
            )
        return substitute_run_dir(recipe_section(data, stage, path), recipe_run_dir(data, path))
    # a flat recipe's {run_dir}: runs/<recipe name>, distill run's default (not a literal folder)
    return substitute_run_dir(data, recipe_run_dir(data, path))


def substitute_run_dir(value: Any, run_dir: str) -> Any:
    """`{run_dir}` in any string of a recipe section -> the run's folder."""
    if isinstance(value, str):
        return value.replace("{run_dir}", run_dir)
    if isinstance(value, list):
        return [substitute_run_dir(v, run_dir) for v in value]
    if isinstance(value, dict):
        return {k: substitute_run_dir(v, run_dir) for k, v in value.items()}
    return value


def load_config(
    cls: type[T], stage: str, recipe: str | Path | None, overrides: dict[str, Any]
) -> T:
    """Defaults < recipe < CLI. `overrides` holds only what the user typed (None = not typed)."""
    whole = load_recipe(recipe) if recipe else {}  # the file, read once
    data: dict[str, Any] = read_recipe(recipe, stage, whole) if recipe else {}
    typed = {k: v for k, v in overrides.items() if v is not None}
    if recipe:  # a flag's {run_dir} is the recipe's, as in its keys and in distill run's --set
        typed = substitute_run_dir(typed, recipe_run_dir(whole, recipe))
    else:
        for k, v in typed.items():
            if "{run_dir}" in str(v):
                raise DistillError(
                    f"{flag(k)} {v}: {{run_dir}} stands for a recipe's run.dir, and no --recipe "
                    "is given: give the path itself"
                )
    data.update(typed)
    where = f"{recipe} [{stage}]" if recipe else stage
    lines = {}
    if recipe:  # a recipe key named at its line (not a flag's value that replaced it)
        sectioned = is_sectioned(whole)
        lines = key_lines(recipe, stage if sectioned else None, where)
        lines = {k: v for k, v in lines.items() if k not in typed}
    return from_dict(cls, data, where, lines)


def read_saved(cls: type[T], data: dict[str, Any] | None) -> T:
    """A stage's saved config (the YAML beside its output) as its dataclass, for readers such as
    the model card: typed, so a renamed field fails where it is read instead of blanking a
    line. Not validated (the files it names may be gone since); keys the dataclass no longer
    has are dropped, keys it predates take their defaults."""
    obj = object.__new__(cls)
    for f in dataclasses.fields(cls):  # type: ignore[arg-type]
        if f.name in (data or {}):
            value = data[f.name]  # type: ignore[index]
        elif f.default_factory is not dataclasses.MISSING:
            value = f.default_factory()
        else:
            value = None if f.default is dataclasses.MISSING else f.default
        object.__setattr__(obj, f.name, value)
    return obj


def save_config(cfg: Any, path: str | Path, record: dict[str, Any] | None = None) -> Path:
    """Write the resolved config next to a stage's output, so a run can be reproduced. A server
    URL's token (`user:token@`, `?key=`) is written nowhere (a run folder is shared and
    published): the values of *url keys, and a `NAME@URL` (train's teacher_model), name
    `scheme://host:port/path`. A resume compares URLs without their tokens (train/sft.py).
    `record`: keys written over or beside the fields (train's precision of each part of a run
    resumed on another machine: train/sft.py precision_record)."""
    from distill.urls import redact_url

    p = Path(path)
    p.parent.mkdir(parents=True, exist_ok=True)
    tmp = p.with_name(p.name + ".tmp")

    def shown(v: Any, key: str = "") -> Any:  # the values of *url keys (a teachers list's too)
        if isinstance(v, dict):
            return {k: shown(x, str(k)) for k, x in v.items()}
        if isinstance(v, list):
            return [shown(x, key) for x in v]
        if not isinstance(v, str):
            return v
        # each value one URL: one typed without its scheme loses its secret too
        if key.endswith(("url", "urls")):
            return redact_url(v)
        served = re.fullmatch(r"(\S*?)@(https?://\S*)", v, re.IGNORECASE)  # NAME@URL, not text
        return f"{served[1]}@{redact_url(served[2])}" if served else v

    saved = {**dataclasses.asdict(cfg), **(record or {})}
    tmp.write_text(yaml.safe_dump(shown(saved), sort_keys=False))
    tmp.replace(p)
    return p
