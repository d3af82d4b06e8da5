"""Nothing the user owns is destroyed by a stage's outputs: filter, select, export and eval
replace a file at --out, or at a side file the user never typed (`notes.rejects.jsonl` for
`--out notes.jsonl`), only where a distill manifest lists it as it is now. A rerun over the
stage's own outputs, and over what a killed run left, goes on as before.

OMP_NUM_THREADS=1 .venv/bin/python -m pytest -q tests/test_user_outputs_s11.py
"""

from __future__ import annotations

from pathlib import Path

import pytest

from distill import filter as F
from tests.inproc import distill
from tests.test_filter_kill import Killed, die_at, make_traces

MINE = b"my own notes, not distill's\n"


def one_error_line(res, *words: str) -> str:
    assert res.returncode == 1, res.stdout + res.stderr
    assert "Traceback" not in res.stderr
    lines = [ln for ln in res.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1 and lines[0].startswith("error:"), res.stderr
    for w in words:
        assert w in lines[0], lines[0]
    return lines[0]


def files(d: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in d.iterdir() if p.is_file()}


@pytest.fixture
def traces(tmp_path: Path) -> Path:
    make_traces(tmp_path / "t.jsonl", 30)
    return tmp_path


FILTER_SIDE = [
    "notes.jsonl",
    "notes.rejects.jsonl",
    "notes.report.json",
    "notes.report.png",
    "notes.filter.yaml",
    "notes.manifest.json",
]


@pytest.mark.parametrize("name", FILTER_SIDE)
def test_filter_leaves_a_users_file_at_out_or_a_side_file_alone(traces, name):
    (traces / name).write_bytes(MINE)
    before = files(traces)
    res = distill("filter", "t.jsonl", "--out", "notes.jsonl", cwd=traces)
    where = "--out notes.jsonl" if name == "notes.jsonl" else f"{name}, beside --out notes.jsonl"
    line = one_error_line(res, where, "distill did not write it", "pick another --out")
    if name == "notes.manifest.json":
        assert "not a distill manifest" in line
    assert files(traces) == before  # byte for byte, and nothing else written


@pytest.mark.parametrize(
    "name", ["sel.jsonl", "sel.rejects.jsonl", "sel.report.json", "sel.select.yaml"]
)
def test_select_leaves_a_users_file_alone(traces, name):
    (traces / name).write_bytes(MINE)
    before = files(traces)
    res = distill("select", "t.jsonl", "--out", "sel.jsonl", "--per-prompt", "1", cwd=traces)
    one_error_line(res, name, "distill did not write it")
    assert files(traces) == before


@pytest.mark.parametrize("name", ["data.jsonl", "data.jsonl.manifest.json"])
def test_export_leaves_a_users_file_alone(traces, name):
    (traces / name).write_bytes(MINE)
    before = files(traces)
    res = distill("export", "t.jsonl", "--format", "r1", "--out", "data.jsonl", cwd=traces)
    one_error_line(res, name, "exists and", "pick another --out")
    assert files(traces) == before


@pytest.mark.parametrize("name", ["ev.json", "ev.eval.yaml", "ev.json.manifest.json"])
def test_eval_leaves_a_users_file_alone(tmp_path, name, monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", "x")
    (tmp_path / "p.jsonl").write_text('{"id": "a", "problem": "1 + 1?", "answer": "2"}\n')
    (tmp_path / name).write_bytes(MINE)
    before = files(tmp_path)
    argv = ["eval", "--backend", "openai", "--model", "m", "--base-url", "http://127.0.0.1:9/v1"]
    res = distill(*argv, "--data", "p.jsonl", "--out", "ev.json", cwd=tmp_path)
    one_error_line(res, name, "exists and", "pick another --out")
    assert files(tmp_path) == before


def test_an_output_edited_since_filter_wrote_it_is_the_users(traces):
    """A rerun of the same command over its own outputs replaces them; once the user edits one
    (their notes in the report), it is theirs: refused, the edit kept."""
    args = ("filter", "t.jsonl", "--out", "kept.jsonl")
    assert distill(*args, cwd=traces).returncode == 0
    res = distill(*args, "--verify", "math", cwd=traces)  # its own outputs: replaced
    assert res.returncode == 0, res.stderr
    report = traces / "kept.report.json"
    report.write_bytes(report.read_bytes().replace(b"{", b'{"my note": 1, ', 1))
    before = files(traces)
    res = distill(*args, cwd=traces)
    one_error_line(res, "kept.report.json, beside --out kept.jsonl", "was changed since filter")
    assert files(traces) == before


def test_select_and_export_rerun_over_their_own_outputs_but_not_a_users(traces):
    sel = ("select", "t.jsonl", "--out", "sel.jsonl", "--per-prompt", "1")
    exp = ("export", "t.jsonl", "--format", "r1", "--out", "data.jsonl")
    for argv in (sel, exp, sel, exp):  # reruns of the same commands
        res = distill(*argv, cwd=traces)
        assert res.returncode == 0, res.stderr
    res = distill(*exp[:-1], "sel.rejects.jsonl", cwd=traces)  # select's own file: distill's
    assert res.returncode == 0, res.stderr
    (traces / "sel.report.png").write_bytes(MINE)  # the user's own plot over select's
    res = distill(*sel, cwd=traces)
    one_error_line(res, "sel.report.png, beside --out sel.jsonl", "was changed since select")
    assert (traces / "sel.report.png").read_bytes() == MINE


@pytest.mark.parametrize(
    "point", ["filter:before-renames", "filter:renamed:kept.jsonl", "filter:before-manifest"]
)
def test_a_killed_runs_leftovers_are_replaced_but_a_users_file_is_not(traces, monkeypatch, point):
    """Killed between the renames: the new kept beside the old rejects and report, under a
    manifest marked unfinished. A rerun replaces them all; a file the user put there since is
    refused."""
    cfg = F.FilterConfig(input=str(traces / "t.jsonl"), out=str(traces / "kept.jsonl"))
    F.run(cfg, quiet=True)
    new = F.FilterConfig(input=cfg.input, out=cfg.out, verify="math")
    die_at(monkeypatch, point)
    with pytest.raises(Killed):
        F.run(new, quiet=True)
    monkeypatch.undo()
    left = files(traces)
    (traces / "kept.filter.yaml").write_bytes(MINE)
    res = distill("filter", "t.jsonl", "--out", "kept.jsonl", "--verify", "math", cwd=traces)
    one_error_line(res, "kept.filter.yaml, beside --out kept.jsonl", "was changed since filter")
    assert (traces / "kept.filter.yaml").read_bytes() == MINE
    (traces / "kept.filter.yaml").write_bytes(left["kept.filter.yaml"])  # as the kill left it
    F.run(new, quiet=True)
    assert F.done(new) is None
