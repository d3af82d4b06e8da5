"""A fresh train (or --resume with nothing to resume) over a folder that holds another run's
kd.json starts its counts at 0 and leaves no stale kd.json behind (sft.run's fresh branch,
DistillTrainer.train). Both failed before the fix."""

import json

from tests.test_kd import kd_cfg


def stale_kd_json(out, tokens=9999):
    from distill.config import save_config
    from distill.train.config import TrainConfig

    out.mkdir(parents=True, exist_ok=True)
    # an earlier run's folder: its train.yaml too (a folder holding kd.json and no record of a
    # train run is the user's, refused by guard_train: tests/test_user_files_s14.py)
    save_config(TrainConfig(data="d.jsonl", model="m", output_dir=str(out)), out / "train.yaml")
    (out / "kd.json").write_text(
        json.dumps({"method": "kd", "teacher": "old", "teacher_tokens_scored": tokens})
    )


def test_resume_with_nothing_to_resume_counts_from_zero_not_the_old_kd_json(tmp_path, tiny_qwen):
    from distill.train import run

    out = tmp_path / "out"
    stale_kd_json(out)
    cfg = kd_cfg(tmp_path, tiny_qwen, teacher_model=str(tiny_qwen), max_steps=1, resume=True)
    run(cfg)
    saved = json.loads((out / "kd.json").read_text())
    rows = [json.loads(x) for x in (out / "loss.jsonl").read_text().splitlines()]
    assert saved["teacher_tokens_scored"] == rows[-1]["teacher_tokens"] < 9999


def test_a_fresh_sft_run_leaves_no_other_runs_kd_json(tmp_path, tiny_qwen):
    from distill.train import run

    out = tmp_path / "out"
    stale_kd_json(out)
    cfg = kd_cfg(tmp_path, tiny_qwen, method="sft", max_steps=1, overwrite=True)
    run(cfg)
    assert not (out / "kd.json").exists()
