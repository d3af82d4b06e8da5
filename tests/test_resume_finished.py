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
