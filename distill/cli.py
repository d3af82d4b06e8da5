"""The `distill` command. Each command parses flags (+ an optional recipe) into its stage's
config dataclass and calls that stage's `run`. Heavy libraries load inside the stages, so
`distill --help` is instant.

    distill --help
    distill generate --recipe recipes/smoke.yaml --n 8

Precedence: CLI flags > recipe keys > defaults. Bad input exits 1 with one line on stderr;
`--debug` (or DISTILL_DEBUG=1) shows the traceback instead.
"""

# ruff: noqa: E402 - the imports after the Ctrl-C guard below are the ones it guards

from __future__ import annotations

import os
import signal
import sys


def _interrupted(what: str = "") -> NoReturn:
    """Ctrl-C outside a command's run (`_run` says what was saved): one line, exit 130."""
    print(f"interrupted{what}", file=sys.stderr)
    raise SystemExit(130)


def _is_the_command() -> bool:
    """Whether this process is `distill ...` itself (`python -m distill`, the console script),
    not a program that imports distill.cli (its Ctrl-C is its own)."""
    main = sys.modules.get("__main__")
    spec = getattr(main, "__spec__", None)
    if spec is not None:
        return spec.name in ("distill.__main__", "distill.cli")
    name = os.path.basename(getattr(main, "__file__", None) or "")
    return name in ("distill", "distill-script.py")


def _starting(signum: int, frame: object) -> NoReturn:
    _started()  # a program that ran distill's module (runpy, pdb) and goes on: Python's again
    _interrupted(": nothing was started")


def _started() -> None:
    """Python's SIGINT handler again where `_starting` is in place: distill started, or could
    not (an import or a command's config that failed; a program catching that goes on)."""
    if signal.getsignal(signal.SIGINT) is _starting:
        signal.signal(signal.SIGINT, signal.default_int_handler)


# Ctrl-C while `distill` starts (its imports and commands, ~0.2 s, before typer's own handling):
# one line and 130, not a KeyboardInterrupt traceback. Python's handler again once they are done.
if signal.getsignal(signal.SIGINT) is signal.default_int_handler and _is_the_command():
    signal.signal(signal.SIGINT, _starting)

try:
    import difflib
    from collections.abc import Callable
    from pathlib import Path
    from typing import Any, NoReturn

    import typer
    from typer.core import TyperGroup

    try:  # typer >= 0.22 carries its own copy of click
        from typer._click.exceptions import NoArgsIsHelpError, NoSuchOption, UsageError
    except ImportError:  # pragma: no cover - older typer uses click itself
        from click.exceptions import NoArgsIsHelpError, NoSuchOption, UsageError

    from distill.cli_build import stage_command
    from distill.errors import DistillError
except BaseException:  # distill cannot start (a broken install): Python's handler again
    _started()
    raise


class _OneLineUsage(TyperGroup):
    """Usage errors (unknown flag, bad value, missing option) as one `error:` line on stderr,
    like every other bad input, instead of click's usage block. click suggests any option
    within 0.6 similarity counting the shared `--` (`--foo` -> `--out`); only close names are
    suggested here."""

    def parse_args(self, ctx: Any, args: list[str]) -> list[str]:
        # `distill filter ... --debug`: where users append it (the last-resort line says "rerun
        # with --debug"); it is the group's flag, so it moves in front of the command
        if "--debug" in args[1:] and "--" not in args[: args.index("--debug")]:
            args = ["--debug", *(a for a in args if a != "--debug")]
        try:  # `distill --bogus`: the group's own flags
            return super().parse_args(ctx, args)
        except UsageError as e:
            _usage_error(e, ctx)
        except KeyboardInterrupt:
            _interrupted(": nothing was started")

    # Help: rich's option tables cut long flag names below ~140 columns (`--gradient-accumu…`,
    # `--max-position-em…`; also piped, `| grep`, at 80), so there click's plain help, each flag
    # whole, is shown; a wide terminal keeps the tables.
    def get_command(self, ctx: Any, name: str) -> Any:
        cmd = super().get_command(ctx, name)
        if cmd is not None and _narrow():
            cmd.rich_markup_mode = None
        return cmd

    def format_help(self, ctx: Any, formatter: Any) -> None:
        if _narrow():
            self.rich_markup_mode = None
            for cmd in self.commands.values():  # the command list: each line whole, not cut
                cmd.short_help = cmd.short_help or cmd.help
        super().format_help(ctx, formatter)

    def invoke(self, ctx: Any) -> Any:
        try:  # a command's flags, and an unknown command
            return super().invoke(ctx)
        except UsageError as e:
            _usage_error(e, ctx)
        except KeyboardInterrupt:  # reading the command's flags (typer: 130 and no line)
            _interrupted()


def _narrow() -> bool:
    import shutil

    return shutil.get_terminal_size().columns < 160


def _usage_error(e: Any, ctx: Any) -> NoReturn:
    if isinstance(e, NoArgsIsHelpError):  # bare `distill`: the help, as typer shows it
        raise e
    sub = e.ctx or ctx
    msg = e.format_message().strip().splitlines()[0] if e.format_message() else str(e)
    if isinstance(e, NoSuchOption):
        names = [o for p in sub.command.params for o in (*p.opts, *p.secondary_opts)]
        close = difflib.get_close_matches(
            e.option_name.lstrip("-"), [n.lstrip("-") for n in names if n.startswith("--")],
            n=1, cutoff=0.7,
        )  # fmt: skip
        msg = f"no such option: {e.option_name}" + (
            f" (did you mean --{close[0]}?)" if close else ""
        )
    print(f"error: {msg} (see: {sub.command_path} --help)", file=sys.stderr)
    raise typer.Exit(2) from None


class _Typer(typer.Typer):
    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        try:
            return super().__call__(*args, **kwargs)
        except KeyboardInterrupt:  # building the command line, before typer's own handling
            _interrupted(": nothing was started")


app = _Typer(
    cls=_OneLineUsage,
    add_completion=False,
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    context_settings={"max_content_width": 160},  # click's plain help (narrow terminals)
    help="Knowledge distillation: teacher traces -> filter -> student SFT -> eval -> publish.",
)
_state = {"debug": False}


@app.callback()
def main(
    debug: bool = typer.Option(
        False, "--debug", help="Show tracebacks instead of one-line errors."
    ),
) -> None:
    env = os.environ.get("DISTILL_DEBUG", "").strip().lower()
    _state["debug"] = debug or env in ("1", "true", "yes", "on")


def _run(fn: Callable[[], Any]) -> Any:
    try:
        return fn()
    except DistillError as e:
        if _state["debug"]:
            raise
        print(f"error: {e}", file=sys.stderr)
        raise typer.Exit(1) from None
    except KeyboardInterrupt:
        print(
            "interrupted: everything finished so far is saved; rerun the same command to resume",
            file=sys.stderr,
        )
        raise typer.Exit(130) from None
    except Exception as e:  # noqa: BLE001 - last resort: still one line, never a raw traceback
        if _state["debug"]:
            raise
        if isinstance(e, OSError) and e.filename and e.strerror:
            # A filesystem error names its path: say which and what is wrong, not the class.
            print(f"error: {e.filename}: {e.strerror}", file=sys.stderr)
            raise typer.Exit(1) from None
        msg = str(e).strip().splitlines()[0] if str(e).strip() else ""
        print(
            f"error: {type(e).__name__}: {msg} (rerun with --debug for the traceback)",
            file=sys.stderr,
        )
        raise typer.Exit(1) from None


# =========================================================================== the commands
# Each stage's options are the fields of its config dataclass (distill/cli_build.py): a setting
# is declared once, with its help, where the stage reads it. What is special is written here.


# On their own, the stages that write a data file check first that no trained student beside it
# learned it (distill/learned.py); `distill run` checks its recipe's student itself.


def _generate(cfg: Any, quiet: bool = False) -> Any:
    from distill.generate import run
    from distill.learned import guard_append

    guard_append("generate", cfg)
    return run(cfg, progress=not quiet and sys.stderr.isatty())


def _instruct(cfg: Any) -> Any:
    from distill.instruct import run
    from distill.learned import guard_append

    guard_append("instruct", cfg)
    return run(cfg)


def _filter(cfg: Any, quiet: bool = False) -> Any:
    from distill.filter import run
    from distill.learned import guard_rewrite

    return run(cfg, quiet=quiet, expect=guard_rewrite("filter", cfg))


def _select(cfg: Any) -> Any:
    from distill.learned import guard_rewrite
    from distill.select.stage import run

    return run(cfg, expect=guard_rewrite("select", cfg))


def _export(cfg: Any) -> Any:
    from distill.export import export
    from distill.learned import guard_rewrite

    guard_rewrite("export", cfg)
    return export(cfg)


QUIET = {"quiet": (bool, typer.Option(False, "--quiet", help="No progress bar or report table."))}
COMMANDS = [  # (name, config, stage run, one line of help, extra options[, hidden keys])
    (
        "generate",
        "distill.generate.config:GenerateConfig",
        _generate,
        "Generate teacher traces into an append-only, resumable JSONL file.",
        QUIET,
    ),
    (
        "instruct",
        "distill.instruct.config:InstructConfig",
        _instruct,
        "Write new instructions from seed tasks (self-instruct as Alpaca did, or Magpie): "
        "filtered, resumable.",
        None,
        (
            "n_per_request",
            "logprobs",
            "logprobs_shard",
        ),  # the teacher's keys instruct has no use for
    ),
    (
        "filter",
        "distill.filter.config:FilterConfig",
        _filter,
        "Dedup, verify, check, decontaminate and select traces; write kept, rejects and a report.",
        QUIET,
    ),
    (
        "train",
        "distill.train.config:TrainConfig",
        "distill.train:run",
        "Fine-tune a student (LoRA/QLoRA/full SFT with TRL) on kept traces; loss on completions "
        "only. --method kd / onpolicy distil the teacher's token distribution instead (distill/train/kd/).",
        None,
    ),
    (
        "export",
        "distill.train.config:ExportConfig",
        _export,
        "Write the examples train trains on, as a dataset TRL/LLaMA-Factory/axolotl read unchanged.",
        None,
    ),
    (
        "eval",
        "distill.eval:EvalConfig",
        "distill.eval:run",
        "Evaluate a student (and a baseline): pass@1, maj@k, length, truncation, with the "
        "filter's verifiers.",
        None,
    ),
    (
        "select",
        "distill.select.config:SelectConfig",
        _select,
        "Choose the traces that teach most: difficulty, judge, diversity, length.",
        None,
    ),
    (
        "publish",
        "distill.publish:PublishConfig",
        "distill.publish:run",
        "Publish a student with a model card: data lineage, hyperparameters, eval table, how to "
        "serve it.",
        None,
    ),
]
try:
    for _name, _config, _stage_run, _doc, _extra, *_hide in COMMANDS:
        stage_command(app, _name, _config, _name, _stage_run, _doc, _extra, _run, *_hide)
except BaseException:  # a stage's config that fails to import: Python's handler again
    _started()
    raise


@app.command("run")
def run_(
    recipe: Path = typer.Option(
        ..., "--recipe", help="A recipe with generate/filter/train/eval/publish sections."
    ),
    run_dir: str | None = typer.Option(
        None, help="Replaces {run_dir} in the recipe (default: its run.dir)."
    ),
    set_: list[str] | None = typer.Option(
        None, "--set", help="Override a key: STAGE.KEY=VALUE (repeatable)."
    ),
    only: list[str] | None = typer.Option(
        None,
        help="Comma list of stages to run (e.g. eval,publish; repeatable); default: every section.",
    ),
    dry_run: bool = typer.Option(
        False, "--dry-run", help="Validate every section and print the stages; run nothing."
    ),
) -> None:
    """Run every stage of a recipe in order; print base vs student pass@1 and minutes at the end."""

    def go() -> None:
        from distill.pipeline import run

        # `--only ''` names no stage: an error, not "every stage"
        given = only  # each --only's comma list (--only eval --only publish: both)
        stages = None if given is None else [s.strip() for o in given for s in o.split(",")]
        stages = None if stages is None else [s for s in stages if s]
        run(recipe, run_dir, set_ or [], only=stages, dry_run=dry_run)

    _run(go)


_started()  # Python's handler, `_run`'s reading

if __name__ == "__main__":
    app()
