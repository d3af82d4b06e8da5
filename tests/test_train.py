import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from distill.config import load_config, read_recipe
from distill.errors import DistillError
from distill.train import ExportConfig, TrainConfig, build_dataset, export, run

ROOT = Path(__file__).resolve().parent.parent


def kept_file(tmp_path, n=16):
    p = tmp_path / "kept.jsonl"
    rows = []
    for i in range(n):
        a, b = i + 3, 2 * i + 1
        rows.append(
            {
                "id": f"t{i}",
                "prompt_id": f"p{i}",
                "sample": 0,
                "messages": [{"role": "user", "content": f"What is {a} + {b}?"}],
                "reasoning": f"{a} plus {b} is {a + b}.",
                "answer": f"The answer is \\boxed{{{a + b}}}.",
                "gold": str(a + b),
                "teacher": {"backend": "hf", "model": "m", "params": {}},
                "finish_reason": "stop",
                "usage": {},
                "meta": {"instruction": f"Add {a} and {b}.", "input": ""},
            }
        )
    p.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return p


def cfg(tmp_path, model, **kw):
    base = dict(
        data=str(kept_file(tmp_path)),
        model=str(model),
        output_dir=str(tmp_path / "out"),
        max_length=128,
        per_device_train_batch_size=4,
        logging_steps=1,
        save_steps=1000,
        seed=0,
    )
    return TrainConfig(**{**base, **kw})


def losses(out):
    return [json.loads(x)["loss"] for x in (Path(out) / "loss.jsonl").read_text().splitlines()]


@pytest.mark.parametrize("family", ["tiny_qwen", "tiny_llama"])
def test_loss_falls_on_a_repeated_batch_and_outputs_are_complete(tmp_path, family, request):
    model = request.getfixturevalue(family)
    out = run(
        cfg(
            tmp_path,
            model,
            max_steps=20,
            learning_rate=1e-2,
            limit=4,
            lora=False,
            warmup_ratio=0.0,
            output_dir=str(tmp_path / "full"),
        )
    )
    ls = losses(out)
    assert len(ls) == 20 and ls[-1] < 0.6 * ls[0]
    # LoRA leaves the random tiny lm_head frozen, so its loss can fall only a little, but it must.
    out = run(
        cfg(tmp_path, model, max_steps=12, learning_rate=2e-2, limit=4, lora_r=8, warmup_ratio=0.0)
    )
    ls = losses(out)
    assert len(ls) == 12 and ls[-1] < ls[0] - 0.1
    for f in (
        "adapter_model.safetensors",
        "adapter_config.json",
        "tokenizer_config.json",
        "train.yaml",
        "train_data.json",
        "loss.png",
    ):
        assert (out / f).is_file(), f
    assert json.loads((out / "train_data.json").read_text())["kept"] == 4


def test_full_finetune_and_merge(tmp_path, tiny_qwen):
    out = run(cfg(tmp_path, tiny_qwen, max_steps=2, lora=False))
    assert (out / "model.safetensors").is_file() and not (out / "adapter_config.json").exists()
    out = run(cfg(tmp_path, tiny_qwen, max_steps=2, merge=True, output_dir=str(tmp_path / "lora")))
    assert (out / "merged" / "model.safetensors").is_file()


def test_saved_adapter_loads_in_a_fresh_process_and_generates(tmp_path, tiny_qwen):
    out = run(cfg(tmp_path, tiny_qwen, max_steps=2))
    code = f"""
import torch
from transformers import AutoModelForCausalLM, AutoTokenizer
from peft import PeftModel
tok = AutoTokenizer.from_pretrained({str(out)!r})
base = AutoModelForCausalLM.from_pretrained({str(tiny_qwen)!r})
model = PeftModel.from_pretrained(base, {str(out)!r})
text = tok.apply_chat_template([{{"role": "user", "content": "What is 1 + 2?"}}], tokenize=False, add_generation_prompt=True)
ids = tok(text, return_tensors="pt", add_special_tokens=False)
out = model.generate(**ids, max_new_tokens=5, do_sample=False)
print("GENERATED", out.shape[1] - ids["input_ids"].shape[1])
"""
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert res.returncode == 0, res.stderr[-2000:]
    assert "GENERATED" in res.stdout and int(res.stdout.split("GENERATED")[1]) >= 1


def test_killed_run_resumes_from_its_checkpoint(tmp_path, tiny_qwen):
    data = kept_file(tmp_path, n=32)
    out = tmp_path / "out"
    cmd = [
        sys.executable,
        "-m",
        "distill",
        "train",
        "--data",
        str(data),
        "--model",
        str(tiny_qwen),
        "--output-dir",
        str(out),
        "--max-steps",
        "400",
        "--save-steps",
        "2",
        "--batch-size",
        "2",
        "--max-length",
        "128",
        "--logging-steps",
        "1",
    ]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    # Kill as soon as the first checkpoint is complete (older ones are rotated away, so poll
    # for any); 400 steps leave a wide window however fast this machine is.
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and not any(out.glob("checkpoint-*/trainer_state.json")):
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    checkpoints = sorted(int(p.name.split("-")[1]) for p in out.glob("checkpoint-*"))
    assert checkpoints and checkpoints[-1] < 400, "the kill should land mid-run"
    res = subprocess.run(cmd + ["--resume"], capture_output=True, text=True, timeout=300)
    assert res.returncode == 0, res.stderr[-2000:]
    assert f"resuming from {out}/checkpoint-" in res.stdout
    steps = [json.loads(x)["step"] for x in (out / "loss.jsonl").read_text().splitlines()]
    resumed_from = max(
        s for s in steps if s <= checkpoints[-1] + 3
    )  # the log has the first run's steps too
    assert steps[-1] == 400 and resumed_from >= checkpoints[-1]
    state = json.loads((out / "checkpoint-400" / "trainer_state.json").read_text())
    assert state["global_step"] == 400


def test_packing_never_lets_one_example_attend_to_another(tmp_path, tiny_qwen):
    import torch
    from transformers import AutoModelForCausalLM
    from trl import SFTConfig, SFTTrainer

    from distill.models import load_tokenizer

    c = cfg(tmp_path, tiny_qwen, packing=True, max_length=128)
    tok = load_tokenizer(c.model)
    dataset, _ = build_dataset(c, tok)
    model = AutoModelForCausalLM.from_pretrained(str(tiny_qwen)).eval()
    args = SFTConfig(
        output_dir=str(tmp_path / "o"),
        max_length=128,
        packing=True,
        packing_strategy="bfd",
        completion_only_loss=True,
        per_device_train_batch_size=1,
        use_cpu=True,
        report_to=[],
    )
    trainer = SFTTrainer(model=model, args=args, train_dataset=dataset, processing_class=tok)
    batch = next(iter(trainer.get_train_dataloader()))
    pos = batch["position_ids"][0].tolist()
    starts = [i for i, p in enumerate(pos) if p == 0]
    assert len(starts) >= 2, "several examples share one packed row"
    assert "attention_mask" not in batch or batch["attention_mask"] is None
    with torch.no_grad():
        packed = model(input_ids=batch["input_ids"], position_ids=batch["position_ids"]).logits[0]
        bounds = starts + [len(pos)]
        for s, e in zip(bounds, bounds[1:]):
            alone = model(input_ids=batch["input_ids"][:, s:e]).logits[0]
            assert torch.allclose(packed[s:e], alone, atol=1e-5), "a packed example saw another one"
    # Labels never cross a boundary: the first token of each packed example is not a target.
    labels = batch["labels"][0].tolist()
    assert all(labels[s] == -100 for s in starts)


@pytest.mark.parametrize("fmt, suffix", [("r1", "jsonl"), ("alpaca", "jsonl"), ("r1", "parquet")])
def test_export_round_trip_gives_the_trainers_exact_examples(tmp_path, tiny_qwen, fmt, suffix):
    import datasets

    from distill.models import load_tokenizer

    kept = kept_file(tmp_path)
    out = tmp_path / f"data.{suffix}"
    export(ExportConfig(data=str(kept), format=fmt, out=str(out)))
    ds = datasets.load_dataset(
        "parquet" if suffix == "parquet" else "json", data_files=str(out), split="train"
    )
    assert set(ds.column_names) == (
        {"messages"} if fmt == "r1" else {"instruction", "input", "output"}
    )
    tok = load_tokenizer(str(tiny_qwen))
    a, _ = build_dataset(
        TrainConfig(data=str(kept), model=str(tiny_qwen), output_dir="x", format=fmt), tok
    )
    b, _ = build_dataset(
        TrainConfig(data=str(out), model=str(tiny_qwen), output_dir="x", format=fmt), tok
    )
    assert a["input_ids"] == b["input_ids"] and a["completion_mask"] == b["completion_mask"]
    if fmt == "r1":  # TRL's own chat rendering of the exported messages agrees with ours
        msgs = ds[0]["messages"]
        full = tok.apply_chat_template(msgs, tokenize=False)
        assert tok.decode(a["input_ids"][0]) == full


def test_recipes_load_validate_and_dry_run(tmp_path, tiny_qwen):
    for recipe in sorted((ROOT / "recipes").glob("*.yaml")):
        for stage, cls in (("train", TrainConfig),):
            section = read_recipe(recipe, stage)
            if not section:
                continue
            c = load_config(
                cls,
                stage,
                recipe,
                {
                    "model": str(tiny_qwen),
                    "data": str(kept_file(tmp_path)),
                    "output_dir": str(tmp_path / recipe.stem),
                    "max_steps": 1,
                    "max_length": 128,
                    "gradient_checkpointing": False,
                    "attn_implementation": "sdpa",
                    "per_device_train_batch_size": 2,
                    "gradient_accumulation_steps": 1,
                },
            )
            run(c)
            assert (tmp_path / recipe.stem / "train.yaml").is_file()


def test_bad_input(tmp_path, tiny_qwen):
    with pytest.raises(DistillError, match="model not found: /nope"):
        run(cfg(tmp_path, "/nope/model", max_steps=1))
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"text": "hi", "label": 1}\n')
    with pytest.raises(
        DistillError, match=r"bad\.jsonl row 1: need trace records .* found columns: text, label"
    ):
        run(cfg(tmp_path, tiny_qwen, data=str(bad), max_steps=1))
    with pytest.raises(DistillError, match="no training examples left .* longer than max_length 8"):
        run(cfg(tmp_path, tiny_qwen, max_length=8, max_steps=1))
    if not __import__("torch").cuda.is_available():
        with pytest.raises(DistillError, match="QLoRA needs a CUDA GPU"):
            run(cfg(tmp_path, tiny_qwen, qlora=True, max_steps=1))
    r = tmp_path / "r.yaml"
    r.write_text("train:\n  learning_rat: 1e-4\n")
    with pytest.raises(
        DistillError, match="unknown key 'learning_rat' \\(did you mean 'learning_rate'\\?\\)"
    ):
        load_config(TrainConfig, "train", r, {"data": "x", "model": "m", "output_dir": "o"})
    os.environ.pop("NOTHING", None)


def test_resume_skips_a_checkpoint_cut_off_mid_save(tmp_path):
    from distill.train import last_complete_checkpoint

    for step, complete in ((2, True), (4, True), (6, False)):
        ckpt = tmp_path / f"checkpoint-{step}"
        ckpt.mkdir()
        (ckpt / "adapter_model.safetensors").write_bytes(b"x")
        if complete:
            (ckpt / "trainer_state.json").write_text("{}")
    assert last_complete_checkpoint(tmp_path) == str(tmp_path / "checkpoint-4")
    assert not (tmp_path / "checkpoint-6").exists()  # redone by the resumed run
    assert last_complete_checkpoint(tmp_path / "nothing-here") is None
