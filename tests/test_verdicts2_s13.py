"""Verdicts that must not depend on the stage or the line (s13, second part):

- `verify_math` read a stated choice letter only at the end of a line: "The answer is B. Option
  C fails the boundary condition." was no_answer (a right answer rejected) where verify_choice
  read B; a letter stated as "$B$" skipped the hedge rules ("The answer is $B$. But C also
  works." was correct).
- filter verified under its --verify-timeout and code_memory_mb, select's difficulty and train's
  --reward/--gate-teacher under the defaults (5 s, 512 MB): a slow test was correct in filter and
  a failure in select/train. Both take the settings now, and in `distill run` filter's.
- `--format alpaca` trained a reply of reasoning with no answer as an empty output + EOS."""

from __future__ import annotations

import json
from concurrent.futures import ThreadPoolExecutor

import pytest
import yaml

from distill.errors import DistillError
from distill.filter.verify import math_answer_key, verify_choice, verify_math

# ---------------------------------------------------------------- 1. a stated letter, then more


@pytest.mark.parametrize(
    "answer",
    [
        "The answer is B. Option C fails the boundary condition.",
        "**Answer:** B. Option C fails the boundary condition.",
        "The answer is (B). Actually, option A ignores the friction term, so it is wrong.",
        "Answer: B. Nucleus",
        "The answer is B! A and C would need x < 0.",
    ],
)
def test_a_stated_letter_followed_by_more_sentences_on_its_line_is_read(answer):
    assert verify_math(answer, "B") == "correct"
    assert verify_math(answer, "C") == "wrong"
    assert verify_choice(answer, "B") == "correct"
    assert math_answer_key(answer) == "B"


@pytest.mark.parametrize(
    "answer",
    [
        "The answer is B. But C also works.",
        "The answer is B. Wait... option C works, so C.",
        "The answer is B. Actually C, not B.",
        "The answer is $B$. But C also works.",
        "The answer is $\\text{(B)}$. (C) could be correct as well.",
    ],
)
def test_a_second_option_asserted_on_the_same_line_is_still_a_hedge(answer):
    assert verify_math(answer, "B") == "wrong"
    assert verify_math(answer, "C") == "wrong"
    assert verify_choice(answer, "B") == "wrong"
    assert math_answer_key(answer) != "B"


@pytest.mark.parametrize(
    "answer",
    ["The answer is E. coli grows on the plate.", "the answer is a multiple of 3. It is 12."],
)
def test_a_capital_that_opens_a_word_or_a_lowercase_letter_is_no_stated_choice(answer):
    assert verify_math(answer, "E") != "correct"
    assert verify_math(answer, "A") != "correct"


# ---------------------------------------------------------------- 2. one set of verify limits

# Its one test sleeps past the default 5 s per test: correct only under a longer timeout.
SLOW = "```python\nimport time\ntime.sleep(5.5)\nprint(int(input()) * 2)\n```"
TESTS = {"tests": {"inputs": ["2\n"], "outputs": ["4\n"]}}
LONGER = 8


def _isolated() -> None:
    from distill.filter.sandbox import isolation

    if isolation() is None:
        pytest.skip("no OS isolation here to run model-written code")


def test_a_slow_test_is_judged_alike_by_filter_select_and_train_under_one_timeout(tmp_path):
    """filter judged it correct under --verify-timeout 8; select's difficulty (teacher pass
    rate 0, so a 1:1 band rejected it) and train's reward (0) and gate (the prompt failed) ran
    it at 5 s."""
    _isolated()
    from distill.filter.config import FilterConfig
    from distill.filter.verify import judge
    from distill.train.kd.reward import failed_prompts, reward_of
    from tests.test_select import select, trace, write

    f = FilterConfig(input="t.jsonl", out="k.jsonl", verify="code", verify_timeout=LONGER)
    rec = trace("p0", "double it", answer=SLOW, gold=None, meta=TESTS)
    traces = write(tmp_path / "traces.jsonl", [rec])
    limits = (f.verify_timeout, f.code_memory_mb)
    # Each stage runs the test (5.5 s asleep in its sandbox, no CPU): the four side by side,
    # filter's, train's reward and gate in threads while select runs here (22 s one by one).
    with ThreadPoolExecutor(3) as pool:
        filtered = pool.submit(judge, rec, "code", f.verify_timeout, f.code_memory_mb)
        rewarded = pool.submit(reward_of, SLOW, None, TESTS, "code", None, None, False, *limits)
        gated = pool.submit(failed_prompts, [str(traces)], "code", None, limits)
        kept, _, report = select(
            tmp_path, traces, criteria=["difficulty"], verify="code", pass_rate="1:1",
            verify_timeout=f.verify_timeout, code_memory_mb=f.code_memory_mb,
        )  # fmt: skip
    assert filtered.result()[0] == "correct"  # filter's
    assert len(kept) == 1 and report["difficulty"]["pass_rate_all"]["mean"] == 1.0
    assert rewarded.result() == 1.0
    assert gated.result() == (set(), 1)


@pytest.mark.parametrize("stage", ["select", "train"])
def test_verify_timeout_is_a_flag_of_select_and_train(stage):
    from typer.testing import CliRunner

    from distill.cli import app

    out = CliRunner().invoke(app, [stage, "--help"], terminal_width=200).output
    assert "--verify-timeout" in out
    with pytest.raises(DistillError, match="--verify-timeout 0: must be >= 1"):
        if stage == "select":
            from distill.select.config import SelectConfig

            SelectConfig(input="k.jsonl", out="s.jsonl", verify_timeout=0)
        else:
            from distill.train.config import TrainConfig

            TrainConfig(data="k.jsonl", model="m", output_dir="o", verify_timeout=0)


def test_distill_run_gives_select_train_and_eval_the_filters_limits(tmp_path, monkeypatch):
    """Where their sections set none; a section's own value stays."""
    import distill.eval
    import distill.select.stage
    import distill.train
    from distill.pipeline import run as pipeline_run

    given: dict[str, object] = {}

    class Ran(Exception):
        """eval's stand-in stops the run there (no eval.json to read)."""

    def stand_in(name):
        def run(cfg, *a, **k):
            given[name] = cfg
            if name == "eval":
                raise Ran

        return run

    for module in (distill.select.stage, distill.train, distill.eval):
        monkeypatch.setattr(module, "run", stand_in(module.__name__.split(".")[1]))
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    (run_dir / "kept.jsonl").write_text(json.dumps({"prompt_id": "p", "answer": "x"}) + "\n")
    data = tmp_path / "q.jsonl"
    data.write_text(json.dumps({"problem": "1+1?", "answer": "2"}) + "\n")
    sections = {
        "run": {"dir": str(run_dir)},
        "filter": {
            "input": "{run_dir}/traces.jsonl", "out": "{run_dir}/kept.jsonl", "verify": "math",
            "verify_timeout": LONGER, "code_memory_mb": 2048,
        },
        "select": {"input": "{run_dir}/kept.jsonl", "out": "{run_dir}/sel.jsonl", "budget": 1},
        "train": {
            "data": "{run_dir}/sel.jsonl", "model": "builtin:smollm2",
            "output_dir": "{run_dir}/student",
        },
        "eval": {
            "model": "builtin:smollm2", "data": str(data), "prompt_field": "problem",
            "answer_field": "answer", "out": "{run_dir}/eval.json",
        },
    }  # fmt: skip
    recipe = tmp_path / "r.yaml"
    recipe.write_text(yaml.safe_dump(sections))
    with pytest.raises(Ran):
        pipeline_run(recipe, only=["select", "train", "eval"])
    for stage in ("select", "train", "eval"):
        assert (given[stage].verify_timeout, given[stage].code_memory_mb) == (LONGER, 2048)
    sections["select"]["verify_timeout"] = 3  # its own
    recipe.write_text(yaml.safe_dump(sections))
    pipeline_run(recipe, only=["select"])
    assert (given["select"].verify_timeout, given["select"].code_memory_mb) == (3, 2048)


# ---------------------------------------------------------------- 3. alpaca: reasoning alone


def _reasoning_alone(tmp_path):
    row = {
        "prompt_id": "p1",
        "messages": [{"role": "user", "content": "What is 2 + 2?"}],
        "reasoning": "2 + 2 = 4, so the answer is 4.",
        "answer": "",
    }
    path = tmp_path / "kept.jsonl"
    path.write_text(json.dumps(row) + "\n")
    return path


def test_alpaca_refuses_a_reply_of_reasoning_alone_in_one_line(tmp_path, tiny_qwen):
    """It trained '' + EOS: the student learned to answer nothing."""
    from distill.examples import Renderer, load_examples
    from distill.models import load_tokenizer

    (ex,) = load_examples(str(_reasoning_alone(tmp_path)))
    tok = load_tokenizer(str(tiny_qwen))
    with pytest.raises(DistillError, match="reasoning with no answer .* --format r1") as e:
        Renderer(tok, "alpaca").completion_text(ex)
    assert "\n" not in str(e.value)
    assert "2 + 2 = 4" in Renderer(tok, "r1").completion_text(ex)  # r1 trains the reasoning


def test_export_alpaca_refuses_it_too(tmp_path):
    from distill.export import export as export_run
    from distill.train.config import ExportConfig

    cfg = ExportConfig(
        data=str(_reasoning_alone(tmp_path)), format="alpaca", out=str(tmp_path / "a.jsonl")
    )
    with pytest.raises(DistillError, match="reasoning with no answer"):
        export_run(cfg)
    assert not (tmp_path / "a.jsonl").exists()
