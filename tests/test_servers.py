"""tests/servers.py: the loopback servers' replies (the benchmarks read them)."""

import json

from distill.select.judge import parse_score
from tests.servers import completion


def test_a_judge_model_gets_a_rubric_reply_select_can_read():
    prompts = [f"Problem: What is {i} + 1?\nSolution's final answer: {i + 1}" for i in range(40)]
    scores = set()
    for prompt in prompts:
        body = {"model": "judge-fake", "messages": [{"role": "user", "content": prompt}]}
        reply = json.loads(completion(body))["choices"][0]["message"]["content"]
        score, reason = parse_score(reply)
        assert score is not None and reason.startswith("each step follows")
        scores.add(score)
    assert len(scores) > 3  # spread over the scale, so --min-score would have work to do


def test_any_other_model_still_gets_the_teachers_reply():
    body = {"model": "fake-r1", "messages": [{"role": "user", "content": "What is 2 + 3?"}]}
    reply = json.loads(completion(body))["choices"][0]["message"]["content"]
    assert "</think>" in reply and "\\boxed{5}" in reply
