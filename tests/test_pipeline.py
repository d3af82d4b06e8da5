"""The smoke pipeline's stages on tiny models (CI), `distill publish` for real and against a
stand-in Hub, and the model card's lineage numbers.

The real `make smoke` (SmolLM2, ~5 min) is the `slow` test at the bottom: `make test-slow`.
"""

import json
import os
import re
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import pytest

from distill.errors import DistillError
from distill.pipeline import parse_sets
from distill.publish import PublishConfig
from distill.publish import run as publish
from tests import inproc
from tests.fakeserver import FakeServer
from tests.test_cli import distill, one_line_error

ROOT = Path(__file__).resolve().parent.parent
SECRETS = {"OPENAI_API_KEY": "sk-test-SECRET-0123456789", "HF_TOKEN": "hf_SECRET_abcdefghijklmn"}

RECIPE = """
run:
  dir: runs/never-used
generate:
  data: builtin:arithmetic?n=24
  teacher: openai
  base_url: {url}
  model: fake-r1
  n: 2
  temperature: 0.7
  out: "{{run_dir}}/traces.jsonl"
filter:
  input: "{{run_dir}}/traces.jsonl"
  out: "{{run_dir}}/kept.jsonl"
  verify: math
  dedup: near
train:
  data: "{{run_dir}}/kept.jsonl"
  model: {student}
  output_dir: "{{run_dir}}/student"
  max_length: 128
  per_device_train_batch_size: 4
  num_train_epochs: 1
  logging_steps: 1
eval:
  model: "{{run_dir}}/student"
  baseline: {student}
  data: builtin:arithmetic?start=1000&n=6
  verify: math
  max_tokens: 8
  out: "{{run_dir}}/eval.json"
publish:
  dir: "{{run_dir}}/student"
  local_dir: "{{run_dir}}/published"
"""


# The tests reading pipeline_run are one xdist group: on one worker the whole `distill run`
# is made once (spread over two workers, each made its own: ~10 CPU seconds more).
@pytest.fixture(scope="module")
def pipeline_run(tmp_path_factory, tiny_qwen):
    """`distill run` of a smoke-shaped recipe: a served teacher, the tiny random Qwen2 student."""
    tmp = tmp_path_factory.mktemp("pipeline")
    server = FakeServer().start()
    recipe = tmp / "tiny.yaml"
    recipe.write_text(RECIPE.format(url=server.url, student=tiny_qwen))
    run_dir = tmp / "run"
    try:
        res = distill(
            "run",
            "--recipe",
            str(recipe),
            "--run-dir",
            str(run_dir),
            "--set",
            "train.seed=3",
            "--set",
            "eval.limit=4",
            env=SECRETS,
            timeout=600,
        )
    finally:
        server.stop()
    assert res.returncode == 0, res.stderr[-3000:]
    return run_dir, res, tiny_qwen


@pytest.mark.xdist_group("pipeline_run")
def test_distill_run_goes_through_every_stage_and_ends_with_the_numbers(pipeline_run):
    run_dir, res, _ = pipeline_run
    last = res.stdout.strip().splitlines()[-1]
    assert re.fullmatch(
        r"tiny: base pass@1=\d\.\d{3} student pass@1=\d\.\d{3} minutes=\d+\.\d", last
    ), last
    summary = json.loads((run_dir / "tiny.json").read_text())
    assert summary["run_dir"] == str(run_dir)
    assert f"student pass@1={summary['student_pass@1']:.3f}" in last
    ev = json.loads((run_dir / "eval.json").read_text())
    assert ev["student"]["problems"] == 4  # the --set override reached the eval stage
    train_cfg = (run_dir / "student" / "train.yaml").read_text()
    assert "seed: 3" in train_cfg
    for f in (
        "traces.jsonl",
        "kept.jsonl",
        "kept.report.json",
        "student/adapter_model.safetensors",
    ):
        assert (run_dir / f).is_file(), f


@pytest.mark.xdist_group("pipeline_run")
def test_no_secret_lands_in_any_output(pipeline_run):
    run_dir, res, _ = pipeline_run
    for secret in SECRETS.values():
        assert secret not in res.stdout + res.stderr
        for f in run_dir.rglob("*"):
            if f.is_file():
                assert secret.encode() not in f.read_bytes(), f


@pytest.mark.xdist_group("pipeline_run")
def test_card_holds_the_lineage_from_the_real_filter_report(pipeline_run):
    run_dir, _, student = pipeline_run
    report = json.loads((run_dir / "kept.report.json").read_text())
    gen = json.loads((run_dir / "traces.summary.json").read_text())
    card = (run_dir / "published" / "README.md").read_text()
    meta = card.split("---")[1]
    assert "library_name: peft" in meta and "license: other" in meta and "- lora" in meta
    assert f"`openai:fake-r1` ({gen['samples']} samples)" in card
    assert gen["samples"] == 48
    assert f"| generated | | {report['total']} |" in card
    left = report["total"]
    assert report["reject_reasons"]  # the server gets every 7th sum wrong
    for reason, n in report["reject_reasons"].items():
        left -= n
        assert f"| {reason} | {n} | {left} |" in card
    assert left == report["kept"]
    assert f"| **kept for training** | | **{report['kept']}** |" in card
    assert f"Teacher pass rate (math verification): {report['verify']['pass_rate']:.1%}" in card
    assert "| lora_r | 16 |" in card and "| seed | 3 |" in card
    td = json.loads((run_dir / "student" / "train_data.json").read_text())
    assert (
        f"loss on {td['completion_tokens']:,} completion tokens only, in {td['turns']:,} " in card
    )
    ev = json.loads((run_dir / "eval.json").read_text())
    assert f"| pass@1 | {ev['baseline']['pass@1']:.3f} | {ev['student']['pass@1']:.3f} |" in card
    assert "vllm serve" in card and "--enable-lora" in card


@pytest.mark.xdist_group("pipeline_run")
def test_published_adapter_loads_in_a_fresh_process(pipeline_run):
    # Both adapters in one fresh process: the published one, and `distill train`'s own output
    # folder (test_train's saved-adapter check, which trained 2 steps of its own for it)
    run_dir, _, student = pipeline_run
    pub = run_dir / "published"
    code = f"""
import torch
from transformers import AutoModelForCausalLM, AutoTokenizer
from peft import PeftModel
for folder in ({str(run_dir / "student")!r}, {str(pub)!r}):
    tok = AutoTokenizer.from_pretrained(folder)
    model = PeftModel.from_pretrained(AutoModelForCausalLM.from_pretrained({str(student)!r}), folder)
    text = tok.apply_chat_template([{{"role": "user", "content": "What is 1 + 2?"}}], tokenize=False, add_generation_prompt=True)
    ids = tok(text, return_tensors="pt", add_special_tokens=False)
    out = model.generate(**ids, max_new_tokens=5, do_sample=False)
    print("GENERATED", out.shape[1] - ids["input_ids"].shape[1], type(model).__name__)
"""
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert res.returncode == 0, res.stderr[-2000:]
    got = [line.split()[1:] for line in res.stdout.splitlines() if line.startswith("GENERATED")]
    assert len(got) == 2, res.stdout
    for generated, kind in got:
        assert int(generated) >= 1 and "PeftModel" in kind, res.stdout


@pytest.mark.xdist_group("pipeline_run")
def test_hub_push_makes_exactly_these_calls(pipeline_run, monkeypatch):
    import huggingface_hub

    run_dir, _, _ = pipeline_run
    calls = []

    class StandInHub:
        def __init__(self, token=None, **kw):
            calls.append(("init", token))

        def create_repo(self, repo_id, **kw):
            calls.append(("create_repo", repo_id, kw))

        def repo_info(self, repo_id, **kw):  # --private: the repo's visibility, as created
            calls.append(("repo_info", repo_id))
            return SimpleNamespace(private=True)

        def list_repo_files(self, repo_id, **kw):  # a new repo: nothing of anyone's in it yet
            calls.append(("list_repo_files", repo_id))
            return [".gitattributes"]

        def upload_folder(self, folder_path, **kw):
            files = {p.name: p.read_bytes() for p in Path(folder_path).iterdir()}
            calls.append(("upload_folder", sorted(files), kw))
            calls.append(("card", files["README.md"].decode()))

    monkeypatch.setattr(huggingface_hub, "HfApi", StandInHub)
    monkeypatch.setenv("HF_TOKEN", SECRETS["HF_TOKEN"])
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)  # the stand-in hub is "online"
    url = publish(PublishConfig(dir=str(run_dir / "student"), repo_id="me/tiny-r1", private=True))
    assert url == "https://huggingface.co/me/tiny-r1"
    assert calls[0] == ("init", SECRETS["HF_TOKEN"])
    assert calls[1] == (
        "create_repo",
        "me/tiny-r1",
        {"private": True, "exist_ok": True, "repo_type": "model"},
    )
    assert calls[2] == ("repo_info", "me/tiny-r1")
    assert calls[3] == ("list_repo_files", "me/tiny-r1")
    name, files, kw = calls[4]
    assert name == "upload_folder"
    assert {"README.md", "adapter_config.json", "adapter_model.safetensors"} <= set(files)
    assert {"tokenizer.json", "chat_template.jinja", "train.yaml"} <= set(files)
    assert "checkpoint" not in " ".join(files) and "training_args.bin" not in files
    assert kw["repo_id"] == "me/tiny-r1" and kw["repo_type"] == "model"
    assert ".distill-publish.json" in files and kw["delete_patterns"] is None
    card = calls[5][1]
    assert 'PeftModel.from_pretrained(base, "me/tiny-r1")' in card
    assert SECRETS["HF_TOKEN"] not in card
    assert len(calls) == 6


@pytest.mark.xdist_group("pipeline_run")
def test_publish_refuses_a_folder_holding_a_secret(pipeline_run, tmp_path, monkeypatch):
    import shutil

    run_dir, _, _ = pipeline_run
    leaky = tmp_path / "student"
    shutil.copytree(run_dir / "student", leaky)
    monkeypatch.setenv("MY_API_KEY", "sk-leaked-0123456789")
    cfg = json.loads((leaky / "adapter_config.json").read_text())
    cfg["note"] = "sk-leaked-0123456789"
    (leaky / "adapter_config.json").write_text(json.dumps(cfg))
    with pytest.raises(DistillError, match="adapter_config.json contains the value of a secret"):
        publish(PublishConfig(dir=str(leaky), local_dir=str(tmp_path / "pub")))
    assert not (tmp_path / "pub").exists()
    assert not list(tmp_path.glob(".pub.*")), "the refused copy was left behind"


def test_publish_bad_input_is_one_line(tmp_path):
    (tmp_path / "notes").mkdir()
    (tmp_path / "notes" / "a.txt").write_text("hi")
    # in this process (tests/inproc.py); the hub refusal below needs a process started without
    # HF_HUB_OFFLINE (huggingface_hub reads it at import) and without the token: a subprocess
    res = inproc.distill("publish", tmp_path / "notes", "--local-dir", tmp_path / "p")
    one_line_error(res, r"not a trained model: .*notes")
    assert not (tmp_path / "p").exists()
    model = tmp_path / "m"
    model.mkdir()
    (model / "adapter_config.json").write_text("{}")
    (model / "adapter_model.safetensors").write_bytes(b"x")
    # online (offline, publish refuses the hub first: tests/test_bad_input.py) and no token
    env = {k: v for k, v in os.environ.items() if k not in ("HF_TOKEN", "HF_HUB_OFFLINE")}
    res = subprocess.run(
        [sys.executable, "-m", "distill.cli", "publish", str(model), "--repo-id", "me/x"],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )
    one_line_error(res, r"needs a token: set \$HF_TOKEN")


def test_eval_bad_input_is_one_line(tmp_path):
    data = tmp_path / "q.jsonl"
    data.write_text('{"question": "What is 2 + 2?"}\n')
    res = inproc.distill(
        "eval",
        "--model",
        "m",
        "--backend",
        "openai",
        "--base-url",
        "http://127.0.0.1:9/v1",
        "--data",
        str(data),
        "--prompt-field",
        "question",
        "--out",
        str(tmp_path / "e.json"),
    )
    one_line_error(res, r"q\.jsonl: problems have no gold answer .* --verify majority")


def test_set_overrides_parse_as_yaml_and_bad_ones_are_named(tmp_path):
    assert parse_sets(["train.seed=1", "eval.limit=10", "generate.data=builtin:x?n=3"]) == {
        "train": {"seed": 1},
        "eval": {"limit": 10},
        "generate": {"data": "builtin:x?n=3"},
    }
    with pytest.raises(DistillError, match="--set trian.seed=1: expected STAGE.KEY=VALUE"):
        parse_sets(["trian.seed=1"])
    r = tmp_path / "r.yaml"
    r.write_text("train:\n  data: x\n  model: m\n  output_dir: o\n  sed: 1\n")
    res = inproc.distill("run", "--recipe", r)
    one_line_error(res, r"r\.yaml \[train\].*unknown key 'sed'")


def test_run_names_a_recipe_that_is_not_yaml_or_has_a_bad_section(tmp_path):
    r = tmp_path / "r.yaml"
    r.write_text("train:\n  data: [kept.jsonl\n")
    one_line_error(inproc.distill("run", "--recipe", r), r"r\.yaml:3: not valid YAML")
    r.write_text("train: [data, model]\n")
    one_line_error(
        inproc.distill("run", "--recipe", r), r"r\.yaml: section 'train' must be a mapping"
    )
    r.write_text("- train\n")
    one_line_error(inproc.distill("run", "--recipe", r), r"r\.yaml: a recipe must be a mapping")


@pytest.mark.slow
def test_real_smoke_run_meets_its_goals(tmp_path):
    """`make smoke` itself: SmolLM2 teaches itself sums, on this CPU (about 5 minutes)."""
    res = distill(
        "run",
        "--recipe",
        str(ROOT / "recipes" / "smoke.yaml"),
        "--run-dir",
        str(tmp_path / "smoke"),
        timeout=1800,
    )
    assert res.returncode == 0, res.stderr[-3000:]
    last = res.stdout.strip().splitlines()[-1]
    m = re.fullmatch(r"smoke: base pass@1=(\S+) student pass@1=(\S+) minutes=(\S+)", last)
    assert m, last
    base, student, minutes = map(float, m.groups())
    assert student >= base + 0.30 and minutes <= 10, last


def test_every_recipe_validates_in_full_and_only_picks_stages(tmp_path):
    from distill.pipeline import run

    stages = {
        r.stem: run(r, run_dir=str(tmp_path / r.stem), dry_run=True)["stages"]
        for r in sorted((ROOT / "recipes").glob("*.yaml"))
    }
    every = ["generate", "filter", "train", "eval", "publish"]
    assert stages["smoke"] == every and stages["r1-distill-qwen-1.5b"] == every
    assert stages["alpaca-llama-7b"] == ["instruct", "generate", "filter", "train", "publish"]
    assert stages["alpaca-smoke"] == ["instruct", "generate", "filter", "train"]
    assert stages["r1-distill-qwen-1.5b-lora"] == ["train"]
    picked = run(ROOT / "recipes" / "smoke.yaml", only=["eval", "publish"], dry_run=True)
    assert picked["stages"] == ["eval", "publish"]
    with pytest.raises(
        DistillError, match="--only eval: .*alpaca-llama-7b.yaml has no such section"
    ):
        run(ROOT / "recipes" / "alpaca-llama-7b.yaml", only=["eval"], dry_run=True)


def test_stage_commands_read_run_dir_from_the_recipe(tmp_path):
    """`distill train --recipe R` (as accelerate launches it) sees the same paths `distill run` does."""
    from distill.config import read_recipe

    section = read_recipe(ROOT / "recipes" / "r1-distill-qwen-1.5b.yaml", "train")
    assert section["data"] == "runs/r1/kept.jsonl"
    assert section["output_dir"] == "runs/r1/qwen2.5-math-1.5b"
