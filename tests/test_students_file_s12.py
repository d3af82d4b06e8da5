"""`distill run` over a run dir whose student is trained lets filter (or select) run again at
the settings and on the inputs of the set on disk (its report deleted). When it writes the bytes
the student learned, the student's file stays as it was: a student trained by a distill before
train_data.json kept the data's sha256 is matched to its data by the file's mtime (not written
since train.yaml), and the rename of the same bytes over it read as "kept.jsonl changed after
student began training on it" on that run and every run after, though the student's data was
the same. train is the stand-in of test_run_rewrites_s11."""

from __future__ import annotations

import json

import distill.filter.stage
from distill.pipeline import run as pipeline_run
from tests.test_run_rewrites_s11 import FILTER, TRAIN
from tests.test_run_same_settings_s12 import recipe, trained  # noqa: F401 (a fixture)


def test_filter_writing_the_same_data_keeps_an_older_students_file(
    tmp_path,
    trained,  # noqa: F811
    capsys,
):
    r, run = recipe(tmp_path, filter=FILTER, train=TRAIN)
    pipeline_run(r)
    # a student of a distill before data_sha256: its data is the file not written since
    (run / "student" / "train_data.json").write_text(json.dumps({"kept": 20}))
    kept = run / "kept.jsonl"
    before = kept.read_bytes(), kept.stat().st_mtime_ns
    (run / "kept.report.json").unlink()  # filter runs again at its settings
    capsys.readouterr()
    for _ in range(2):
        pipeline_run(r)
        out = capsys.readouterr().out
        assert "== train: done" in out
        assert (kept.read_bytes(), kept.stat().st_mtime_ns) == before
    assert (run / "kept.report.json").is_file()  # the rest of the set written again
    assert distill.filter.stage.done(distill.filter.stage.FilterConfig(**_filter(run))) is None
    assert len(trained) == 1


def _filter(run) -> dict[str, str]:
    return {k: v.replace("{run_dir}", str(run)) for k, v in FILTER.items()}
