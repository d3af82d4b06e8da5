"""A second read of train --resume's rendered-rows fingerprint (fingerprint.py, 16039f8).

A chat template may write the day it renders (Llama 3.2's 'Today Date: 06 Dec 2026', through
transformers' strftime_now): a run resumed on another day rendered its rows with another date,
and the fingerprint refused the resume of a run whose data, distill and files are the same. A
folder or Hub dataset (no sha256 kept) whose rows changed was refused saying to resume with the
distill and the template files the run began with: the rows may be what changed."""

import shutil
from datetime import datetime, timedelta

import pytest

from distill.errors import DistillError
from distill.train import TrainConfig, run
from tests.test_resume_render_s14 import SHAPE, STEPS, killed_after_checkpoint_2, losses, rendered
from tests.test_train import kept_file


def tomorrow(monkeypatch):
    """The clock a chat template reads (strftime_now) a day on."""
    from transformers.utils import chat_template_utils

    real = chat_template_utils.datetime

    class Later(real):
        @classmethod
        def now(cls, tz=None):
            return real.now(tz) + timedelta(days=1)

    monkeypatch.setattr(chat_template_utils, "datetime", Later)


# The tests reading dated are one xdist group: its run is trained once, on one worker.
@pytest.fixture(scope="module")
def dated(tmp_path_factory, tiny_qwen):
    """A whole 3-step run of a student whose template writes today's date, as Llama 3.2's."""
    base = tmp_path_factory.mktemp("dated")
    model = base / "student"
    shutil.copytree(tiny_qwen, model)
    template = model / "chat_template.jinja"
    template.write_text(
        "{{ 'Today Date: ' + strftime_now('%d %b %Y') + '\\n' }}" + template.read_text()
    )
    data = kept_file(base, n=16)

    def cfg(out, **kw):
        return TrainConfig(
            data=str(data),
            model=str(model),
            output_dir=str(out),
            **STEPS,
            **{**SHAPE, "max_length": 96},
            **kw,
        )

    return cfg, run(cfg(base / "whole"))


@pytest.mark.xdist_group("resume_render_dated")
def test_a_run_whose_template_writes_the_date_resumes_the_next_day(dated, tmp_path, monkeypatch):
    """The rest of the run trains on the rows its first steps did (the date the run began), and
    a second resume goes on alike."""
    cfg, whole = dated
    out = killed_after_checkpoint_2(whole, tmp_path / "out")
    tomorrow(monkeypatch)
    run(cfg(out, resume=True))
    assert losses(out) == losses(whole)
    assert rendered(out)["sha256"] == rendered(whole)["sha256"]


@pytest.mark.xdist_group("resume_render_dated")
def test_a_run_started_afresh_renders_the_date_of_its_own_day(dated, tmp_path, monkeypatch):
    """Only a resume from a checkpoint renders at its run's clock: --resume in a folder a run left
    before its first checkpoint starts fresh, on the rows of its own day."""
    cfg, whole = dated
    out = killed_after_checkpoint_2(whole, tmp_path / "out")
    shutil.rmtree(out / "checkpoint-2")
    for p in out.iterdir():  # as a kill before the first checkpoint left it
        if p.name not in ("train.yaml", "train_data.json", "loss.jsonl"):
            shutil.rmtree(p) if p.is_dir() else p.unlink()
    tomorrow(monkeypatch)
    run(cfg(out, resume=True))
    day = (datetime.now() + timedelta(days=1)).date()
    assert datetime.fromisoformat(rendered(out)["clock"]).date() == day
    assert rendered(out)["sha256"] != rendered(whole)["sha256"]


def test_a_folder_of_data_whose_rows_changed_is_named_as_what_may_have_changed(tiny_qwen, tmp_path):
    """A folder (or a Hub dataset) has no sha256 kept for a resume to check: its rows are compared
    by the fingerprint alone, and a refusal says they may be what changed, not only distill or the
    student's files (which are the same here)."""
    folder = tmp_path / "data"
    folder.mkdir()
    kept = kept_file(tmp_path, n=16).rename(folder / "train.jsonl")
    cfg = TrainConfig(
        data=str(folder), model=str(tiny_qwen), output_dir=str(tmp_path / "whole"), **STEPS, **SHAPE
    )
    whole = run(cfg)
    out = killed_after_checkpoint_2(whole, tmp_path / "out")
    kept.write_text(kept.read_text().replace("What is 6 + 7?", "What is 7 + 6?"))
    with pytest.raises(DistillError) as e:
        run(TrainConfig(**{**cfg.__dict__, "output_dir": str(out), "resume": True}))
    said = str(e.value)
    assert "\n" not in said
    assert "example 4 (row 4 of the data) is the first whose tokens differ" in said
    assert f"{folder} is a folder" in said and "its rows may have changed" in said
