import json
import os
import signal
import subprocess
import sys
import time

import pytest

from distill.errors import DistillError
from distill.generate import GenerateConfig, run, summarize
from distill.records import read_records
from tests import forked, inproc
from tests.fakeserver import FakeServer

DESIGN_FIELDS = {
    "id",
    "prompt_id",
    "sample",
    "messages",
    "reasoning",
    "answer",
    "gold",
    "teacher",
    "finish_reason",
    "usage",
    "meta",
}


def cfg(server, out, **kw):
    base = dict(
        data="builtin:arithmetic",
        limit=10,
        teacher="openai",
        base_url=server.url if server else None,
        model="fake-r1",
        n=2,
        concurrency=4,
        out=str(out),
        max_retries=3,
    )
    return GenerateConfig(**{**base, **kw})


def records(path):
    return list(read_records(path))


def test_writes_design_records_and_rerun_sends_zero_requests(server, tmp_path):
    out = tmp_path / "t.jsonl"
    run(cfg(server, out), progress=False)
    recs = records(out)
    assert len(recs) == 20 and len({r["id"] for r in recs}) == 20
    r = recs[0]
    assert DESIGN_FIELDS <= set(r)
    assert r["teacher"] == {
        "backend": "openai",
        "model": "fake-r1",
        "params": {"temperature": 0.6, "top_p": 0.95, "max_tokens": 4096, "seed": None},
    }
    assert (
        r["reasoning"].startswith("Let me compute")
        and "\\boxed{" in r["answer"]
        and r["think"] == "closed"
    )
    assert r["messages"][0]["content"].endswith("within \\boxed{}.")
    assert r["gold"] == r["meta"]["answer"] and r["finish_reason"] == "stop"
    assert len(server.log) == 10 and all(req["n"] == 2 for req in server.log)  # n via the API
    sent = len(server.log)
    run(cfg(server, out, concurrency=9), progress=False)  # concurrency is not part of the id
    assert len(server.log) == sent
    assert len(records(out)) == 20
    assert (tmp_path / "t.generate.yaml").is_file()
    assert json.loads((tmp_path / "t.summary.json").read_text())["samples"] == 20


def test_changing_sampling_params_makes_new_samples(server, tmp_path):
    out = tmp_path / "t.jsonl"
    run(cfg(server, out, limit=3, n=1), progress=False)
    run(cfg(server, out, limit=3, n=1, temperature=0.9), progress=False)
    run(cfg(server, out, limit=3, n=1, max_tokens=1000), progress=False)
    assert len(records(out)) == 9 and len(server.log) == 9
    # Raising n only asks for the new sample indices.
    run(cfg(server, out, limit=3, n=2), progress=False)
    assert len(server.log) == 12 and server.log[-1]["n"] is None  # one missing sample: no n


def test_hanging_reply_times_out_without_holding_up_the_rest(server, tmp_path):
    server.faults.append({"hang": 30})
    out = tmp_path / "t.jsonl"
    with pytest.raises(DistillError, match="2 samples failed.*rerun"):
        run(cfg(server, out, concurrency=4, request_timeout=1.0, max_retries=0), progress=False)
    assert len(records(out)) == 18  # the other 9 prompts finished meanwhile
    run(cfg(server, out, concurrency=4, request_timeout=1.0, max_retries=0), progress=False)
    assert len(records(out)) == 20  # the rerun asked only for the missing prompt
    assert len(server.log) == 11


@pytest.mark.parametrize("style", ["reasoning_content", "reasoning", "prefilled"])
def test_reasoning_styles(style, tmp_path):
    s = FakeServer(style=style).start()
    try:
        out = tmp_path / "t.jsonl"
        run(cfg(s, out, limit=2, n=1), progress=False)
        r = records(out)[0]
        assert r["reasoning"].startswith("Let me compute") and r["answer"].startswith(
            "The answer is"
        )
        assert r["think"] == ("prefilled" if style == "prefilled" else "api")
    finally:
        s.stop()


def test_truncated_sample_is_recorded_not_retried(server, tmp_path):
    out = tmp_path / "t.jsonl"
    run(cfg(server, out, limit=2, n=1, max_tokens=5), progress=False)
    recs = records(out)
    assert [r["finish_reason"] for r in recs] == ["length", "length"]
    assert all(r["think"] == "unclosed" and r["answer"] == "" for r in recs)
    assert len(server.log) == 2
    assert summarize(out)["truncated"] == 2


def test_server_that_ignores_n_gets_separate_requests(tmp_path):
    s = FakeServer(ignore_n=True).start()
    try:
        out = tmp_path / "t.jsonl"
        run(cfg(s, out, limit=3, n=3, concurrency=1), progress=False)
        recs = records(out)
        assert sorted((r["prompt_id"], r["sample"]) for r in recs) == sorted(
            (p, i) for p in {r["prompt_id"] for r in recs} for i in range(3)
        )
    finally:
        s.stop()


def test_separate_requests_mode(server, tmp_path):
    out = tmp_path / "t.jsonl"
    run(cfg(server, out, limit=2, n=3, n_per_request=False, seed=7), progress=False)
    assert len(server.log) == 6 and all(req["n"] is None for req in server.log)
    assert sorted(req["seed"] for req in server.log) == [7, 7, 8, 8, 9, 9]


def test_401_is_not_retried_and_the_key_never_leaks(tmp_path, monkeypatch):
    s = FakeServer(api_key="right-key").start()
    try:
        monkeypatch.setenv("MY_KEY", "sk-secret-wrong-key")
        out = tmp_path / "t.jsonl"
        with pytest.raises(DistillError) as e:
            run(cfg(s, out, api_key_env="MY_KEY", max_retries=5), progress=False)
        assert "HTTP 401 (not retried)" in str(e.value) and "sk-secret" not in str(e.value)
        assert len(s.log) <= 4  # one per worker that got going, never retried
        assert not out.exists() or records(out) == []
        # With the right key it works, and the key is nowhere in what was written.
        monkeypatch.setenv("MY_KEY", "right-key")
        run(cfg(s, out, api_key_env="MY_KEY", limit=2), progress=False)
        for f in tmp_path.iterdir():
            assert "right-key" not in f.read_text()
    finally:
        s.stop()


def test_unreachable_base_url_is_a_clear_error_after_bounded_retries(tmp_path):
    import socket

    with socket.socket() as sock:  # a port nobody listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    c = GenerateConfig(
        data="builtin:arithmetic",
        limit=2,
        teacher="openai",
        base_url=f"http://127.0.0.1:{port}/v1",
        model="m",
        out=str(tmp_path / "t.jsonl"),
        max_retries=1,
    )
    t0 = time.monotonic()
    with pytest.raises(
        DistillError, match=rf"cannot reach http://127.0.0.1:{port}/v1 after 1 retries"
    ):
        run(c, progress=False)
    assert time.monotonic() - t0 < 20


def test_unknown_model_404_is_not_retried(server, tmp_path):
    with pytest.raises(DistillError, match="HTTP 404.*model 'nope'"):
        run(cfg(server, tmp_path / "t.jsonl", model="nope"), progress=False)
    assert len(server.log) <= 4


def _headers(entry: dict) -> dict[str, str]:
    return {k.lower(): v for k, v in entry["headers"].items()}


def test_first_try_goes_direct_with_the_clients_headers_and_the_rest_by_its_rules(
    server, tmp_path, monkeypatch
):
    """The first try of a request goes straight on aiohttp (DirectPost), the tries after it
    through the openai client: both carry the same key, organization, project and user agent,
    and the retry waits the client's backoff."""
    monkeypatch.setenv("MY_KEY", "sk-test-key")
    monkeypatch.setenv("OPENAI_ORG_ID", "org-distill")
    monkeypatch.setenv("OPENAI_PROJECT_ID", "proj-distill")
    server.faults.append({"status": 500})
    out = tmp_path / "t.jsonl"
    run(cfg(server, out, limit=1, n=1, concurrency=1, api_key_env="MY_KEY"), progress=False)
    assert len(records(out)) == 1 and len(server.log) == 2
    direct, retry = (_headers(e) for e in server.log)
    assert "x-stainless-retry-count" not in direct  # the direct try (openai's tries carry it)
    assert "x-stainless-retry-count" in retry
    for name in (
        "authorization",
        "openai-organization",
        "openai-project",
        "user-agent",
        "x-stainless-package-version",
        "content-type",
    ):
        assert direct.get(name) == retry.get(name) is not None, name
    assert direct["authorization"] == "Bearer sk-test-key"
    # openai's backoff before its first retry: 0.5 s less up to 25% jitter.
    assert server.log[1]["t"] - server.log[0]["t"] >= 0.37


def test_retries_wait_the_clients_growing_backoff(server, tmp_path):
    """After the direct try, retry i waits what the openai client waits before its retry i:
    0.5, 1, 2 s (less up to 25% jitter), not a backoff that starts over."""
    server.faults.extend([{"status": 500}] * 3)
    out = tmp_path / "t.jsonl"
    run(cfg(server, out, limit=1, n=1, concurrency=1, max_retries=3), progress=False)
    assert len(records(out)) == 1 and len(server.log) == 4
    assert "x-stainless-retry-count" not in _headers(server.log[0])
    gaps = [b["t"] - a["t"] for a, b in zip(server.log, server.log[1:])]
    assert [g >= 0.75 * 0.5 * 2**i for i, g in enumerate(gaps)] == [True, True, True], gaps


def test_compressed_error_replies_are_read_and_judged_as_the_client_would(server, tmp_path):
    server.faults.extend([{"status": 500, "gzip": True}, {"status": 400, "gzip": True}])
    with pytest.raises(DistillError, match="1 samples failed"):
        run(cfg(server, tmp_path / "t.jsonl", limit=2, n=1, concurrency=1), progress=False)
    assert _headers(server.log[0]).get("accept-encoding", "").find("gzip") >= 0
    assert len(server.log) == 3  # 500 retried, 400 not; the other prompt answered


def test_https_server_with_a_certificate_from_ssl_cert_file(tmp_path, monkeypatch):
    """Over TLS, the direct try and the client's retries trust the same certificates (certifi's,
    or SSL_CERT_FILE's as here: a self-signed one for 127.0.0.1)."""
    import shutil
    import ssl

    if not shutil.which("openssl"):
        pytest.skip("needs the openssl command to make a certificate")
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1"]
        + ["-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1"]
        + ["-keyout", str(key), "-out", str(cert)],
        check=True,
        capture_output=True,
    )
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ctx.load_cert_chain(cert, key)
    s = FakeServer(ssl_context=ctx).start()
    try:
        monkeypatch.setenv("SSL_CERT_FILE", str(cert))
        s.faults.append({"status": 503})
        out = tmp_path / "t.jsonl"
        run(cfg(s, out, limit=2, n=1, concurrency=1), progress=False)
        assert s.url.startswith("https://") and len(records(out)) == 2
        assert [("x-stainless-retry-count" in _headers(e)) for e in s.log] == [False, True, False]
    finally:
        s.stop()


def test_a_failing_prompt_gets_exactly_max_retries_plus_one_tries(server, tmp_path):
    server.faults.extend([{"status": 500}] * 5)
    with pytest.raises(DistillError, match="1 samples failed"):
        run(cfg(server, tmp_path / "t.jsonl", limit=1, n=1, max_retries=2), progress=False)
    assert len(server.log) == 3  # the direct try + openai's two retries, not one more
    assert "x-stainless-retry-count" not in _headers(server.log[0])


def test_a_hanging_reply_times_out_on_the_direct_try(server, tmp_path):
    server.faults.extend([{"hang": 30}, {"hang": 30}])
    out = tmp_path / "t.jsonl"
    t0 = time.monotonic()
    with pytest.raises(DistillError, match="1 samples failed"):
        run(cfg(server, out, limit=1, n=1, request_timeout=1.0, max_retries=1), progress=False)
    # a read timeout is not asked again: the server may bill it (tests/test_teachers_s15.py)
    assert len(server.log) == 1 and time.monotonic() - t0 < 15
    assert "x-stainless-retry-count" not in _headers(server.log[0])
    assert not out.exists() or records(out) == []


def test_a_reset_connection_is_retried(server, tmp_path):
    server.faults.append({"reset": True})
    out = tmp_path / "t.jsonl"
    run(cfg(server, out, limit=2, n=1, concurrency=1), progress=False)
    assert len(records(out)) == 2 and len(server.log) == 3
    assert "x-stainless-retry-count" not in _headers(server.log[0])


def test_a_reply_that_is_not_json_stops_the_run_without_asking_again(server, tmp_path):
    # asked again, a server that streams (SSE) or a proxy's page answers the same, each try paid
    # where it was generated (tests/test_teacher_replies_s16.py)
    out = tmp_path / "t.jsonl"
    run(cfg(server, out, limit=1, n=1, concurrency=1), progress=False)
    portal = {"body": "<html>portal</html>", "content_type": "text/html"}
    server.faults.extend([portal] * 2)
    with pytest.raises(DistillError, match=r"answered '<html>portal</html>', not a JSON.*base-url"):
        run(cfg(server, out, limit=2, n=1, concurrency=1), progress=False)
    assert len(records(out)) == 1 and len(server.log) == 2  # nothing written, asked once


def test_summary_counts_the_records_read_at_start_and_written_without_rereading(server, tmp_path):
    """The summary is built from the records read for their ids and those written; it equals a
    fresh `summarize` of the file over runs that resume, price, truncate and split n, after a
    whole last record that lacks its newline (kept: it is done) and after a torn one (cut)."""
    out = tmp_path / "t.jsonl"
    run(cfg(server, out, limit=3, n=1, price_input=1.0, price_output=2.0), progress=False)
    run(cfg(server, out, limit=5, n=3, max_tokens=8), progress=False)  # truncated, n=3 shared
    out.write_bytes(out.read_bytes().rstrip(b"\n"))  # a whole record, its newline missing
    sent = len(server.log)
    run(cfg(server, out, limit=5, n=3, max_tokens=8), progress=False)
    assert len(server.log) == sent  # that record is done: not asked for again
    summary = json.loads((tmp_path / "t.summary.json").read_text())
    assert summary.pop("this_run")["written"] == 0
    assert summary == summarize(out) and summary["samples"] == 18
    with open(out, "a") as f:  # a killed writer's half record: not counted, then cut
        f.write('{"id": "torn", "usa')
    run(cfg(server, out, limit=6, n=3, max_tokens=8), progress=False)
    summary = json.loads((tmp_path / "t.summary.json").read_text())
    this_run = summary.pop("this_run")
    assert summary == summarize(out)
    assert summary["samples"] == 3 + 15 + 3 and this_run["written"] == 3
    assert summary["truncated"] == 18 and summary["cost_usd"] > 0
    assert summary["by_teacher"] == {"openai:fake-r1": 21}
    assert len(out.read_text().splitlines()) == 21


def test_rpm_limit_paces_requests(server, tmp_path):
    run(cfg(server, tmp_path / "t.jsonl", limit=6, n=1, rpm=120, concurrency=6), progress=False)
    times = sorted(r["t"] for r in server.log)
    # 120/min = one every 0.5 s after a one-second burst of 2.
    assert times[-1] - times[0] >= 1.4


def test_cost_from_prices(server, tmp_path):
    out = tmp_path / "t.jsonl"
    run(cfg(server, out, limit=4, n=1, price_input=1.0, price_output=2.0), progress=False)
    recs = records(out)
    expect = (
        sum(r["usage"]["prompt_tokens"] * 1.0 + r["usage"]["completion_tokens"] * 2.0 for r in recs)
        / 1e6
    )
    summary = json.loads((tmp_path / "t.summary.json").read_text())
    assert summary["this_run"]["cost_usd"] == pytest.approx(expect, rel=1e-6) and expect > 0
    # The file's total counts them at the price they were bought at (the model has no list price).
    assert summary["cost_usd"] == pytest.approx(expect, rel=1e-5)


def test_ensemble_records_say_which_teacher_wrote_them(tmp_path):
    s = FakeServer(model="fake-r1").start()
    s2 = FakeServer(model="other", style="reasoning_content").start()
    try:
        out = tmp_path / "t.jsonl"
        c = GenerateConfig(
            data="builtin:arithmetic",
            limit=3,
            n=1,
            out=str(out),
            teacher="openai",
            model="fake-r1",
            base_url=s.url,
            teachers=[{}, {"model": "other", "base_url": s2.url}],
        )
        run(c, progress=False)
        by = {}
        for r in records(out):
            by.setdefault(r["teacher"]["model"], []).append(r)
        assert {k: len(v) for k, v in by.items()} == {"fake-r1": 3, "other": 3}
        assert {r["think"] for r in by["other"]} == {"api"}
    finally:
        s.stop()
        s2.stop()


# what `distill generate --teacher openai` imports on its way: imported before a kill test forks
GENERATE_IMPORTS = ("distill.generate.stage", "distill.teachers.openai", "openai", "aiohttp")


def test_sigkill_mid_run_then_rerun_loses_and_duplicates_nothing(tmp_path):
    s = FakeServer(latency=0.05).start()
    try:
        out = tmp_path / "t.jsonl"
        cmd = [
            "generate",
            "--data",
            "builtin:arithmetic",
            "--limit",
            "100",
            "--teacher",
            "openai",
            "--base-url",
            s.url,
            "--model",
            "fake-r1",
            "--n",
            "2",
            "--concurrency",
            "4",
            "--out",
            str(out),
            "--quiet",
        ]
        # Killed from outside: a process forked from this one (tests/forked.py), without the
        # interpreter start and imports a subprocess paid; the rerun in this process below.
        proc = forked.start(*cmd, imports=GENERATE_IMPORTS)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and (not out.exists() or out.stat().st_size < 20_000):
            time.sleep(0.02)
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        before = {r["id"] for r in records(out)}
        assert 0 < len(before) < 200, "the kill should land mid-run"
        # A kill can land between the two samples of one response: such a prompt is half done.
        samples: dict[str, int] = {}
        for r in records(out):
            samples[r["messages"][0]["content"]] = samples.get(r["messages"][0]["content"], 0) + 1
        done_prompts = {p for p, k in samples.items() if k == 2}
        half_done = {p for p, k in samples.items() if k == 1}
        first_run_requests = len(s.log)
        s.latency = 0.0  # slow only so the kill lands mid-run
        res = inproc.distill(*cmd)
        assert res.returncode == 0, res.stderr
        recs = records(out)
        ids = [r["id"] for r in recs]
        assert len(ids) == 200 and len(set(ids)) == 200  # nothing lost, nothing twice
        assert before <= set(ids)
        rerun = s.log[first_run_requests:]
        # No request for a prompt whose samples were already on disk; a half-done prompt is
        # asked for its missing sample only.
        asked = {req["messages"][0]["content"]: req["n"] for req in rerun}
        assert not done_prompts & set(asked)
        assert len(rerun) == 100 - len(done_prompts)
        assert all(asked[p] in (None, 1) for p in half_done)
    finally:
        s.stop()


def test_hf_teacher_end_to_end_on_a_tiny_model(tiny_qwen, tmp_path):
    out = tmp_path / "t.jsonl"
    c = GenerateConfig(
        data="builtin:arithmetic",
        limit=3,
        n=2,
        teacher="hf",
        model=str(tiny_qwen),
        max_tokens=6,
        batch_size=4,
        out=str(out),
        seed=0,
    )
    run(c, progress=False)
    recs = records(out)
    assert len(recs) == 6 and {r["sample"] for r in recs} == {0, 1}
    for r in recs:
        assert r["teacher"]["backend"] == "hf"
        assert r["usage"]["completion_tokens"] <= 6 and r["usage"]["prompt_tokens"] > 10
        assert r["finish_reason"] in ("stop", "length")
    run(c, progress=False)  # resume: nothing new
    assert len(records(out)) == 6


def test_vllm_teacher_without_vllm_is_a_clear_error(tmp_path):
    try:
        import vllm  # noqa: F401

        pytest.skip("vllm is installed")
    except ImportError:
        pass
    c = GenerateConfig(
        data="builtin:arithmetic", limit=1, teacher="vllm", model="m", out=str(tmp_path / "t.jsonl")
    )
    with pytest.raises(DistillError, match=r"pip install 'distill\[vllm\]'"):
        run(c, progress=False)


def test_alpaca_template_drops_the_input_section_for_rows_without_input(server, tmp_path):
    data = tmp_path / "alpaca.jsonl"
    rows = [
        {"instruction": "Add the numbers.", "input": "1, 2", "output": "3"},
        {"instruction": "Name a colour.", "input": "", "output": "Blue"},
    ]
    data.write_text("".join(json.dumps(r) + "\n" for r in rows))
    run(
        cfg(
            server,
            tmp_path / "t.jsonl",
            data=str(data),
            prompt_field="instruction",
            answer_field="output",
            template="alpaca",
            n=1,
        ),
        progress=False,
    )
    sent = {m["messages"][-1]["content"] for m in server.log}
    assert len(sent) == 2
    with_input = next(t for t in sent if "Add the numbers." in t)
    without = next(t for t in sent if "Name a colour." in t)
    assert "### Input:\n1, 2\n" in with_input
    assert "### Input" not in without and without.rstrip().endswith("### Response:")


def _listen_overflows() -> int | None:
    """Linux's count of SYNs dropped because a listen queue was full (None elsewhere)."""
    try:
        with open("/proc/net/netstat") as f:
            lines = f.read().splitlines()
    except OSError:
        return None
    for head, values in zip(lines[::2], lines[1::2]):
        if head.startswith("TcpExt:"):
            return int(dict(zip(head.split(), values.split()))["ListenOverflows"])
    return None


# one xdist worker runs both (make test: --dist loadgroup): the full queue's dropped SYNs are
# counted machine-wide by the cold-server test
@pytest.mark.xdist_group("listen_queue")
def test_cold_server_with_listen_backlog_5_gets_every_prompt_once(tmp_path):
    """A real `http.server.ThreadingHTTPServer` (listen backlog 5), started just before the run.

    128 connections opened at once can overflow its accept queue: the kernel drops the SYNs and
    retries them 1 s, 3 s, 7 s ... later (runs took 30-117 s instead of 6). Here every prompt
    reaches the server once, over one kept-alive connection per worker, and the kernel drops no
    SYN on the way.
    """
    import urllib.request

    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    proc = subprocess.Popen(
        [sys.executable, "-m", "tests.servers", "--kind", "threading", "--latency", "0.02"],
        cwd=root,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        url = proc.stdout.readline().split()[-1]  # bound, and no request sent yet
        before = _listen_overflows()
        c = cfg(None, tmp_path / "t.jsonl", base_url=url, limit=256, n=1, concurrency=128)
        run(c, progress=False)
        after = _listen_overflows()
        with urllib.request.urlopen(url.removesuffix("/v1") + "/stats") as f:
            stats = json.loads(f.read())
    finally:
        proc.terminate()
        proc.wait()
    recs = records(tmp_path / "t.jsonl")
    assert len(recs) == 256 and len({r["id"] for r in recs}) == 256
    assert stats["answered"] == stats["distinct_prompts"] == 256  # no request sent twice
    # At most one per worker, kept alive (+ the GET /stats); fewer when a worker that starts late
    # picks up an idle connection of one already done (20 ms replies, a 2 ms ramp).
    assert stats["connections"] <= 128 + 1, stats
    if before is not None:
        # 128 connections opened at once overflow a backlog of 5 by ~120 (172 with the kernel's
        # retries in bench-generate); the ramp drops none on a quiet machine, and a few when the
        # server process is starved of CPU (17 seen with a training job on both cores). The count
        # is machine-wide, so other jobs' listen queues add to it too.
        assert after - before < 64, f"{after - before} SYNs dropped (machine-wide): a burst?"


# one xdist worker runs both (make test: --dist loadgroup): the full queue's dropped SYNs are
# counted machine-wide by the cold-server test
@pytest.mark.xdist_group("listen_queue")
def test_connect_to_a_full_listen_queue_gives_up_after_the_connect_timeout(tmp_path, monkeypatch):
    """A server whose accept queue stays full drops every SYN. The aiohttp transport took
    the request timeout (600 s by default) as its connect timeout, so such a connect waited out
    the kernel's SYN retries (1, 3, 7, 15, 31, 63 s); now it is cut at CONNECT_TIMEOUT (5 s,
    the openai client's default) and the retry opens a fresh connection."""
    import socket

    import distill.teachers.openai

    # 1 s here, not 5: the suite's worker waited the whole connect timeout out
    monkeypatch.setattr(distill.teachers.openai, "CONNECT_TIMEOUT", 1.0)
    CONNECT_TIMEOUT = distill.teachers.openai.CONNECT_TIMEOUT

    with socket.socket() as listener, socket.socket() as filler:
        listener.bind(("127.0.0.1", 0))
        listener.listen(0)  # a queue of one, never accepted ...
        filler.connect(listener.getsockname())  # ... and now full
        url = f"http://127.0.0.1:{listener.getsockname()[1]}/v1"
        c = cfg(
            None, tmp_path / "t.jsonl", base_url=url, limit=1, max_retries=0, request_timeout=120
        )
        t0 = time.monotonic()
        with pytest.raises(DistillError, match=rf"cannot reach {url} after 0 retries"):
            run(c, progress=False)
        assert time.monotonic() - t0 < CONNECT_TIMEOUT + 10  # not the 120 s request timeout


def test_empty_traces_from_a_failed_generate_are_not_taken_for_a_finished_run(server, tmp_path):
    """A generate that fails before its first record leaves an empty traces file: filter says
    so and stops, and a rerun of generate does every prompt."""
    import socket

    from distill import filter as filter_stage

    out = tmp_path / "t.jsonl"
    with socket.socket() as sock:  # a port nobody listens on
        sock.bind(("127.0.0.1", 0))
        dead = f"http://127.0.0.1:{sock.getsockname()[1]}/v1"
    with pytest.raises(DistillError, match="cannot reach"):
        run(cfg(server, out, base_url=dead, max_retries=0), progress=False)
    assert out.read_text() == ""
    with pytest.raises(DistillError, match="holds no traces"):
        filter_stage.run(
            filter_stage.FilterConfig(input=str(out), out=str(tmp_path / "k.jsonl")), quiet=True
        )
    assert not (tmp_path / "k.jsonl").exists()
    run(cfg(server, out), progress=False)
    assert len(records(out)) == 20 and len(server.log) == 10


def test_an_error_line_names_the_server_without_the_token_in_its_url(tmp_path, monkeypatch):
    """--base-url http://user:token@host/v1 (aiohttp will not send it beside the Bearer key):
    one line naming the server, not the token, and where the key goes."""
    s = FakeServer(api_key="right-key").start()
    try:
        monkeypatch.setenv("MY_KEY", "sk-wrong")
        url = s.url.replace("http://", "http://alice:tok3n@")
        with pytest.raises(DistillError) as e:
            run(cfg(None, tmp_path / "t.jsonl", base_url=url, api_key_env="MY_KEY"), progress=False)
        assert "user:password@ in the URL is not sent" in str(e.value)
        assert s.url.split("://")[1] in str(e.value) and "$MY_KEY" in str(e.value)
        assert "tok3n" not in str(e.value) and "alice" not in str(e.value)
        assert s.log == []  # refused before any request
    finally:
        s.stop()


def test_a_query_in_the_base_url_goes_with_every_request(tmp_path):
    """--base-url http://host/v1?api-version=X (Azure-style gateways): every request, the direct
    first try and a retry through the openai client alike, is POST /v1/chat/completions?api-version=X.
    The client appends its route to the raw base URL (POST /v1?api-version=X/chat/completions,
    a 404) unless the query is split off as its default query."""
    s = FakeServer().start()
    try:
        s.faults.append({"status": 500})  # the first request's retry goes through the client
        url = s.url + "?api-version=2024-06-01"
        out = tmp_path / "t.jsonl"
        run(cfg(None, out, base_url=url, limit=3, n=1), progress=False)
        assert len(records(out)) == 3
        assert len(s.log) == 4  # three prompts, one retried
        assert all(e["query"] == {"api-version": "2024-06-01"} for e in s.log)
    finally:
        s.stop()
