"""Final read (part B) of session 11's 'stages replace only what distill wrote' and 'config
hash without URL credentials' (6360101)."""

from __future__ import annotations

import dataclasses
import json

import pytest

from distill.errors import DistillError
from distill.pipeline import run as pipeline_run
from tests.test_filter_kill import make_traces
from tests.test_run_rewrites_s11 import FILTER, TRAIN, _recipe, trained  # noqa: F401


def _hash_as_typed(cfg) -> str:
    """select's config hash as the distill before 6360101 wrote it: URLs as given."""
    from distill.records import stable_hash

    ignore = {f.name for f in dataclasses.fields(cfg) if not f.metadata.get("result", True)}
    return stable_hash({k: v for k, v in dataclasses.asdict(cfg).items() if k not in ignore})


def test_a_select_set_hashed_with_its_url_key_is_still_done_after_the_upgrade(
    tmp_path,
    trained,  # noqa: F811
    capsys,
):
    # select's manifest written before 6360101 hashed --judge-base-url with its key; the same
    # recipe after the upgrade hashes it without. The set on disk is this config's: skipped,
    # not refused as 'settings changed' (only train.overwrite, a retrain, went on) nor redone.
    from distill.config import load_config
    from distill.select import stage as select_stage

    select = {
        "input": "{run_dir}/kept.jsonl",
        "out": "{run_dir}/selected.jsonl",
        "per_prompt": 1,
        "judge_base_url": "https://me:sk-SECRET@judge.example/v1",
    }
    train = {**TRAIN, "data": "{run_dir}/selected.jsonl"}
    r, run = _recipe(tmp_path, filter=FILTER, select=select, train=train)
    make_traces(run / "traces.jsonl", 30)
    pipeline_run(r)
    assert len(trained) == 1
    cfg = load_config(select_stage.SelectConfig, "select", r, {})
    cfg = dataclasses.replace(cfg, input=str(run / "kept.jsonl"), out=str(run / "selected.jsonl"))
    manifest = select_stage.manifest_of(cfg)
    doc = json.loads(manifest.read_text())
    assert doc["config_hash"] == select_stage.config_hash(cfg)
    doc["config_hash"] = _hash_as_typed(cfg)  # what the older distill wrote
    manifest.write_text(json.dumps(doc))
    data = (run / "selected.jsonl").read_bytes()

    capsys.readouterr()
    pipeline_run(r)
    out = capsys.readouterr().out
    assert "== select: done" in out and "== train: done" in out
    assert (run / "selected.jsonl").read_bytes() == data
    assert len(trained) == 1

    # another judge server is still another setting
    with pytest.raises(DistillError, match=r"select would run again \(settings changed\)"):
        pipeline_run(r, sets=["select.judge_base_url=https://other.example/v1"])
