"""Second read of train's output-dir guard (paths.guard_train, paths.train_checkpoints): a folder
an older distill's train wrote is still train's, and the user's checkpoint-* entries are no
trained student for learned.py."""

from __future__ import annotations

import dataclasses
import hashlib
import json

import pytest
import yaml

from distill.errors import DistillError
from tests.test_user_files_s14 import train_cfg

# train.yaml as distill's first train saved it (2026-11-24): dataclasses.asdict of its
# TrainConfig, these 35 fields; later versions added fields (82 today), none renamed.
FIRST_TRAIN_YAML = (
    "attn_implementation data dataloader_num_workers format gradient_accumulation_steps "
    "gradient_checkpointing learning_rate limit logging_steps lora lora_alpha lora_dropout "
    "lora_r lora_target_modules lr_scheduler_type max_grad_norm max_length max_steps merge "
    "model num_train_epochs output_dir overlong packing per_device_train_batch_size precision "
    "qlora report_to resume save_steps save_total_limit seed split warmup_ratio weight_decay"
).split()


def older_train_yaml(cfg, out):
    saved = dataclasses.asdict(cfg)
    (out / "train.yaml").write_text(
        yaml.safe_dump({k: saved[k] for k in FIRST_TRAIN_YAML}, sort_keys=False)
    )


@pytest.mark.parametrize("resume", [False, True])
def test_a_run_an_older_train_started_goes_on(tmp_path, resume):
    """Killed before its first checkpoint, a run of an older distill left its train.yaml (35
    fields, fewer than half of today's), train_data.json and loss.jsonl: the rerun was refused,
    'no train run wrote into it ... move it away', where it started afresh before."""
    from distill.paths import guard_train

    out = tmp_path / "student"
    cfg = train_cfg(out, resume=resume)
    older_train_yaml(cfg, out)
    (out / "train_data.json").write_text('{"kept": 1}\n')
    (out / "loss.jsonl").write_text('{"step": 1, "loss": 2.0}\n')
    guard_train(cfg)


def test_overwrite_replaces_a_student_an_older_train_wrote(tmp_path):
    """An older run's student whose checkpoints were deleted: --overwrite, the way to train
    again there, was refused as a folder no train run wrote into."""
    from distill.paths import guard_train

    out = tmp_path / "student"
    cfg = train_cfg(out, overwrite=True)
    older_train_yaml(cfg, out)
    (out / "adapter_config.json").write_text("{}")
    (out / "adapter_model.safetensors").write_bytes(b"weights")
    (out / "train_data.json").write_text('{"kept": 1}\n')
    (out / "loss.png").write_bytes(b"PNG")
    guard_train(cfg)
    # still train's own rule: the model needs --overwrite
    with pytest.raises(DistillError, match="holds a model"):
        guard_train(dataclasses.replace(cfg, overwrite=False))


@pytest.mark.parametrize(
    "theirs",
    [
        # a distill recipe the user wrote, named train.yaml: a handful of the fields
        {"data": "kept.jsonl", "model": "builtin:smollm2", "output_dir": "exp", "lora": True},
        # another trainer's (TRL-style) config: some of the same names among its own
        {
            "output_dir": "exp",
            "learning_rate": 1e-5,
            "num_train_epochs": 1,
            "per_device_train_batch_size": 2,
            "gradient_accumulation_steps": 8,
            "max_length": 1024,
            "seed": 0,
            "model_name_or_path": "Qwen/Qwen2.5-0.5B",
            "dataset_name": "mine",
        },
    ],
)
def test_a_train_yaml_no_train_run_saved_is_still_the_users(tmp_path, theirs):
    from distill.paths import guard_train

    out = tmp_path / "exp"
    cfg = train_cfg(out, overwrite=True)
    (out / "train.yaml").write_text(yaml.safe_dump(theirs))
    (out / "loss.png").write_bytes(b"their plot")
    with pytest.raises(DistillError, match=r"holds train.yaml, loss.png, and no train run"):
        guard_train(cfg)


def test_the_users_checkpoint_entries_are_no_trained_student(tmp_path):
    """learned.py took any checkpoint-* entry for a trained student: a run killed before its
    first checkpoint (train.yaml and train_data.json written) beside the user's
    checkpoint-notes.txt made filter refuse to write the kept file again, as the data a
    student learned."""
    from distill.learned import students_of

    data = tmp_path / "kept.jsonl"
    data.write_text('{"prompt": "p", "completion": "c"}\n')
    student = tmp_path / "student"
    student.mkdir()
    (student / "train.yaml").write_text(yaml.safe_dump({"data": str(data)}))
    sha = hashlib.sha256(data.read_bytes()).hexdigest()
    (student / "train_data.json").write_text(json.dumps({"data_sha256": sha}))
    (student / "checkpoint-notes.txt").write_text("try lr 1e-4 next\n")
    (student / "checkpoint-best").mkdir()
    assert students_of(data) == []
    (student / "checkpoint-2").mkdir()  # the Trainer's: it learned
    assert students_of(data) == [student]
