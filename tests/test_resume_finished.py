"""`distill train --resume` over a run at its last checkpoint.

- Finished (weights saved, merged/ when --merge): the Makefile's r1-distill / alpaca recipes run
  again, or a user's own rerun, train nothing and rewrite nothing (before: a zero-step Trainer,
  the same adapter saved again, merged again: minutes at 7B).
- Killed after its last checkpoint (in save_model or the merge, an OOM there): Trainer.train from
  a checkpoint at max_steps trained one more optimizer step whenever max_steps is not a whole
  number of epochs (it skips the trained batches of the epoch and trains the next one), so the
  student had max_steps + 1 updates and loss.jsonl a step past the end; now the checkpoint's own
  model is the result."""

import dataclasses
import json

from tests.test_kd import kd_cfg


def test_resume_of_a_finished_run_rewrites_nothing(tmp_path, tiny_qwen, capsys):
    from distill.train import run

    cfg = kd_cfg(tmp_path, tiny_qwen, method="sft", max_steps=2, teacher_model=None, merge=True)
    out = run(cfg)
    kept = {p: p.stat().st_mtime_ns for p in out.rglob("*") if p.is_file()}
    assert (out / "merged" / "config.json").is_file()
    capsys.readouterr()
    assert run(dataclasses.replace(cfg, resume=True)) == out
    assert "nothing to resume" in capsys.readouterr().out
    assert {p: p.stat().st_mtime_ns for p in out.rglob("*") if p.is_file()} == kept


def test_killed_after_its_last_checkpoint_resumes_without_an_extra_step(tmp_path, tiny_qwen):
    from safetensors.torch import load_file

    from distill.train import run

    # 8 rows at batch 4: 2 steps an epoch; max_steps 1 ends inside the first epoch
    cfg = kd_cfg(tmp_path, tiny_qwen, method="sft", max_steps=1, teacher_model=None, merge=True)
    out = run(cfg)
    final = load_file(out / "adapter_model.safetensors")
    import shutil

    shutil.rmtree(out / "merged")  # killed while merging
    (out / "adapter_model.safetensors").write_bytes(b"")  # (or mid-save)
    run(dataclasses.replace(cfg, resume=True))
    rows = [json.loads(x) for x in (out / "loss.jsonl").read_text().splitlines()]
    assert [r["step"] for r in rows if "loss" in r] == [1]
    again = load_file(out / "adapter_model.safetensors")
    assert again.keys() == final.keys()
    assert all((again[k] == final[k]).all() for k in final)
    assert (out / "merged" / "config.json").is_file()


def test_the_final_save_under_fsdp_sharded_state_gathers_the_full_weights():
    """recipes/accelerate/fsdp.yaml checkpoints SHARDED_STATE_DICT; Trainer.save_model writes no
    weights at all in that mode (transformers 5.x: only FULL_STATE_DICT is saved), so `make
    alpaca` ended with a folder of tokenizer files and no model. The final save switches to the
    full state dict first (TRL's and the alignment-handbook's scripts do the same)."""
    from types import SimpleNamespace

    from distill.train.sft import save_final

    seen = []

    class Plugin:
        state_dict_type = "StateDictType.SHARDED_STATE_DICT"

        def set_state_dict_type(self, kind):
            self.state_dict_type = f"StateDictType.{kind}"

    plugin = Plugin()
    trainer = SimpleNamespace(
        is_fsdp_enabled=True,
        accelerator=SimpleNamespace(state=SimpleNamespace(fsdp_plugin=plugin)),
        save_model=lambda out: seen.append((out, plugin.state_dict_type)),
    )
    save_final(trainer, "out")
    assert seen == [("out", "StateDictType.FULL_STATE_DICT")]
    plain = SimpleNamespace(is_fsdp_enabled=False, save_model=lambda out: seen.append(out))
    save_final(plain, "o2")
    assert seen[-1] == "o2"


def test_a_last_checkpoint_without_the_model_is_trained_from_not_restored(tmp_path):
    from distill.train.sft import holds_model

    ckpt = tmp_path / "checkpoint-3"
    (ckpt / "pytorch_model_fsdp_0").mkdir(parents=True)  # FSDP's sharded state only
    assert not holds_model(ckpt)
    (ckpt / "adapter_model.safetensors").write_bytes(b"x")
    assert holds_model(ckpt)


def test_two_ranks_removing_the_same_checkpoint_cut_off_mid_save_do_not_crash(
    tmp_path, monkeypatch
):
    """`train --resume` now asks finished_run on every rank at once (before rank 0 alone checked
    the folder first): a checkpoint a kill cut off mid-save is removed by whichever rank gets
    there first, and the other's rmtree met a folder already gone (FileNotFoundError)."""
    import shutil

    from distill.train.sft import last_complete_checkpoint

    (tmp_path / "checkpoint-2").mkdir()  # no trainer_state.json: cut off
    (tmp_path / "checkpoint-2" / "adapter_model.safetensors").write_bytes(b"")
    (tmp_path / "checkpoint-1").mkdir()
    (tmp_path / "checkpoint-1" / "trainer_state.json").write_text("{}")
    real = shutil.rmtree

    def other_rank_first(path, *a, **kw):
        real(path)  # the other rank removed it a moment before
        return real(path, *a, **kw)

    monkeypatch.setattr(shutil, "rmtree", other_rank_first)
    assert last_complete_checkpoint(tmp_path) == str(tmp_path / "checkpoint-1")
