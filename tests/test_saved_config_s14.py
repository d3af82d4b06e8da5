"""generate's and instruct's saved config beside --out (<out>.generate.yaml, <out>.instruct.yaml)
is distill's, so a rerun resumes over it, when it holds every field of the first version's
config (paths._saved_config), not half of today's fields: each field added moved the files an
older distill wrote under that line, and their runs were refused instead of resumed.

OMP_NUM_THREADS=1 .venv/bin/python -m pytest -q tests/test_saved_config_s14.py
"""

from __future__ import annotations

import dataclasses
import json

import pytest
import yaml

from distill.errors import DistillError
from tests.inproc import distill
from tests.test_user_outputs_gen_s11 import gen_args, inst_args

# The configs as the first versions saved them (dataclasses.asdict of the whole config):
# GenerateConfig of 24933ae (2026-11-24, distill/generate.py), 35 fields; InstructConfig of
# db5bae5 (2026-11-29, distill/instruct.py), 45 fields. Later versions added fields (43 and
# 46 today), none renamed or removed.
FIRST = {
    "generate": (
        "teacher model temperature top_p max_tokens seed base_url api_key_env concurrency "
        "max_retries request_timeout rpm tpm n_per_request price_input price_output "
        "tensor_parallel_size gpu_memory_utilization dtype max_model_len shard_size logprobs "
        "batch_size device data split prompt_field answer_field id_field limit template "
        "system_prompt n teachers out"
    ).split(),
    "instruct": (
        "teacher model temperature top_p max_tokens seed base_url api_key_env concurrency "
        "max_retries request_timeout rpm tpm n_per_request price_input price_output "
        "tensor_parallel_size gpu_memory_utilization dtype max_model_len shard_size logprobs "
        "batch_size device chat_template method seed_tasks num_instructions out template "
        "num_prompt_tasks num_prompt_generated num_tasks_per_request request_batch_size "
        "max_rouge min_words max_words blacklist language dedup dedup_threshold include_seeds "
        "system_prompt instruction_max_tokens stall_rounds"
    ).split(),
}


def as_first_version_saved_it(path, stage):
    """Rewrite the config a run saved as the first version saved it: its fields only."""
    saved = yaml.safe_load(path.read_text())
    assert set(FIRST[stage]) <= set(saved)  # each is a field today
    path.write_text(yaml.safe_dump({k: saved[k] for k in FIRST[stage]}, sort_keys=False))


def test_a_generate_run_the_first_distill_started_resumes(tmp_path, server):
    """traces + .generate.yaml of the first version (35 fields; 43 today): the rerun resumes,
    asking only for the prompt it lacks. (Passes before the fix too, 35 >= 43/2: a guard; the
    half rule refused it once GenerateConfig held 71 fields, 28 more than today, as
    test_older_configs_stay_distills_as_fields_are_added shows.)"""
    args = gen_args(server.url)
    assert distill(*args, cwd=tmp_path).returncode == 0
    traces = tmp_path / "notes.jsonl"
    first = traces.read_text()
    config = tmp_path / "notes.generate.yaml"
    as_first_version_saved_it(config, "generate")
    sent = len(server.log)
    res = distill(*args[:-2], "--limit", "4", "--out", "notes.jsonl", cwd=tmp_path)
    assert res.returncode == 0, res.stderr
    assert len(server.log) - sent == 1  # the 4th prompt only: the 3 bought are not paid again
    assert traces.read_text().startswith(first)
    assert json.loads((tmp_path / "notes.summary.json").read_text())["samples"] == 4
    assert yaml.safe_load(config.read_text())["batch"] is False  # written anew, whole


def test_an_instruct_run_the_first_distill_started_resumes(tmp_path, tasks_server):
    """instructions + .instruct.yaml of the first version (45 fields; 46 today): the rerun
    goes on to 8 instructions, the 4 kept as they were. (Passes before the fix too, a guard:
    the half rule refused it from 91 fields, 45 more than today.)"""
    args = inst_args(tasks_server.url)
    assert distill(*args, cwd=tmp_path).returncode == 0
    out = tmp_path / "notes.jsonl"
    first = out.read_text()
    config = tmp_path / "notes.instruct.yaml"
    as_first_version_saved_it(config, "instruct")
    res = distill(*args[:-4], "--num-instructions", "8", *args[-2:], cwd=tmp_path)
    assert res.returncode == 0, res.stderr
    assert out.read_text().startswith(first)
    assert len(out.read_text().splitlines()) == 8
    assert "logprobs_shard" in yaml.safe_load(config.read_text())  # written anew, whole


@pytest.mark.parametrize("stage", ["generate", "instruct"])
def test_older_configs_stay_distills_as_fields_are_added(tmp_path, monkeypatch, stage):
    """A later distill whose config has 50 more fields (93 generate, 96 instruct): the half
    rule took the first version's config (35, 45 fields) for the user's and refused the run
    (generate's from 71 fields on, instruct's from 91)."""
    import distill.generate.config
    import distill.instruct.config
    from distill.paths import check_side_files, outputs

    module = {"generate": distill.generate.config, "instruct": distill.instruct.config}[stage]
    name = {"generate": "GenerateConfig", "instruct": "InstructConfig"}[stage]
    later = dataclasses.make_dataclass(
        name,
        [(f"added_{i}", int, dataclasses.field(default=0)) for i in range(50)],
        bases=(getattr(module, name),),
    )
    monkeypatch.setattr(module, name, later)
    config = tmp_path / f"notes.{stage}.yaml"
    first = {k: None for k in FIRST[stage]} | {"out": "notes.jsonl"}
    config.write_text(yaml.safe_dump(first))
    check_side_files(outputs("--out", "notes.jsonl", config))  # no error: distill's own


GENERATE_YAMLS = [
    # another tool's config kept beside the traces (vLLM serve's): a few shared names
    {
        "model": "Qwen/Qwen2.5-7B-Instruct",
        "dtype": "bfloat16",
        "tensor_parallel_size": 2,
        "gpu_memory_utilization": 0.9,
        "max_model_len": 8192,
        "seed": 0,
        "port": 8000,
        "out": "notes.jsonl",
    },  # fmt: skip
    # the user's own generate recipe for an API teacher, comments and all: 24 of generate's
    # 43 names, over half, never the local backends' keys (the half rule wrote over it)
    {
        "teacher": "openai",
        "model": "deepseek-reasoner",
        "base_url": "https://api.deepseek.com",
        "api_key_env": "DEEPSEEK_API_KEY",
        "concurrency": 64,
        "max_retries": 8,
        "request_timeout": 900.0,
        "rpm": 500.0,
        "tpm": 2e6,
        "price_input": 0.55,
        "price_output": 2.19,
        "temperature": 0.6,
        "top_p": 0.95,
        "max_tokens": 16384,
        "seed": 0,
        "data": "open-r1/OpenR1-Math-220k",
        "split": "train",
        "prompt_field": "problem",
        "answer_field": "answer",
        "limit": 5000,
        "template": "r1-math",
        "system_prompt": None,
        "n": 4,
        "out": "notes.jsonl",
    },  # fmt: skip
]

INSTRUCT_YAMLS = [
    # another tool's config: a few shared names among its own
    {
        "model": "gpt-4o-mini",
        "temperature": 1.0,
        "top_p": 1.0,
        "seed": 1,
        "max_tokens": 3072,
        "out": "notes.jsonl",
        "num_cpus": 4,
    },  # fmt: skip
    # the user's own self-instruct recipe: 24 of instruct's 46 names, over half
    {
        "teacher": "openai",
        "model": "gpt-4o-mini",
        "base_url": "https://api.openai.com/v1",
        "api_key_env": "OPENAI_API_KEY",
        "concurrency": 16,
        "max_retries": 8,
        "rpm": 500.0,
        "temperature": 1.0,
        "top_p": 1.0,
        "max_tokens": 3072,
        "seed": 0,
        "method": "self-instruct",
        "seed_tasks": "seed_tasks",
        "num_instructions": 52000,
        "out": "notes.jsonl",
        "template": "self-instruct",
        "num_prompt_tasks": 3,
        "num_prompt_generated": 1,
        "num_tasks_per_request": 20,
        "max_rouge": 0.7,
        "min_words": 4,
        "max_words": 150,
        "language": "en",
        "dedup": "near",
    },  # fmt: skip
]


@pytest.mark.parametrize(
    "stage, theirs",
    [("generate", y) for y in GENERATE_YAMLS] + [("instruct", y) for y in INSTRUCT_YAMLS],
)
def test_a_users_yaml_at_the_config_name_is_left_alone(tmp_path, monkeypatch, stage, theirs):
    """A yaml of the user's at <out>.generate.yaml / .instruct.yaml: one line, nothing written,
    however many of the stage's names it shares."""
    from tests.test_user_outputs_gen_s11 import NOWHERE
    from tests.test_user_outputs_s11 import files, one_error_line

    monkeypatch.setenv("OPENAI_API_KEY", "x")
    name = f"notes.{stage}.yaml"
    (tmp_path / name).write_text(yaml.safe_dump(theirs, sort_keys=False))
    before = files(tmp_path)
    argv = gen_args(NOWHERE) if stage == "generate" else inst_args(NOWHERE)
    res = distill(*argv, cwd=tmp_path)
    one_error_line(res, f"{name}, beside --out notes.jsonl, exists", "distill did not write it")
    assert files(tmp_path) == before


def test_a_saved_config_without_out_is_not_distills(tmp_path):
    """The first version's fields but no --out: never one a stage saved (it refuses no --out)."""
    from distill.paths import check_side_files, outputs

    config = tmp_path / "notes.generate.yaml"
    config.write_text(yaml.safe_dump({k: None for k in FIRST["generate"]}))
    with pytest.raises(DistillError, match="distill did not write it"):
        check_side_files(outputs("--out", "notes.jsonl", config))


def test_a_train_yaml_an_older_train_saved_may_be_given_back_as_the_recipe(tmp_path):
    # check_recipe took train's own train.yaml by half of today's fields (41 of 82): one saved
    # by an older distill (35-38 fields) given back as --recipe while training into its own
    # folder was refused as the user's recipe. Now the first version's fields, as guard_train.
    from distill.config import save_config
    from distill.paths import _TRAIN_YAML_KEYS, check_recipe
    from distill.train.config import TrainConfig

    out = tmp_path / "exp1"
    cfg = TrainConfig(data=str(tmp_path / "kept.jsonl"), model="m", output_dir=str(out))
    saved = yaml.safe_load(open(save_config(cfg, out / "train.yaml")))
    old = {k: v for k, v in saved.items() if k in _TRAIN_YAML_KEYS}
    (out / "train.yaml").write_text(yaml.safe_dump(old))
    check_recipe(out / "train.yaml", [("train", cfg)])  # an older train's own: goes on
    (out / "train.yaml").write_text(yaml.safe_dump({"output_dir": str(out), "model": "m"}))
    with pytest.raises(DistillError, match=r"--recipe .*train\.yaml"):
        check_recipe(out / "train.yaml", [("train", cfg)])  # the user's recipe stays refused
