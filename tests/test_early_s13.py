"""Session 13 (hJ): fail-early and cache-key fixes of `distill run` and its stages.

`distill run` reads a local eval set and on-policy train's prompt source before its first stage;
a --decontam folder or `file.jsonl@test` is one of filter's inputs (stamped, never its --out);
a student given as `~/student` is stamped (retrained, it keeps no old samples); select's judge
cache keys the judge's server, not only the model name it serves."""

from __future__ import annotations

import json

import pytest

from distill.errors import DistillError
from distill.eval import set_aside_if_retrained
from distill.pipeline import run as pipeline_run
from distill.records import read_records
from tests.test_select import FakeJudge


class Stingy(FakeJudge):
    """Another model served under the same name: every trace gets 2."""

    def _choice(self, i: int, prompt: str, max_tokens: int) -> dict:
        return {
            **super()._choice(i, prompt, max_tokens),
            "message": {"role": "assistant", "content": "Score: 2"},
        }


def _student(home, size: int) -> None:
    d = home / "student"
    d.mkdir(exist_ok=True)
    (d / "config.json").write_text("{}")
    (d / "model.safetensors").write_bytes(b"w" * size)


def test_a_student_given_as_tilde_retrained_in_place_is_sampled_afresh(tmp_path, monkeypatch):
    # `--model=~/student` (the shell leaves a ~ after = as it is), or a recipe value: eval
    # stamped the name, so the student trained again kept the old student's samples and scores
    monkeypatch.setenv("HOME", str(tmp_path))
    _student(tmp_path, 10)
    traces = tmp_path / "eval.student.traces.jsonl"
    traces.write_text('{"id": "a"}\n')
    set_aside_if_retrained(traces, "~/student")
    _student(tmp_path, 20)  # trained again in place
    set_aside_if_retrained(traces, "~/student")
    assert not traces.exists()  # the old samples set aside, sampled afresh
    assert len(list(tmp_path.glob("eval.student.traces.*.jsonl"))) == 1


def test_selects_student_given_as_tilde_keys_its_samples_by_its_weights(tmp_path, monkeypatch):
    from distill.select.difficulty import student_weights
    from distill.select.reward import model_stamp

    monkeypatch.setenv("HOME", str(tmp_path))
    _student(tmp_path, 10)
    before = student_weights("~/student"), model_stamp("~/student")
    assert None not in before
    _student(tmp_path, 20)
    after = student_weights("~/student"), model_stamp("~/student")
    assert before[0] != after[0] and before[1] != after[1]


def test_a_runs_result_drops_the_eval_of_a_tilde_student_retrained_since(tmp_path, monkeypatch):
    # `distill run --only publish` keeps the last eval's numbers only while the student holds
    # the weights it evaluated
    from distill.eval import weights_stamp
    from distill.pipeline import _still_true

    monkeypatch.setenv("HOME", str(tmp_path))
    _student(tmp_path, 10)
    ev = {"student": {"model": "~/student", "pass@1": 0.5}}
    ev["weights"] = {"student": weights_stamp("~/student")}
    result = tmp_path / "run.json"
    result.write_text(json.dumps({"eval": ev, "student_pass@1": 0.5}))
    assert _still_true(result, {"publish": None})["student_pass@1"] == 0.5
    _student(tmp_path, 20)
    assert "student_pass@1" not in _still_true(result, {"publish": None})


# --------------------------------------------------------------- a decontam folder or file@test


@pytest.mark.parametrize("kind", ["folder", "file@test"])
def test_an_edited_decontam_folder_or_file_at_split_filters_again(tmp_path, capsys, kind):
    # filter's manifest stamped only the --decontam entries that were plain files: after the
    # benchmark was edited, `distill run` still found filter done and kept the contaminated trace
    from tests.test_filter_kill import make_traces
    from tests.test_run_rewrites_s11 import _recipe

    bench = tmp_path / "bench"
    bench.mkdir()
    problems = bench / "test.jsonl"
    problems.write_text('{"problem": "How many legs has a spider?"}\n')
    (bench / "train.jsonl").write_text('{"problem": "How many legs has a cat?"}\n')
    src = str(bench) if kind == "folder" else f"{problems}@test"
    f = {"input": "{run_dir}/traces.jsonl", "out": "{run_dir}/kept.jsonl", "decontam": [src]}
    r, run = _recipe(tmp_path, filter=f)
    make_traces(run / "traces.jsonl", 6)
    pipeline_run(r)
    assert "t3" in (run / "kept.jsonl").read_text()
    capsys.readouterr()
    pipeline_run(r)
    assert "== filter: done" in capsys.readouterr().out
    with open(problems, "a") as fh:  # trace t3 asks this very problem
        fh.write('{"problem": "What is 3 + 3? (case 3)"}\n')
    pipeline_run(r)
    assert "== filter (again: input changed)" in capsys.readouterr().out
    assert "t3" not in (run / "kept.jsonl").read_text()


def test_filters_out_may_not_be_a_decontam_file_at_split_or_a_folders_file(tmp_path):
    # `--decontam kept.jsonl` was refused as --out, `kept.jsonl@test` (or a folder holding it)
    # was not: a file distill wrote (a manifest lists it) was read as the benchmark and replaced
    from distill import filter as filter_stage
    from distill.filter import FilterConfig
    from distill.paths import guard_filter
    from tests.test_filter_kill import make_traces

    traces = str(tmp_path / "traces.jsonl")
    make_traces(tmp_path / "traces.jsonl", 3)
    bench = tmp_path / "bench"
    bench.mkdir()
    kept = bench / "test.jsonl"
    filter_stage.run(FilterConfig(input=traces, out=str(kept)))
    guard_filter(FilterConfig(input=traces, out=str(kept)))  # its own output: replaced
    for src in (f"{kept}@test", str(bench)):
        cfg = FilterConfig(input=traces, out=str(kept), decontam=[src])
        with pytest.raises(DistillError, match=r"--out \S*test\.jsonl is the input --decontam"):
            guard_filter(cfg)


# --------------------------------------------------------------- the judge's cache: its server


def test_two_judge_servers_serving_one_model_name_do_not_share_replies(tmp_path):
    # the cache was keyed by the served model's name alone: the second server, another model
    # served as "judge", was never asked and its traces got the first one's scores
    from tests.test_select import judged_traces, select

    src = judged_traces(tmp_path, ["Score: 8", "Score: 9"])
    a, b = FakeJudge().start(), Stingy().start()
    try:
        kept, _, _ = select(tmp_path, src, out="a.jsonl", judge="judge", judge_base_url=a.url)
        assert sorted(r["meta"]["select"]["judge"] for r in kept) == [8.0, 9.0]
        kept, _, _ = select(tmp_path, src, out="b.jsonl", judge="judge", judge_base_url=b.url)
        assert len(b.log) == 2
        assert sorted(r["meta"]["select"]["judge"] for r in kept) == [2.0, 2.0]
        # each server's replies stay cached: neither is asked again
        select(tmp_path, src, out="c.jsonl", judge="judge", judge_base_url=a.url + "/")
        assert len(a.log) == 2 and len(b.log) == 2
    finally:
        a.stop()
        b.stop()


def test_judge_replies_cached_before_the_server_keyed_them_are_the_last_runs_servers(tmp_path):
    # replies cached by a distill before: no server in their key or record. Used only for the
    # server the select.yaml beside --out says the run before asked, decided once
    from distill.select.judge import judge_id
    from distill.templates import load_template
    from tests.test_select import judged_traces, select, write

    src = judged_traces(tmp_path, ["Score: 8", "Score: 9"])
    a, b = FakeJudge().start(), Stingy().start()
    try:
        select(tmp_path, src, judge="judge", judge_base_url=a.url)
        sha = load_template("prompts/judge.txt").sha256
        cache = tmp_path / "kept.select-judge.jsonl"
        sent = [e["messages"][-1]["content"] for e in a.log]
        old = []
        for r in read_records(cache):
            content = next(c for c in sent if r["text"] in c)  # the reply planted in the trace
            r["id"] = judge_id(r["trace_id"], "judge", sha, None, content)
            r.pop("base_url", None)
            old.append(r)
        write(cache, old)
        # another server under the same name: not its replies, asked
        kept, _, _ = select(tmp_path, src, judge="judge", judge_base_url=b.url)
        assert len(b.log) == 2
        assert sorted(r["meta"]["select"]["judge"] for r in kept) == [2.0, 2.0]
        # the server they were asked of (select.yaml now names the other): used, nothing asked
        kept, _, _ = select(tmp_path, src, judge="judge", judge_base_url=a.url)
        assert len(a.log) == 2
        assert sorted(r["meta"]["select"]["judge"] for r in kept) == [8.0, 9.0]
    finally:
        a.stop()
        b.stop()


# --------------------------------------------------------------- eval's and on-policy's rows


def _rows(path, rows) -> str:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return str(path)


TOOLS = [{"type": "function", "function": {"name": "calc", "parameters": {}}}]
BAD = {
    "no prompt field": (
        [{"problem": "What is 1 + 1?", "answer": "2"}, {"text": "What is 2 + 2?", "answer": "4"}],
        r"row 2 has no field 'problem'",
    ),
    "tools": (
        [{"problem": "What is 1 + 1?", "answer": "2", "tools": TOOLS}],
        r"row 1: column 'tools' lists tool definitions",
    ),
    "no gold": (
        [{"problem": "What is 1 + 1?"}, {"problem": "What is 2 + 2?"}],
        r"problems have no gold answer \(--answer-field\) for --verify math",
    ),
}


def _eval_recipe(tmp_path, data: str):
    from tests.test_filter_kill import make_traces
    from tests.test_run_rewrites_s11 import FILTER, _recipe

    ev = {
        "model": "student",
        "backend": "openai",
        "base_url": "http://127.0.0.1:1/v1",
        "data": data,
        "out": "{run_dir}/eval.json",
    }
    r, run = _recipe(tmp_path, filter=FILTER, eval=ev)
    make_traces(run / "traces.jsonl", 6)
    return r, run


@pytest.mark.parametrize("bad", list(BAD))
def test_a_runs_local_eval_set_is_read_before_the_first_stage(tmp_path, bad):
    # eval read its problems only when it started: a set it refuses was refused after
    # generate had bought its samples and train had run
    rows, want = BAD[bad]
    r, run = _eval_recipe(tmp_path, _rows(tmp_path / "bench.jsonl", rows))
    for kw in ({}, {"dry_run": True}):
        with pytest.raises(DistillError, match=want) as e:
            pipeline_run(r, **kw)
        assert "\n" not in str(e.value)
        assert not (run / "kept.jsonl").exists()  # filter never ran


def test_a_hub_eval_set_is_not_read_before_the_stages(tmp_path):
    # no download in a recipe's check: a hub dataset is read when eval starts
    r, _ = _eval_recipe(tmp_path, "no-such-org/no-such-bench")
    pipeline_run(r, dry_run=True)
    r, _ = _eval_recipe(tmp_path, "builtin:arithmetic?start=1000&n=3")
    pipeline_run(r, dry_run=True)


def _onpolicy_recipe(tmp_path, rows, **train):
    from tests.test_filter_kill import make_traces
    from tests.test_run_rewrites_s11 import FILTER, _recipe

    t = {
        "data": _rows(tmp_path / "prompts.jsonl", rows),
        "model": "builtin:smollm2",
        "teacher_model": "builtin:smollm2",
        "output_dir": "{run_dir}/student",
        "method": "onpolicy",
        "max_length": 64,
        **train,
    }
    r, run = _recipe(tmp_path, filter=FILTER, train=t)
    make_traces(run / "traces.jsonl", 6)
    return r, run


def test_on_policy_trains_prompt_source_is_read_before_the_first_stage(tmp_path, monkeypatch):
    import distill.train

    given = []
    monkeypatch.setattr(distill.train, "run", given.append)
    for bad in ("no prompt field", "tools"):
        rows, want = BAD[bad]
        r, run = _onpolicy_recipe(tmp_path, rows)
        with pytest.raises(DistillError, match=want):
            pipeline_run(r)
        assert not (run / "kept.jsonl").exists() and not given
    # --reward math on prompts without a gold answer
    r, run = _onpolicy_recipe(tmp_path, BAD["no gold"][0], reward="math")
    with pytest.raises(DistillError, match=r"--reward math: no example of \S*prompts\.jsonl"):
        pipeline_run(r)
    assert not (run / "kept.jsonl").exists() and not given
    # prompts train reads: the run goes on
    r, run = _onpolicy_recipe(tmp_path, BAD["no prompt field"][0][:1], reward="math")
    pipeline_run(r)
    assert (run / "kept.jsonl").exists() and len(given) == 1
