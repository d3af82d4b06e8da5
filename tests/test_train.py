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
from tests import forked

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


def wait_for_a_complete_checkpoint(out: Path, timeout: float) -> None:
    """Poll until the Trainer has finished writing a checkpoint in `out` (trainer_state.json is
    written last), or `timeout` seconds pass: where a kill test kills."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and not any(out.glob("checkpoint-*/trainer_state.json")):
        time.sleep(0.05)


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


# The saved adapter loads in a fresh process and generates: test_pipeline's
# test_published_adapter_loads_in_a_fresh_process, on the pipeline run's `distill train` output.


# What `distill train` imports on its way to the first step: imported before a kill test forks
# the `distill train` that SIGKILLs itself at a checkpoint (tests/forked.py, kill_at_checkpoint.py)
TRAIN_IMPORTS = ("datasets", "accelerate", "peft", "trl", "distill.train.sft")


@pytest.mark.parametrize("where", ["saved", "mid-save"])
def test_killed_run_resumes_from_its_checkpoint(tmp_path, tiny_qwen, where, capsys):
    """SIGKILL at step 4 of 8 (a checkpoint every 2 steps), then --resume: the run continues from
    the last complete checkpoint (4; a checkpoint-4 cut off mid-save is removed, so 2) and ends at
    step 8 with every step after it logged once. The same on a long run killed at whatever step
    the wall clock gives: test_killed_long_run_resumes_from_its_checkpoint (-m slow)."""
    from tests import kill_at_checkpoint

    steps_total, kill_at = 8, 4
    data = kept_file(tmp_path, n=16)
    out = tmp_path / "out"
    args = [
        "train",
        "--data",
        str(data),
        "--model",
        str(tiny_qwen),
        "--output-dir",
        str(out),
        "--max-steps",
        str(steps_total),
        "--save-steps",
        "2",
        "--batch-size",
        "2",
        "--max-length",
        "128",
        "--logging-steps",
        "1",
    ]
    # A process forked from this one (tests/forked.py: no interpreter start, no import of torch
    # and the trainer's libraries, ~6 CPU seconds a subprocess paid), killed by the hook of
    # tests/kill_at_checkpoint.py as `python tests/kill_at_checkpoint.py` kills itself.
    killed = forked.distill(
        *args, before=lambda: kill_at_checkpoint.install(kill_at, where), imports=TRAIN_IMPORTS
    )
    assert killed.returncode == -signal.SIGKILL, killed.stderr[-2000:]
    checkpoints = sorted(int(p.name.split("-")[1]) for p in out.glob("checkpoint-*"))
    assert checkpoints and checkpoints[-1] < steps_total, "the kill should land mid-run"
    assert checkpoints[-1] == kill_at
    complete = kill_at if where == "saved" else kill_at - 2
    assert (out / f"checkpoint-{kill_at}" / "trainer_state.json").is_file() == (where == "saved")
    with open(out / "loss.jsonl", "a") as f:  # a kill mid-write of the log leaves half a row
        f.write('{"step": 5, "epoch": 0.6, "lo')
    # Resumed here, not in a third process (the -m slow copy resumes through the command line):
    # the same settings as the flags above, so --resume's check that the run is the same passes.
    run(
        TrainConfig(
            data=str(data),
            model=str(tiny_qwen),
            output_dir=str(out),
            max_steps=steps_total,
            save_steps=2,
            per_device_train_batch_size=2,
            max_length=128,
            logging_steps=1,
            resume=True,
        )
    )
    stdout = capsys.readouterr().out
    assert f"resuming from {out}/checkpoint-{complete}\n" in stdout
    assert (f"checkpoint-{kill_at} was cut off mid-save" in stdout) == (where == "mid-save")
    steps = [json.loads(x)["step"] for x in (out / "loss.jsonl").read_text().splitlines()]
    # The first run logged steps 1..4 (a step is logged before its checkpoint is saved) and half
    # a row; the resumed one every step after the checkpoint it loaded. The log keeps the first
    # run's rows up to that checkpoint: every step once, nothing glued to the half row.
    assert steps == list(range(1, steps_total + 1))
    assert (out / "loss.png").is_file()
    state = json.loads((out / f"checkpoint-{steps_total}" / "trainer_state.json").read_text())
    assert state["global_step"] == steps_total


@pytest.mark.slow
@pytest.mark.timeout(1200)  # two 400-step runs took 279 s on a busy 2-core machine
def test_killed_long_run_resumes_from_its_checkpoint(tmp_path, tiny_qwen):
    """A kill from outside at whatever step the wall clock gives (maybe mid-save), on a 400-step
    run: the first complete checkpoint is awaited by polling, so this one is slow (~3-5 min)."""
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
    wait_for_a_complete_checkpoint(out, timeout=120)
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


@pytest.mark.parametrize("attn", ["sdpa", "eager"])
def test_packing_never_lets_one_example_attend_to_another(tmp_path, tiny_qwen, attn):
    """The claim behind pyproject's transformers/trl floors (distill.train.PACKING_NEEDS): the
    logits the trainer computes on a BFD-packed, padding-free row equal each example's alone.
    Through SFTTrainer.compute_loss, because how TRL calls the model matters: with a KV cache
    (use_cache from the model's config, as TRL < 0.22 left it) transformers skips the
    packed-sequence mask, and on transformers < 4.53.1 there is none for sdpa/eager at all."""
    import torch
    from transformers import AutoModelForCausalLM
    from trl import SFTConfig, SFTTrainer

    from distill.models import load_tokenizer

    c = cfg(tmp_path, tiny_qwen, packing=True, max_length=128)
    tok = load_tokenizer(c.model)
    dataset, _ = build_dataset(c, tok)
    model = AutoModelForCausalLM.from_pretrained(str(tiny_qwen), attn_implementation=attn)
    assert model.config.use_cache  # as real checkpoints ship it
    args = SFTConfig(
        output_dir=str(tmp_path / "o"),
        max_length=128,
        packing=True,
        packing_strategy="bfd",
        completion_only_loss=True,
        per_device_train_batch_size=1,
        gradient_checkpointing=False,  # as distill train runs by default
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
        _, outputs = trainer.compute_loss(model, dict(batch), return_outputs=True)
        packed = outputs.logits[0]
        bounds = starts + [len(pos)]
        for s, e in zip(bounds, bounds[1:]):
            alone = model(input_ids=batch["input_ids"][:, s:e], use_cache=False).logits[0]
            assert torch.allclose(packed[s:e], alone, atol=1e-5), "a packed example saw another one"
    # Labels never cross a boundary: the first token of each packed example is not a target.
    labels = batch["labels"][0].tolist()
    assert all(labels[s] == -100 for s in starts)


@pytest.mark.parametrize(
    "installed, old",
    [({"transformers": "4.53.0"}, "transformers 4.53.0"), ({"trl": "0.21.0"}, "trl 0.21.0")],
)
def test_packing_is_refused_where_the_installed_versions_would_mix_examples(
    tmp_path, tiny_qwen, monkeypatch, installed, old
):
    import importlib.metadata

    real = importlib.metadata.version
    monkeypatch.setattr(importlib.metadata, "version", lambda n: installed.get(n) or real(n))
    with pytest.raises(DistillError) as e:
        run(cfg(tmp_path, tiny_qwen, packing=True, max_steps=1))
    assert str(e.value) == (
        f"--packing: with {old} packed examples attend to each other under sdpa/eager attention "
        "(needs transformers >= 4.53.1, trl >= 0.22.0); upgrade, or train with --no-packing"
    )
    assert not (tmp_path / "out").exists()  # refused before anything was written


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
    """Every recipe's train section loads, validates and builds its trainer (the model, the
    examples in the recipe's format, LoRA or not, the KD teacher) on the tiny model; one real step
    runs for each kind of recipe (method, LoRA or full, packing), the first recipe of that kind."""
    from distill.train import build_trainer

    stepped = {}
    for recipe in sorted((ROOT / "recipes").glob("*.yaml")):
        for stage, cls in (("train", TrainConfig),):
            section = read_recipe(recipe, stage)
            if not section:
                continue
            overrides = {
                "model": str(tiny_qwen),
                "data": str(kept_file(tmp_path)),
                "output_dir": str(tmp_path / recipe.stem),
                "max_steps": 1,
                "max_length": 128,
                "gradient_checkpointing": False,
                "attn_implementation": "sdpa",
                "per_device_train_batch_size": 2,
                "gradient_accumulation_steps": 1,
                # a recipe's teacher (served for kd-r1-qwen-1.5b, built by make smoke-kd for
                # kd-smoke) is not here: the student itself, loaded locally, stands in for it
                **(
                    {"teacher_url": "", "teacher_model": str(tiny_qwen)}
                    if section.get("teacher_url") or section.get("teacher_model")
                    else {}
                ),
            }
            c = load_config(cls, stage, recipe, overrides)
            trainer, _ = build_trainer(c)  # everything up to the first step
            assert (tmp_path / recipe.stem / "train.yaml").is_file()
            assert trainer.args.max_steps == 1 and trainer.args.packing == c.packing
            # sft: TRL's SFTTrainer (CUDA) or its chunked-loss subclass (CPU); kd/onpolicy: ours
            sft = type(trainer).__name__ in ("SFTTrainer", "ChunkedSFTTrainer")
            assert (c.method == "sft") == sft
            kind = (c.method, c.lora, c.packing)
            if kind in stepped:
                continue
            # The tiny random student never ends a sample: an on-policy step samples the cap,
            # so a recipe's 4096 (kd-r1-qwen-1.5b) becomes a few tokens here.
            c = load_config(
                cls,
                stage,
                recipe,
                {**overrides, "output_dir": str(tmp_path / f"{recipe.stem}-step")}
                | ({"max_new_tokens": min(c.max_new_tokens, 16)} if c.method != "sft" else {}),
            )
            run(c)
            assert (tmp_path / f"{recipe.stem}-step" / "train.yaml").is_file()
            stepped[kind] = recipe.stem
    # the kinds the recipes hold today; a new kind is stepped without changing this test
    assert {("sft", True, False), ("sft", False, True), ("onpolicy", True, False)} <= set(stepped)


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


# =========================================================================== context window


def rope_theta_of(config: dict) -> float:
    return (config.get("rope_parameters") or {}).get("rope_theta", config.get("rope_theta"))


def test_max_length_beyond_the_students_context_is_refused_unless_extended(tmp_path, tiny_qwen):
    out = tmp_path / "out"
    with pytest.raises(
        DistillError,
        match=r"max_length 1024 is longer than the context of .* \(512 positions, "
        r"max_position_embeddings\); lower --max-length, or extend",
    ):
        run(cfg(tmp_path, tiny_qwen, max_length=1024, max_steps=1))
    assert not out.exists()  # refused before anything was written
    ext = dict(max_length=1024, max_position_embeddings=2048, rope_theta=50000.0, max_steps=1)
    full = run(cfg(tmp_path, tiny_qwen, lora=False, output_dir=str(tmp_path / "full"), **ext))
    saved = json.loads((full / "config.json").read_text())
    assert saved["max_position_embeddings"] == 2048 and rope_theta_of(saved) == 50000.0
    trained = load_config(TrainConfig, "train", full / "train.yaml", {})
    assert (trained.max_position_embeddings, trained.rope_theta) == (2048, 50000.0)
    lora = run(cfg(tmp_path, tiny_qwen, merge=True, output_dir=str(tmp_path / "lora"), **ext))
    merged = json.loads((lora / "merged" / "config.json").read_text())
    assert merged["max_position_embeddings"] == 2048 and rope_theta_of(merged) == 50000.0


def test_r1_recipes_fit_qwen2_5_math_context(tmp_path, tiny_qwen):
    """Qwen2.5-Math-1.5B has 4096 positions: every recipe's max_length must fit, or extend it."""
    import shutil

    from distill.train import student_config

    student = tmp_path / "qwen2.5-math-like"
    shutil.copytree(tiny_qwen, student)
    conf = json.loads((student / "config.json").read_text())
    (student / "config.json").write_text(json.dumps({**conf, "max_position_embeddings": 4096}))
    for recipe in sorted((ROOT / "recipes").glob("*.yaml")):
        if "Qwen2.5-Math" not in str(read_recipe(recipe, "train").get("model")):
            continue
        c = load_config(TrainConfig, "train", recipe, {"model": str(student), "data": "x"})
        config = student_config(c, str(student))  # raises when max_length does not fit
        assert c.max_length <= config.max_position_embeddings, recipe.name


# =========================================================================== output dir / resume


def test_a_fresh_run_never_shares_a_folder_with_another_runs_checkpoints(tmp_path, tiny_qwen):
    a = cfg(tmp_path, tiny_qwen, max_steps=4, save_steps=2, limit=8)
    run(a)
    out = Path(a.output_dir)
    assert sorted(p.name for p in out.glob("checkpoint-*")) == ["checkpoint-2", "checkpoint-4"]
    assert (out / "checkpoint-4" / "train.yaml").is_file()  # the run config travels with it
    with pytest.raises(
        DistillError,
        match=r"holds checkpoints of an earlier run \(checkpoint-2, checkpoint-4\); continue it "
        r"with --resume",
    ):
        run(cfg(tmp_path, tiny_qwen, max_steps=4, save_steps=2, limit=8, learning_rate=1e-3))
    with pytest.raises(
        DistillError,
        match=r"--resume: .*checkpoint-4 belongs to a different run \(learning_rate: 0\.0002 -> "
        r"0\.001; seed: 0 -> 1\); resume with the same settings",
    ):
        run(
            cfg(
                tmp_path,
                tiny_qwen,
                max_steps=4,
                save_steps=2,
                limit=8,
                learning_rate=1e-3,
                seed=1,
                resume=True,
            )
        )
    # Bookkeeping keys may differ on resume; what is learned may not.
    run(cfg(tmp_path, tiny_qwen, max_steps=4, save_steps=2, limit=8, logging_steps=2, resume=True))
    # --overwrite starts over: the earlier run's checkpoints are gone, only the new run's remain.
    b = cfg(
        tmp_path, tiny_qwen, max_steps=3, save_steps=3, limit=8, learning_rate=1e-3, overwrite=True
    )
    run(b)
    assert sorted(p.name for p in out.glob("checkpoint-*")) == ["checkpoint-3"]
    assert (
        load_config(TrainConfig, "train", out / "checkpoint-3" / "train.yaml", {}).learning_rate
        == 1e-3
    )
    with pytest.raises(DistillError, match="pick one"):
        cfg(tmp_path, tiny_qwen, resume=True, overwrite=True)


# =========================================================================== QLoRA merge


def test_merge_after_qlora_folds_the_adapter_into_an_unquantized_base(
    tmp_path, tiny_qwen, monkeypatch
):
    """On CPU QLoRA itself cannot run (bitsandbytes needs CUDA); this checks the merge path a
    QLoRA run takes: the base is reloaded without any quantization config and the merged model
    gives base+adapter's logits."""
    import dataclasses

    import torch
    from peft import PeftModel
    from transformers import AutoModelForCausalLM

    from distill.models import load_tokenizer
    from distill.train import merge_adapter

    c = cfg(tmp_path, tiny_qwen, max_steps=3, learning_rate=2e-2, warmup_ratio=0.0)
    out = run(c)
    loads = []
    real = AutoModelForCausalLM.from_pretrained

    def spy(*args, **kwargs):
        loads.append(kwargs)
        return real(*args, **kwargs)

    monkeypatch.setattr(AutoModelForCausalLM, "from_pretrained", spy)
    qlora = dataclasses.replace(c, qlora=True)
    merged_dir = merge_adapter(qlora, out, load_tokenizer(c.model))
    monkeypatch.undo()
    assert loads and all("quantization_config" not in kw for kw in loads)
    saved = json.loads((merged_dir / "config.json").read_text())
    assert "quantization_config" not in saved
    merged = AutoModelForCausalLM.from_pretrained(str(merged_dir)).eval()
    assert merged.dtype == torch.float32
    base = AutoModelForCausalLM.from_pretrained(str(tiny_qwen)).eval()
    ids = torch.tensor([[5, 17, 42, 99, 7]])
    with torch.no_grad():
        plain = base(input_ids=ids).logits
        adapted = PeftModel.from_pretrained(base, str(out)).eval()(input_ids=ids).logits
        folded = merged(input_ids=ids).logits
    assert not torch.allclose(plain, adapted, atol=1e-4), "the adapter should change the model"
    assert torch.allclose(folded, adapted, atol=1e-5)


# =========================================================================== export, rendered


@pytest.mark.parametrize(
    "template", ["deepseek-r1-distill-qwen", "qwen2.5-instruct", "llama-3.1-instruct"]
)
def test_export_with_the_student_writes_exactly_what_train_trains(tmp_path, template):
    from tests.test_examples import real_template_tokenizer

    tok = real_template_tokenizer(template)
    student = tmp_path / "student"
    tok.save_pretrained(student)
    (student / "config.json").write_text("{}")  # TrainConfig takes only a model folder
    kept = kept_file(tmp_path, n=4)
    out = tmp_path / "data.jsonl"
    export(ExportConfig(data=str(kept), format="r1", out=str(out), model=str(student)))
    rows = [json.loads(x) for x in out.read_text().splitlines()]
    trained, _ = build_dataset(
        TrainConfig(data=str(kept), model=str(student), output_dir="x", max_length=1024), tok
    )
    for row, ids, mask in zip(rows, trained["input_ids"], trained["completion_mask"]):
        assert set(row) == {"prompt", "completion"}
        # As TRL tokenizes a prompt/completion row: the prompt with the tokenizer's specials.
        p = tok(row["prompt"])["input_ids"]
        c = tok(row["completion"], add_special_tokens=False)["input_ids"]
        assert p + c == ids and [0] * len(p) + [1] * len(c) == mask
        assert " plus " in row["completion"]  # the reasoning is there to learn
    if template.startswith("deepseek"):
        # Why: the same trace as `messages`, rendered by R1-Distill's own template, loses it.
        export(ExportConfig(data=str(kept), format="r1", out=str(tmp_path / "m.jsonl")))
        msgs = json.loads((tmp_path / "m.jsonl").read_text().splitlines()[0])["messages"]
        assert " plus " not in tok.apply_chat_template(msgs, tokenize=False)


def test_export_without_the_student_warns_that_templates_may_drop_reasoning(tmp_path):
    from tests import inproc

    # in this process (tests/inproc.py): what export prints is distill's own line
    res = inproc.distill(
        "export", kept_file(tmp_path, n=2), "--format", "r1", "--out", tmp_path / "d.jsonl"
    )
    assert res.returncode == 0, res.stderr[-2000:]
    # on stdout: a failed export's stderr is its one error line
    assert "DeepSeek-R1-Distill" in res.stdout and "--model STUDENT" in res.stdout


def test_context_and_output_dir_flags_reach_the_config(tmp_path, tiny_qwen):
    from tests import inproc

    base = [
        sys.executable,
        "-m",
        "distill",
        "train",
        "--data",
        str(kept_file(tmp_path)),
        "--model",
        str(tiny_qwen),
        "--output-dir",
        str(tmp_path / "o"),
        "--max-length",
        "1024",
    ]
    # In this process (tests/inproc.py): reading the model's context, a subprocess imported
    # torch + transformers + peft first (~6 CPU seconds) to print one line.
    res = inproc.distill(*base[3:], "--max-position-embeddings", "768", "--rope-theta", "1e5")
    assert res.returncode == 1
    assert res.stderr.strip().splitlines() == [
        f"error: max_length 1024 is longer than the context of '{tiny_qwen}' (768 positions, "
        "max_position_embeddings); lower --max-length, or extend the context with "
        "--max-position-embeddings (and --rope-theta), as open-r1 did for Qwen2.5-Math: 32768 "
        "positions, rope_theta 300000"
    ]
    res = inproc.distill(*base[3:], "--resume", "--overwrite")
    assert res.returncode == 1 and "--resume continues the run" in res.stderr


def test_rank_1_under_mpirun_does_not_check_the_folder_before_rank_0(tmp_path, monkeypatch):
    """mpirun sets PMI_SIZE/OMPI_COMM_WORLD_SIZE, not WORLD_SIZE: every rank checking (and
    removing a cut-off checkpoint) at once would race rank 0."""
    import distill.train.sft as train

    for k in ("WORLD_SIZE", "RANK"):
        monkeypatch.delenv(k, raising=False)
    monkeypatch.setenv("PMI_SIZE", "2")
    monkeypatch.setenv("PMI_RANK", "1")
    checked = []
    monkeypatch.setattr(train, "check_output_dir", lambda c: checked.append(c))

    def stop(c):
        raise RuntimeError("built")

    monkeypatch.setattr(train, "build_trainer", stop)
    c = train.TrainConfig(data="d.jsonl", model="m", output_dir=str(tmp_path / "o"))
    with pytest.raises(RuntimeError, match="built"):
        train.run(c)
    assert checked == []


def test_rank_0_refuses_another_runs_folder_before_rewriting_its_train_yaml(tmp_path, monkeypatch):
    import distill.train.sft as train

    out = tmp_path / "o"
    (out / "checkpoint-4").mkdir(parents=True)
    (out / "train.yaml").write_text("learning_rate: 0.001\n")  # the earlier run's
    monkeypatch.setenv("WORLD_SIZE", "2")
    monkeypatch.setenv("RANK", "0")

    def build(c):
        (out / "train.yaml").write_text("learning_rate: 0.0002\n")  # what build_trainer does
        raise RuntimeError("built")

    monkeypatch.setattr(train, "build_trainer", build)
    c = train.TrainConfig(data="d.jsonl", model="m", output_dir=str(out))
    with pytest.raises(DistillError, match="holds checkpoints of an earlier run"):
        train.run(c)
    assert (out / "train.yaml").read_text() == "learning_rate: 0.001\n"


def test_export_ends_turns_as_train_does_when_the_model_stops_on_another_token(tmp_path, tiny_qwen):
    """A tokenizer whose EOS is <|endoftext|> while the model's generation_config also stops on
    <|im_end|> (the template's end of turn): train adds no EOS after <|im_end|>; export must not
    either."""
    import shutil

    from transformers import AutoTokenizer, GenerationConfig

    from distill.examples import Renderer, load_examples

    model = tmp_path / "student"
    shutil.copytree(tiny_qwen, model)
    tok = AutoTokenizer.from_pretrained(model)
    tok.eos_token = "<|endoftext|>"
    tok.save_pretrained(model)
    gen = GenerationConfig.from_pretrained(model)
    gen.eos_token_id = [tok.convert_tokens_to_ids(t) for t in ("<|endoftext|>", "<|im_end|>")]
    gen.save_pretrained(model)

    data = kept_file(tmp_path)
    out = export(ExportConfig(data=str(data), out=str(tmp_path / "x.jsonl"), model=str(model)))
    got = [json.loads(x)["completion"] for x in out.read_text().splitlines()]
    trained = Renderer(tok, "r1", gen.eos_token_id)
    assert got == [trained.completion_text(ex) for ex in load_examples(str(data))]
    assert got[0].endswith("<|im_end|>\n")
