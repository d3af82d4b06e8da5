"""The report plots drawn as a user's run draws them: filter's and select's report.png, train's
loss.png, on the shapes of data that reach them (all kept, none kept, judge scores, a kd run's
kl, no log yet). Elsewhere in the suite the figures are built but not drawn (tests/conftest.py:
a 1x1 PNG stands in); here the stage writes a real image at its figure's size."""

from __future__ import annotations

import json
import struct
from pathlib import Path

import pytest

from distill.train.callbacks import plot_loss
from tests.test_filter import filt
from tests.test_filter import trace as filter_trace
from tests.test_select import FakeJudge, judged_traces, select
from tests.test_select import trace as select_trace
from tests.test_select import write as write_traces

pytestmark = pytest.mark.real_plots


def drawn(png: Path) -> tuple[int, int]:
    """The PNG's width and height; it holds a drawing (more than a blank frame's bytes)."""
    data = png.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and data[12:16] == b"IHDR"
    assert len(data) > 5000, len(data)
    return struct.unpack(">II", data[16:24])


@pytest.mark.parametrize("answer", ["\\boxed{4}", "\\boxed{5}"], ids=["all-kept", "none-kept"])
def test_filters_report_png_is_drawn_whether_or_not_traces_are_kept(tmp_path, answer):
    recs = [filter_trace(answer=answer, prompt=f"What is 2 + 2? ({i})") for i in range(3)]
    kept, rejects, _ = filt(tmp_path, recs, verify="math")
    assert len(kept if answer == "\\boxed{4}" else rejects) == 3
    assert drawn(tmp_path / "kept.report.png") == (1100, 400)


def test_selects_report_png_has_a_judge_panel_when_traces_were_scored(tmp_path):
    src = write_traces(tmp_path / "kept.jsonl", [select_trace(f"p{k}", f"q{k}") for k in range(4)])
    select(tmp_path, src, out="length.jsonl", criteria=["length"])
    assert drawn(tmp_path / "length.report.png") == (1100, 400)  # removed, lengths

    src = judged_traces(tmp_path, ["Score: 8", "Score: 3", "no verdict"])
    j = FakeJudge().start()
    try:
        select(tmp_path, src, out="judged.jsonl", judge="judge", judge_base_url=j.url)
    finally:
        j.stop()
    assert drawn(tmp_path / "judged.report.png") == (1650, 400)  # and the scores


@pytest.mark.parametrize(
    "rows",
    [
        [],
        [{"step": 1, "loss": 2.0}],
        [{"step": s, "loss": 3.0 / s} for s in range(1, 6)],
        [{"step": s, "loss": 3.0 / s, "kl": 1.0 / s} for s in range(1, 6)],
    ],
    ids=["no-log", "one-step", "sft", "kd-with-kl"],
)
def test_trains_loss_png_is_drawn_from_its_log(tmp_path, rows):
    log = tmp_path / "loss.jsonl"
    if rows:
        log.write_text("".join(json.dumps(r) + "\n" for r in rows))
    plot_loss(log, tmp_path / "loss.png")
    assert drawn(tmp_path / "loss.png") == (600, 350)
