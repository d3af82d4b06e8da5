"""A second read of `distill run`'s refusal to rewrite the data a trained student learned
from (pipeline._keeps_students_data, 0ebde08): reruns that write nothing new go on.

train is a stand-in that leaves what a run leaves (tests/test_run_rewrites_s11.py)."""

from __future__ import annotations

import pytest

from distill.errors import DistillError
from distill.pipeline import run as pipeline_run
from tests.test_run_rewrites_s11 import TRAIN, _recipe, trained  # noqa: F401 - a fixture


@pytest.fixture
def teacher(monkeypatch):
    """A loopback teacher; its arithmetic answers are no self-instruct task list, so instruct
    keeps none and stops after stall_rounds rounds, short of --num-instructions."""
    from tests.fakeserver import FakeServer

    monkeypatch.setenv("OPENAI_API_KEY", "sk-test")
    server = FakeServer().start()
    yield server
    server.stop()


def test_a_rerun_after_instruct_stopped_short_goes_on(tmp_path, trained, teacher, capsys):  # noqa: F811
    # instruct kept fewer than asked (a 135M teacher in make smoke-alpaca can): the run is
    # complete, and a rerun replays instruct's rounds from disk, adding nothing. It was refused
    # ("generate would add samples ... student was trained on") on every rerun
    ask = {"teacher": "openai", "base_url": teacher.url, "model": "fake-r1"}
    instruct = {
        **ask,
        "num_instructions": 5,
        "stall_rounds": 1,
        "include_seeds": True,  # generate answers the seed tasks
        "request_batch_size": 2,
        "seed": 0,
        "out": "{run_dir}/instructions.jsonl",
    }
    generate = {
        **ask,
        "data": "{run_dir}/instructions.jsonl",
        "template": "alpaca",
        "out": "{run_dir}/traces.jsonl",
    }
    kept = {"input": "{run_dir}/traces.jsonl", "out": "{run_dir}/kept.jsonl", "verify": "none"}
    r, run = _recipe(tmp_path, instruct=instruct, generate=generate, filter=kept, train=TRAIN)
    pipeline_run(r)
    assert '"reached": false' in (run / "instructions.report.json").read_text()
    asked, data = len(teacher.log), (run / "kept.jsonl").read_bytes()

    capsys.readouterr()
    pipeline_run(r)
    out = capsys.readouterr().out
    assert "== filter: done" in out and "== train: done" in out
    assert len(teacher.log) == asked and (run / "kept.jsonl").read_bytes() == data
    assert len(trained) == 1

    # instruct that would go further still is refused before it asks for anything
    for more in ("instruct.num_instructions=6", "instruct.stall_rounds=2"):
        with pytest.raises(DistillError, match=r"generate would add samples .*student was trained"):
            pipeline_run(r, sets=[more])
        assert len(teacher.log) == asked and (run / "kept.jsonl").read_bytes() == data


def test_a_default_changed_by_an_upgrade_is_named_in_the_refusal(tmp_path, trained):  # noqa: F811
    # `pip install -U distill` changed a filter default and added a setting: the user changed
    # nothing, yet filter would run again. The refusal said only "settings changed ... undo
    # the change"; it names what changed since the saved kept.filter.yaml
    import hashlib
    import json

    import yaml

    from tests.test_filter_kill import make_traces

    kept = {"input": "{run_dir}/traces.jsonl", "out": "{run_dir}/kept.jsonl", "verify": "math"}
    r, run = _recipe(tmp_path, filter=kept, train=TRAIN)
    make_traces(run / "traces.jsonl", 30)
    pipeline_run(r)
    # the set as an older distill wrote it: verify_timeout 10, no max_paragraph_chars
    saved, manifest = run / "kept.filter.yaml", run / "kept.manifest.json"
    old = yaml.safe_load(saved.read_text())
    old["verify_timeout"] = 10
    del old["max_paragraph_chars"]
    saved.write_text(yaml.safe_dump(old, sort_keys=False))
    doc = json.loads(manifest.read_text())
    doc["config_hash"] = "0" * 16
    body = saved.read_bytes()
    doc["outputs"]["kept.filter.yaml"] = {
        "size": len(body),
        "sha256": hashlib.sha256(body).hexdigest(),
    }
    manifest.write_text(json.dumps(doc))
    data = (run / "kept.jsonl").read_bytes()
    with pytest.raises(DistillError) as e:
        pipeline_run(r, sets=["filter.num_proc=2"])  # one the hash leaves out: not named
    msg = str(e.value)
    assert "filter would run again (settings changed) and rewrite" in msg and "\n" not in msg
    assert msg.endswith(
        "new data (filter: verify_timeout 10 -> 5, max_paragraph_chars not in "
        "kept.filter.yaml -> 3000)"
    )
    assert "num_proc" not in msg and "train.overwrite=true" in msg
    assert (run / "kept.jsonl").read_bytes() == data and len(trained) == 1
