"""The plot the suite writes where a stage's report.png or loss.png goes (tests/conftest.py: built
as the stage builds it, not drawn) is as much the stage's output as the drawing was: the same
data gives the same bytes, other data other bytes.

Before, every plot not drawn was the same 1x1 PNG whatever it showed, so the tests that compare
a stage's outputs byte for byte stopped seeing the plot: test_filter_kill's whole-set check (the
previous run's --verify none set against the new --verify math one: a kill that left one run's
plot beside the other's kept file was 'whole'), test_run_same_settings_s12's refused rerun that
must leave every file as it was."""

from __future__ import annotations

import json
from pathlib import Path

from distill.train.callbacks import plot_loss
from tests.test_filter import filt, trace
from tests.test_select import select
from tests.test_select import trace as select_trace
from tests.test_select import write as write_traces


def not_drawn(png: Path) -> bytes:
    data = png.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) < 1000  # the stand-in, not a drawing
    return data


def test_filters_plot_not_drawn_is_its_data(tmp_path):
    def report_png(name, answers):
        d = tmp_path / name
        d.mkdir()
        recs = [trace(answer=a, prompt=f"What is 2 + 2? ({i})") for i, a in enumerate(answers)]
        filt(d, recs, verify="math")
        return not_drawn(d / "kept.report.png")

    right, wrong = "\\boxed{4}", "\\boxed{5}"
    all_kept = report_png("a", [right, right, right])
    assert report_png("b", [right, right, right]) == all_kept  # the same data, the same plot
    assert report_png("c", [right, wrong, right]) != all_kept  # one rejected: another plot


def test_selects_plot_not_drawn_is_its_data(tmp_path):
    def report_png(name, n):
        recs = [select_trace(f"p{k}", f"q{k}") for k in range(n)]
        src = write_traces(tmp_path / f"{name}.jsonl", recs)
        select(tmp_path, src, out=f"{name}.out.jsonl", criteria=["length"])
        return not_drawn(tmp_path / f"{name}.out.report.png")

    assert report_png("a", 4) == report_png("b", 4)
    assert report_png("a", 4) != report_png("c", 6)


def test_loss_plot_not_drawn_is_its_log(tmp_path):
    def loss_png(name, rows):
        log = tmp_path / f"{name}.jsonl"
        log.write_text("".join(json.dumps(r) + "\n" for r in rows))
        plot_loss(log, tmp_path / f"{name}.png")
        return not_drawn(tmp_path / f"{name}.png")

    sft = [{"step": s, "loss": 3.0 / s} for s in range(1, 6)]
    assert loss_png("a", sft) == loss_png("b", sft)
    assert loss_png("a", sft) != loss_png("c", sft[:-1] + [{"step": 5, "loss": 0.9}])
    kd = [{**r, "kl": 1.0 / r["step"]} for r in sft]
    assert loss_png("a", sft) != loss_png("d", kd)  # the kl line too
