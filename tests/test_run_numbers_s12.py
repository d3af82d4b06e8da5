"""The numbers a run puts in front of its user, worked out by hand on small cases: the filter
report's funnel (as the model card shows it), eval's table."""

from __future__ import annotations

import json

from tests.test_filter import filt, trace

PROBLEM = "Find the number of ordered pairs of positive integers whose product is one hundred"


def test_the_funnel_lists_first_failures_in_the_order_the_filter_applies_its_steps(tmp_path):
    """reject_reasons was ordered by count: 5 wrong answers were listed before 3 contaminated
    traces that were wrong too, and the card's funnel said 5 traces were left after the answer
    check, where 2 were (and 7 after decontamination, where it said 2)."""
    from distill.publish import PublishConfig, build_card
    from tests.test_publish import run_folder

    bench = tmp_path / "math500.jsonl"
    bench.write_text(json.dumps({"problem": PROBLEM, "answer": "9"}) + "\n")
    recs = [trace(prompt=f"{PROBLEM} (take {i})", answer="\\boxed{5}", gold="9") for i in range(3)]
    recs += [trace(prompt=f"What is {i} + 2?", answer="\\boxed{0}", gold="2") for i in range(5)]
    recs += [trace(prompt=f"What is {i} + 3?", answer=f"\\boxed{{{i + 3}}}", gold=str(i + 3))
             for i in range(2)]  # fmt: skip
    (tmp_path / "f").mkdir()
    _, _, report = filt(tmp_path / "f", recs, decontam=[str(bench)], verify="math")
    assert report["total"] == 10 and report["kept"] == 2
    assert report["failures"]["wrong_answer"] == 8
    assert list(report["reject_reasons"].items()) == [
        ("contaminated:math500", 3),
        ("wrong_answer", 5),
    ]
    student = run_folder(tmp_path)  # its filter report replaced by this one
    (tmp_path / "kept.report.json").write_text(
        json.dumps({**report, "input": str(tmp_path / "traces.jsonl")})
    )
    card = str(build_card(student, student, PublishConfig(dir=str(student), local_dir="x")))
    assert (
        "| generated | | 10 |\n| contaminated:math500 | 3 | 7 |\n| wrong_answer | 5 | 2 |" in card
    )


def test_eval_table_shows_a_metric_only_the_baseline_has(capsys):
    """The table printed at the end of `distill eval` listed the student's metrics only: a
    baseline with unverifiable problems (its pass@1 over fewer problems) showed no such row,
    as eval.json and the card (every metric of either column) do."""
    from distill.eval import _print

    row = {"problems": 3, "samples": 3, "pass@1": 0.5, "maj@1": 0.5}
    _print(
        {
            "data": "d.jsonl",
            "verify": "math",
            "n": 1,
            "student": {"model": "s", **row},
            "baseline": {"model": "b", **row, "unverifiable": 1},
        }
    )
    table = capsys.readouterr().err
    [line] = [ln for ln in table.splitlines() if "unverifiable" in ln]
    assert "1" in line and "None" not in line  # the student's none: 0, as the card shows it


def test_eval_refuses_several_samples_of_greedy_decoding(tmp_path):
    """--n 4 at the default --temperature 0 drew one greedy answer four times: eval.json's
    "maj@4" was pass@1 under another name, bought four times over."""
    import pytest

    from distill.errors import DistillError
    from distill.eval import EvalConfig

    kw = dict(model="m", backend="openai", data="d.jsonl", out=str(tmp_path / "e.json"))
    with pytest.raises(DistillError, match=r"^--n 4 at --temperature 0: .*--temperature > 0"):
        EvalConfig(n=4, **kw)
    assert EvalConfig(n=4, temperature=0.6, **kw).n == 4  # sampled: pass@1 over 4, maj@4
    assert EvalConfig(n=1, **kw).temperature == 0.0  # greedy once: as before
