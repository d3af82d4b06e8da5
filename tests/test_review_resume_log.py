"""Review of 345ea1d (train --resume trims loss.jsonl to the checkpoint it resumes from)."""

import json
import shutil

from distill.train import run
from tests.test_train import cfg


def test_resume_from_a_checkpoint_whose_name_is_not_checkpoint_n_trims_to_its_step(
    tmp_path, tiny_qwen, capsys
):
    """last_complete_checkpoint takes any checkpoint-<N>-<anything> folder (a copy kept aside:
    checkpoint-2-copy) and the Trainer resumes from it; the trim read the step from the name's
    last '-' part (int('copy'): a ValueError after the model loaded, where the resume worked
    before the trim). The step is the checkpoint's own global_step."""
    out = tmp_path / "out"
    run(cfg(tmp_path, tiny_qwen, max_steps=4, save_steps=2, per_device_train_batch_size=2))
    shutil.rmtree(out / "checkpoint-4")
    (out / "checkpoint-2").rename(out / "checkpoint-2-copy")
    capsys.readouterr()
    run(
        cfg(
            tmp_path,
            tiny_qwen,
            max_steps=4,
            save_steps=2,
            per_device_train_batch_size=2,
            resume=True,
        )
    )
    assert f"resuming from {out}/checkpoint-2-copy\n" in capsys.readouterr().out
    steps = [json.loads(x)["step"] for x in (out / "loss.jsonl").read_text().splitlines()]
    assert steps == [1, 2, 3, 4]
