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


class Killed(BaseException):
    """As a SIGKILL at that point: nothing after it runs."""


@pytest.mark.parametrize("merge", [False, True])
def test_a_run_killed_after_its_weights_before_its_tokenizer_is_not_taken_for_done(
    tmp_path, tiny_qwen, monkeypatch, merge
):
    """save_model writes the adapter, then the tokenizer; merge_adapter wrote merged/'s weights,
    then its tokenizer. A kill between them left whole weights and no tokenizer, and every
    --resume after said 'done ... nothing to resume': the folder (or merged/, which vLLM and
    `publish --merged` load) stayed without a tokenizer. The rerun finishes it."""
    from peft import PeftModel
    from transformers import PreTrainedModel

    from distill.train import run
    from tests.test_train import cfg

    out = tmp_path / "out"
    folder = out / "merged" if merge else out
    killed = {"at": folder}

    def killing(real):
        def save_pretrained(self, path, *args, **kwargs):
            real(self, path, *args, **kwargs)
            if str(path) == str(killed["at"]):
                raise Killed

        return save_pretrained

    monkeypatch.setattr(PeftModel, "save_pretrained", killing(PeftModel.save_pretrained))
    monkeypatch.setattr(
        PreTrainedModel, "save_pretrained", killing(PreTrainedModel.save_pretrained)
    )
    with pytest.raises(Killed):
        run(cfg(tmp_path, tiny_qwen, max_steps=2, limit=4, merge=merge))
    killed["at"] = None
    run(cfg(tmp_path, tiny_qwen, max_steps=2, limit=4, merge=merge, resume=True))
    assert (folder / "tokenizer_config.json").is_file()
    assert (folder / "tokenizer.json").is_file()
