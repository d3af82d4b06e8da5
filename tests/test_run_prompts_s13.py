"""The prompt a model is asked with, one source of truth, and two false refusals.

- distill run: generate's `system_prompt` is in every trace (the student trains after it), but
  an eval section without one asked the student and its baseline after the chat template's
  default ('You are Qwen...'), a prompt it never trained with; train's on-policy sampling on
  generate's prompt source too. Both take generate's now; a section's own is kept, one line.
- generate and eval on a prompt source whose rows list `tools` (OpenAI's format, TRL, xLAM)
  dropped them without a word: the teacher answered without the tools the row was about. One
  line naming the file, row and column, as train refuses such rows (examples.no_tools).
- instruct on its own, rerun over a student's data that a run stopped short of
  --num-instructions (stall_rounds) left, was refused as adding instructions; it adds none.
  filter on its own over a student's data whose traces grew was refused as one 'at other
  settings': the refusal names the input that changed."""

from __future__ import annotations

import json

import pytest
import yaml

from distill.pipeline import run as pipeline_run
from tests import inproc
from tests.test_cli import one_line_error
from tests.test_filter_kill import make_traces
from tests.test_user_files_s13 import student_of

ENV = {"OPENAI_API_KEY": "sk-test"}
SYSTEM = "You are a careful calculator. Put the answer in \\boxed{}."


@pytest.fixture
def server(monkeypatch):
    from tests.fakeserver import FakeServer

    monkeypatch.setenv("OPENAI_API_KEY", "sk-test")
    s = FakeServer().start()
    yield s
    s.stop()


def _recipe(tmp_path, **sections):
    run = tmp_path / "run"
    run.mkdir(exist_ok=True)
    path = tmp_path / "r.yaml"
    path.write_text(yaml.safe_dump({"run": {"dir": str(run)}, **sections}))
    return path, run


def _generate(url: str) -> dict:
    return {
        "data": "builtin:arithmetic?n=3",
        "teacher": "openai",
        "base_url": url,
        "model": "fake-r1",
        "system_prompt": SYSTEM,
        "out": "{run_dir}/traces.jsonl",
    }


# ---------------------------------------------------------------- eval asks as train trained


def test_eval_in_a_run_asks_the_student_and_baseline_after_generates_system_prompt(
    tmp_path, server, capsys
):
    ev = {
        "backend": "openai",
        "base_url": server.url,
        "model": "fake-r1",  # the one model the fake server serves: student and baseline
        "baseline": "fake-r1",
        "data": "builtin:arithmetic?start=1000&n=2",
        "out": "{run_dir}/eval.json",
    }
    r, run = _recipe(tmp_path, generate=_generate(server.url), eval=ev)
    pipeline_run(r, only=["eval"])
    assert len(server.log) == 4  # 2 problems, the student's samples and the baseline's
    for e in server.log:
        assert e["messages"][0] == {"role": "system", "content": SYSTEM}, e["messages"]
    assert "note:" not in capsys.readouterr().out

    # eval's own system prompt is kept (a user may mean it), and the difference said once
    server.log.clear()
    pipeline_run(
        r, only=["eval"], sets=["eval.system_prompt=Be brief.", "eval.out={run_dir}/e2.json"]
    )
    out = capsys.readouterr().out
    notes = [ln for ln in out.splitlines() if ln.startswith("note:")]
    assert len(notes) == 1 and "eval.system_prompt" in notes[0], out
    assert {e["messages"][0]["content"] for e in server.log} == {"Be brief."}


def test_onpolicy_train_on_generates_prompts_samples_after_its_system_prompt(
    tmp_path, server, monkeypatch
):
    import distill.train

    given = []
    monkeypatch.setattr(distill.train, "run", lambda cfg: given.append(cfg))
    train = {
        "data": "builtin:arithmetic?n=3",  # generate's own prompt source, prompts alone
        "model": "builtin:smollm2",
        "output_dir": "{run_dir}/student",
        "method": "onpolicy",
        "lmbda": 1.0,
        "teacher_model": "builtin:smollm2",
        "max_length": 64,
    }
    r, run = _recipe(tmp_path, generate=_generate(server.url), train=train)
    pipeline_run(r, only=["train"])
    assert given[-1].system_prompt == SYSTEM
    # trained on the kept traces (their messages hold it already): nothing set
    r, run = _recipe(tmp_path, generate=_generate(server.url), train={**train, "data": "x.jsonl"})
    (tmp_path / "x.jsonl").write_text("")
    pipeline_run(r, only=["train"])
    assert given[-1].system_prompt is None


# ---------------------------------------------------------------- tools in a prompt source

TOOLS = [{"type": "function", "function": {"name": "get_weather", "parameters": {}}}]


def _tools_file(tmp_path, third):
    rows = [
        {"question": "What is 1 + 2?", "answer": "3", "tools": None},
        {"question": "What is 2 + 2?", "answer": "4", "tools": []},
        {"question": "What is 3 + 2?", "answer": "5", "tools": third},
    ]
    path = tmp_path / "tools.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


@pytest.mark.parametrize("third", [TOOLS, json.dumps(TOOLS)])
def test_generate_and_eval_refuse_rows_that_list_tools(tmp_path, server, third):
    data = _tools_file(tmp_path, third)
    traces = tmp_path / "traces.jsonl"
    where = rf"{data} row 3: column 'tools'"
    res = inproc.distill(
        "generate", "--data", data, "--teacher", "openai", "--base-url", server.url,
        "--model", "fake-r1", "--out", traces, env=ENV,
    )  # fmt: skip
    one_line_error(res, where)
    assert not server.log and not traces.exists()
    res = inproc.distill(
        "eval", "--backend", "openai", "--base-url", server.url, "--model", "fake-r1",
        "--data", data, "--out", tmp_path / "eval.json", env=ENV,
    )  # fmt: skip
    one_line_error(res, where)
    assert not server.log and not (tmp_path / "eval.json").exists()


def test_rows_whose_tools_are_empty_are_asked(tmp_path, server):
    data = _tools_file(tmp_path, "")
    res = inproc.distill(
        "generate", "--data", data, "--teacher", "openai", "--base-url", server.url,
        "--model", "fake-r1", "--out", tmp_path / "traces.jsonl", env=ENV,
    )  # fmt: skip
    assert res.returncode == 0, res.stderr
    assert len(server.log) == 3


# ---------------------------------------------------------------- learned.py's refusals


def test_instruct_rerun_of_a_run_that_stopped_short_over_a_students_data_goes_on(tmp_path, server):
    # the fake teacher's arithmetic answers are no task list: instruct keeps none and stops
    # after --stall-rounds rounds, short of --num-instructions
    run = tmp_path / "run"
    run.mkdir()
    out = run / "instructions.jsonl"
    args = (
        "instruct", "--teacher", "openai", "--model", "fake-r1", "--base-url", server.url,
        "--num-instructions", "5", "--stall-rounds", "1", "--request-batch-size", "2",
        "--include-seeds", "--seed", "0", "--out", out,
    )  # fmt: skip
    res = inproc.distill(*args, env=ENV)
    assert res.returncode == 0, res.stderr
    assert json.loads((run / "instructions.report.json").read_text())["reached"] is False
    student = student_of(run, out)
    before, asked = out.read_bytes(), len(server.log)
    res = inproc.distill(*args, env=ENV)  # replays its rounds from disk: adds nothing
    assert res.returncode == 0, res.stderr
    assert out.read_bytes() == before and len(server.log) == asked
    # one that would go further still is refused, nothing asked
    for more in (("--num-instructions", "6"), ("--stall-rounds", "2")):
        res = inproc.distill(*args, *more, env=ENV)
        one_line_error(res, rf"--out {out} is the data {student} was trained on .*add instructions")
        assert out.read_bytes() == before and len(server.log) == asked


def test_filter_over_a_students_data_names_the_input_that_changed(tmp_path):
    run = tmp_path / "run"
    run.mkdir()
    traces, kept = run / "traces.jsonl", run / "kept.jsonl"
    make_traces(traces, 6)
    res = inproc.distill("filter", traces, "--out", kept)
    assert res.returncode == 0, res.stderr
    student = student_of(run, kept)
    make_traces(run / "more.jsonl", 8)  # the traces grew: generate ran again at a larger --n
    traces.write_bytes((run / "more.jsonl").read_bytes())
    res = inproc.distill("filter", traces, "--out", kept)
    one_line_error(
        res, rf"{student} was trained on .*filter would run again on {traces} \(changed since"
    )
    assert "other settings" not in res.stderr
    res = inproc.distill("filter", traces, "--out", kept, "--verify", "math")
    one_line_error(res, r"filter would run at other settings")
