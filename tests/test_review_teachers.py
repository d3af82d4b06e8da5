"""Review of the teacher backends and the code sandbox: each test failed before its fix."""

from __future__ import annotations

import pytest

from distill.errors import DistillError
from tests.test_teachers_openai import Collect, jobs, teacher


def test_logprobs_from_a_server_that_sends_token_text_stop_at_its_first_reply(server, monkeypatch):
    """A server that ignores return_tokens_as_token_ids (OpenAI's own API) fails every reply's
    parse; that parse ran in the deferred writer, whose error waited for the end of the run,
    so every remaining prompt was still asked (and paid) with no record written."""
    import tests.fakeserver as fs

    real = fs.fake_logprobs
    monkeypatch.setattr(
        fs, "fake_logprobs", lambda text, k, stopped, as_ids: real(text, k, stopped, False)
    )
    t = teacher(server, logprobs=3, concurrency=2)
    with pytest.raises(DistillError, match="token text"):
        t.run(jobs(40), Collect())
    assert len(server.log) <= 4  # the workers in flight, not the whole run


SOURCE_READER = """```python
import os, re
def add(a, b):
    return a - b
mark = re.search(r"distill-tests-done-[0-9a-f]+", open("/in/solution.py").read()).group(0)
os.write(1, mark.encode())
os._exit(0)
```"""


def test_a_solution_cannot_read_its_own_program_for_the_tests_done_mark():
    """The asserts' done-mark is in the program the sandbox runs (/in/solution.py), which the
    guard let the solution read: it printed the mark and exited before the failing assert."""
    from distill.filter.code import verify_code
    from distill.filter.sandbox import isolation

    mode = isolation()
    if mode is None:
        pytest.skip("no OS isolation here")
    verdict, why = verify_code(SOURCE_READER, ["assert add(1, 2) == 3"], isolation=mode)
    assert verdict == "wrong", why


def test_tpm_books_every_sample_a_request_asks_for(server, monkeypatch):
    """--tpm with n>1 in one request booked one sample's max_tokens: the first wave sent n
    times the token budget (a provider counts max_tokens x n against TPM at once)."""
    from distill.teachers.openai import Pacer

    booked = []
    real = Pacer.reserve
    monkeypatch.setattr(
        Pacer, "reserve", lambda self, amount: booked.append(amount) or real(self, amount)
    )
    t = teacher(server, tpm=1e9, max_tokens=100)
    t.run(jobs(1, n=4), Collect())
    prompt = len("What is 0 + 1?") // 4
    assert booked == [prompt + 4 * 100]


class _FakeVLLM:
    """vllm's offline API as far as the vllm teacher uses it; like vLLM, a call with one prompt
    longer than the model's context is refused as a whole (ValueError)."""

    class SamplingParams:
        def __init__(self, **kw):
            self.n = kw["n"]

    class LLM:
        calls = 0

        def __init__(self, **kw):
            pass

        def get_tokenizer(self):
            from types import SimpleNamespace as NS

            return NS(chat_template="{{ messages }}")

        def chat(self, conversations, sampling_params, use_tqdm=False):
            from types import SimpleNamespace as NS

            type(self).calls += 1
            for c in conversations:
                if len(c[-1]["content"]) > 40:
                    raise ValueError(
                        "The decoder prompt (length 51) is longer than the maximum model length of 32."
                    )
            return [
                NS(
                    prompt_token_ids=[1, 2, 3],
                    outputs=[
                        NS(
                            text=f"{c[-1]['content']}!",
                            finish_reason="stop",
                            token_ids=[4, 5],
                            logprobs=None,
                            stop_reason=None,
                        )
                        for _ in range(p.n)
                    ],
                )
                for c, p in zip(conversations, sampling_params)
            ]


def test_vllm_a_prompt_over_the_context_fails_its_samples_not_the_run(monkeypatch):
    """vLLM refuses a whole llm.chat call when one prompt is over --max-model-len: the run
    stopped on a traceback, and every rerun stopped at the same shard."""
    import distill.teachers.vllm as backend
    from distill.generate import GenerateConfig
    from distill.teachers.base import Job

    monkeypatch.setattr(backend, "_import_vllm", lambda: _FakeVLLM)
    monkeypatch.setattr(_FakeVLLM.LLM, "calls", 0)
    cfg = GenerateConfig(data="builtin:arithmetic", teacher="vllm", model="m", out="u.jsonl",
                         shard_size=8)  # fmt: skip
    js = [Job(f"p{i}", [{"role": "user", "content": "x" * (50 if i == 5 else 5)}], [0, 1])
          for i in range(8)]  # fmt: skip
    sink = Collect()
    backend.VLLMTeacher(cfg).run(js, sink)
    assert set(sink.failures) == {("p5", 0), ("p5", 1)}
    assert "longer than the maximum model length" in sink.failures[("p5", 0)]
    assert len(sink.completions) == 14
    assert _FakeVLLM.LLM.calls <= 7  # halves: most of the shard stays batched


FORK_EXEC_AGAIN = """```python
import sys, os
def add(a, b):
    return a - b
del sys.modules["_posixsubprocess"]
import _posixsubprocess
r, w = os.pipe()
pid = _posixsubprocess.fork_exec([b"/bin/cat", b"/in/solution.py"], [b"/bin/cat"], True, (r, w),
    None, None, -1, -1, -1, -1, -1, -1, r, w, True, False, 0, None, None, None, -1, None, False)
os.waitpid(pid, 0)
os._exit(0)
```"""


def test_the_guard_cannot_be_dodged_by_importing_fork_exec_again():
    """The guard replaced _posixsubprocess.fork_exec, which raises no audit event; importing
    the module again gave back the real one: a child without the guard ran (here: printed the
    program, verify's done-mark with it, and the failing solution was judged correct)."""
    from distill.filter.code import extract_code, verify_code
    from distill.filter.sandbox import isolation, run_code

    mode = isolation()
    if mode is None:
        pytest.skip("no OS isolation here")
    r = run_code(extract_code(FORK_EXEC_AGAIN), isolation=mode)
    assert r.reason == "sandbox violation", r
    verdict, why = verify_code(FORK_EXEC_AGAIN, ["assert add(1, 2) == 3"], isolation=mode)
    assert verdict == "wrong", why


def test_an_account_out_of_credit_stops_the_run_at_once(server):
    """OpenAI answers 429 `insufficient_quota` and DeepSeek 402 to every request of an account
    out of credit: each 429 was retried (backoff up to max_retries) and every prompt failed in
    turn, for the whole run; now the first such answer is one line that stops it."""
    from aiohttp import web

    import tests.fakeserver as fs

    quota = {"error": {"message": "You exceeded your current quota", "code": "insufficient_quota",
                       "type": "insufficient_quota"}}  # fmt: skip

    class NoCredit(fs.FakeServer):
        async def chat(self, request):
            self.log.append({})
            return web.json_response(quota, status=429)

    broke = NoCredit().start()
    try:
        t = teacher(broke, concurrency=2, max_retries=3)
        with pytest.raises(DistillError, match="no credit left"):
            t.run(jobs(20), Collect())
        assert len(broke.log) <= 2
    finally:
        broke.stop()
    server.faults.extend({"status": 402} for _ in range(20))
    t = teacher(server, concurrency=2, max_retries=3)
    with pytest.raises(DistillError, match="HTTP 402.*no credit left"):
        t.run(jobs(20), Collect())
    assert len(server.log) <= 2


def test_a_batch_file_the_provider_cannot_serve_is_one_line_and_a_rerun_collects(tmp_path):
    """A 5xx (after the client's retries) on the batch's output file, or on any files/batches
    call but the status poll, stopped --batch on a traceback; now one line that says the
    batches keep running, and the rerun collects them."""
    from aiohttp import web

    from distill.generate import GenerateConfig, run
    from distill.records import read_records
    from tests.fakebatch import FakeBatchServer

    class Flaky(FakeBatchServer):
        down = True

        async def content(self, request):
            if self.down:
                return web.json_response({"error": {"message": "storage unavailable"}}, status=503)
            return await super().content(request)

    server = Flaky().start()
    try:
        out = tmp_path / "t.jsonl"
        cfg = GenerateConfig(data="builtin:arithmetic", limit=3, teacher="openai", model="fake-r1",
                             base_url=server.url, n=1, out=str(out), max_retries=0, batch=True,
                             batch_poll=0.05)  # fmt: skip
        with pytest.raises(DistillError, match=r"HTTP 503.*storage unavailable.*rerun"):
            run(cfg)
        server.down = False
        run(cfg)
        assert len(list(read_records(out))) == 3
        assert len(server.submitted_ids()) == 3  # collected from the first batch, not bought again
    finally:
        server.stop()


def test_a_teacher_without_a_chat_template_is_one_line_before_any_work(tiny_llama, monkeypatch):
    """--teacher hf (or vllm) with a base model that has no chat template: transformers'
    ValueError came as a traceback at the first batch, after the model had loaded; vLLM's failed
    every prompt. Now one line naming --raw-prompt."""
    import distill.teachers.vllm as backend
    from distill.generate import GenerateConfig
    from distill.models import load_tokenizer
    from distill.teachers.hf import HFTeacher

    real = load_tokenizer

    def templateless(name):
        tok = real(name)
        tok.chat_template = None
        return tok

    monkeypatch.setattr("distill.teachers.hf.load_tokenizer", templateless)
    cfg = GenerateConfig(data="builtin:arithmetic", teacher="hf", model=str(tiny_llama),
                         out="u.jsonl", device="cpu")  # fmt: skip
    with pytest.raises(DistillError, match="no chat template.*--raw-prompt"):
        HFTeacher(cfg)

    class NoTemplate(_FakeVLLM):
        class LLM(_FakeVLLM.LLM):
            def get_tokenizer(self):
                return templateless(str(tiny_llama))

    monkeypatch.setattr(backend, "_import_vllm", lambda: NoTemplate)
    cfg = GenerateConfig(data="builtin:arithmetic", teacher="vllm", model="m", out="u.jsonl")
    with pytest.raises(DistillError, match="no chat template.*--raw-prompt"):
        backend.VLLMTeacher(cfg)


def test_a_batch_request_the_provider_refuses_does_not_say_a_rerun_fixes_it(tmp_path):
    """A 404 on batches.create (a provider without a Batch API) or a 400 on the input file comes
    again on every rerun: the line says what was refused and names generate without --batch, not
    'rerun the same command to re-attach' (second read of 9d255cd)."""
    from aiohttp import web

    from distill.generate import GenerateConfig, run
    from tests.fakebatch import FakeBatchServer

    class NoBatches(FakeBatchServer):
        async def create(self, request):
            return web.json_response({"error": {"message": "Not Found"}}, status=404)

    server = NoBatches().start()
    try:
        cfg = GenerateConfig(data="builtin:arithmetic", limit=2, teacher="openai", model="fake-r1",
                             base_url=server.url, n=1, out=str(tmp_path / "t.jsonl"), max_retries=0,
                             batch=True, batch_poll=0.05)  # fmt: skip
        with pytest.raises(DistillError) as e:
            run(cfg)
        line = str(e.value)
        assert "HTTP 404" in line and "without --batch" in line and "\n" not in line
        assert "rerun the same command" not in line
    finally:
        server.stop()


def test_a_batch_error_page_of_several_lines_is_one_line(tmp_path):
    """A proxy's HTML page (several lines) as the body of a 404 on batches.create: the error
    stays one line (the message was cut to 200 characters with its newlines)."""
    from aiohttp import web

    from distill.generate import GenerateConfig, run
    from tests.fakebatch import FakeBatchServer

    class Proxy(FakeBatchServer):
        async def create(self, request):
            page = "<html>\n<body>\n<h1>404 Not Found</h1>\n</body>\n</html>\n"
            return web.json_response({"error": {"message": page}}, status=404)

    server = Proxy().start()
    try:
        cfg = GenerateConfig(data="builtin:arithmetic", limit=2, teacher="openai", model="fake-r1",
                             base_url=server.url, n=1, out=str(tmp_path / "t.jsonl"), max_retries=0,
                             batch=True, batch_poll=0.05)  # fmt: skip
        with pytest.raises(DistillError) as e:
            run(cfg)
        assert "404 Not Found" in str(e.value) and "\n" not in str(e.value)
    finally:
        server.stop()
