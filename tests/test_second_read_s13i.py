"""Second read of session 13's judge-cache keying (608fa2d): the replies cached before the
server was in the key are used only for the server that is known to have given them."""

from __future__ import annotations

import shutil

from distill.records import read_records
from tests.test_early_s13 import Stingy
from tests.test_select import FakeJudge, judged_traces, select, write


def _as_before_the_server_was_keyed(cache, sent: list[str], model1: str, m2: bool) -> None:
    """The cache's replies as a distill before 608fa2d wrote them: no server in key or record."""
    from distill.select.judge import judge_id
    from distill.templates import load_template

    sha = load_template("prompts/judge.txt").sha256
    old, recs = [], list(read_records(cache))
    # each trace's request, found by the reply planted in it (the first server's replies)
    asked = {
        r["trace_id"]: next(c for c in sent if r["text"] in c)
        for r in recs
        if r["text"] != "Score: 2"
    }
    for r in recs:
        content = asked[r["trace_id"]]
        model = "m2" if r["text"] == "Score: 2" and m2 else model1  # (Stingy's reply)
        r["id"] = judge_id(r["trace_id"], model, sha, None, content)
        r.pop("base_url", None)
        old.append(r)
    write(cache, old)


def _scores(kept) -> list[float]:
    return sorted(r["meta"]["select"]["judge"] for r in kept)


def test_old_replies_of_one_judge_model_are_not_taken_as_another_models_servers(tmp_path):
    # one cache holds every judge model's replies: m1's (server A) and m2's (server B). A run of
    # m1 on A decided the old replies were A's, and that one record then gave m2's replies, B's,
    # to a later run of m2 on server A: A was never asked
    src = judged_traces(tmp_path, ["Score: 8", "Score: 9"])
    a, b = FakeJudge().start(), Stingy().start()
    try:
        b.model = "m2"
        select(tmp_path, src, out="b.jsonl", judge="m2", judge_base_url=b.url)
        a.model = "m1"
        select(tmp_path, src, judge="m1", judge_base_url=a.url)  # sel.select.yaml: m1 on A
        sent = [e["messages"][-1]["content"] for e in a.log + b.log]
        _as_before_the_server_was_keyed(tmp_path / "kept.select-judge.jsonl", sent, "m1", True)
        asked = len(a.log)
        assert _scores(select(tmp_path, src, judge="m1", judge_base_url=a.url)[0]) == [8.0, 9.0]
        assert len(a.log) == asked  # m1's old replies are A's: nothing paid again
        a.model = "m2"  # server A serves a model under the name m2 now
        kept, _, _ = select(tmp_path, src, out="c.jsonl", judge="m2", judge_base_url=a.url)
        assert len(a.log) == asked + 2
        assert _scores(kept) == [8.0, 9.0]
    finally:
        a.stop()
        b.stop()


def test_old_replies_are_not_given_the_server_of_a_select_yaml_of_other_traces(tmp_path):
    # the cache is named after the input: the select.yaml beside --out was written by a run on
    # other traces (another cache), and its server was taken for the one of this cache's replies
    src = judged_traces(tmp_path, ["Score: 8", "Score: 9"])
    other = tmp_path / "other.jsonl"
    shutil.copy(src, other)
    a, b = FakeJudge().start(), Stingy().start()
    try:
        select(tmp_path, src, judge="judge", judge_base_url=a.url)
        sent = [e["messages"][-1]["content"] for e in a.log]
        _as_before_the_server_was_keyed(tmp_path / "kept.select-judge.jsonl", sent, "judge", False)
        select(tmp_path, other, judge="judge", judge_base_url=b.url)  # sel.select.yaml: B
        asked = len(b.log)
        kept, _, _ = select(tmp_path, src, judge="judge", judge_base_url=b.url)
        assert len(b.log) == asked + 2  # A's replies were never B's
        assert _scores(kept) == [2.0, 2.0]
    finally:
        a.stop()
        b.stop()
