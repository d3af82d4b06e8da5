"""README promises, checked command by command against the CLI (review s7).

    .venv/bin/python -m pytest tests/test_readme_promises_s7.py -q

Each test quotes the README sentence it holds the tool to.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from distill.cli import app

SEED = {
    "id": "seed_task_0",
    "name": "sum",
    "instruction": "Add the two numbers given.",
    "instances": [{"input": "2 and 3", "output": "5"}],
    "is_classification": False,
}


def _files(root: Path) -> list[str]:
    return sorted(str(p.relative_to(root)) for p in root.rglob("*"))


# "Every refusal is one `error: ...` line on stderr and exit 1 ..., with nothing written"; "generate's
# `--base-url` with a `user:password@` is one line saying the key goes in `--api-key-env`'s
# variable". The openai teacher's key and URL were checked only when the teacher was built, after
# generate had written an empty traces file, its .generate.yaml and .summary.json (instruct: its
# three files; eval: the samples' files), so the next `distill filter` said "holds no traces".
_NO_KEY = ["--model", "gpt-4o"]  # OpenAI's own URL: a key is needed
_USERPASS = ["--model", "m", "--base-url", "http://user:secret@127.0.0.1:9/v1"]
CASES = [
    ("generate-no-key", ["generate", "--data", "builtin:arithmetic?n=2", *_NO_KEY,
                         "--out", "o/t.jsonl"], "no API key", True),
    ("generate-batch-no-key", ["generate", "--data", "builtin:arithmetic?n=2", *_NO_KEY,
                               "--batch", "--out", "o/t.jsonl"], "no API key", True),
    ("generate-userpass", ["generate", "--data", "builtin:arithmetic?n=2", *_USERPASS,
                           "--out", "o/t.jsonl"], "user:password@", False),
    ("instruct-no-key", ["instruct", "--seed-tasks", "seeds.jsonl", "--teacher", "openai",
                         *_NO_KEY, "--num-instructions", "2", "--out", "o/i.jsonl"],
     "no API key", True),
    ("instruct-userpass", ["instruct", "--seed-tasks", "seeds.jsonl", "--teacher", "openai",
                           *_USERPASS, "--num-instructions", "2", "--out", "o/i.jsonl"],
     "user:password@", False),
    ("eval-no-key", ["eval", "--backend", "openai", *_NO_KEY, "--data",
                     "builtin:arithmetic?n=2", "--out", "o/eval.json"], "no API key", True),
    ("eval-userpass", ["eval", "--backend", "openai", *_USERPASS, "--data",
                       "builtin:arithmetic?n=2", "--out", "o/eval.json"], "user:password@", False),
]  # fmt: skip


@pytest.mark.parametrize(
    "argv, expect, unset_key", [c[1:] for c in CASES], ids=[c[0] for c in CASES]
)
def test_refused_openai_teacher_writes_nothing(tmp_path, monkeypatch, argv, expect, unset_key):
    (tmp_path / "seeds.jsonl").write_text(json.dumps(SEED) + "\n")
    monkeypatch.chdir(tmp_path)
    if unset_key:
        monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    else:
        monkeypatch.setenv("OPENAI_API_KEY", "sk-test")
    before = _files(tmp_path)
    res = CliRunner().invoke(app, argv)
    assert res.exit_code == 1, (res.stdout, res.stderr)
    lines = [ln for ln in res.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: ") and expect in lines[0], res.stderr
    assert "secret" not in res.stderr + res.stdout
    assert _files(tmp_path) == before, "a refused teacher left files behind"


# "A value out of range, named by its flag ... `--limit`" and "An empty or blank `--data` file
# ... stops the command instead of writing 0 samples and exiting 0": generate took `--limit 0`
# (train's and eval's `--limit` start at 1), wrote an empty traces file and exited 0, so the next
# `distill filter` stopped on "holds no traces".
def test_generate_limit_zero_is_refused_by_its_flag(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test")
    argv = ["generate", "--data", "builtin:arithmetic?n=2", "--model", "m", "--base-url",
            "http://127.0.0.1:9/v1", "--limit", "0", "--out", "o/t.jsonl"]  # fmt: skip
    res = CliRunner().invoke(app, argv)
    assert res.exit_code == 1, (res.stdout, res.stderr)
    assert res.stderr.strip() == "error: generate: --limit 0: must be >= 1", res.stderr
    assert _files(tmp_path) == []


# "magpie ...: a base model without a chat template is one line naming `--model`", and a refusal
# writes nothing: the line came only when the first round began, after .instruct.yaml, an empty
# --out and an empty .requests.jsonl were written.
def test_magpie_without_chat_template_writes_nothing(tmp_path, monkeypatch, tiny_qwen):
    import shutil

    model = tmp_path / "base"
    shutil.copytree(tiny_qwen, model)
    (model / "chat_template.jinja").unlink(missing_ok=True)
    cfg = json.loads((model / "tokenizer_config.json").read_text())
    cfg.pop("chat_template", None)
    (model / "tokenizer_config.json").write_text(json.dumps(cfg))
    monkeypatch.chdir(tmp_path)
    before = _files(tmp_path)
    argv = ["instruct", "--method", "magpie", "--teacher", "hf", "--model", "base",
            "--num-instructions", "2", "--out", "o/m.jsonl"]  # fmt: skip
    res = CliRunner().invoke(app, argv)
    assert res.exit_code == 1, (res.stdout, res.stderr)
    lines = [ln for ln in res.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1 and "--model base" in lines[0] and "chat template" in lines[0], lines
    assert _files(tmp_path) == before, "a refused magpie run left files behind"


# The same for a backend that is not installed: `--teacher vllm` without vLLM wrote the traces
# file, its .generate.yaml and .summary.json (eval: the samples' files) before its one line.
VLLM_CASES = [
    ("generate", ["generate", "--data", "builtin:arithmetic?n=2", "--teacher", "vllm", "--model",
                  "m", "--out", "o/t.jsonl"]),
    ("instruct", ["instruct", "--seed-tasks", "seeds.jsonl", "--teacher", "vllm", "--model", "m",
                  "--num-instructions", "2", "--out", "o/i.jsonl"]),
    ("eval", ["eval", "--backend", "vllm", "--model", "m", "--data", "builtin:arithmetic?n=2",
              "--out", "o/eval.json"]),
]  # fmt: skip


@pytest.mark.parametrize("argv", [c[1] for c in VLLM_CASES], ids=[c[0] for c in VLLM_CASES])
def test_vllm_teacher_without_vllm_writes_nothing(tmp_path, monkeypatch, argv):
    import distill.teachers.vllm as backend
    from distill.errors import DistillError

    def no_vllm():
        raise DistillError(backend._NO_VLLM)

    monkeypatch.setattr(backend, "_import_vllm", no_vllm)  # as on a machine without vLLM
    (tmp_path / "seeds.jsonl").write_text(json.dumps(SEED) + "\n")
    (tmp_path / "m").mkdir()
    (tmp_path / "m" / "config.json").write_text("{}")  # passes the model-folder check
    monkeypatch.chdir(tmp_path)
    before = _files(tmp_path)
    res = CliRunner().invoke(app, argv)
    assert res.exit_code == 1, (res.stdout, res.stderr)
    lines = [ln for ln in res.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1 and "pip install 'distill[vllm]'" in lines[0], res.stderr
    assert _files(tmp_path) == before, "a refused teacher left files behind"


# "a checkpoint without its classification head (a chat model ...) is one line": stderr also held
# transformers' progress bar and its LOAD REPORT table of the missing head (hidden in the test
# suite, which sets TRANSFORMERS_VERBOSITY=error; a user's shell does not), so the real CLI runs
# here with the default verbosity.
def test_reward_judge_without_a_head_is_one_line(tmp_path, tiny_qwen):
    import os
    import subprocess
    import sys

    trace = {
        "id": "t0", "prompt_id": "p0", "sample": 0, "gold": "2", "answer": "\\boxed{2}",
        "messages": [{"role": "user", "content": "What is 1 + 1?"}], "reasoning": "1 + 1 = 2",
        "teacher": {"backend": "openai", "model": "m", "params": {}}, "finish_reason": "stop",
        "usage": {"prompt_tokens": 5, "completion_tokens": 9}, "meta": {},
    }  # fmt: skip
    (tmp_path / "kept.jsonl").write_text(json.dumps(trace) + "\n")
    env = {k: v for k, v in os.environ.items() if k != "TRANSFORMERS_VERBOSITY"}
    env.update(HF_HUB_OFFLINE="1", OMP_NUM_THREADS="1")
    argv = ["select", "kept.jsonl", "--out", "s/s.jsonl", "--judge-backend", "reward",
            "--judge", str(tiny_qwen)]  # fmt: skip
    res = subprocess.run(
        [sys.executable, "-m", "distill", *argv],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert res.returncode == 1, res.stderr
    lines = [ln for ln in res.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1 and "is no reward model" in lines[0], res.stderr
    assert not (tmp_path / "s").exists()
