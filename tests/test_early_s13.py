"""Session 13 (hJ): fail-early and cache-key fixes of `distill run` and its stages.

A --decontam folder or `file.jsonl@test` is one of filter's inputs (stamped, never its --out)."""

from __future__ import annotations

import pytest

from distill.errors import DistillError
from distill.pipeline import run as pipeline_run

# --------------------------------------------------------------- a decontam folder or file@test


@pytest.mark.parametrize("kind", ["folder", "file@test"])
def test_an_edited_decontam_folder_or_file_at_split_filters_again(tmp_path, capsys, kind):
    # filter's manifest stamped only the --decontam entries that were plain files: after the
    # benchmark was edited, `distill run` still found filter done and kept the contaminated trace
    from tests.test_filter_kill import make_traces
    from tests.test_run_rewrites_s11 import _recipe

    bench = tmp_path / "bench"
    bench.mkdir()
    problems = bench / "test.jsonl"
    problems.write_text('{"problem": "How many legs has a spider?"}\n')
    (bench / "train.jsonl").write_text('{"problem": "How many legs has a cat?"}\n')
    src = str(bench) if kind == "folder" else f"{problems}@test"
    f = {"input": "{run_dir}/traces.jsonl", "out": "{run_dir}/kept.jsonl", "decontam": [src]}
    r, run = _recipe(tmp_path, filter=f)
    make_traces(run / "traces.jsonl", 6)
    pipeline_run(r)
    assert "t3" in (run / "kept.jsonl").read_text()
    capsys.readouterr()
    pipeline_run(r)
    assert "== filter: done" in capsys.readouterr().out
    with open(problems, "a") as fh:  # trace t3 asks this very problem
        fh.write('{"problem": "What is 3 + 3? (case 3)"}\n')
    pipeline_run(r)
    assert "== filter (again: input changed)" in capsys.readouterr().out
    assert "t3" not in (run / "kept.jsonl").read_text()


def test_filters_out_may_not_be_a_decontam_file_at_split_or_a_folders_file(tmp_path):
    # `--decontam kept.jsonl` was refused as --out, `kept.jsonl@test` (or a folder holding it)
    # was not: a file distill wrote (a manifest lists it) was read as the benchmark and replaced
    from distill import filter as filter_stage
    from distill.filter import FilterConfig
    from distill.paths import guard_filter
    from tests.test_filter_kill import make_traces

    traces = str(tmp_path / "traces.jsonl")
    make_traces(tmp_path / "traces.jsonl", 3)
    bench = tmp_path / "bench"
    bench.mkdir()
    kept = bench / "test.jsonl"
    filter_stage.run(FilterConfig(input=traces, out=str(kept)))
    guard_filter(FilterConfig(input=traces, out=str(kept)))  # its own output: replaced
    for src in (f"{kept}@test", str(bench)):
        cfg = FilterConfig(input=traces, out=str(kept), decontam=[src])
        with pytest.raises(DistillError, match=r"--out \S*test\.jsonl is the input --decontam"):
            guard_filter(cfg)
