"""Review of the latest train/eval commits: what a resume picks among the run's checkpoints and
the copies a user keeps beside them.

OMP_NUM_THREADS=1 .venv/bin/python -m pytest -q tests/test_quick_review_s9.py
"""

from __future__ import annotations

import pathlib

import pytest


@pytest.mark.parametrize("order", ["copy last", "copy first"])
def test_resume_takes_the_runs_own_checkpoint_over_a_copy_of_the_same_step(
    tmp_path, monkeypatch, order
):
    """`rsync --exclude 'optimizer.pt' --exclude 'scheduler.pt' checkpoint-10/ checkpoint-10-slim/`
    (a copy kept aside, trainer_state.json in it): both are step 10, sorted by step alone, and
    the folder listing's order picked one; a resume from the copy restarts the optimizer and the
    learning-rate schedule silently. The run's own checkpoint-10 resumes, in either order."""
    from distill.train.sft import last_complete_checkpoint

    out = tmp_path / "out"
    for name in ("checkpoint-10", "checkpoint-10-slim"):
        (out / name).mkdir(parents=True)
        (out / name / "adapter_model.safetensors").write_bytes(b"w")
        (out / name / "trainer_state.json").write_text('{"global_step": 10}')
    (out / "checkpoint-10" / "optimizer.pt").write_bytes(b"o")
    (out / "checkpoint-10" / "scheduler.pt").write_bytes(b"s")
    glob = pathlib.Path.glob
    reverse = order == "copy first"  # "checkpoint-10-slim" sorts after "checkpoint-10"
    monkeypatch.setattr(
        pathlib.Path, "glob", lambda self, pat: iter(sorted(glob(self, pat), reverse=reverse))
    )
    assert last_complete_checkpoint(out) == str(out / "checkpoint-10")
    assert (out / "checkpoint-10-slim" / "trainer_state.json").is_file()  # the copy kept
