"""Nothing the user owns is destroyed: writers and removers added or changed lately, each
driven by the user action that made it destroy a file or folder of the user's.

OMP_NUM_THREADS=1 .venv/bin/python -m pytest -q tests/test_user_files_s9.py
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from distill.errors import DistillError
from tests.test_train import cfg


def _files(folder: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in folder.iterdir() if p.is_file()}


@pytest.mark.parametrize("lora", [True, False])
def test_a_fresh_train_into_a_model_folder_of_the_users_is_refused(tmp_path, tiny_qwen, lora):
    """`--output-dir ~/models/mine`, a model of the user's (not an input): train wrote its
    config.json, weights and tokenizer over it (LoRA: the tokenizer, and an adapter beside the
    user's full model). Also a student whose checkpoints were deleted to save space: a rerun
    trained it again from scratch over the trained one."""
    from distill.train import run
    from tests.tiny import make_tiny_model

    mine = make_tiny_model(tmp_path / "mine", "qwen2", seed=1)
    before = _files(Path(mine))
    with pytest.raises(DistillError, match=r"--output-dir .*mine holds a model .*--overwrite"):
        run(cfg(tmp_path, tiny_qwen, max_steps=1, output_dir=str(mine), lora=lora))
    assert _files(Path(mine)) == before
    assert not any(Path(mine).glob("checkpoint-*"))


def test_a_student_whose_checkpoints_were_deleted_is_not_trained_over(tmp_path, tiny_qwen):
    from distill.train import run

    out = tmp_path / "out"
    run(cfg(tmp_path, tiny_qwen, max_steps=2))
    for c in out.glob("checkpoint-*"):
        shutil.rmtree(c)
    student = _files(out)
    for resume in (False, True):
        with pytest.raises(DistillError, match="holds a model"):
            run(cfg(tmp_path, tiny_qwen, max_steps=2, resume=resume))
        assert _files(out) == student
    run(cfg(tmp_path, tiny_qwen, max_steps=2, overwrite=True))  # asked for: trained again
    assert (out / "adapter_model.safetensors").is_file()


def test_checkpoint_rotation_leaves_a_copy_the_user_kept_aside(tmp_path, tiny_qwen):
    """`cp -r checkpoint-2 checkpoint-2-keep`, then the run resumed: the Trainer's rotation
    (save_total_limit) counted every checkpoint-* folder and deleted the user's copy."""
    from distill.train import run

    out = tmp_path / "out"
    c = dict(max_steps=4, save_steps=2, per_device_train_batch_size=2)
    run(cfg(tmp_path, tiny_qwen, **c))
    shutil.rmtree(out / "checkpoint-4")  # as a kill during step 4's save leaves it
    (out / "adapter_model.safetensors").unlink()
    shutil.copytree(out / "checkpoint-2", out / "checkpoint-2-keep")
    kept = _files(out / "checkpoint-2-keep")
    run(cfg(tmp_path, tiny_qwen, resume=True, save_total_limit=1, **c))
    assert _files(out / "checkpoint-2-keep") == kept
    # the run's own checkpoints still rotate: save_total_limit=1 of checkpoint-N
    assert sorted(p.name for p in out.glob("checkpoint-[0-9]")) == ["checkpoint-4"]


def test_eval_never_sets_samples_aside_over_samples_set_aside_before(tmp_path):
    """`eval --model org/a`, `--model org/b`, `--model org/a`, `--model org/b` to one --out:
    org/a's second samples were renamed onto the file its first ones had been set aside in
    (os.replace), and those samples (bought from an API, or more of them) were gone."""
    from distill.eval import set_aside_if_retrained

    traces = tmp_path / "e.student.traces.jsonl"
    for i, model in enumerate(["org/a", "org/b", "org/a", "org/b"]):
        set_aside_if_retrained(traces, model)
        traces.write_text(f'{{"id": "{model}-{i}"}}\n')
    kept = sorted(p.read_text() for p in tmp_path.glob("e.student.traces.*.jsonl"))
    assert kept == ['{"id": "org/a-0"}\n', '{"id": "org/a-2"}\n', '{"id": "org/b-1"}\n']


@pytest.mark.parametrize("folder", ["rollout-weights", "rollout-adapters"])
def test_a_model_inside_the_rollout_folders_train_removes_is_refused(tmp_path, tiny_qwen, folder):
    """`--model OUT/rollout-weights/step-000002` (the merged copy a killed --weight-sync reload
    run left): train removes that folder at its first sync, the model it was training from
    with it. Refused before any write, as an input inside merged/ or a checkpoint is."""
    from distill.train import run

    out = tmp_path / "out"
    inside = out / folder / "step-000002"
    shutil.copytree(tiny_qwen, inside)
    before = _files(inside)
    with pytest.raises(DistillError, match=folder):
        run(cfg(tmp_path, inside, max_steps=1))
    assert _files(inside) == before


def test_a_partial_copy_named_after_a_checkpoint_is_not_removed_as_cut_off(tmp_path):
    """`mkdir checkpoint-5-best; cp checkpoint-4/adapter_* checkpoint-5-best/` (the adapter
    alone, no trainer_state.json): a resume read it as a checkpoint cut off mid-save and
    removed it. Only the run's own checkpoint-N folders are removed; the complete one resumes."""
    from distill.train.sft import last_complete_checkpoint

    out = tmp_path / "out"
    for name in ("checkpoint-2", "checkpoint-4", "checkpoint-5-best", "checkpoint-6"):
        (out / name).mkdir(parents=True)
        (out / name / "adapter_model.safetensors").write_bytes(b"w")
    for name in ("checkpoint-2", "checkpoint-4"):
        (out / name / "trainer_state.json").write_text("{}")
    assert last_complete_checkpoint(out) == str(out / "checkpoint-4")
    assert (out / "checkpoint-5-best" / "adapter_model.safetensors").read_bytes() == b"w"
    assert not (out / "checkpoint-6").exists()  # the run's own, cut off mid-save: redone
