"""distill select: difficulty (a fake student with known pass rates, the teacher's stored
samples), the judge (malformed replies, cache, a kill), diversity (planted clusters, a column),
length, the budget, the seed, and bad input as one line."""

from __future__ import annotations

import json
import os
import re
import signal
from pathlib import Path

import pytest
from typer.testing import CliRunner

from distill.cli import app
from distill.errors import DistillError
from distill.records import read_records
from distill.select.config import SelectConfig
from distill.select.judge import parse_score
from distill.select.stage import run
from tests import forked
from tests.fakeserver import FakeServer

ROOT = Path(__file__).resolve().parent.parent


def trace(pid: str, problem: str, sample: int = 0, **kw) -> dict:
    rec = {
        "id": f"{pid}-{sample}",
        "prompt_id": pid,
        "sample": sample,
        "messages": [{"role": "user", "content": problem}],
        "reasoning": kw.pop("reasoning", f"Working on {problem}"),
        "answer": kw.pop("answer", "\\boxed{1}"),
        "gold": kw.pop("gold", "1"),
        "teacher": {"backend": "openai", "model": "t", "params": {}},
        "finish_reason": "stop",
        "usage": {"prompt_tokens": 5, "completion_tokens": kw.pop("tokens", 10)},
        "meta": kw.pop("meta", {}),
    }
    rec.update(kw)
    return rec


def write(path: Path, recs: list[dict]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in recs))
    return path


def select(tmp_path: Path, input: Path, out: str = "sel.jsonl", **kw) -> tuple[list, list, dict]:
    cfg = SelectConfig(input=str(input), out=str(tmp_path / out), **kw)
    run(cfg, quiet=True)
    kept = list(read_records(cfg.out))
    rejects = list(read_records(cfg.rejects))
    return kept, rejects, json.loads(Path(cfg.report).read_text())


def cli(*args: str) -> tuple[int, str]:
    res = CliRunner().invoke(app, ["select", *args])
    return res.exit_code, res.output


# =========================================================================== difficulty


class FakeStudent(FakeServer):
    """Solves 'What is A + B?' in the first round(rate * n) of its n samples, `rate` set per
    problem: known pass rates."""

    def __init__(self, rates: dict[str, float]):
        super().__init__(model="student")
        self.rates = rates

    def _choice(self, i: int, prompt: str, max_tokens: int) -> dict:
        a, b = map(int, re.findall(r"\d+", prompt)[:2])
        right = i < round(self.rates[prompt] * 4)
        text = f"\\boxed{{{a + b if right else a + b + 1}}}"
        return {
            "index": i,
            "message": {"role": "assistant", "content": text},
            "finish_reason": "stop",
            "_tokens": 3,
        }


def test_pass_rate_band_keeps_the_prompts_the_student_solves_10_to_60_percent(tmp_path):
    rates = {f"What is {k} + 1?": r for k, r in enumerate([0.0, 0.25, 0.5, 0.75, 1.0])}
    recs = [trace(f"p{k}", q, gold=str(k + 1)) for k, q in enumerate(rates)]
    src = write(tmp_path / "kept.jsonl", recs)
    s = FakeStudent(rates).start()
    try:
        kw = dict(student="student", student_base_url=s.url, samples=4, pass_rate="0.1:0.6")
        kept, rejects, rep = select(tmp_path, src, **kw)
        assert sorted(r["prompt_id"] for r in kept) == ["p1", "p2"]
        got = {r["prompt_id"]: r["meta"]["select"]["pass_rate"] for r in kept + rejects}
        assert got == {"p0": 0.0, "p1": 0.25, "p2": 0.5, "p3": 0.75, "p4": 1.0}
        assert {r["reject_reason"] for r in rejects} == {"difficulty"}
        assert rep["removed"]["difficulty"] == 3
        assert rep["difficulty"]["sampled_this_run"] == 20
        asked = len(s.log)
        # Another band, seed and --out: the student's samples are cached by id, none re-asked.
        kept2, _, rep2 = select(
            tmp_path, src, out="sel2.jsonl", **{**kw, "pass_rate": "0:0", "seed": 5}
        )
        assert [r["prompt_id"] for r in kept2] == ["p0"]
        assert len(s.log) == asked and rep2["difficulty"]["sampled_this_run"] == 0
    finally:
        s.stop()


def test_teacher_pass_rate_from_its_stored_samples_and_prefer_failed(tmp_path):
    # p0: 1 of 4 right, p1: 3 of 4, p2: 4 of 4 (the filter's verdicts, as in its output)
    traces = []
    for pid, right in (("p0", 1), ("p1", 3), ("p2", 4)):
        for s in range(4):
            v = "correct" if s < right else "wrong"
            traces.append(trace(pid, f"problem {pid}", s, checks={"verify": v}))
    all_traces = write(tmp_path / "traces.jsonl", traces)
    kept = write(tmp_path / "kept.jsonl", [t for t in traces if t["checks"]["verify"] == "correct"])
    sel, _, rep = select(
        tmp_path,
        kept,
        teacher_traces=str(all_traces),
        prefer_failed=True,
        per_prompt=1,
        budget=2,
        criteria=["difficulty", "length"],
    )
    assert sorted(r["prompt_id"] for r in sel) == ["p0", "p1"]  # the hardest two
    assert {r["meta"]["select"]["pass_rate"] for r in sel} == {0.25, 0.75}
    assert rep["difficulty"]["from"] == "teacher" and rep["removed"]["budget"] == 1


# =========================================================================== judge


class FakeJudge(FakeServer):
    """Replies with the text planted in the judged trace as REPLY<<...>>."""

    def __init__(self, **kw):
        super().__init__(model="judge", **kw)

    def _choice(self, i: int, prompt: str, max_tokens: int) -> dict:
        m = re.search(r"REPLY<<(.*?)>>", prompt, re.S)
        text = m.group(1) if m else "Score: 5"
        return {
            "index": i,
            "message": {"role": "assistant", "content": text},
            "finish_reason": "stop",
            "_tokens": 5,
        }


def test_parse_score_reads_what_judges_write_and_drops_the_rest():
    assert parse_score("Clear and correct.\nScore: 8") == (8.0, "Clear and correct.")
    assert parse_score("**Score:** 7/10 because it is tidy")[0] == 7.0
    assert parse_score('{"score": 9, "reason": "exemplary"}') == (9.0, "exemplary")
    assert parse_score("On a scale of 1-10 I'd give it 6/10.")[0] == 6.0
    assert parse_score("<think>maybe Score: 2</think>Rating: 4")[0] == 4.0
    assert parse_score("The rubric says 1 to 10. Score: 3")[0] == 3.0
    for bad in (
        "",
        None,
        "I like it.",
        "Score: 11",
        "Score: 0",
        "Score: ten",
        "<think>Score: 9 but cut off",
        '{"score": "high"}',
    ):
        assert parse_score(bad)[0] is None, bad


def judged_traces(tmp_path: Path, replies: list[str]) -> Path:
    recs = [
        trace(f"p{k}", f"problem {k}", reasoning=f"REPLY<<{r}>>") for k, r in enumerate(replies)
    ]
    return write(tmp_path / "kept.jsonl", recs)


def test_judge_drops_and_counts_malformed_replies_and_a_rerun_pays_nothing(tmp_path):
    replies = [
        "Good.\nScore: 9",
        "garbage",
        "Score: 11",
        '{"score": 4, "reason": "meh"}',
        "Fine. Score: 7/10",
        "",
        "Score: 2",
    ]
    src = judged_traces(tmp_path, replies)
    j = FakeJudge().start()
    try:
        kw = dict(judge="judge", judge_base_url=j.url, min_score=5.0)
        kept, rejects, rep = select(tmp_path, src, **kw)
        assert sorted(r["prompt_id"] for r in kept) == ["p0", "p4"]
        reasons = {r["prompt_id"]: r["reject_reason"] for r in rejects}
        assert reasons == {
            "p1": "judge_no_score",
            "p2": "judge_no_score",
            "p5": "judge_no_score",
            "p3": "judge",
            "p6": "judge",
        }
        assert rep["judge"]["malformed"] == 3 and rep["judge"]["scored"] == 4
        assert rep["removed"]["judge"] == 5
        assert (
            kept[0]["meta"]["select"]["judge"] == 9.0
            and kept[0]["meta"]["select"]["judge_reason"] == "Good."
        )
        asked = len(j.log)
        assert asked == len(replies)
        # Another threshold and budget, another --out: every reply comes from the cache.
        kept2, _, rep2 = select(
            tmp_path, src, out="sel2.jsonl", **{**kw, "min_score": 3.0, "budget": 2}
        )
        assert len(j.log) == asked and rep2["judge"]["requests_this_run"] == 0
        assert [
            r["prompt_id"] for r in sorted(kept2, key=lambda r: r["meta"]["select"]["rank"])
        ] == ["p0", "p4"]
    finally:
        j.stop()


def test_a_judge_that_never_scores_is_one_line(tmp_path):
    src = judged_traces(tmp_path, ["no idea", "dunno"])
    j = FakeJudge().start()
    try:
        code, out = cli(
            str(src),
            "--out",
            str(tmp_path / "s.jsonl"),
            "--judge",
            "judge",
            "--judge-base-url",
            j.url,
        )
    finally:
        j.stop()
    assert code == 1
    assert out.strip().count("\n") == 0 and "returned no score for any of the 2 traces" in out


def test_judge_resumes_after_a_kill_without_repaying_a_reply(tmp_path):
    n = 12
    src = judged_traces(tmp_path, [f"Score: {1 + k % 10}" for k in range(n)])
    j = FakeJudge(latency=0.02).start()
    out = tmp_path / "sel.jsonl"
    try:
        args = [
            "select",
            str(src),
            "--out",
            str(out),
            "--judge",
            "judge",
            "--judge-base-url",
            j.url,
            "--concurrency",
            "1",
        ]
        # A process forked from this one (tests/forked.py: no interpreter start and imports to
        # pay), which kills itself after the 5th judged trace (DISTILL_TEST_KILL_AT, its own).
        res = forked.distill(
            *args,
            cwd=ROOT,
            before=lambda: os.environ.update(DISTILL_TEST_KILL_AT="select:judged:5"),
            imports=("openai", "distill.select.stage", "distill.select.judge"),
            timeout=120,
        )
        assert res.returncode == -signal.SIGKILL, res.stderr
        assert not out.exists()
        cache = tmp_path / "kept.select-judge.jsonl"
        cached = {r["trace_id"] for r in read_records(cache)}
        assert len(cached) == 5
        first = len(j.log)
        run(
            SelectConfig(input=str(src), out=str(out), judge="judge", judge_base_url=j.url),
            quiet=True,
        )
        asked_again = [
            re.search(r"REPLY<<Score: (\d+)>>", e["messages"][-1]["content"]) for e in j.log[first:]
        ]
        assert len(asked_again) == n - 5  # only the traces whose reply never arrived
        again_ids = {r["trace_id"] for r in read_records(cache)} - cached
        assert len(again_ids) == n - 5 and not (again_ids & cached)
        assert len(list(read_records(out))) == n
    finally:
        j.stop()


# =========================================================================== diversity + length

TOPICS = {
    "geometry": "triangle angle circle radius polygon area",
    "probability": "dice coin probability random draw urn",
    "algebra": "polynomial root equation factor quadratic variable",
}


def planted(tmp_path: Path, sizes: dict[str, int]) -> Path:
    recs = []
    for topic, n in sizes.items():
        words = TOPICS[topic].split()
        for k in range(n):
            text = " ".join(words[(k + j) % len(words)] for j in range(4)) + f" case {topic}{k}"
            recs.append(trace(f"{topic}{k}", text, meta={"domain": topic}))
    return write(tmp_path / "kept.jsonl", recs)


def test_clusters_are_drawn_round_robin_on_planted_topics(tmp_path):
    src = planted(tmp_path, {"geometry": 30, "probability": 10, "algebra": 5})
    kept, rejects, rep = select(tmp_path, src, budget=9, clusters=3)
    topics = [re.sub(r"\d+", "", r["prompt_id"]) for r in kept]
    assert sorted(topics) == ["algebra"] * 3 + ["geometry"] * 3 + ["probability"] * 3
    # each planted topic is one cluster
    by_cluster: dict = {}
    for r in kept + rejects:
        by_cluster.setdefault(r["meta"]["select"]["cluster"], set()).add(r["meta"]["domain"])
    assert sorted(map(sorted, by_cluster.values())) == [["algebra"], ["geometry"], ["probability"]]
    assert rep["diversity"]["groups"] == 3 and rep["removed"]["budget"] == 45 - 9


def test_by_column_draws_across_its_values(tmp_path):
    src = planted(tmp_path, {"geometry": 20, "probability": 2, "algebra": 8})
    kept, _, rep = select(tmp_path, src, budget=6, by="meta.domain")
    counts = {t: sum(r["meta"]["domain"] == t for r in kept) for t in TOPICS}
    assert counts == {"geometry": 2, "probability": 2, "algebra": 2}
    assert rep["diversity"]["by"] == "meta.domain"


def test_per_prompt_shortest_and_a_token_budget(tmp_path):
    recs = [trace("a", "A?", s, tokens=t) for s, t in enumerate((30, 10, 20))]
    recs += [trace("b", "B?", s, tokens=t) for s, t in enumerate((50, 40))]
    src = write(tmp_path / "kept.jsonl", recs)
    kept, _, _ = select(tmp_path, src, per_prompt=1, prefer="short")
    assert sorted(r["id"] for r in kept) == ["a-1", "b-1"]
    kept, rejects, rep = select(
        tmp_path, src, per_prompt=1, prefer="short", token_budget=45, out="t.jsonl"
    )
    assert [r["id"] for r in kept] == ["a-1"]
    assert {r["id"]: r["reject_reason"] for r in rejects}["b-1"] == "token_budget"
    assert rep["removed"]["length"] == 4


def test_the_same_seed_selects_the_same_traces_and_another_seed_others(tmp_path):
    src = planted(tmp_path, {"geometry": 40, "probability": 40, "algebra": 40})
    a, _, _ = select(tmp_path, src, out="a.jsonl", budget=12, seed=1)
    b, _, _ = select(tmp_path, src, out="b.jsonl", budget=12, seed=1)
    c, _, _ = select(tmp_path, src, out="c.jsonl", budget=12, seed=2)
    assert (tmp_path / "a.jsonl").read_bytes() == (tmp_path / "b.jsonl").read_bytes()
    assert {r["id"] for r in a} != {r["id"] for r in c}


# =========================================================================== bad input


def test_a_budget_larger_than_the_pool_keeps_all_with_a_note(tmp_path):
    src = planted(tmp_path, {"geometry": 3, "algebra": 2})
    code, out = cli(str(src), "--out", str(tmp_path / "s.jsonl"), "--budget", "100")
    assert code == 0, out
    assert (
        "note: --budget 100 >= the 5 traces left after the other criteria: all of them kept" in out
    )
    assert len(list(read_records(tmp_path / "s.jsonl"))) == 5


@pytest.mark.parametrize(
    "args, line",
    [
        (
            ["--criteria", "difficulty,vibes"],
            "unknown criterion 'vibes' (have: difficulty, judge, length, diversity)",
        ),
        (["--pass-rate", "0.6:0.1"], "--pass-rate 0.6:0.1: expected LO:HI with 0 <= LO <= HI <= 1"),
        (["--criteria", "judge"], "--criteria judge needs --judge MODEL"),
        (["--budget", "0"], "--budget 0: must be >= 1"),
        (["--prefer", "medium"], "unknown --prefer 'medium'"),
    ],
)
def test_bad_input_is_one_line(tmp_path, args, line):
    src = planted(tmp_path, {"geometry": 2})
    code, out = cli(str(src), "--out", str(tmp_path / "s.jsonl"), *args)
    assert code == 1 and out.startswith("error: ") and line in out
    assert out.strip().count("\n") == 0


def test_an_input_that_is_not_traces_names_its_line(tmp_path):
    src = tmp_path / "kept.jsonl"
    src.write_text(json.dumps(trace("a", "A?")) + "\n" + json.dumps({"id": "x"}) + "\n")
    with pytest.raises(
        DistillError, match=r"kept.jsonl:2: not a trace record: missing field 'prompt_id'"
    ):
        run(SelectConfig(input=str(src), out=str(tmp_path / "s.jsonl")), quiet=True)


def test_a_select_section_runs_between_filter_and_train_in_distill_run(tmp_path):
    from distill.pipeline import run as run_recipe

    planted(tmp_path, {"geometry": 6, "algebra": 6})
    recipe = tmp_path / "r.yaml"
    recipe.write_text(
        f"run:\n  dir: {tmp_path}\n"
        "select:\n  input: '{run_dir}/kept.jsonl'\n  out: '{run_dir}/sel.jsonl'\n  budget: 4\n"
        "  clusters: 2\n"
    )
    run_recipe(recipe)
    kept = list(read_records(tmp_path / "sel.jsonl"))
    assert sorted(r["meta"]["domain"] for r in kept) == ["algebra"] * 2 + ["geometry"] * 2
    # CLI > recipe: --budget and --out on the command line win over the section's
    code, out = cli("--recipe", str(recipe), "--budget", "2", "--out", str(tmp_path / "s2.jsonl"))
    assert code == 0, out
    kept = list(read_records(tmp_path / "s2.jsonl"))
    assert sorted(r["meta"]["domain"] for r in kept) == ["algebra", "geometry"]


def test_a_local_hf_student_is_sampled_through_generates_hf_teacher(tmp_path, tiny_qwen):
    # golds of 9 digits: a random model's 4 sampled tokens never spell one (a 1-digit gold
    # they did, by chance, once the seeded draws changed)
    recs = [trace(f"p{k}", f"What is {k} + 123456789?", gold=str(k + 123456789)) for k in range(3)]
    src = write(tmp_path / "kept.jsonl", recs)
    kw = dict(student=str(tiny_qwen), student_backend="hf", samples=2, student_max_tokens=4)
    kept, rejects, rep = select(tmp_path, src, prefer_failed=True, **kw)
    assert rep["difficulty"]["sampled_this_run"] == 6 and len(kept) == 3
    samples = list(read_records(tmp_path / "kept.select-student.jsonl"))
    assert len(samples) == 6 and {s["teacher"]["backend"] for s in samples} == {"hf"}
    # a random tiny model solves nothing: every prompt's pass rate is 0
    assert {r["meta"]["select"]["pass_rate"] for r in kept} == {0.0}
    _, _, rep = select(tmp_path, src, out="again.jsonl", prefer_failed=True, **kw)
    assert rep["difficulty"]["sampled_this_run"] == 0
