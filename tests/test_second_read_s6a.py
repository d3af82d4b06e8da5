"""Second read of 9c4af62, 982f1f7, 5498ad0, b5f4357 (datasets), a22b775 (train --resume over a
finished run) and e54a9fd (--reward gold columns).

- `make r1-distill` / `make alpaca` now train with --resume: a rerun after the data file changed
  (filter run again with new settings) took the finished run as done (or resumed its checkpoints
  on the new data) without a word; `distill run` refuses it (pipeline._same_data), the direct
  `distill train --resume` did not.
- finished_run took a weights file a kill cut short (save_model, the merge: config.json is
  written before the weights) for a finished run: the torn model was kept ever after.
- A .json file holding several JSON objects one after another, pretty-printed (`jq . x.jsonl >
  x.json`), or a pretty-printed object with a stray line after it, was read line by line and
  refused at line 1 ('{'): the JSON Lines reading of 9c4af62 named the wrong line.
- --reward math's refusal named the gold columns without expected_answer (e54a9fd reads it).
"""

import dataclasses
import json

import pytest

from distill.errors import DistillError
from tests.test_kd import kd_cfg

# --------------------------------------------------------------------------- train --resume


def test_resume_refuses_a_finished_run_whose_data_changed(tmp_path, tiny_qwen):
    from distill.train import run

    cfg = kd_cfg(tmp_path, tiny_qwen, method="sft", max_steps=1, teacher_model=None)
    run(cfg)
    data = tmp_path / "kept.jsonl"
    rows = data.read_text().splitlines()
    data.write_text("\n".join(rows[:6]) + "\n")  # filter run again: other traces kept
    with pytest.raises(DistillError, match="changed") as e:
        run(dataclasses.replace(cfg, resume=True))
    assert "\n" not in str(e.value) and "--overwrite" in str(e.value)


def test_resume_refuses_an_unfinished_run_whose_data_changed(tmp_path, tiny_qwen):
    from distill.train import run

    cfg = kd_cfg(tmp_path, tiny_qwen, method="sft", max_steps=1, teacher_model=None)
    out = run(cfg)
    (out / "adapter_model.safetensors").unlink()  # killed in save_model
    data = tmp_path / "kept.jsonl"
    data.write_text("\n".join(data.read_text().splitlines()[:6]) + "\n")
    with pytest.raises(DistillError, match="changed"):
        run(dataclasses.replace(cfg, resume=True))


def test_resume_of_the_same_data_still_trains_nothing(tmp_path, tiny_qwen, capsys):
    from distill.train import run

    cfg = kd_cfg(tmp_path, tiny_qwen, method="sft", max_steps=1, teacher_model=None)
    out = run(cfg)
    data = tmp_path / "kept.jsonl"
    data.write_text(data.read_text())  # rewritten, same content (a filter rerun)
    capsys.readouterr()
    assert run(dataclasses.replace(cfg, resume=True)) == out
    assert "nothing to resume" in capsys.readouterr().out


def _torn(path):
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])


def test_a_merge_killed_mid_save_is_no_finished_run(tmp_path, tiny_qwen):
    from safetensors.torch import load_file

    from distill.train import finished_run, run

    cfg = kd_cfg(tmp_path, tiny_qwen, method="sft", max_steps=1, teacher_model=None, merge=True)
    out = run(cfg)
    whole = {k: v.clone() for k, v in load_file(out / "merged" / "model.safetensors").items()}
    _torn(out / "merged" / "model.safetensors")  # config.json is written before the weights
    assert finished_run(dataclasses.replace(cfg, resume=True)) is None
    run(dataclasses.replace(cfg, resume=True))
    again = load_file(out / "merged" / "model.safetensors")
    assert again.keys() == whole.keys() and all((again[k] == whole[k]).all() for k in whole)


def test_an_adapter_cut_short_is_no_finished_run(tmp_path, tiny_qwen):
    from safetensors.torch import load_file

    from distill.train import finished_run, run

    cfg = kd_cfg(tmp_path, tiny_qwen, method="sft", max_steps=1, teacher_model=None)
    out = run(cfg)
    whole = {k: v.clone() for k, v in load_file(out / "adapter_model.safetensors").items()}
    _torn(out / "adapter_model.safetensors")  # killed while save_model wrote it
    assert finished_run(dataclasses.replace(cfg, resume=True)) is None
    run(dataclasses.replace(cfg, resume=True))
    again = load_file(out / "adapter_model.safetensors")
    assert again.keys() == whole.keys() and all((again[k] == whole[k]).all() for k in whole)


def test_a_sharded_model_with_a_shard_cut_short_is_no_finished_run(tmp_path, tiny_qwen):
    from distill.train.sft import complete_weights

    folder = tmp_path / "m"
    folder.mkdir()
    import torch
    from safetensors.torch import save_file

    save_file({"a": torch.ones(64)}, str(folder / "model-00001-of-00002.safetensors"))
    save_file({"b": torch.ones(64)}, str(folder / "model-00002-of-00002.safetensors"))
    index = {
        "weight_map": {
            "a": "model-00001-of-00002.safetensors",
            "b": "model-00002-of-00002.safetensors",
        }
    }
    (folder / "model.safetensors.index.json").write_text(json.dumps(index))
    assert complete_weights(folder)
    _torn(folder / "model-00002-of-00002.safetensors")
    assert not complete_weights(folder)
    (folder / "model-00002-of-00002.safetensors").unlink()
    assert not complete_weights(folder)


# --------------------------------------------------------------------------- .json files


def test_pretty_printed_objects_one_after_another_load(tmp_path):
    from distill.data import iter_source

    p = tmp_path / "rows.json"  # jq . rows.jsonl > rows.json
    rows = [{"problem": "What is 1 + 1?", "answer": "2"}, {"problem": "2 + 2?", "answer": "4"}]
    p.write_text("".join(json.dumps(r, indent=2) + "\n" for r in rows))
    assert list(iter_source(str(p), strict=True)) == rows


def test_a_stray_line_after_a_pretty_printed_object_is_named_by_its_line(tmp_path):
    from distill.data import iter_source

    p = tmp_path / "rows.json"
    p.write_text(json.dumps({"data": [{"problem": "a", "answer": "1"}]}, indent=2) + "\n}\n")
    n = p.read_text().count("\n")
    with pytest.raises(DistillError) as e:
        list(iter_source(str(p), strict=True))
    assert f"rows.json:{n}:" in str(e.value)


def test_json_lines_under_a_json_name_still_load_and_name_a_bad_line(tmp_path):
    from distill.data import iter_source

    p = tmp_path / "rows.json"
    p.write_text('{"problem": "a"}\n{"problem": "b"}\n')
    assert [r["problem"] for r in iter_source(str(p), strict=True)] == ["a", "b"]
    p.write_text('{"problem": "a"}\n{"problem": "b"}\n{"problem": \n')
    with pytest.raises(DistillError, match="rows.json:3:"):
        list(iter_source(str(p), strict=True))
    p.write_text('{"problem": "a"}\n[1, 2]\n')
    with pytest.raises(DistillError, match="rows.json:2: expected a JSON object"):
        list(iter_source(str(p), strict=True))


def test_a_json_array_and_a_wrapped_list_still_load(tmp_path):
    from distill.data import iter_source

    rows = [{"problem": "a", "answer": "1"}, {"problem": "b", "answer": "2"}]
    p = tmp_path / "rows.json"
    p.write_text(json.dumps(rows, indent=2))
    assert list(iter_source(str(p), strict=True)) == rows
    p.write_text(json.dumps({"version": "1", "data": rows}, indent=2))
    assert list(iter_source(str(p), strict=True)) == rows


# --------------------------------------------------------------------------- --reward gold


def test_reward_math_refusal_names_expected_answer(monkeypatch):
    from types import SimpleNamespace

    from distill.train.kd import reward

    monkeypatch.setattr(reward, "_references", lambda cfg, tok, eos: {})

    class Data(dict):
        def __init__(self):
            super().__init__(input_ids=[[1, 2, 3]], completion_mask=[[0, 1, 1]])

    cfg = SimpleNamespace(reward="math", data="prompts.jsonl", gate_teacher=False)
    with pytest.raises(DistillError) as e:
        reward.attach_references(cfg, None, None, Data())
    assert "expected_answer" in str(e.value)


def test_restore_takes_what_save_model_writes_not_the_sharded_training_state(tmp_path):
    """A checkpoint at the last step restored into the output folder: DeepSpeed's
    zero_to_fp32.py and global_step*/ and FSDP's sharded pytorch_model_fsdp_0/ (the state
    save_model never writes into --output-dir) stay in the checkpoint."""
    from distill.train.sft import restore_checkpoint

    ckpt, out = tmp_path / "out" / "checkpoint-4", tmp_path / "out"
    ckpt.mkdir(parents=True)
    for name in ("adapter_model.safetensors", "adapter_config.json", "kd.json",
                 "training_args.bin", "zero_to_fp32.py", "latest", "trainer_state.json",
                 "rng_state_0.pth", "scheduler.pt", "train.yaml"):  # fmt: skip
        (ckpt / name).write_text(name)
    for folder in ("global_step4", "pytorch_model_fsdp_0", "optimizer_0"):
        (ckpt / folder).mkdir()
        (ckpt / folder / "__0_0.distcp").write_text("shard")
    restore_checkpoint(ckpt, out)
    got = {p.name for p in out.iterdir()} - {"checkpoint-4"}
    assert got == {"adapter_model.safetensors", "adapter_config.json", "kd.json",
                   "training_args.bin"}  # fmt: skip
