"""An adversarial user of `distill train --resume` (session 12b): checkpoints a kill left."""

import json

import pytest

from distill.train import last_complete_checkpoint


@pytest.mark.parametrize("written", ["", '{\n  "best_global_step": null,\n  "best_met'])
def test_a_trainer_state_cut_off_mid_write_is_not_a_complete_checkpoint(tmp_path, written):
    """TrainerState.save_to_json opens trainer_state.json for writing, then writes it: a kill (or
    a full disk) in between leaves it empty or cut short. Such a checkpoint was taken as complete,
    and every --resume then died on a JSONDecodeError traceback reading it; it is removed as cut
    off mid-save, and the run resumes from the checkpoint before it."""
    for step in (2, 4):
        ckpt = tmp_path / f"checkpoint-{step}"
        ckpt.mkdir()
        (ckpt / "adapter_model.safetensors").write_bytes(b"x")
        state = {"global_step": step, "max_steps": 6}
        (ckpt / "trainer_state.json").write_text(json.dumps(state) if step == 2 else written)
    assert last_complete_checkpoint(tmp_path) == str(tmp_path / "checkpoint-2")
    assert not (tmp_path / "checkpoint-4").exists()  # redone by the resumed run
