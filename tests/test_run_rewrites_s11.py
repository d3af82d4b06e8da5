"""`distill run` over a run dir whose student is trained (or mid-training), with a filter,
select or generate setting changed: the stage that would write again the data the student
learned from is refused before any stage runs, in one line naming the stage, the file, the
student folder and `--set train.overwrite=true`. It used to filter again first, rewriting
kept.jsonl, and only then did train refuse ("changed after ... began training on it"): the
data the student was trained on was gone, its lineage (train_data.json, publish's card) named
data it did not learn. A rerun at unchanged settings goes on as before.

train is a stand-in (as in test_review_config) that leaves what a run leaves: train.yaml,
train_data.json with the data's sha256, a checkpoint, the adapter."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

import distill.train
from distill.errors import DistillError
from distill.pipeline import run as pipeline_run
from tests.test_filter_kill import make_traces

TRAIN = {
    "data": "{run_dir}/kept.jsonl",
    "model": "builtin:smollm2",
    "output_dir": "{run_dir}/student",
    "max_length": 64,
    "max_steps": 2,
}
FILTER = {"input": "{run_dir}/traces.jsonl", "out": "{run_dir}/kept.jsonl"}


def _safetensors(path: Path) -> None:
    """A whole one-tensor safetensors file (what complete_weights checks)."""
    header = json.dumps({"w": {"dtype": "F32", "shape": [1], "data_offsets": [0, 4]}}).encode()
    path.write_bytes(len(header).to_bytes(8, "little") + header + b"\0" * 4)


def leave_run(cfg, killed: bool = False) -> Path:
    """What train leaves in --output-dir: finished, or killed after its first checkpoint
    (checkpoint-1 at step 1 of 2, no adapter)."""
    from distill.config import save_config
    from distill.manifest import file_sha256

    out = Path(cfg.output_dir)
    ckpt = out / ("checkpoint-1" if killed else "checkpoint-2")
    ckpt.mkdir(parents=True, exist_ok=True)
    save_config(cfg, out / "train.yaml")
    save_config(cfg, ckpt / "train.yaml")
    sha = file_sha256(Path(cfg.data))
    (out / "train_data.json").write_text(json.dumps({"kept": 1, "data_sha256": sha}))
    state = {"global_step": 1 if killed else 2, "max_steps": 2}
    (ckpt / "trainer_state.json").write_text(json.dumps(state))
    if not killed:
        _safetensors(out / "adapter_model.safetensors")
        (out / "adapter_config.json").write_text("{}")
    return out


@pytest.fixture
def trained(monkeypatch):
    """train.run replaced by leave_run; the configs it was given."""
    calls = []

    def fake_train(cfg):
        calls.append(cfg)
        return leave_run(cfg)

    monkeypatch.setattr(distill.train, "run", fake_train)
    return calls


def _recipe(tmp_path: Path, **sections) -> tuple[Path, Path]:
    run = tmp_path / "run"
    run.mkdir(exist_ok=True)
    path = tmp_path / "r.yaml"
    path.write_text(yaml.safe_dump({"run": {"dir": str(run)}, **sections}))
    return path, run


def test_a_changed_filter_setting_is_refused_before_filter_rewrites_the_students_data(
    tmp_path, trained, capsys
):
    r, run = _recipe(tmp_path, filter=FILTER, train=TRAIN)
    make_traces(run / "traces.jsonl", 30)
    pipeline_run(r)
    assert len(trained) == 1
    kept, student = run / "kept.jsonl", run / "student"
    data = kept.read_bytes()
    manifest = (run / "kept.manifest.json").read_bytes()

    # unchanged settings: filter and train skipped, as before
    capsys.readouterr()
    pipeline_run(r)
    out = capsys.readouterr().out
    assert "== filter: done" in out and "== train: done" in out
    assert len(trained) == 1

    # another filter setting: refused before filter runs; the student's data is kept as it was
    want = (
        r"filter would run again \(settings changed\) and rewrite \S*kept\.jsonl, which "
        r"\S*student was trained on .*train\.overwrite=true"
    )
    for kw in ({}, {"dry_run": True}, {"only": ["filter"]}):
        with pytest.raises(DistillError, match=want) as e:
            pipeline_run(r, sets=["filter.verify=math"], **kw)
        assert "\n" not in str(e.value)
        assert kept.read_bytes() == data
        assert (run / "kept.manifest.json").read_bytes() == manifest
    assert len(trained) == 1
    assert "== filter" not in capsys.readouterr().out

    # the user starts over: filter runs again, the student is trained again on the new data
    pipeline_run(r, sets=["filter.verify=math", "train.overwrite=true"])
    assert kept.read_bytes() != data
    assert len(trained) == 2 and trained[-1].overwrite
    assert (student / "train_data.json").is_file()


def test_a_killed_student_is_protected_too_and_a_student_of_other_data_is_not(tmp_path):
    from distill.config import load_config
    from distill.train.config import TrainConfig

    r, run = _recipe(tmp_path, filter=FILTER, train=TRAIN)
    make_traces(run / "traces.jsonl", 30)
    pipeline_run(r, only=["filter"])
    cfg = load_config(TrainConfig, "train", r, {})
    cfg.data, cfg.output_dir = str(run / "kept.jsonl"), str(run / "student")
    leave_run(cfg, killed=True)
    data = (run / "kept.jsonl").read_bytes()
    with pytest.raises(DistillError, match=r"filter would run again .*student was trained on"):
        pipeline_run(r, sets=["filter.verify=math"])
    assert (run / "kept.jsonl").read_bytes() == data

    # a student trained on other data than kept.jsonl holds now: nothing of it to keep
    # (filter runs; train refuses after it, as before: the data had changed already)
    counts = run / "student" / "train_data.json"
    counts.write_text(json.dumps({"data_sha256": "0" * 64}))
    with pytest.raises(DistillError, match=r"kept\.jsonl changed after .* began training"):
        pipeline_run(r, sets=["filter.verify=math"])
    assert (run / "kept.jsonl").read_bytes() != data


def test_a_filter_run_again_at_its_own_settings_goes_on(tmp_path, trained, capsys):
    # the report deleted: filter runs again at the settings and on the traces of the set on
    # disk, which writes the same kept.jsonl; the student is still the run's, skipped
    r, run = _recipe(tmp_path, filter=FILTER, train=TRAIN)
    make_traces(run / "traces.jsonl", 30)
    pipeline_run(r)
    data = (run / "kept.jsonl").read_bytes()
    (run / "kept.report.json").unlink()
    capsys.readouterr()
    pipeline_run(r)
    out = capsys.readouterr().out
    assert "== filter (again:" in out and "== train: done" in out
    assert (run / "kept.jsonl").read_bytes() == data
    assert len(trained) == 1


def test_a_changed_filter_setting_before_select_is_refused_before_filter_runs(tmp_path, trained):
    # filter -> select -> train on selected.jsonl: filter run again rewrites kept.jsonl, and
    # select, its input changed, rewrites selected.jsonl, the student's data
    select = {"input": "{run_dir}/kept.jsonl", "out": "{run_dir}/selected.jsonl", "per_prompt": 1}
    train = {**TRAIN, "data": "{run_dir}/selected.jsonl"}
    r, run = _recipe(tmp_path, filter=FILTER, select=select, train=train)
    make_traces(run / "traces.jsonl", 30)
    pipeline_run(r)
    before = {n: (run / n).read_bytes() for n in ("kept.jsonl", "selected.jsonl")}
    with pytest.raises(
        DistillError,
        match=r"filter would run again \(settings changed\) and rewrite \S*kept\.jsonl, so "
        r"select would run again and rewrite \S*selected\.jsonl, which \S*student was trained on",
    ):
        pipeline_run(r, sets=["filter.verify=math"])
    assert {n: (run / n).read_bytes() for n in before} == before
    # select's own setting: select named
    with pytest.raises(DistillError, match=r"select would run again \(settings changed\)"):
        pipeline_run(r, sets=["select.per_prompt=2"])
    assert {n: (run / n).read_bytes() for n in before} == before
    assert len(trained) == 1


def test_generate_adding_samples_is_refused_before_it_buys_them(tmp_path, trained, monkeypatch):
    # generate.n raised: generate would add samples to traces.jsonl, filter would run again
    # on them and rewrite kept.jsonl: refused before generate asks the teacher for anything
    from tests.fakeserver import FakeServer

    monkeypatch.setenv("OPENAI_API_KEY", "sk-test")
    server = FakeServer().start()
    try:
        gen = {
            "data": "builtin:arithmetic?n=6",
            "teacher": "openai",
            "base_url": server.url,
            "model": "fake-r1",
            "n": 1,
            "out": "{run_dir}/traces.jsonl",
        }
        r, run = _recipe(tmp_path, generate=gen, filter={**FILTER, "verify": "math"}, train=TRAIN)
        pipeline_run(r)
        asked = len(server.log)
        before = {n: (run / n).read_bytes() for n in ("traces.jsonl", "kept.jsonl")}
        with pytest.raises(
            DistillError,
            match=r"generate would add samples to \S*traces\.jsonl, so filter would run again "
            r"and rewrite \S*kept\.jsonl, which \S*student was trained on",
        ):
            pipeline_run(r, sets=["generate.n=2"])
        assert len(server.log) == asked
        assert {n: (run / n).read_bytes() for n in before} == before
        # another seed in the same run dir (`make smoke SEED=1` without RUN=): generate's own
        # refusal, which says to use a new --run-dir, is the one given
        with pytest.raises(DistillError, match=r"samples this generate section does not plan"):
            pipeline_run(r, sets=["generate.seed=1"])
        assert len(server.log) == asked
        assert {n: (run / n).read_bytes() for n in before} == before
    finally:
        server.stop()
