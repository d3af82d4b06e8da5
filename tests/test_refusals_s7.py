"""Refusals that came after work or files (review s7): each is one `error:` line, exit 1, and
nothing written, before any model loads where only the data decides.

    .venv/bin/python -m pytest tests/test_refusals_s7.py -q

README: "Every refusal is one `error: ...` line on stderr and exit 1 ..., with nothing written";
"a value out of range, named by its flag".
"""

from __future__ import annotations

import json
import types
from pathlib import Path

import pytest

from tests.inproc import distill


def _files(root: Path) -> list[str]:
    return sorted(str(p.relative_to(root)) for p in root.rglob("*"))


def _one_error(res, *needles: str) -> str:
    assert res.returncode == 1, (res.stdout, res.stderr)
    lines = [ln for ln in res.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: "), res.stderr
    for needle in needles:
        assert needle in lines[0], lines[0]
    return lines[0]


# 1. A local teacher's model that cannot load (a hub name not in the offline cache, a local path
# that does not exist) was refused by the load, after generate had written t.generate.yaml, an
# empty t.jsonl and t.summary.json (eval: the samples' files; eval --baseline: after the whole
# student eval).
_DATA = "builtin:arithmetic?n=2"
MODEL_CASES = [
    ("generate-hub", ["generate", "--teacher", "hf", "--model", "nobody/not-cached", "--data",
                      _DATA, "--out", "o/t.jsonl"], "--model nobody/not-cached", "HF_HUB_OFFLINE"),
    ("generate-path", ["generate", "--teacher", "hf", "--model", "./no/such/model", "--data",
                       _DATA, "--out", "o/t.jsonl"], "--model", "./no/such/model"),
    ("eval-hub", ["eval", "--model", "nobody/not-cached", "--data", _DATA,
                  "--out", "o/eval.json"], "--model nobody/not-cached", "HF_HUB_OFFLINE"),
    ("eval-baseline-hub", ["eval", "--model", "student", "--baseline", "nobody/not-cached",
                           "--data", _DATA, "--out", "o/eval.json"],
     "--baseline nobody/not-cached", "HF_HUB_OFFLINE"),
    ("eval-baseline-path", ["eval", "--model", "student", "--baseline", "./no/such/model",
                            "--data", _DATA, "--out", "o/eval.json"], "--baseline", "no such"),
]  # fmt: skip


@pytest.mark.parametrize(
    "argv, flag, why", [c[1:] for c in MODEL_CASES], ids=[c[0] for c in MODEL_CASES]
)
def test_a_model_that_cannot_load_is_refused_before_any_write(tmp_path, argv, flag, why):
    (tmp_path / "student").mkdir()
    (tmp_path / "student" / "config.json").write_text("{}")  # a folder: passes the check
    before = _files(tmp_path)
    res = distill(*argv, cwd=tmp_path)  # the suite runs with HF_HUB_OFFLINE=1 (conftest)
    _one_error(res, flag, why)
    assert "Traceback" not in res.stderr
    assert _files(tmp_path) == before, "a refused model left files behind"


def _cache_with(root: Path, repo: str, filename: str) -> Path:
    """A Hugging Face hub cache holding one file of `repo` (its layout: models--org--name)."""
    repo_dir = root / f"models--{repo.replace('/', '--')}"
    commit = "0" * 40
    (repo_dir / "refs").mkdir(parents=True)
    (repo_dir / "refs" / "main").write_text(commit)
    snap = repo_dir / "snapshots" / commit
    snap.mkdir(parents=True)
    (snap / filename).write_text("{}")
    return root


def test_a_cached_hub_model_a_folder_and_a_builtin_pass_offline(tmp_path, monkeypatch):
    from huggingface_hub import constants

    from distill.errors import DistillError
    from distill.teachers import check_teacher

    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", True)
    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(tmp_path / "hub"))
    _cache_with(tmp_path / "hub", "org/cached", "config.json")
    _cache_with(tmp_path / "hub", "org/adapter", "adapter_config.json")
    (tmp_path / "folder").mkdir()
    (tmp_path / "folder" / "config.json").write_text("{}")
    for model in ("org/cached", "org/adapter", str(tmp_path / "folder"), "builtin:smollm2"):
        check_teacher("hf", types.SimpleNamespace(model=model))
    with pytest.raises(DistillError, match="--model org/missing: not in the Hugging Face cache"):
        check_teacher("hf", types.SimpleNamespace(model="org/missing"))


def test_online_a_hub_name_is_left_to_the_load_with_no_network_call(monkeypatch):
    import huggingface_hub
    from huggingface_hub import constants

    from distill.teachers import check_teacher

    def no_lookup(*a, **k):
        raise AssertionError("looked the model up")

    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", False)
    monkeypatch.setattr(huggingface_hub, "try_to_load_from_cache", no_lookup)
    check_teacher("hf", types.SimpleNamespace(model="org/anything"))  # the load downloads it


def test_vllm_teacher_checks_the_model_it_would_load(monkeypatch):
    import distill.teachers.vllm as backend
    from distill.errors import DistillError
    from distill.teachers import check_teacher

    monkeypatch.setattr(backend, "_import_vllm", lambda: types.ModuleType("vllm"))
    with pytest.raises(DistillError, match="--model org/missing: not in the Hugging Face cache"):
        check_teacher("vllm", types.SimpleNamespace(model="org/missing"))
    with pytest.raises(DistillError, match="no such folder"):
        check_teacher("vllm", types.SimpleNamespace(model="./no/such/model"))


def test_a_replaced_teacher_brings_its_own_model():
    """TEACHERS' entry replaced by a class without `check` (an in-process stand-in) is not
    asked about a model it does not load."""
    from distill import teachers

    class Stand:
        def __init__(self, cfg):
            pass

    saved = teachers.TEACHERS["hf"]
    teachers.TEACHERS["hf"] = Stand
    try:
        teachers.check_teacher("hf", types.SimpleNamespace(model="fake"))
    finally:
        teachers.TEACHERS["hf"] = saved


# 2. `distill train` refusals that depend on the data alone (a missing --data file, a row with two
# chat columns, a student without a chat template for --format r1) came after the student's
# weights loaded: its "Loading weights" bar (and --method kd's warnings) printed before the line.
# The weights now load after the examples are built and pre-flighted.
_CHAT = {"messages": [{"role": "user", "content": "1+1?"}, {"role": "assistant", "content": "2"}]}
TRAIN_CASES = [
    ("missing-data", ["--data", "nope.jsonl"], "data file not found: nope.jsonl"),
    ("two-chat-columns", ["--data", "two.jsonl"], "two chat columns"),
    ("kd-two-chat-columns", ["--data", "two.jsonl", "--method", "kd", "--teacher-model",
                             "MODEL"], "two chat columns"),
    ("no-chat-template", ["--data", "ok.jsonl", "--model", "base"], "no chat template"),
]  # fmt: skip


@pytest.mark.parametrize("argv, why", [c[1:] for c in TRAIN_CASES], ids=[c[0] for c in TRAIN_CASES])
def test_train_refuses_the_data_before_the_weights_load(
    tmp_path, monkeypatch, tiny_qwen, argv, why
):
    import shutil

    import distill.train.sft as sft

    def no_weights(*a, **k):
        raise AssertionError("the student's weights loaded before the data was refused")

    monkeypatch.setattr(sft, "_load_model", no_weights)
    (tmp_path / "ok.jsonl").write_text(json.dumps(_CHAT) + "\n")
    two = {**_CHAT, "conversations": [{"from": "human", "value": "1+1?"}]}
    (tmp_path / "two.jsonl").write_text(json.dumps(two) + "\n")
    shutil.copytree(tiny_qwen, tmp_path / "base")  # a base model: no chat template
    (tmp_path / "base" / "chat_template.jinja").unlink()
    config = json.loads((tmp_path / "base" / "tokenizer_config.json").read_text())
    config.pop("chat_template", None)
    (tmp_path / "base" / "tokenizer_config.json").write_text(json.dumps(config))
    argv = [str(tiny_qwen) if a == "MODEL" else a for a in argv]
    model = [] if "--model" in argv else ["--model", str(tiny_qwen)]
    res = distill("train", *model, *argv, "--output-dir", "o", "--max-steps", "1", cwd=tmp_path)
    _one_error(res, why)
    assert not (tmp_path / "o").exists()


def test_train_reads_the_stop_ids_the_loaded_model_has(tiny_qwen, tiny_llama, tmp_path):
    """The examples are rendered with generation_eos (read without the weights): the same
    eos_token_id the loaded model's generation_config holds, with and without a
    generation_config.json."""
    import shutil

    from transformers import AutoConfig, AutoModelForCausalLM

    from distill.train.sft import generation_eos

    shutil.copytree(tiny_qwen, tmp_path / "bare")
    (tmp_path / "bare" / "generation_config.json").unlink()
    for path in (str(tiny_qwen), str(tiny_llama), str(tmp_path / "bare")):
        config = AutoConfig.from_pretrained(path)
        loaded = AutoModelForCausalLM.from_pretrained(path).generation_config.eos_token_id
        assert generation_eos(path, config) == loaded, path


# 3. An unreachable --rollout-url (--method onpolicy --rollout vllm) was found when the rollout
# engine was built, after train.yaml and train_data.json were written into --output-dir.
def test_an_unreachable_rollout_url_writes_nothing(tmp_path, monkeypatch, tiny_qwen):
    import distill.train.sft as sft
    from tests.fakevllm import free_port

    def no_weights(*a, **k):
        raise AssertionError("the student's weights loaded before the server was asked")

    monkeypatch.setattr(sft, "_load_model", no_weights)
    (tmp_path / "ok.jsonl").write_text(json.dumps(_CHAT) + "\n")
    url = f"http://127.0.0.1:{free_port()}/v1"
    res = distill(
        *["train", "--data", "ok.jsonl", "--model", tiny_qwen, "--output-dir", "o"],
        *["--method", "onpolicy", "--teacher-model", tiny_qwen, "--max-length", "128"],
        *["--rollout", "vllm", "--rollout-url", url, "--lora-r", "8"],
        cwd=tmp_path,
    )
    _one_error(res, f"--rollout-url {url} does not answer", "vllm serve")
    assert not (tmp_path / "o").exists()


# 5. Range errors named by their flag, as every other: `--batch-discount 1.5: must be in [0, 1)`;
# they read `batch_discount must be in [0, 1), got 1.5` (kd_alpha, beta, lmbda, kd_temperature).
@pytest.mark.parametrize(
    "values, line",
    [
        ({"batch_discount": 1.5}, "--batch-discount 1.5: must be in [0, 1)"),
        ({"batch_discount": -0.1}, "--batch-discount -0.1: must be in [0, 1)"),
    ],
)
def test_generate_range_errors_name_their_flag(values, line):
    from distill.errors import DistillError
    from distill.generate.config import GenerateConfig

    with pytest.raises(DistillError) as e:
        GenerateConfig(data="d.jsonl", model="m", out="t.jsonl", **values)
    assert str(e.value) == line


@pytest.mark.parametrize(
    "values, line",
    [
        ({"kd_alpha": 1.5}, "--kd-alpha 1.5: must be in [0, 1]"),
        ({"beta": -0.5}, "--beta -0.5: must be in [0, 1]"),
        ({"lmbda": 2.0}, "--lmbda 2: must be in [0, 1]"),
        ({"kd_temperature": 0.0}, "--kd-temperature 0: must be > 0"),
        ({"onpolicy_temperature": -1.0}, "--onpolicy-temperature -1: must be > 0"),
        ({"teacher_top_k": 0}, "--teacher-top-k 0: must be >= 1"),
    ],
)
def test_train_range_errors_name_their_flag(values, line):
    from distill.errors import DistillError
    from distill.train.config import TrainConfig

    with pytest.raises(DistillError) as e:
        TrainConfig(data="d.jsonl", model="m", output_dir="o", method="kd", **values)
    assert str(e.value) == line


# 4. `distill select` without --budget printed "removed: length -2, budget -0": no budget was
# asked for. (A selection that removes every trace stays as filter's that rejects every trace:
# exit 0 with the outputs and the report saying why; train refuses the empty file with one line.)
def test_select_without_a_budget_names_none(tmp_path):
    trace = {"prompt_id": "p", "sample": 0, "messages": [{"role": "user", "content": "1+1?"}],
             "reasoning": "one and one", "answer": "2", "finish_reason": "stop"}  # fmt: skip
    rows = [{**trace, "id": f"t{i}", "prompt_id": f"p{i}"} for i in range(2)]
    (tmp_path / "t.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    res = distill(
        "select", "t.jsonl", "--out", "s.jsonl", "--criteria", "length", "--token-budget", "1",
        cwd=tmp_path,
    )  # fmt: skip
    assert res.returncode == 0, res.stderr
    assert "select: kept 0 of 2 traces (0 of 2 prompts); removed: length -2\n" in res.stderr
    res = distill("select", "t.jsonl", "--out", "b.jsonl", "--budget", "1", cwd=tmp_path)
    assert "budget -1" in res.stderr, res.stderr
