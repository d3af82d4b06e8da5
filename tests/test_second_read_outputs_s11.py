"""Second read of "a stage replaces only what distill wrote" (tests/test_user_outputs_s11.py):
workflows that worked before and must still work, and ways a user's file still goes.

OMP_NUM_THREADS=1 .venv/bin/python -m pytest -q tests/test_second_read_outputs_s11.py
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from distill import filter as F
from distill.errors import DistillError
from tests.inproc import distill
from tests.test_filter_kill import make_traces
from tests.test_user_outputs_s11 import MINE, files, one_error_line


@pytest.fixture
def traces(tmp_path: Path) -> Path:
    make_traces(tmp_path / "t.jsonl", 30)
    return tmp_path


def ok(res) -> None:
    assert res.returncode == 0, res.stdout + res.stderr


@pytest.mark.parametrize(
    "stage, elsewhere",
    [
        ("filter", ["--rejects", "sub/rej.jsonl"]),
        ("filter", ["--report", "sub/rep.json"]),
        ("select", ["--report", "sub/rep.json"]),
    ],
)
def test_back_to_the_default_side_files_after_a_run_that_put_them_elsewhere(
    traces, stage, elsewhere
):
    """`--out kept.jsonl`, then the same with its rejects (report) in another folder, then the
    first command again: kept.rejects.jsonl (kept.report.*) is the file the first run wrote,
    unchanged; it was refused as 'distill did not write it'."""
    (traces / "sub").mkdir()
    argv = [stage, "t.jsonl", "--out", "kept.jsonl"] + (
        ["--budget", "5"] if stage == "select" else []
    )
    ok(distill(*argv, cwd=traces))
    ok(distill(*argv, *elsewhere, cwd=traces))
    res = distill(*argv, cwd=traces)
    ok(res)


def test_a_file_put_at_an_output_while_filter_runs_is_not_replaced(traces, monkeypatch):
    """filter checks its outputs when it starts, then works (hours, at 1M traces with --verify
    code) and renames its set into place: a file the user put at an output meanwhile (their
    notes saved as kept.report.json) was replaced without a word."""
    from distill.filter import stage

    cfg = F.FilterConfig(input=str(traces / "t.jsonl"), out=str(traces / "kept.jsonl"))
    F.run(cfg, quiet=True)
    build = stage.build_report

    def build_then_the_user_writes(*a, **k):
        (traces / "kept.report.json").write_bytes(MINE)  # while the stage runs
        return build(*a, **k)

    monkeypatch.setattr(stage, "build_report", build_then_the_user_writes)
    with pytest.raises(DistillError, match="kept.report.json"):
        F.run(F.FilterConfig(input=cfg.input, out=cfg.out, verify="math"), quiet=True)
    assert (traces / "kept.report.json").read_bytes() == MINE


@pytest.mark.parametrize("entry", ['"my notes, 12 lines"', "12", "[1, 2]"])
def test_a_hand_written_manifest_beside_the_files_is_one_line_or_ignored(traces, entry):
    """A JSON the user wrote in distill's shape (their own manifest.json of a folder) whose
    entries are not {size, sha256}: filter over it, and reading a file it lists, ended in
    'error: AttributeError: 'str' object has no attribute 'get''."""
    (traces / "notes.jsonl").write_bytes(MINE)
    doc = f'{{"distill_manifest": 1, "outputs": {{"notes.jsonl": {entry}, "t.jsonl": {entry}}}}}'
    (traces / "my.manifest.json").write_text(doc)
    before = files(traces)
    one_error_line(distill("filter", "t.jsonl", "--out", "notes.jsonl", cwd=traces), "notes.jsonl")
    assert files(traces) == before
    res = distill("filter", "t.jsonl", "--out", "kept.jsonl", cwd=traces)  # reads t.jsonl
    assert "AttributeError" not in res.stderr
    assert "Traceback" not in res.stderr


def test_reruns_through_a_symlinked_folder_and_its_real_path_are_the_stages_own(traces):
    """runs/ a link to a data disk: the same command given through the link and through the
    real path, and the rejects and report in another folder given either way, rerun over
    the stage's own outputs; a file of the user's there is still refused."""
    real = traces / "real"
    real.mkdir()
    (traces / "link").symlink_to(real)
    (traces / "t.jsonl").rename(real / "t.jsonl")
    side = traces / "side"
    side.mkdir()
    (traces / "side-link").symlink_to(side)
    for d, s in (("link", "side-link"), ("real", "side"), ("link", "side"), ("real", "side-link")):
        res = distill(
            "filter", f"{d}/t.jsonl", "--out", f"{d}/kept.jsonl",
            "--rejects", f"{s}/rej.jsonl", "--report", f"{s}/rep.json", cwd=traces,
        )  # fmt: skip
        ok(res)
        ok(distill("select", f"{d}/kept.jsonl", "--out", f"{d}/sel.jsonl", cwd=traces))
        ok(
            distill(
                "export", f"{d}/sel.jsonl", "--format", "r1", "--out", f"{d}/d.jsonl", cwd=traces
            )
        )
    (side / "rep.png").write_bytes(MINE)
    res = distill(
        "filter", "link/t.jsonl", "--out", "link/kept.jsonl",
        "--rejects", "side/rej.jsonl", "--report", "side-link/rep.json", cwd=traces,
    )  # fmt: skip
    one_error_line(res, "rep.png, beside --report side-link/rep.json", "was changed since filter")
    assert (side / "rep.png").read_bytes() == MINE


def test_export_to_the_same_name_in_another_format_and_back(traces):
    """data.jsonl, then data.parquet, then data.jsonl in another format: each its own set."""
    for fmt, out in (("r1", "data.jsonl"), ("r1", "data.parquet"), ("alpaca", "data.jsonl")):
        ok(distill("export", "t.jsonl", "--format", fmt, "--out", out, cwd=traces))
    rows = [json.loads(x) for x in (traces / "data.jsonl").read_text().splitlines()]
    assert rows and "instruction" in rows[0]  # alpaca's, over r1's own file
