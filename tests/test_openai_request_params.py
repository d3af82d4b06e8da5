"""OpenAI's own API takes max_completion_tokens (its reasoning models refuse max_tokens), and a
run whose first requests all get one identical 4xx, none answered, stops in one line instead of
failing every prompt the same way (an o-series model refusing `temperature`)."""

from __future__ import annotations

import pytest

from distill.errors import DistillError
from distill.teachers.openai import SAME_4XX
from tests.test_teachers_openai import generate, jobs, teacher


class Url:  # teacher() reads server.url only
    def __init__(self, url):
        self.url = url


def test_openais_api_gets_max_completion_tokens_others_max_tokens(monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test")
    own = teacher(Url("https://api.openai.com/v1"), max_tokens=77).body([], [0])
    assert own["max_completion_tokens"] == 77 and "max_tokens" not in own
    served = teacher(Url("http://localhost:8000/v1"), max_tokens=77).body([], [0])
    assert served["max_tokens"] == 77 and "max_completion_tokens" not in served


def test_the_same_400_on_every_first_request_stops_the_run_in_one_line(server):
    server.faults.extend([{"status": 400}] * 40)
    with pytest.raises(DistillError) as e:
        generate(teacher(server), jobs(40))
    line = str(e.value)
    assert f"the first {SAME_4XX} requests were all refused with HTTP 400" in line
    assert "\n" not in line
    assert len(server.log) == SAME_4XX  # concurrency 1: it stopped at once


def test_a_400_after_a_success_or_400s_that_differ_fail_their_prompts_only(server):
    server.faults.extend([{}] + [{"status": 400}] * 12)  # one answered, then 12 refused
    got = generate(teacher(server), jobs(14))
    assert len(got.failures) == 12 and len(got.completions) == 2
