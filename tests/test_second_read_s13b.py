"""Second read of generate --batch's lines of n (8126e4b) and eval's paired delta (fd1ac56):
choices out of order, a provider that answers fewer choices, an error line of n, a rerun that
flips --separate-requests, and the card's delta."""

import json

import pytest
import yaml
from aiohttp import web

from distill.generate import run
from distill.publish import PublishConfig, build_card
from distill.teachers import batch as batch_mod
from tests.fakebatch import FakeBatchServer
from tests.test_batch import cfg, records, summary


class Reshaped(FakeBatchServer):
    """Replies whose choices come in reverse order (each keeps its `index`), or only the first
    `cap` of them (usage as the fake counts it: a provider that caps n)."""

    def __init__(self, cap=None, reverse=False, **kw):
        super().__init__(**kw)
        self.cap, self.reverse = cap, reverse

    async def chat(self, request: web.Request) -> web.Response:
        resp = await super().chat(request)
        body = json.loads(resp.body)
        if "choices" in body:
            choices = body["choices"][: self.cap]
            body["choices"] = choices[::-1] if self.reverse else choices
        return web.json_response(body, status=resp.status)


@pytest.fixture
def server():
    s = FakeBatchServer().start()
    yield s
    s.stop()


def test_choices_out_of_index_order_are_the_online_records(tmp_path):
    s = Reshaped(reverse=True).start()
    try:
        online, batched = tmp_path / "o.jsonl", tmp_path / "b.jsonl"
        run(cfg(s, online, batch=False, limit=2, n=3), progress=False)
        run(cfg(s, batched, limit=2, n=3), progress=False)
        by_id = {r["id"]: r for r in records(online)}
        got = records(batched)
        assert len(got) == 6
        for r in got:
            r.pop("batch")
            assert r == by_id[r["id"]]  # sample k is the choice of index k
    finally:
        s.stop()


def test_fewer_choices_than_n_the_prompt_counted_once_per_request(tmp_path):
    """A provider that answers 2 of the 3 choices asked: the third of each prompt is asked on a
    line of its own; the file's prompt tokens are those of the 4 requests served, not 6."""
    s = Reshaped(cap=2).start()
    try:
        out = tmp_path / "b.jsonl"
        run(cfg(s, out, limit=2, n=3), progress=False)
        first, second = (b["_lines"] for b in s.batches.values())
        assert [x["body"]["n"] for x in first] == [3, 3]
        assert len(second) == 2 and all("n" not in x["body"] for x in second)
        ids = [r["id"] for r in records(out)]
        assert len(ids) == 6 == len(set(ids)) and len(s.bodies) == 4
        served = sum(len(b["messages"][-1]["content"]) // 4 + 4 for b in s.bodies)
        assert summary(out)["prompt_tokens"] == served
    finally:
        s.stop()


def test_an_error_line_of_n_is_asked_again_once_as_one_line(server, tmp_path):
    server.plans.append({"error_lines": {0: 500}})
    out = tmp_path / "t.jsonl"
    run(cfg(server, out, limit=3, n=3), progress=False)
    first, second = (b["_lines"] for b in server.batches.values())
    assert [(x["custom_id"], x["body"]["n"]) for x in second] == [(first[0]["custom_id"], 3)]
    ids = [r["id"] for r in records(out)]
    assert len(ids) == 9 == len(set(ids)) and len(server.bodies) == 3


@pytest.mark.parametrize("first,then", [(True, False), (False, True)], ids=["n", "separate"])
def test_a_rerun_with_the_other_request_mode_collects_without_buying(
    server, tmp_path, monkeypatch, first, then
):
    """Stopped with its batch in flight, then rerun with --separate-requests flipped: the
    batch's lines are read as they were sent, nothing is submitted again."""
    server.plans.append({"hold": True})
    out = tmp_path / "t.jsonl"
    poll = batch_mod.BatchTeacher._poll

    def stopped(self, live):
        raise KeyboardInterrupt

    monkeypatch.setattr(batch_mod.BatchTeacher, "_poll", stopped)
    with pytest.raises(KeyboardInterrupt):
        run(cfg(server, out, limit=3, n=3, n_per_request=first), progress=False)
    monkeypatch.setattr(batch_mod.BatchTeacher, "_poll", poll)
    server.release()
    run(cfg(server, out, limit=3, n=3, n_per_request=then), progress=False)
    assert len(server.batches) == 1 and len(server.bodies) == (3 if first else 9)
    ids = [r["id"] for r in records(out)]
    assert len(ids) == 9 == len(set(ids))


def _card(tmp_path, ev):
    student = tmp_path / "student"
    student.mkdir()
    (student / "adapter_config.json").write_text("{}")
    (student / "adapter_model.safetensors").write_bytes(b"weights")
    (student / "train.yaml").write_text(yaml.safe_dump({"model": "Qwen/Qwen2.5-1.5B"}))
    ev = {
        "data": "builtin:arithmetic?n=4",
        "verify": "math",
        "n": 1,
        "temperature": 0.0,
        "max_tokens": 40,
        "format": "r1",
        "student": {"model": str(student), "problems": 4, "unverifiable": 1, "pass@1": 1.0},
        "baseline": {"model": "base", "problems": 4, "unverifiable": 1, "pass@1": 0.3333},
        **ev,
    }
    (tmp_path / "eval.json").write_text(json.dumps(ev))
    cfg = PublishConfig(dir=str(student), local_dir="x")
    return str(build_card(student, student, cfg))


def test_the_card_shows_the_paired_delta_of_eval_json(tmp_path):
    """Each model left out a different problem: eval.json's delta is +1.0 on the 2 problems
    both were scored on, while the card's two columns differ by 0.667. The card says which."""
    text = _card(tmp_path, {"delta_pass@1": 1.0, "delta_problems": 2})
    assert "| pass@1 | 0.333 | 1.000 |" in text
    assert "student - baseline: +1.000, on the 2 problems both were scored on" in text


def test_an_eval_json_from_before_the_paired_delta_makes_the_same_card(tmp_path):
    text = _card(tmp_path, {"delta_pass@1": 0.6667})
    assert "| pass@1 | 0.333 | 1.000 |" in text and "student - baseline" not in text
