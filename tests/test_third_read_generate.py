"""A third read of `distill generate`: resume without paying twice, and the numbers it reports."""

import json

import pytest

from distill.errors import DistillError
from distill.generate import PRICES, run, summarize
from distill.records import read_records
from distill.teachers.batch import BatchTeacher, state_path
from tests.fakebatch import FakeBatchServer


def cfg(server, out, **kw):  # test_generate's, two prompts, one sample each, one retry
    from tests.test_generate import cfg as generate_cfg

    return generate_cfg(
        server, out, **{"limit": 2, "n": 1, "concurrency": 2, "max_retries": 1, **kw}
    )


def summary(out):
    return json.loads(out.with_name(out.stem + ".summary.json").read_text())


def _same_length(self, i, prompt, max_tokens):
    # n choices of one length, 10 completion tokens billed for the three of them
    return {
        "index": i,
        "message": {"role": "assistant", "content": "abcd"},
        "finish_reason": "stop",
        "_tokens": 10 if i == 0 else 0,
    }


def test_n_samples_of_one_request_add_up_to_the_completion_tokens_billed(
    server, tmp_path, monkeypatch
):
    """A request for n=3 billed 10 completion tokens, split by text length: 3.33 each, rounded
    per sample to 3 + 3 + 3. The records, the summary and the cost said 9."""
    monkeypatch.setattr(type(server), "_choice", _same_length)
    out = tmp_path / "t.jsonl"
    run(cfg(server, out, limit=1, n=3, price_input=0.0, price_output=1e6), progress=False)
    recs = list(read_records(out))
    assert sum(r["usage"]["completion_tokens"] for r in recs) == 10
    s = summary(out)
    assert s["completion_tokens"] == 10
    assert s["cost_usd"] == pytest.approx(10.0) and s["this_run"]["cost_usd"] == pytest.approx(10.0)


def test_a_run_that_stops_still_leaves_a_summary_of_what_the_file_holds(server, tmp_path):
    """A run stopped by an account out of credit (or Ctrl-C, an unreachable server) wrote no
    summary: the one of the run before stayed, and the card and the user read 2 samples in a
    file of 3."""
    out = tmp_path / "t.jsonl"
    run(cfg(server, out, limit=2), progress=False)
    assert summary(out)["samples"] == 2
    server.faults.extend([{}, {"status": 402}])
    with pytest.raises(DistillError, match="no credit left"):
        run(cfg(server, out, limit=4, concurrency=1), progress=False)
    assert len(list(read_records(out))) == 3
    s = summary(out)
    assert s["samples"] == 3 and s["this_run"]["written"] == 1


def _batch_cfg(server, out, **kw):
    from tests.test_batch import cfg as batch_cfg

    return batch_cfg(server, out, **kw)


def test_a_finished_batch_of_other_settings_is_kept_for_a_run_with_those_settings(
    tmp_path, monkeypatch
):
    """Ctrl-C while a batch is in flight, then a rerun at another temperature: the finished
    batch held none of its samples and was marked collected, so its 10 paid replies were never
    written, and a rerun at the first temperature bought them again."""
    import time

    server = FakeBatchServer().start()
    try:
        out = tmp_path / "t.jsonl"
        server.plans.append({"hold": True})

        def interrupted(self, live):
            raise KeyboardInterrupt

        with monkeypatch.context() as m:
            m.setattr(BatchTeacher, "_poll", interrupted)
            with pytest.raises(KeyboardInterrupt):
                run(_batch_cfg(server, out), progress=False)
        server.release()
        deadline = time.monotonic() + 10
        while [b["status"] for b in server.batches.values()] != ["completed"]:
            assert time.monotonic() < deadline
            time.sleep(0.02)
        run(_batch_cfg(server, out, temperature=0.7), progress=False)
        assert server.uploads == 2 and len(list(read_records(out))) == 10
        run(_batch_cfg(server, out), progress=False)  # the first settings: collected, not bought
        assert server.uploads == 2 and len(server.batches) == 2
        assert len(list(read_records(out))) == 20
        assert all(e["collected"] for e in json.loads(state_path(out).read_text())["batches"])
    finally:
        server.stop()


# vLLM answers a request its pydantic model refuses with the validation error's text: lines
MESSAGE = (
    "1 validation error for ChatCompletionRequest\nmax_tokens\n"
    "  Input should be less than or equal to 2048 [type=less_than_equal, input_value=4096]"
)


@pytest.mark.parametrize("status", [404, 400])
def test_a_server_message_of_several_lines_is_one_line(tmp_path, status):
    """A 404 (not retried) or the same 400 on every request (vLLM's validation error, several
    lines): the error that stops the run spelled the server's message out line by line."""
    from aiohttp import web

    from tests.fakeserver import FakeServer

    class Refusing(FakeServer):
        async def chat(self, request):
            self.log.append({})
            return web.json_response({"error": {"message": MESSAGE}}, status=status)

    server = Refusing().start()
    try:
        with pytest.raises(DistillError) as e:
            run(cfg(server, tmp_path / "t.jsonl", limit=8, concurrency=1), progress=False)
    finally:
        server.stop()
    assert "\n" not in str(e.value) and "less than or equal to 2048" in str(e.value)


def test_a_batch_the_provider_refuses_in_several_lines_is_one_line(tmp_path):
    from aiohttp import web

    class Refusing(FakeBatchServer):
        async def create(self, request):
            return web.json_response({"error": {"message": MESSAGE}}, status=400)

    server = Refusing().start()
    try:
        with pytest.raises(DistillError) as e:
            run(_batch_cfg(server, tmp_path / "t.jsonl"), progress=False)
    finally:
        server.stop()
    assert "\n" not in str(e.value) and "less than or equal to 2048" in str(e.value)


def _fixed_reply_server(usage, model):
    from aiohttp import web

    from tests.fakeserver import FakeServer

    class Fixed(FakeServer):
        async def chat(self, request):
            body = await request.json()
            n = body.get("n") or 1
            choices = [
                {
                    "index": i,
                    "message": {"role": "assistant", "content": "42"},
                    "finish_reason": "stop",
                }
                for i in range(n)
            ]
            return web.json_response({"choices": choices, "usage": usage})

    return Fixed(model=model).start()


@pytest.mark.parametrize(
    "usage",
    [
        # OpenAI's
        {
            "prompt_tokens": 1000,
            "completion_tokens": 100,
            "prompt_tokens_details": {"cached_tokens": 800},
        },
        # DeepSeek's
        {
            "prompt_tokens": 1000,
            "completion_tokens": 100,
            "prompt_cache_hit_tokens": 800,
            "prompt_cache_miss_tokens": 200,
        },
    ],
)
def test_cached_prompt_tokens_are_kept_and_priced_at_the_cached_price(tmp_path, usage):
    """Prompt tokens the provider read from its cache (n samples of one prompt asked one by one,
    a shared system prompt) cost a quarter of the list price at DeepSeek, half or less at OpenAI:
    the records dropped the count and the cost priced them all at the full input price."""
    server = _fixed_reply_server(usage, "deepseek-chat")
    out = tmp_path / "t.jsonl"
    try:
        run(cfg(server, out, model="deepseek-chat", limit=1), progress=False)
    finally:
        server.stop()
    [rec] = read_records(out)
    assert rec["usage"]["cached_tokens"] == 800
    in_, out_, cached = PRICES["deepseek-chat"]
    assert cached < in_
    expect = (200 * in_ + 800 * cached + 100 * out_) / 1e6
    assert rec["usage"]["cost_usd"] == pytest.approx(expect)
    assert summary(out)["cost_usd"] == pytest.approx(expect)
    # records of an earlier run without cost_usd are priced the same way
    assert summarize(out)["cost_usd"] == pytest.approx(expect)
    del rec["usage"]["cost_usd"]
    out.write_text(json.dumps(rec) + "\n")
    assert summarize(out)["cost_usd"] == pytest.approx(expect)


def test_hf_more_samples_at_a_seed_are_new_samples_not_copies(tiny_qwen, tmp_path):
    """--teacher hf --seed 0: the generator was seeded with the batch's position in this run,
    so a rerun at --n 4 after --n 2 drew the same numbers for samples 2, 3 of each prompt as
    the first run drew for samples 0, 1: two copies of each sample, paid in GPU time."""
    from distill.generate import GenerateConfig

    out = tmp_path / "t.jsonl"
    base = dict(data="builtin:arithmetic", limit=2, teacher="hf", model=str(tiny_qwen))
    base.update(max_tokens=12, batch_size=4, out=str(out), seed=0, temperature=1.0, top_p=1.0)
    run(GenerateConfig(n=2, **base), progress=False)
    run(GenerateConfig(n=4, **base), progress=False)
    texts = {}
    for r in read_records(out):
        texts.setdefault(r["prompt_id"], {})[r["sample"]] = (r["reasoning"], r["answer"])
    assert len(texts) == 2
    for by_sample in texts.values():
        assert len(set(by_sample.values())) == 4, by_sample


def test_an_online_rerun_does_not_buy_again_what_batches_in_flight_hold(tmp_path, monkeypatch):
    """Ctrl-C while a batch runs, then the command again without --batch: every sample in that
    batch was bought a second time online, and the batch's replies were never collected."""
    server = FakeBatchServer().start()
    try:
        out = tmp_path / "t.jsonl"
        server.plans.append({"hold": True})

        def interrupted(self, live):
            raise KeyboardInterrupt

        with monkeypatch.context() as m:
            m.setattr(BatchTeacher, "_poll", interrupted)
            with pytest.raises(KeyboardInterrupt):
                run(_batch_cfg(server, out), progress=False)
        asked = len(server.log)
        with pytest.raises(DistillError, match=r"10 .*in flight.*--batch.*move"):
            run(_batch_cfg(server, out, batch=False), progress=False)
        assert len(server.log) == asked and not out.read_text()
        server.release()
        run(_batch_cfg(server, out), progress=False)  # --batch collects them
        assert len(list(read_records(out))) == 10 and server.uploads == 1
        run(_batch_cfg(server, out, batch=False), progress=False)  # nothing in flight: fine
        # the batch's own lines (one per prompt, n=2), nothing online
        assert len(server.log) == asked + len(server.submitted_ids()) == asked + 5
    finally:
        server.stop()


def test_a_rerun_with_raw_prompt_makes_new_samples(tiny_qwen, tmp_path):
    """--raw-prompt sends the teacher the prompt without the chat template, a different input;
    the ids did not say so, and a rerun with it said 0 to do over the chat-template samples."""
    from distill.generate import GenerateConfig

    out = tmp_path / "t.jsonl"
    base = dict(data="builtin:arithmetic", limit=1, n=1, teacher="hf", model=str(tiny_qwen))
    base.update(max_tokens=4, out=str(out), seed=0)
    run(GenerateConfig(**base), progress=False)
    run(GenerateConfig(chat_template=False, **base), progress=False)
    recs = list(read_records(out))
    assert len(recs) == 2 and len({r["id"] for r in recs}) == 2
    assert [r["teacher"].get("raw_prompt") for r in recs] == [None, True]
    run(GenerateConfig(chat_template=False, **base), progress=False)  # resumes as before
    assert len(list(read_records(out))) == 2


def test_raw_prompt_with_a_system_prompt_is_refused():
    """--raw-prompt sends the user message alone: a --system-prompt was dropped without a word
    while every record's messages said the teacher was sent it."""
    from distill.generate import GenerateConfig

    with pytest.raises(DistillError, match="--system-prompt.*--raw-prompt"):
        GenerateConfig(
            data="builtin:arithmetic", out="t.jsonl", teacher="hf", model="builtin:smollm2",
            chat_template=False, system_prompt="Be brief.",
        )  # fmt: skip


def test_a_users_jsonl_at_out_is_refused_not_appended_to(server, tmp_path):
    """--out naming a user's own dataset (rows with an `id`, no trace fields): its rows were
    taken for samples already bought, the summary counted them, and traces were appended to it."""
    out = tmp_path / "mine.jsonl"
    text = '{"id": 1, "problem": "What is 1 + 1?"}\n{"id": 2, "problem": "What is 2 + 2?"}\n'
    out.write_text(text)
    with pytest.raises(DistillError, match=r"mine.jsonl: record 1 .*not a trace record.*--out"):
        run(cfg(server, out), progress=False)
    assert out.read_text() == text and not server.log
    assert not (tmp_path / "mine.generate.yaml").exists()


def test_a_batch_collected_by_a_smaller_rerun_keeps_the_rest_of_its_replies(tmp_path, monkeypatch):
    """Ctrl-C while a batch of 5 prompts runs, then a rerun with --limit 3: it collected its 6
    samples and marked the batch collected, dropping the 4 paid replies of prompts 4 and 5;
    --limit 5 again bought them a second time."""
    server = FakeBatchServer().start()
    try:
        out = tmp_path / "t.jsonl"
        server.plans.append({"hold": True})

        def interrupted(self, live):
            raise KeyboardInterrupt

        with monkeypatch.context() as m:
            m.setattr(BatchTeacher, "_poll", interrupted)
            with pytest.raises(KeyboardInterrupt):
                run(_batch_cfg(server, out), progress=False)
        server.release()
        run(_batch_cfg(server, out, limit=3), progress=False)
        assert len(list(read_records(out))) == 6 and server.uploads == 1
        run(_batch_cfg(server, out), progress=False)
        assert server.uploads == 1 and len(server.batches) == 1
        ids = [r["id"] for r in read_records(out)]
        assert len(ids) == 10 == len(set(ids))
        assert all(e["collected"] for e in json.loads(state_path(out).read_text())["batches"])
    finally:
        server.stop()


def test_a_page_echoing_the_key_across_the_cut_never_shows_part_of_it(
    server, tmp_path, monkeypatch
):
    """A 200 that is not JSON (a portal page) quoted in the error line: it was cut at 80
    characters before the key was scrubbed from it, so a key the page echoed across the cut
    was left half shown."""
    key = "sk-live-0123456789abcdefghij"
    monkeypatch.setenv("MY_KEY", key)
    page = "<html>" + "x" * 60 + f"key={key}</html>"
    server.faults.extend([{"body": page, "content_type": "text/html"}] * 2)
    with pytest.raises(DistillError) as e:
        run(cfg(server, tmp_path / "t.jsonl", limit=1, api_key_env="MY_KEY"), progress=False)
    assert "not a JSON" in str(e.value) and "sk-live" not in str(e.value)


def test_a_batch_line_error_echoing_the_key_across_the_cut_never_shows_part_of_it(
    tmp_path, monkeypatch, capsys
):
    """A batch line's error message was cut at 200 characters before the key was scrubbed."""
    from aiohttp import web

    key = "sk-live-0123456789abcdefghij"
    monkeypatch.setenv("MY_KEY", key)

    class Echoing(FakeBatchServer):
        async def chat(self, request):
            message = "x" * 185 + f" key={key}"
            return web.json_response({"error": {"message": message}}, status=400)

    server = Echoing().start()
    try:
        with pytest.raises(DistillError) as e:
            run(_batch_cfg(server, tmp_path / "t.jsonl", limit=1, n=1, api_key_env="MY_KEY"))
    finally:
        server.stop()
    assert "HTTP 400" in str(e.value)
    assert "sk-live" not in str(e.value) + capsys.readouterr().out


def test_a_finished_batch_whose_output_file_is_gone_asks_its_samples_again(tmp_path, monkeypatch):
    """A batch re-attached after its output file was deleted at the provider (files expire; a
    colleague cleans up): the 404 on the file stopped every rerun with 'a rerun re-attaches
    them', forever. Its samples are asked again instead."""
    server = FakeBatchServer().start()
    try:
        out = tmp_path / "t.jsonl"
        server.plans.append({"hold": True})

        def interrupted(self, live):
            raise KeyboardInterrupt

        with monkeypatch.context() as m:
            m.setattr(BatchTeacher, "_poll", interrupted)
            with pytest.raises(KeyboardInterrupt):
                run(_batch_cfg(server, out), progress=False)
        server.release()
        [batch] = server.batches.values()
        while batch["status"] != "completed":
            import time

            time.sleep(0.02)
        del server.files[batch["output_file_id"]]
        run(_batch_cfg(server, out), progress=False)
        ids = [r["id"] for r in read_records(out)]
        assert len(ids) == 10 == len(set(ids)) and server.uploads == 2
    finally:
        server.stop()


def test_tpm_with_a_reply_whose_usage_has_no_total(tmp_path):
    """--tpm books each reply's real tokens from usage.total_tokens: a server that sends it as
    null stopped the run with a TypeError (one without it credited every token back)."""
    usage = {"prompt_tokens": 20, "completion_tokens": 5, "total_tokens": None}
    server = _fixed_reply_server(usage, "fake-r1")
    out = tmp_path / "t.jsonl"
    try:
        run(cfg(server, out, limit=2, tpm=1e6), progress=False)
    finally:
        server.stop()
    assert len(list(read_records(out))) == 2
