"""`distill run` writes its result to RUN_DIR/NAME.json. A file of the user's there (--run-dir a
folder of theirs holding their own smoke.json) used to be overwritten at the end of the run;
now the run is refused before any stage runs, in one line naming the file. An earlier run's
result is replaced as before."""

from __future__ import annotations

import json

import pytest
import yaml

from distill.errors import DistillError
from distill.pipeline import run as pipeline_run
from tests.test_filter_kill import make_traces


def _recipe(tmp_path):
    run = tmp_path / "mine"
    run.mkdir()
    make_traces(run / "traces.jsonl", 6)
    r = tmp_path / "smoke.yaml"
    filt = {"input": "{run_dir}/traces.jsonl", "out": "{run_dir}/kept.jsonl"}
    r.write_text(yaml.safe_dump({"filter": filt}))
    return r, run


@pytest.mark.parametrize(
    "theirs",
    [
        '{"accuracy": 0.41, "notes": "my baseline"}\n',
        "[1, 2, 3]\n",
        "not json at all\n",
        '{"recipe": "mine.yaml", "run_dir": "x"}\n',  # no minutes: not a run's result
    ],
)
def test_a_users_file_at_the_result_path_is_kept_and_nothing_runs(tmp_path, theirs):
    r, run = _recipe(tmp_path)
    mine = run / "smoke.json"
    mine.write_text(theirs)
    for kw in ({}, {"dry_run": True}):
        with pytest.raises(DistillError, match=r"smoke\.json exists and distill did not write it"):
            pipeline_run(r, run_dir=str(run), **kw)
    assert mine.read_text() == theirs
    assert not (run / "kept.jsonl").exists()  # refused before filter ran


def test_an_earlier_result_is_replaced(tmp_path):
    r, run = _recipe(tmp_path)
    result = run / "smoke.json"
    pipeline_run(r, run_dir=str(run))
    first = json.loads(result.read_text())
    assert first["recipe"] == str(r)
    # an older distill's result (recipe, run_dir, minutes only) is distill's too
    result.write_text(json.dumps({"recipe": str(r), "run_dir": str(run), "minutes": 1}))
    pipeline_run(r, run_dir=str(run))
    assert json.loads(result.read_text())["minutes"] != 1
    assert not list(run.glob(".smoke.json.tmp*"))
