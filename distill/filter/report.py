"""The filter report: what was kept and why the rest was not (report.json, report.png, and
the table printed at the end of a run).

    distill filter t.jsonl --out kept.jsonl    # -> kept.report.json + kept.report.png
"""

from __future__ import annotations

from collections import Counter, defaultdict
from pathlib import Path
from typing import Any

from distill.filter.config import FilterConfig
from distill.filter.decontam import decontam_label
from distill.filter.facts import Fact
from distill.filter.verify import CORRECT, NO_ANSWER, WRONG
from distill.records import teacher_labels


def summary_stats(
    values: list[float], mean_digits: int = 1, digits: int | None = None
) -> dict[str, float]:
    """count, mean, p50, p90, max of a list (the filter's token lengths; select's scores too,
    rounded to `digits`)."""
    if not values:
        return {"count": 0}
    v = sorted(values)

    def pick(q: float) -> float:
        x = v[min(len(v) - 1, int(q * len(v)))]
        return round(x, digits) if digits is not None else x

    return {
        "count": len(v),
        "mean": round(sum(v) / len(v), mean_digits),
        "p50": pick(0.5),
        "p90": pick(0.9),
        "max": pick(1.0),
    }


# The reasons of the filter's steps after decontam, the checks and verify, in the order it
# applies them (filter/stage.py decide): response dedup and selection look at the traces still
# left only, so no trace of theirs also carries an earlier reason that would place them.
LATER_STEPS = ("duplicate_prompt", "duplicate", "near_duplicate", "difficulty", "selection")


def _step(reason: str, checks: set[str]) -> int:
    """A reason's step: decontam 0, a check (`checks`: the checks' reasons) 1, a verdict 2,
    then LATER_STEPS."""
    if reason.startswith("contaminated:"):
        return 0
    if reason in LATER_STEPS:
        return 3 + LATER_STEPS.index(reason)
    return 1 if reason in checks else 2


def first_failures(rejected: list[Fact]) -> dict[str, int]:
    """How many traces each step rejected first, in the order the filter applies its steps
    (decontam, checks, verify, dedup, difficulty, selection: each trace's reasons are in that
    order). The card's funnel counts down the traces left after each row: listed by count, a
    step was credited with traces an earlier one had already taken (5 wrong answers listed
    before 3 contaminated traces that were also wrong: "5 left" after the answer check, where
    2 were). A row goes before every other reason of the traces it counts; ties by count.
    The steps that look at the traces still left alone (response dedup, selection) share no
    trace with an earlier step, so each step's place in the filter comes first (LATER_STEPS)."""
    left = Counter(f.reasons[0] for f in rejected)
    checks = {r for f in rejected for r in f.fails}
    after: dict[str, set[str]] = defaultdict(set)  # reason -> first reasons that precede it
    for f in rejected:
        for r in f.reasons[1:]:
            if r != f.reasons[0]:
                after[r].add(f.reasons[0])
    order: dict[str, int] = {}
    while left:
        # every reason list follows the one pipeline order, so one is always free of
        # predecessors; all of them, should a malformed list ever make a cycle
        free = [r for r in left if not after[r] & left.keys()] or list(left)
        pick = min(free, key=lambda r: (_step(r, checks), -left[r], r))
        order[pick] = left.pop(pick)
    return order


def build_report(facts: list[Fact], cfg: FilterConfig, rates: dict[str, float]) -> dict[str, Any]:
    kept = [f for f in facts if not f.reasons]
    rejected = [f for f in facts if f.reasons]
    verdicts = Counter(f.verdict for f in facts if f.verdict is not None)
    judged = verdicts[CORRECT] + verdicts[WRONG] + verdicts[NO_ANSWER]
    by_teacher: dict[str, Counter] = defaultdict(Counter)
    for f in facts:
        t = by_teacher[f.teacher]
        t["total"] += 1
        t["kept"] += not f.reasons
        t["correct"] += f.verdict == CORRECT
    hist = Counter(min(9, int(r * 10)) for r in rates.values())
    return {
        "input": cfg.input,
        "total": len(facts),
        "kept": len(kept),
        "rejected": len(rejected),
        "reject_reasons": first_failures(rejected),
        "failures": dict(Counter(r for f in rejected for r in f.reasons).most_common()),
        "verify": {
            "mode": cfg.verify,
            **dict(verdicts),
            "pass_rate": round(verdicts[CORRECT] / judged, 4) if judged else None,
        },
        "by_teacher": teacher_labels({k: dict(v) for k, v in by_teacher.items()}),
        "prompts": {
            "total": len({f.prompt_id for f in facts}),
            "with_kept": len({f.prompt_id for f in kept}),
            "solved_all": sum(r == 1.0 for r in rates.values()),
            "solved_none": sum(r == 0.0 for r in rates.values()),
            "pass_rate_histogram": {
                f"{b / 10:.1f}-{(b + 1) / 10:.1f}": hist.get(b, 0) for b in range(10)
            },
        },
        "tokens": {
            "kept": summary_stats([f.tokens for f in kept]),
            "rejected": summary_stats([f.tokens for f in rejected]),
        },
        # every set asked for, in the order given, 0 included: a card reading only the sets
        # that hit said "none requested" of a run checked against a benchmark with no overlap
        "decontam": {
            **{decontam_label(s): 0 for s in cfg.decontam or []},
            **Counter(f.decontam for f in facts if f.decontam),
        },
        "checks": cfg.active_checks(),
        "dedup": cfg.dedup,
    }


def plot(facts: list[Fact], report: dict[str, Any], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (a, b) = plt.subplots(1, 2, figsize=(11, 4))
    kept = [f.tokens for f in facts if not f.reasons]
    rej = [f.tokens for f in facts if f.reasons]
    a.hist(
        [kept, rej], bins=40, label=[f"kept ({len(kept)})", f"rejected ({len(rej)})"], stacked=False
    )
    a.set(title="trace length (tokens)", xlabel="tokens", ylabel="traces")
    a.legend()
    reasons = report["reject_reasons"]
    b.barh(list(reasons)[::-1] or ["none"], list(reasons.values())[::-1] or [0])
    b.set(title="rejections by first reason", xlabel="traces")
    fig.tight_layout()
    fig.savefig(path, dpi=100, format="png")  # path may be a temporary name
    plt.close(fig)


def print_report(report: dict[str, Any]) -> None:
    from rich.console import Console
    from rich.table import Table

    t = Table(title=f"filter: kept {report['kept']} of {report['total']}")
    t.add_column("reason (first failure)")
    t.add_column("rejected", justify="right")
    for reason, n in report["reject_reasons"].items():
        t.add_row(reason, str(n))
    v = report["verify"]
    if v.get("pass_rate") is not None:
        t.add_section()
        t.add_row(f"teacher pass rate ({v['mode']})", f"{v['pass_rate']:.1%}")
    for teacher, c in report["by_teacher"].items():
        t.add_row(f"kept from {teacher}", f"{c.get('kept', 0)}/{c['total']}")
    Console(stderr=True).print(t)
