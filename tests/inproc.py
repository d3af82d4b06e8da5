"""`distill ARGS` run in the test's own process, read back as a subprocess's result.

A subprocess of the CLI pays python's start and, for any command that reaches a model, the
import of torch + transformers + trl + peft (~6 CPU seconds each time); the worker has them
imported already. Where a test asserts the exit code, the `error:` lines, stdout or the files
written, this runs the same `distill.cli.app` on the same argv (typer's CliRunner) and returns
a `subprocess.CompletedProcess` with what the subprocess would have given:

- returncode: the exit code `app()` ends with (typer.Exit / SystemExit);
- stdout / stderr: what the command printed to sys.stdout / sys.stderr (every `error:` line is
  printed there: distill/cli.py);
- an exception that escaped the CLI: its traceback appended to stderr and returncode 1, as
  python prints it and exits, so `"Traceback" not in res.stderr` asserts the same thing.

Not for tests that kill the command, time it, read what a library logs to the process's
stderr, or need a fresh process (what one imports, its threads, signals): those keep a
subprocess.
"""

from __future__ import annotations

import contextlib
import subprocess
import traceback
from pathlib import Path


def distill(
    *args: object, cwd: str | Path | None = None, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess:
    """`distill ARGS` (in `cwd`, with `env` over os.environ) run here; see the module doc."""
    from typer.testing import CliRunner

    from distill.cli import app

    argv = [str(a) for a in args]
    with contextlib.chdir(cwd) if cwd is not None else contextlib.nullcontext():
        res = CliRunner().invoke(app, argv, env=env, prog_name="distill")
    rc, stderr = res.exit_code, res.stderr
    if res.exception is not None and not isinstance(res.exception, SystemExit):
        stderr += "".join(traceback.format_exception(res.exception))
        rc = 1
    return subprocess.CompletedProcess(["distill", *argv], rc, res.stdout, stderr)
