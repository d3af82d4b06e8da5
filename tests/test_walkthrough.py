"""What a new user sees following README.md literally: the help of every command."""

from __future__ import annotations

import pytest
import typer
from typer.testing import CliRunner

from distill.cli import app

COMMANDS = sorted(typer.main.get_command(app).commands)


@pytest.mark.parametrize("name", COMMANDS)
def test_help_at_80_columns_shows_every_flag_whole(name):
    """At a terminal's 80 columns (or piped: `distill train --help | grep gradient`) rich's
    tables cut long flag names: `--gradient-accumu…`, `--max-position-em…` (which the README
    tells users to pass), `--tensor-parallel-s…`; nothing to copy or grep."""
    cmd = typer.main.get_command(app).commands[name]
    res = CliRunner().invoke(app, [name, "--help"], env={"COLUMNS": "80"})
    assert res.exit_code == 0, res.output
    assert "…" not in res.output
    words = set(res.output.replace(",", " ").split())
    flags = [o for p in cmd.params for o in (*p.opts, *p.secondary_opts) if o.startswith("--")]
    assert flags and [f for f in flags if f not in words] == []


def test_command_list_shows_each_commands_line_whole():
    res = CliRunner().invoke(app, ["--help"], env={"COLUMNS": "80"})
    assert res.exit_code == 0
    text = " ".join(res.output.split("Commands:")[1].split())
    assert "..." not in text and "…" not in text
    assert "distil the teacher's token distribution instead (distill/train/kd/)." in text
    assert "print base vs student pass@1 and minutes at the end." in text
