"""Second read s6i: train --resume over a finished run, decontam's skipped prompts, eval's gold
check."""

import json

import pytest

from distill.errors import DistillError
from distill.eval import EvalConfig, run
from distill.filter.decontam import Decontaminator


def _rows(tmp_path, rows, name="bench.jsonl"):
    path = tmp_path / name
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return str(path)


PROBLEM = "a train leaves the station at noon going sixty miles per hour toward the city"


def test_a_chat_benchmark_is_decontaminated_by_its_user_turns_not_skipped(tmp_path):
    """82dd02f left a row whose prompt is a list out of --decontam: a chat benchmark (messages
    in 'prompt', MT-Bench's list of turns) was skipped whole, so a copy of its problem in the
    traces passed the filter with no word said."""
    messages = [
        {"role": "system", "content": "You are a helpful assistant"},
        {"role": "user", "content": PROBLEM},
    ]
    dec = Decontaminator([_rows(tmp_path, [{"prompt": messages}])])
    assert dec.hit(f"Please solve: {PROBLEM}. Show your work.") == "bench"
    turns = [PROBLEM, "now the second turn asks something else entirely different"]
    dec = Decontaminator([_rows(tmp_path, [{"prompt": turns}], "mt.jsonl")])
    assert dec.hit(f"Please solve: {PROBLEM}.") == "mt"
    # the system prompt every row shares is no benchmark problem
    assert dec.hit("You are a helpful assistant and other words follow here now") is None


def test_a_decontam_set_with_no_text_problem_at_all_is_refused_not_a_silent_no_op(tmp_path):
    """Every row left out: the set decontaminated nothing, and the filter said nothing."""
    bench = _rows(tmp_path, [{"problem": None}, {"problem": {"a": 1}}])
    with pytest.raises(DistillError, match="no problem as text") as e:
        Decontaminator([bench])
    assert "\n" not in str(e.value)


def test_eval_verify_code_on_a_set_with_tests_and_no_gold_is_not_refused(server, tmp_path):
    """--verify code judges by the row's tests (HumanEval, LiveCodeBench: no answer field):
    the gold check refused every such set ('problems have no gold answer')."""
    row = {
        "task_id": "t/0",
        "prompt": "def add(a, b):\n",
        "test": "def check(candidate):\n    assert candidate(1, 2) == 3\n",
        "entry_point": "add",
    }
    cfg = EvalConfig(
        model="fake-r1",
        backend="openai",
        base_url=server.url,
        data=_rows(tmp_path, [row], "he.jsonl"),
        verify="code",
        unsafe_sandbox=True,
        out=str(tmp_path / "e.json"),
    )
    out = json.loads(run(cfg).read_text())
    assert out["student"]["samples"] == 1
