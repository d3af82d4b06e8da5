"""--request-timeout reaches every openai client, not only generate's: eval's served student and
select's judge waited the fixed 600 s, and their failure line (a reply past the timeout is not
asked again, 3ee2a73) told the user to raise a flag those commands did not have."""

from __future__ import annotations

import json
import time

import pytest

from distill.errors import DistillError
from tests.test_select import judged_traces
from tests.test_teachers_s15 import ANSWER, serve  # noqa: F401 - the fixture, used by name


def _slow(seconds, answer):
    def reply(handler, k):
        time.sleep(seconds)  # generating a long reply
        return 200, answer

    return reply


def test_evals_served_student_stops_waiting_at_its_request_timeout(serve, tmp_path):  # noqa: F811
    from distill.eval import EvalConfig, run

    server = serve(_slow(2.0, ANSWER))
    cfg = EvalConfig(
        model="m",
        backend="openai",
        base_url=server.url,
        data="builtin:arithmetic?n=1",
        verify="math",
        max_tokens=64,
        request_timeout=1.0,
        out=str(tmp_path / "eval.json"),
    )
    with pytest.raises(DistillError, match="no reply within --request-timeout 1s"):
        run(cfg)
    assert len(server.log) == 1  # asked once, not once per retry


def test_selects_judge_stops_waiting_at_its_request_timeout(serve, tmp_path):  # noqa: F811
    from distill.select.config import SelectConfig
    from distill.select.stage import run

    judged = {**ANSWER, "choices": [{**ANSWER["choices"][0], "message": {"content": "Score: 9"}}]}
    server = serve(_slow(2.0, judged))
    src = judged_traces(tmp_path, ["a reply"])
    cfg = SelectConfig(
        input=str(src),
        out=str(tmp_path / "sel.jsonl"),
        judge="judge",
        judge_base_url=server.url,
        request_timeout=1.0,
    )
    with pytest.raises(DistillError) as e:
        run(cfg, quiet=True)
    assert len(server.log) == 1
    assert "--request-timeout 1s" in str(e.value) or "returned no score" in str(e.value)
    # the judge's reply never came: nothing cached as its score
    cache = list(tmp_path.glob("*select-judge*.jsonl"))
    assert all("Score: 9" not in p.read_text() for p in cache), [json.dumps(str(p)) for p in cache]
