import json
import os
import re
import signal
import subprocess
import sys
import threading
import time

import pytest

from distill.config import load_config
from distill.errors import DistillError
from distill.generate import GenerateConfig, run
from distill.records import read_records
from distill.teachers.batch import split_requests, state_path
from tests import forked
from tests.fakebatch import FakeBatchServer
from tests.test_generate import GENERATE_IMPORTS


@pytest.fixture
def server():
    s = FakeBatchServer().start()
    yield s
    s.stop()


def cfg(server, out, **kw):
    base = dict(
        data="builtin:arithmetic",
        limit=5,
        teacher="openai",
        base_url=server.url,
        model="fake-r1",
        n=2,
        out=str(out),
        max_retries=2,
        batch=True,
        batch_poll=0.05,
    )
    return GenerateConfig(**{**base, **kw})


def records(path):
    return list(read_records(path))


def summary(out):
    return json.loads(out.with_name(out.stem + ".summary.json").read_text())


def canon(body):
    return json.dumps(body, sort_keys=True)


def test_batch_records_are_the_online_records_at_half_the_cost(server, tmp_path):
    prices = dict(price_input=1.0, price_output=2.0)
    online, batched = tmp_path / "online.jsonl", tmp_path / "batch.jsonl"
    # One request per sample on both paths (--separate-requests; test_batch_s13 the lines
    # that ask for n), so both send the same requests.
    run(cfg(server, online, batch=False, n_per_request=False, **prices), progress=False)
    online_bodies = [canon(b) for b in server.bodies]
    run(cfg(server, batched, batch_requests=3, n_per_request=False, **prices), progress=False)

    # 10 samples, at most 3 per batch: 4 batches; custom_id = the record id; each line's body
    # is what the online path sent.
    assert len(server.batches) == 4 and server.uploads == 4
    assert all(len(b["_lines"]) <= 3 for b in server.batches.values())
    lines = [line for b in server.batches.values() for line in b["_lines"]]
    assert sorted(canon(line["body"]) for line in lines) == sorted(online_bodies)
    assert {line["url"] for line in lines} == {"/v1/chat/completions"}

    by_id = {r["id"]: r for r in records(online)}
    got = records(batched)
    assert (
        sorted(line["custom_id"] for line in lines) == sorted(by_id) == sorted(r["id"] for r in got)
    )
    for r in got:
        assert r.pop("batch") in server.batches  # lineage: which batch wrote it
        paid, online_paid = r["usage"].pop("cost_usd"), by_id[r["id"]]["usage"].pop("cost_usd")
        assert online_paid > 0 and paid == pytest.approx(online_paid / 2)  # each at its price
        assert r == by_id[r["id"]]  # reasoning split, usage, meta, template: all the same
    cost_online = summary(online)["this_run"]["cost_usd"]
    assert cost_online > 0
    assert summary(batched)["this_run"]["cost_usd"] == pytest.approx(cost_online / 2, rel=1e-3)

    state = json.loads(state_path(batched).read_text())["batches"]
    assert [e["batch_id"] for e in state] == list(server.batches)
    assert all(e["collected"] and e["status"] == "completed" for e in state)
    # A rerun finds everything on disk: no upload, no batch.
    run(cfg(server, batched, batch_requests=3, n_per_request=False, **prices), progress=False)
    assert len(server.batches) == 4 and server.uploads == 4 and len(records(batched)) == 10


def _cli(server, out, *extra):
    return [
        sys.executable,
        "-m",
        "distill.cli",
        "generate",
        "--data",
        "builtin:arithmetic",
        "--limit",
        "10",
        "--n",
        "2",
        "--teacher",
        "openai",
        "--base-url",
        server.url,
        "--model",
        "fake-r1",
        "--out",
        str(out),
        "--batch",
        "--batch-poll",
        "0.05",
        "--quiet",
        *extra,
    ]


def test_sigkill_with_batches_in_flight_then_rerun_reattaches(server, tmp_path, capsys):
    """20 samples in 4 batches of 5; two finish, two are held in flight when the run is
    SIGKILLed. For one of the held ones the state is then as if the kill had landed between
    `batches.create` and saving its id. The rerun re-attaches to both: nothing lost, nothing
    written twice, nothing submitted twice."""
    server.plans.extend([{}, {}, {"hold": True}, {"hold": True}])
    out = tmp_path / "t.jsonl"
    state = state_path(out)
    cmd = _cli(server, out, "--batch-requests", "5", "--separate-requests")
    # killed from outside: a process forked from this one (tests/forked.py), without the
    # interpreter start and imports a `python -m distill.cli` subprocess paid
    proc = forked.start(*cmd[3:], imports=("distill.teachers.batch", *GENERATE_IMPORTS))

    def ready():
        if not state.exists() or not out.exists():
            return False
        entries = json.loads(state.read_text())["batches"]
        # The two finished batches written and marked collected (a kill between the two is the
        # other re-attach case, tested below), the two held ones submitted.
        return (
            len(records(out)) == 10
            and sum(bool(e["batch_id"]) for e in entries) == 4
            and sum(bool(e.get("collected")) for e in entries) == 2
        )

    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and not ready():
        time.sleep(0.05)
    assert ready(), "the first two batches should be written and the last two in flight"
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    before = {r["id"] for r in records(out)}
    data = json.loads(state.read_text())
    held = [e for e in data["batches"] if not e.get("collected")]
    assert len(held) == 2
    held[0]["batch_id"] = None  # killed right after create, before its id was saved
    state.write_text(json.dumps(data))

    server.release()
    capsys.readouterr()
    run(cfg(server, out, limit=10, batch_requests=5, n_per_request=False), progress=False)
    assert capsys.readouterr().out.count("re-attached") == 2  # status: stdout
    ids = [r["id"] for r in records(out)]
    assert len(ids) == 20 and len(set(ids)) == 20 and before <= set(ids)
    # The server saw 4 uploads, 4 batches, 20 lines with distinct custom_ids, 20 completions.
    submitted = server.submitted_ids()
    assert server.uploads == 4 and len(server.batches) == 4
    assert len(submitted) == 20 and set(submitted) == set(ids)
    assert len(server.bodies) == 20
    assert all(e["collected"] for e in json.loads(state.read_text())["batches"])


def test_uploaded_but_never_created_batch_is_created_from_the_same_file(server, tmp_path):
    # The fake, like OpenAI, accepts only a 24h window: creating the batch fails after the upload.
    out = tmp_path / "t.jsonl"
    server.windows = {"24h"}
    with pytest.raises(DistillError, match="refused the batch.*--batch-window"):
        run(cfg(server, out, batch_window="48h"), progress=False)
    assert server.uploads == 1 and not server.batches
    [entry] = json.loads(state_path(out).read_text())["batches"]
    assert entry["input_file_id"] and entry["batch_id"] is None
    run(cfg(server, out), progress=False)
    assert server.uploads == 1 and len(server.batches) == 1  # that file, not a new one
    assert len(records(out)) == 10


def test_failed_lines_go_to_the_next_round(server, tmp_path):
    # Lines 0 and 1 fail with retryable statuses, line 2 with a 400 (this prompt: not retried).
    server.plans.append({"error_lines": {0: 500, 1: 429, 2: 400}})
    out = tmp_path / "t.jsonl"
    with pytest.raises(DistillError, match="1 samples failed.*rerun"):
        run(cfg(server, out, n=1), progress=False)
    first, second = (b["_lines"] for b in server.batches.values())
    assert [line["custom_id"] for line in second] == [line["custom_id"] for line in first[:2]]
    assert len(records(out)) == 4
    # The rerun submits only the 400 one.
    run(cfg(server, out, n=1), progress=False)
    third = list(server.batches.values())[-1]["_lines"]
    assert [line["custom_id"] for line in third] == [first[2]["custom_id"]]
    ids = [r["id"] for r in records(out)]
    assert len(ids) == 5 == len(set(ids))


def test_resubmission_is_bounded_by_max_rounds(server, tmp_path):
    server.plans.extend([{"error_lines": {0: 500}}] * 3)
    out = tmp_path / "t.jsonl"
    with pytest.raises(DistillError, match="1 samples failed"):
        run(cfg(server, out, n=1, batch_max_rounds=2), progress=False)
    assert len(server.batches) == 2  # round 1 and one more, then it is reported failed
    submitted = server.submitted_ids()
    assert len(submitted) == 5 + 1 and len(records(out)) == 4


def test_expired_batch_keeps_its_finished_part_and_resubmits_the_rest(server, tmp_path):
    server.plans.append({"expire_after": 3})
    out = tmp_path / "t.jsonl"
    run(cfg(server, out, n=1, limit=6), progress=True)  # the progress bar path, too
    first, second = list(server.batches.values())
    assert first["status"] == "expired" and second["status"] == "completed"
    assert [x["custom_id"] for x in second["_lines"]] == [
        x["custom_id"] for x in first["_lines"][3:]
    ]
    ids = [r["id"] for r in records(out)]
    assert len(ids) == 6 == len(set(ids))
    assert len(server.bodies) == 6  # each sample generated once
    assert {r["batch"] for r in records(out)} == {first["id"], second["id"]}


def test_batch_level_failure_is_reported_and_a_rerun_retries(server, tmp_path, capsys):
    server.plans.append({"fail": "model fake-r1 is not available for batch"})
    out = tmp_path / "t.jsonl"
    with pytest.raises(DistillError, match="10 samples failed"):
        run(cfg(server, out), progress=False)
    err = capsys.readouterr().out  # the failures are listed on stdout, the first in the error
    assert "failed" in err and "not available for batch" in err
    assert len(server.batches) == 1 and not records(out)  # not resubmitted within the run
    run(cfg(server, out), progress=False)
    assert len(server.batches) == 2 and len(records(out)) == 10


def test_a_batch_cancelled_by_someone_else_is_not_resubmitted(server, tmp_path):
    import openai

    server.plans.append({"hold": True})
    out = tmp_path / "t.jsonl"

    def cancel():
        while not server.batches:
            time.sleep(0.01)
        openai.OpenAI(api_key="x", base_url=server.url).batches.cancel(next(iter(server.batches)))
        server.release()

    t = threading.Thread(target=cancel)
    t.start()
    with pytest.raises(DistillError, match="10 samples failed"):
        run(cfg(server, out), progress=False)
    t.join()
    assert [b["status"] for b in server.batches.values()] == ["cancelled"]


def test_bad_batch_input_is_one_line(server, tmp_path):
    out = tmp_path / "t.jsonl"
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    r = subprocess.run(
        _cli(server, out, "--teacher", "hf"), env=env, capture_output=True, text=True, timeout=60
    )
    assert r.returncode == 1 and "Traceback" not in r.stderr
    assert r.stderr.strip().splitlines() == [
        "error: generate: --batch needs the openai teacher (an OpenAI-style Batch API), not "
        "'hf'; drop --batch for the hf teacher"
    ]
    for bad, message in [
        ({"batch_window": "1d"}, "batch_window must be hours like '24h', got '1d'"),
        ({"batch_poll": 0}, "--batch-poll 0: must be > 0"),
        ({"batch_discount": 1.0}, "--batch-discount 1: must be in [0, 1)"),
        ({"batch_max_rounds": 0}, "--batch-max-rounds 0: must be >= 1"),
    ]:
        with pytest.raises(DistillError, match=re.escape(message)):
            cfg(server, out, **bad)
    # A state file that is not one: named, and nothing submitted, nothing written.
    state_path(out).write_text("{not json")
    with pytest.raises(DistillError, match=r"t.jsonl.batches.json, beside --out .*\(not a gen"):
        run(cfg(server, out), progress=False)
    assert not server.uploads and (not out.exists() or not records(out))


def test_ensemble_with_a_non_openai_teacher_is_refused():
    with pytest.raises(DistillError, match="not 'vllm'"):
        GenerateConfig(
            data="builtin:arithmetic",
            model="m",
            out="t.jsonl",
            batch=True,
            teachers=[{}, {"teacher": "vllm", "model": "x"}],
        )


def test_recipe_keys_are_the_flag_names(tmp_path):
    recipe = tmp_path / "r.yaml"
    recipe.write_text(
        "data: builtin:arithmetic\nmodel: m\nout: t.jsonl\nbatch: true\nbatch_requests: 100\n"
        "batch_window: 24h\nbatch_poll: 5\nbatch_discount: 0.25\nbatch_max_rounds: 2\n"
    )
    c = load_config(GenerateConfig, "generate", recipe, {"batch_poll": 1.0})
    assert (c.batch, c.batch_requests, c.batch_poll, c.batch_discount, c.batch_max_rounds) == (
        True,
        100,
        1.0,
        0.25,
        2,
    )
    recipe.write_text("data: builtin:arithmetic\nmodel: m\nout: t.jsonl\nbatch_requests: 0\n")
    with pytest.raises(DistillError, match="--batch-requests 0: must be >= 1"):
        load_config(GenerateConfig, "generate", recipe, {})


def test_split_requests_by_count_and_bytes():
    lines = [(str(i), b"x" * 10) for i in range(7)]
    assert [len(c) for c in split_requests(lines, 3, 10**6)] == [3, 3, 1]
    assert [len(c) for c in split_requests(lines, 100, 25)] == [2, 2, 2, 1]
    with pytest.raises(DistillError, match="sample 0: its request is 10 bytes"):
        list(split_requests(lines, 100, 9))


def test_killed_while_collecting_batches_then_rerun_collects_from_the_files(
    server, tmp_path, capsys
):
    out = tmp_path / "t.jsonl"
    run(cfg(server, out, n=1, batch_requests=3), progress=False)
    first, second = server.batches
    # The files as a kill during collection leaves them: the first batch's records written but
    # the batch not yet marked collected, the second batch not yet read at all.
    kept = [r for r in records(out) if r["batch"] == first]
    out.write_text("".join(json.dumps(r) + "\n" for r in kept))
    state = state_path(out)
    data = json.loads(state.read_text())
    for entry in data["batches"]:
        entry.pop("collected")
        entry["status"] = "in_progress"
        entry["custom_ids"] = [x["custom_id"] for x in server.batches[entry["batch_id"]]["_lines"]]
    state.write_text(json.dumps(data))
    capsys.readouterr()
    run(cfg(server, out, n=1, batch_requests=3), progress=False)
    err = capsys.readouterr().out  # status: stdout
    assert "not waiting" not in err and f"re-attached to {second}" in err
    assert len(server.batches) == 2 and len(server.bodies) == 5  # nothing submitted again
    ids = [r["id"] for r in records(out)]
    assert len(ids) == 5 == len(set(ids))
    entries = json.loads(state.read_text())["batches"]
    assert all(e["collected"] and e["status"] == "completed" for e in entries)


def test_in_file_cost_counts_batch_records_at_the_batch_price(tmp_path):
    from distill.generate import summarize

    rec = {
        "id": "a",
        "prompt_id": "p",
        "teacher": {"backend": "openai", "model": "gpt-4o-mini"},
        "usage": {"prompt_tokens": 1000, "completion_tokens": 1000},
    }
    online, batched = tmp_path / "o.jsonl", tmp_path / "b.jsonl"
    online.write_text(json.dumps(rec) + "\n")
    batched.write_text(json.dumps({**rec, "batch": "batch_1"}) + "\n")
    full = summarize(online)["cost_usd"]
    assert full > 0 and summarize(batched)["cost_usd"] == pytest.approx(full / 2)


def test_failing_polls_are_retried_then_stop_the_run_with_batches_running(server, tmp_path):
    out = tmp_path / "t.jsonl"
    server.retrieve_faults = 3  # each 500 is one failed poll (max_retries=0: no client retry)
    run(cfg(server, out, n=1, max_retries=0), progress=False)
    assert len(records(out)) == 5 and server.retrieve_faults == 0

    out2 = tmp_path / "t2.jsonl"
    server.retrieve_faults = 10
    with pytest.raises(DistillError, match="failed 10 times in a row.*rerun the same command"):
        run(cfg(server, out2, n=1, max_retries=0), progress=False)
    run(cfg(server, out2, n=1, max_retries=0), progress=False)  # re-attaches, collects
    assert len(server.batches) == 2 and len(records(out2)) == 5


def test_an_upload_over_the_providers_limit_is_one_clear_error(tmp_path):
    server = FakeBatchServer()
    server.max_upload = 2000  # bytes; 10 requests of ~300 bytes do not fit
    server.start()
    try:
        out = tmp_path / "t.jsonl"
        with pytest.raises(DistillError, match=r"uploading a batch file \(10 requests.*HTTP 413"):
            run(cfg(server, out, n_per_request=False), progress=False)
        assert not server.batches and not state_path(out).exists()
        run(cfg(server, out, batch_requests=4, n_per_request=False), progress=False)
        assert len(server.batches) == 3 and len(records(out)) == 10
    finally:
        server.stop()


def test_batch_logprobs_from_a_server_without_them_is_one_clear_error(tmp_path):
    # The online path refuses a reply without log-probs; a batch output line must too (it
    # raised a TypeError from the log-prob parser).
    s = FakeBatchServer(logprobs=False).start()
    try:
        with pytest.raises(DistillError, match="returned no logprobs"):
            run(cfg(s, tmp_path / "t.jsonl", logprobs=2), progress=False)
    finally:
        s.stop()


def test_a_provider_error_echoing_the_key_never_prints_it(server, tmp_path, capsys, monkeypatch):
    key = "sk-test-SECRET-0123456789"
    monkeypatch.setenv("OPENAI_API_KEY", key)
    server.plans.append({"fail": f"Incorrect API key provided: {key}"})
    out = tmp_path / "t.jsonl"
    with pytest.raises(DistillError) as e:
        run(cfg(server, out), progress=False)
    seen = capsys.readouterr()
    assert "Incorrect API key" in seen.out and "Incorrect API key" in str(e.value)  # shown ...
    assert key not in seen.err + seen.out + str(e.value)  # ... the key is not
    assert key not in state_path(out).read_text()


def test_in_file_cost_uses_the_runs_batch_discount(tmp_path):
    srv = FakeBatchServer(model="gpt-4o-mini").start()  # a model with a list price
    out = tmp_path / "t.jsonl"
    try:
        run(cfg(srv, out, model="gpt-4o-mini", batch_discount=0.2), progress=False)
    finally:
        srv.stop()
    s = summary(out)
    assert s["this_run"]["cost_usd"] > 0
    assert s["cost_usd"] == pytest.approx(s["this_run"]["cost_usd"])  # not at a 50% discount


def test_in_file_cost_keeps_each_runs_own_price(server, tmp_path):
    """Two runs into one file, the first through a batch at 20% off, the second online at a
    custom price: the file's total is what each run paid, not everything at this run's terms."""
    out = tmp_path / "t.jsonl"
    prices = dict(price_input=1.0, price_output=2.0)
    run(cfg(server, out, limit=2, batch_discount=0.2, **prices), progress=False)
    first = summary(out)["this_run"]["cost_usd"]
    run(cfg(server, out, limit=4, batch=False, **prices), progress=False)
    second = summary(out)["this_run"]["cost_usd"]
    assert first > 0 and second > 0 and len(records(out)) == 8
    assert summary(out)["cost_usd"] == pytest.approx(first + second, rel=1e-6)


def test_a_query_in_the_base_url_goes_with_every_batch_call(server, tmp_path):
    """--base-url .../v1?api-version=X: the file upload, the batch create, each poll and the
    result download all carry it (the openai client would append its routes after the query)."""
    out = tmp_path / "t.jsonl"
    run(cfg(server, out, base_url=server.url + "?api-version=2024-10-21"), progress=False)
    assert len(records(out)) == 10
    # (the fake runs each batch line through its own /chat/completions: not a client call)
    calls = [(p, q) for p, q in server.queries if p != "/v1/chat/completions"]
    paths = {p for p, _ in calls}
    assert {"/v1/files", "/v1/batches"} <= paths and any(p.endswith("/content") for p in paths)
    assert all(q == {"api-version": "2024-10-21"} for _, q in calls)
