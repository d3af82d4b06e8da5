"""Session 13 (hJ): fail-early and cache-key fixes of `distill run` and its stages.

A --decontam folder or `file.jsonl@test` is one of filter's inputs (stamped, never its --out);
select's judge cache keys the judge's server, not only the model name it serves."""

from __future__ import annotations

import pytest

from distill.errors import DistillError
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
