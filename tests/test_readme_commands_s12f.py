"""README's commands against the CLI: every `distill <cmd> --flag` the README shows (its ```bash
blocks, commands commented out in them, and inline `distill ...` spans) must be a flag that
command has today, every `make TARGET` in a block a Makefile target, every recipes/ path a file.
A renamed or removed flag fails here instead of in a user's shell.

    .venv/bin/python -m pytest -q tests/test_readme_commands_s12f.py
"""

from __future__ import annotations

import re
from pathlib import Path

import typer.main

from distill.cli import app

ROOT = Path(__file__).resolve().parents[1]
COMMAND = re.compile(r"\bdistill ([a-z][\w-]*)(?=\s|$)(.*?)(?=$|\bdistill \w+|\|)")
FLAG = re.compile(r"(?<![\w/-])(--[a-z][\w-]*)")
# a command commented out inside a block: `#    ... or: distill generate ...`
COMMENTED = re.compile(r"^\s*#\s*(?:\.\.\.\s*or:\s*)?(?=(?:distill|make|accelerate) )")


def _blocks(text: str) -> list[tuple[int, str]]:
    """(line, command) for each command line of the ```bash blocks, continuations joined."""
    out, lines, i = [], text.splitlines(), 0
    while i < len(lines):
        if not lines[i].startswith("```bash"):
            i += 1
            continue
        i += 1
        buf, start = "", None
        while i < len(lines) and not lines[i].startswith("```"):
            line = lines[i]
            if buf and buf.lstrip().startswith(("distill", "make", "accelerate")):
                line = re.sub(r"^\s*#", "", line)  # a commented command's continuation
            line = COMMENTED.sub("", line)
            if line.lstrip().startswith("#"):  # a comment in words
                i += 1
                continue
            start = start or i + 1
            if line.rstrip().endswith("\\"):
                buf += line.rstrip()[:-1] + " "
            else:
                out.append((start, re.sub(r"\s#\s.*$", "", buf + line)))
                buf, start = "", None
            i += 1
        i += 1
    return out


def _inline(text: str) -> list[tuple[int, str]]:
    """(line, span) for each inline `...` span outside code blocks that runs a distill command."""
    body = re.sub(r"^```.*?^```", lambda m: "\n" * m.group(0).count("\n"), text, flags=re.S | re.M)
    return [
        (body[: m.start()].count("\n") + 1, m.group(1).replace("\n", " "))
        for m in re.finditer(r"`([^`]+)`", body)
        if COMMAND.search(m.group(1).replace("\n", " "))
    ]


def drift(text: str) -> list[str]:
    """Every command, flag, make target and recipe path in `text` the project does not have."""
    group = typer.main.get_command(app)
    flags = {
        name: {o for p in cmd.params for o in (*p.opts, *p.secondary_opts)}
        for name, cmd in group.commands.items()
    }
    targets = set(re.findall(r"^([\w-]+):", (ROOT / "Makefile").read_text(), flags=re.M))
    bad = []
    blocks = _blocks(text)
    for line, cmd in blocks + _inline(text):
        for m in COMMAND.finditer(cmd):
            name, rest = m.group(1), m.group(2)
            if name not in flags:
                if re.match(r"\s*(?:\S+=\S+\s+)*distill ", cmd):  # not `... distill did ...`
                    bad.append(f"README.md:{line}: no command `distill {name}`")
                continue
            for f in FLAG.findall(rest):
                if f not in flags[name]:
                    bad.append(f"README.md:{line}: `distill {name}` has no {f}")
    for line, cmd in blocks:
        for target in re.findall(r"^\s*make ([\w-]+)", cmd):
            if target not in targets:
                bad.append(f"README.md:{line}: no Makefile target `make {target}`")
    for m in re.finditer(r"\brecipes/[\w./-]*\w\.yaml\b", text):
        if not (ROOT / m.group(0)).is_file():
            bad.append(f"README.md:{text[: m.start()].count(chr(10)) + 1}: no file {m.group(0)}")
    return bad


def test_readme_commands_name_only_flags_the_cli_has() -> None:
    text = (ROOT / "README.md").read_text()
    assert len(_blocks(text)) > 30  # the parser still finds the README's commands
    assert drift(text) == []


def test_a_removed_flag_in_the_readme_is_found() -> None:
    """The check itself: a flag no command has, planted in a block, a comment, inline text."""
    text = (ROOT / "README.md").read_text()
    planted = text.replace(
        "distill filter traces.jsonl --out kept.jsonl",
        "distill filter traces.jsonl --output kept.jsonl",
    )
    planted = planted.replace("--tensor-parallel-size 4 --data", "--tp 4 --data")
    planted = planted.replace(
        "(`distill run --recipe R --dry-run`)", "(`distill run --recipe R --check`)"
    )
    planted = planted.replace("make smoke-alpaca   #", "make smoke-alpacca   #")
    found = drift(planted)
    assert any("`distill filter` has no --output" in b for b in found), found
    assert any("`distill generate` has no --tp" in b for b in found), found
    assert any("`distill run` has no --check" in b for b in found), found
    assert any("make smoke-alpacca" in b for b in found), found
