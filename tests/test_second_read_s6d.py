"""A second read of generate's third-read fixes (a2718ab, 211244b, c213c48, adff840, eb4d46c,
d1f00f4, 4ee3c14, 7e44df3, 8edcf5d, cc2ad79, b0f1323, 0804a62, 45bea73)."""

from __future__ import annotations

import pytest

from distill.generate import GenerateConfig, run
from distill.records import read_records

# ============================================================ 4ee3c14: the hf teacher's seed


class _Texts:
    def __init__(self):
        self.texts: list[str] = []

    def done(self, job, s, c):
        self.texts.append(c.text)

    def failed(self, job, s, why):
        raise AssertionError(why)


def test_hf_seeded_requests_of_one_prompt_are_not_copies_batch_after_batch(tiny_qwen):
    """instruct --method magpie --teacher hf --seed sends one prompt many times, each request
    as sample 0 of the same prompt id: 4ee3c14 seeded every batch by its (prompt, sample)
    rows, so every full batch drew the first one's numbers and a round of 6 requests in
    batches of 2 wrote 2 instructions three times over (the pass before seeded by position)."""
    from distill.generate.config import TeacherConfig
    from distill.teachers import TEACHERS, Job

    tcfg = TeacherConfig(
        teacher="hf",
        model=str(tiny_qwen),
        max_tokens=8,
        batch_size=2,
        seed=0,
        temperature=1.0,
        top_p=1.0,
        chat_template=False,
    )
    messages = [{"role": "user", "content": "Write an instruction:"}]
    jobs = [Job("p", messages, [0], payload=(f"r{i}", "magpie")) for i in range(6)]
    sink = _Texts()
    TEACHERS["hf"](tcfg).run(jobs, sink)
    assert len(sink.texts) == 6
    assert len(set(sink.texts)) == 6, sink.texts


class _SeededVLLM:
    """vLLM's offline API as its docs describe sampling: a request without its own seed draws
    from the engine's generator, seeded by LLM(seed=...) (0 by default in vLLM V1: "the results
    will remain consistent for each vLLM run even if temperature > 0"); a request with
    SamplingParams(seed=...) draws from its own."""

    class SamplingParams:
        def __init__(self, **kw):
            self.n, self.seed = kw["n"], kw.get("seed")

    class LLM:
        def __init__(self, **kw):
            import random

            self.rng = random.Random(kw.get("seed", 0))

        def get_tokenizer(self):
            from types import SimpleNamespace as NS

            return NS(chat_template="{{ messages }}")

        def chat(self, conversations, sampling_params, use_tqdm=False):
            import random
            from types import SimpleNamespace as NS

            outs = []
            for _, p in zip(conversations, sampling_params):
                rng = self.rng if p.seed is None else random.Random(p.seed)
                texts = [f"{rng.random():.12f}" for _ in range(p.n)]
                outs.append(NS(prompt_token_ids=[1, 2], outputs=[
                    NS(text=t, finish_reason="stop", token_ids=[3], logprobs=None,
                       stop_reason=None) for t in texts]))  # fmt: skip
            return outs


@pytest.mark.parametrize("seed", [0, None])
def test_vllm_more_samples_are_new_samples_not_copies(monkeypatch, tmp_path, seed):
    """4ee3c14's bug on the vllm teacher: each run starts an engine seeded alike (--seed, or
    vLLM V1's default 0), so a rerun at --n 4 after --n 2 asked the same prompts for 2 samples
    each in the same order and drew the first run's numbers: samples 2, 3 copied 0, 1."""
    import distill.teachers.vllm as backend

    monkeypatch.setattr(backend, "_import_vllm", lambda: _SeededVLLM)
    out = tmp_path / "t.jsonl"
    base = dict(data="builtin:arithmetic", limit=3, teacher="vllm", model="m", out=str(out))
    run(GenerateConfig(n=2, seed=seed, **base), progress=False)
    run(GenerateConfig(n=4, seed=seed, **base), progress=False)
    texts: dict = {}
    for r in read_records(out):
        texts.setdefault(r["prompt_id"], set()).add(r["answer"])
    assert [len(t) for t in texts.values()] == [4, 4, 4], texts


def test_vllm_seeded_requests_of_one_prompt_are_not_copies(monkeypatch):
    """instruct --method magpie --teacher vllm --seed asks one prompt as sample 0 many times:
    seeds per request must not make them one sample."""
    import distill.teachers.vllm as backend
    from distill.generate.config import TeacherConfig
    from distill.teachers.base import Job

    monkeypatch.setattr(backend, "_import_vllm", lambda: _SeededVLLM)
    tcfg = TeacherConfig(teacher="vllm", model="m", seed=0, chat_template=True)
    messages = [{"role": "user", "content": "Write an instruction:"}]
    sink = _Texts()
    backend.VLLMTeacher(tcfg).run([Job("p", messages, [0]) for _ in range(5)], sink)
    assert len(set(sink.texts)) == 5, sink.texts


def test_vllm_same_seed_same_samples(monkeypatch, tmp_path):
    """--seed still reproduces: the same command in a fresh folder writes the same samples."""
    import distill.teachers.vllm as backend

    monkeypatch.setattr(backend, "_import_vllm", lambda: _SeededVLLM)
    got = []
    for name in ("a", "b"):
        out = tmp_path / f"{name}.jsonl"
        run(GenerateConfig(data="builtin:arithmetic", limit=3, n=2, teacher="vllm", model="m",
                           seed=7, out=str(out)), progress=False)  # fmt: skip
        got.append({r["id"]: r["answer"] for r in read_records(out)})
    assert got[0] == got[1]
