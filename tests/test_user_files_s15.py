"""Nothing the user owns is destroyed, and bad input is one line: a Hub publish killed between
the commits huggingface_hub splits a large upload into, a prompt source's column named like a
meta key of distill's, and outputs written over their own input."""

from __future__ import annotations

import pytest

from distill.errors import DistillError
from tests.test_third_read_eval import FakeHub, hub, student_folder

__all__ = ["hub"]  # the fixture, used by name

MARKER = ".distill-publish.json"


def publish(**kw):
    from distill.publish import PublishConfig, run

    return run(PublishConfig(**kw))


# =========================================================================== publish --repo-id


class Killed(BaseException):
    """The process killed between two commits (a KeyboardInterrupt, a lost machine)."""


class SplittingHub(FakeHub):
    """upload_folder as huggingface_hub's hf_xet pipeline does it for a large folder: the files
    in sorted order (its _prepare_upload_folder_additions), `per_commit` a commit, deletions and
    parent_commit with the first; killed after `commits_before_kill` commits."""

    per_commit = 2
    commits_before_kill: int | None = None

    def upload_folder(
        self, *, folder_path, repo_id, delete_patterns=None, parent_commit=None, **kw
    ):
        from fnmatch import fnmatch
        from pathlib import Path

        if parent_commit is not None and parent_commit != self._head(repo_id):
            from types import SimpleNamespace

            from huggingface_hub.utils import HfHubHTTPError

            response = SimpleNamespace(status_code=412, headers={}, request=None)
            raise HfHubHTTPError("412 Precondition Failed", response=response)
        paths = sorted(p for p in Path(folder_path).glob("**/*") if p.is_file())
        added = [(p.relative_to(folder_path).as_posix(), p.read_bytes()) for p in paths]
        repo = self.repos[repo_id]
        for i in range(0, len(added), self.per_commit):
            if i == 0:
                for name in list(repo["files"]):
                    if name not in dict(added) and any(
                        fnmatch(name, p) for p in delete_patterns or []
                    ):
                        del repo["files"][name]
            repo["files"].update(added[i : i + self.per_commit])
            repo["commits"] = repo.get("commits", 0) + 1
            if self.commits_before_kill is not None and i // self.per_commit + 1 >= (
                self.commits_before_kill
            ):
                raise Killed


@pytest.fixture
def splitting_hub(hub, monkeypatch):
    import huggingface_hub

    monkeypatch.setattr(huggingface_hub, "HfApi", SplittingHub)
    return hub


def test_the_marker_is_first_in_the_order_huggingface_hub_commits_a_folder_in(tmp_path):
    """What the fix leans on: huggingface_hub commits a large folder in batches in the sorted
    order of its files (the marker, a dot-file, first: it rides the first commit)."""
    from huggingface_hub import HfApi

    # (README.md aside: huggingface_hub sends it to the Hub to validate its metadata)
    for name in (MARKER, "adapter_config.json", "model-00001-of-00002.safetensors", "Z.json"):
        (tmp_path / name).write_text("x")
    ops = HfApi()._prepare_upload_folder_additions(tmp_path, "")
    assert ops[0].path_in_repo == MARKER


@pytest.mark.parametrize("kill_after", [1, 2])
def test_a_publish_killed_between_commits_completes_when_run_again(
    tmp_path, splitting_hub, monkeypatch, kill_after
):
    """The new marker (its files' new hashes) landed in the first commit, the earlier
    publish's files it replaces still in the repo at their old content: the next publish
    refused them as changed by someone ('changed since distill published it'), forever."""
    import yaml

    hub = splitting_hub
    student = student_folder(tmp_path / "student")
    (student / "loss.png").write_bytes(b"PNG")
    publish(dir=str(student), repo_id="me/s")  # one complete publish (A)
    hub["me/s"]["files"]["notes.md"] = b"the user's own notes"
    # B, trained again: every file it writes differs from A's, and A's loss.png goes
    (student / "loss.png").unlink()
    (student / "adapter_model.safetensors").write_bytes(b"adapter, trained again")
    (student / "adapter_config.json").write_text(
        '{"base_model_name_or_path": "Qwen/Qwen2.5-1.5B", "r": 16}'
    )
    (student / "train.yaml").write_text(
        yaml.safe_dump({"model": "Qwen/Qwen2.5-1.5B", "lora_r": 16})
    )
    # sorted, two a commit: [marker, README.md] [adapter_config.json, adapter_model...] [train.yaml]
    monkeypatch.setattr(SplittingHub, "commits_before_kill", kill_after)
    with pytest.raises(Killed):
        publish(dir=str(student), repo_id="me/s")
    assert hub["me/s"]["files"]["train.yaml"] != (student / "train.yaml").read_bytes()
    monkeypatch.setattr(SplittingHub, "commits_before_kill", None)
    publish(dir=str(student), repo_id="me/s")  # refused before the fix
    files = hub["me/s"]["files"]
    assert files["notes.md"] == b"the user's own notes"
    assert files["adapter_model.safetensors"] == b"adapter, trained again"
    assert b'"r": 16' in files["adapter_config.json"]
    assert files["train.yaml"] == (student / "train.yaml").read_bytes()
    assert "loss.png" not in files
    # and the publish after it knows its files
    (student / "adapter_model.safetensors").write_bytes(b"adapter, a third time")
    publish(dir=str(student), repo_id="me/s")
    assert hub["me/s"]["files"]["adapter_model.safetensors"] == b"adapter, a third time"
    assert hub["me/s"]["files"]["notes.md"] == b"the user's own notes"


def test_a_file_the_user_replaced_after_an_interrupted_publish_is_still_theirs(
    tmp_path, splitting_hub, monkeypatch
):
    """The marker that knows both publishes' hashes takes no other content for publish's."""
    hub = splitting_hub
    student = student_folder(tmp_path / "student")
    publish(dir=str(student), repo_id="me/s")
    (student / "adapter_model.safetensors").write_bytes(b"adapter, trained again")
    monkeypatch.setattr(SplittingHub, "commits_before_kill", 1)
    with pytest.raises(Killed):
        publish(dir=str(student), repo_id="me/s")
    monkeypatch.setattr(SplittingHub, "commits_before_kill", None)
    hub["me/s"]["files"]["adapter_model.safetensors"] = b"the user's own adapter"
    with pytest.raises(DistillError) as e:
        publish(dir=str(student), repo_id="me/s")
    assert "\n" not in str(e.value) and "adapter_model.safetensors" in str(e.value)
    assert "changed since distill published it" in str(e.value)
    assert hub["me/s"]["files"]["adapter_model.safetensors"] == b"the user's own adapter"


# =========================================================================== generate's meta


def _rows(tmp_path, *rows):
    import json

    data = tmp_path / "data.jsonl"
    data.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return data


def test_a_column_named_like_distills_meta_key_is_never_replaced(server, tmp_path):
    """meta keeps the source row's columns; --context-field wrote the context column's name
    over the row's own `context_field` column in every trace (the user's value gone, and train
    --format alpaca read the Input from whatever column that name happened to be)."""
    import json

    from tests.inproc import distill

    row = dict(instruction="Which city?", context="Paris is in France.", context_field="mine")
    data = _rows(tmp_path, dict(instruction="What is 2 + 2?", context=""), row)
    out = tmp_path / "traces.jsonl"
    argv = ["generate", "--data", data, "--teacher", "openai", "--model", "fake-r1"]
    argv += ["--base-url", server.url, "--out", out]
    res = distill(*argv, "--context-field", "context")
    assert res.returncode == 1 and "Traceback" not in res.stderr
    (line,) = res.stderr.strip().splitlines()
    assert "row 2" in line and "'context_field'" in line and "rename that column" in line
    assert server.log == [] and not (out.exists() and out.read_text())  # nothing asked, written
    # without --context-field the column is the user's, kept in the trace as the source has it
    res = distill(*argv)
    assert res.returncode == 0, res.stderr
    records = [json.loads(line) for line in out.read_text().splitlines()]
    assert [r["meta"].get("context_field") for r in records] == [None, "mine"]


# =========================================================================== Ctrl-C mid-write


def _interrupt(*_a, **_k):
    raise KeyboardInterrupt


def _tree(d):
    return {p.name: p.read_bytes() for p in d.iterdir() if p.is_file()}


@pytest.mark.parametrize("stage", ["filter", "select", "export"])
def test_an_interrupted_stage_leaves_no_hidden_copy_of_the_data(stage, tmp_path, monkeypatch):
    """filter/select/export write their outputs aside (.kept.jsonl.tmp, ...) and rename them at
    the end: Ctrl-C (or an error) before the renames left those temporary files, a hidden copy
    of the whole data set, in the user's folder. The earlier run's set stays as it was."""
    from tests.inproc import distill
    from tests.test_filter_kill import make_traces

    make_traces(tmp_path / "traces.jsonl", 30)
    res = distill("filter", tmp_path / "traces.jsonl", "--out", tmp_path / "kept.jsonl")
    assert res.returncode == 0, res.stderr
    argv = {
        "filter": ["filter", tmp_path / "traces.jsonl", "--out", tmp_path / "kept.jsonl"],
        "select": ["select", tmp_path / "kept.jsonl", "--out", tmp_path / "sel.jsonl"],
        "export": ["export", tmp_path / "kept.jsonl", "--out", tmp_path / "data.parquet"],
    }[stage]
    if stage != "filter":  # a complete earlier run of the stage itself
        res = distill(*argv, *(["--budget", "10"] if stage == "select" else []))
        assert res.returncode == 0, res.stderr
    before = _tree(tmp_path)
    if stage == "filter":
        monkeypatch.setattr("distill.filter.stage.plot", _interrupt)
        argv += ["--verify", "math"]
    elif stage == "select":
        monkeypatch.setattr("distill.select.stage._plot", _interrupt)
        argv += ["--budget", "5"]
    else:
        import pyarrow.parquet as pq

        def half_written(table, where, **kw):
            open(where, "wb").write(b"PAR1 half a parquet file")
            raise KeyboardInterrupt

        monkeypatch.setattr(pq, "write_table", half_written)
        argv += ["--format", "alpaca"]
    res = distill(*argv)
    assert res.returncode == 130, res.stderr
    assert _tree(tmp_path) == before  # no .NAME.tmp, and the earlier set untouched


# =========================================================================== train's merged/


@pytest.mark.parametrize("flag", ["--merge", "--overwrite"])
def test_a_users_merged_folder_is_not_written_over_by_train(flag, tmp_path, tiny_qwen):
    """In a folder no train run wrote into, train refused the user's train.yaml or loss.png,
    but --merge wrote the student over the user's own merged/ model (config.json,
    model.safetensors), and --overwrite removed it."""
    from tests.inproc import distill
    from tests.test_filter_kill import make_traces

    make_traces(tmp_path / "kept.jsonl", 4)
    out = tmp_path / "mine"
    (out / "merged").mkdir(parents=True)
    theirs = {"config.json": b'{"model_type": "mine"}', "model.safetensors": b"my weights"}
    for name, data in theirs.items():
        (out / "merged" / name).write_bytes(data)
    argv = ["train", "--data", tmp_path / "kept.jsonl", "--model", tiny_qwen]
    res = distill(*argv, "--output-dir", out, "--max-steps", "1", flag)
    assert res.returncode == 1 and "Traceback" not in res.stderr
    (line,) = res.stderr.strip().splitlines()
    assert "holds merged/" in line and "no train run wrote into it" in line, line
    assert _tree(out / "merged") == theirs
    assert sorted(p.name for p in out.iterdir()) == ["merged"]


def test_a_merged_folder_train_wrote_is_still_trains_to_replace(tmp_path):
    """Its own run's merged/ (beside the train.yaml it wrote) is replaced as before. Without
    --merge or --overwrite the user's merged/ is refused too: a run let in beside it made it
    pass for the run's own (tests/test_second_read_s15b.py)."""
    import dataclasses

    import yaml

    from distill.paths import guard_train
    from distill.train.config import TrainConfig

    out = tmp_path / "run"
    (out / "merged").mkdir(parents=True)
    cfg = TrainConfig(data="k.jsonl", model="m", output_dir=str(out), merge=True)
    with pytest.raises(DistillError, match="holds merged/"):
        guard_train(dataclasses.replace(cfg, merge=False))
    (out / "train.yaml").write_text(yaml.safe_dump(dataclasses.asdict(cfg)))
    guard_train(cfg)
    guard_train(dataclasses.replace(cfg, overwrite=True))


def test_an_interrupted_eval_leaves_no_temporary_files(server, tmp_path, monkeypatch):
    """eval writes eval.json and eval.yaml aside and renames them: Ctrl-C (or an error) before
    the renames left .eval.json.tmp in the user's folder; the earlier eval.json stays as it was."""
    from distill.eval import EvalConfig, run

    out = tmp_path / "eval.json"
    cfg = EvalConfig(
        model="fake-r1",
        backend="openai",
        base_url=server.url,
        data="builtin:arithmetic?n=4",
        verify="math",
        max_tokens=64,
        out=str(out),
    )
    run(cfg)
    before = {p.name: p.read_bytes() for p in tmp_path.iterdir() if p.is_file()}

    def interrupted(*a, **kw):
        raise KeyboardInterrupt

    monkeypatch.setattr("distill.config.save_config", interrupted)
    cfg.n, cfg.temperature = 2, 0.7  # another eval: its samples are new, eval.json is not
    with pytest.raises(KeyboardInterrupt):
        run(cfg)
    after = {p.name: p.read_bytes() for p in tmp_path.iterdir() if p.is_file()}
    assert not [n for n in after if n.endswith(".tmp")]
    assert after["eval.json"] == before["eval.json"]
