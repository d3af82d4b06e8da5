"""A Hub publish's marker keeps, under `earlier`, the hashes of the files it replaces, for one
case: a publish cut between the commits huggingface_hub splits a large folder into, its marker
landed and some of the earlier publish's files not yet replaced. After publishes A -> B that
both completed, a file the user put back to A's exact bytes still counted as publish's: the
next publish replaced it, or deleted it. Now an earlier hash counts only for a file no commit
has touched since the marker's own (the Hub's last commit of each file tells)."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from pathlib import Path
from types import SimpleNamespace

import pytest

from distill.errors import DistillError
from tests.test_third_read_eval import hub, student_folder
from tests.test_user_files_s15 import Killed, SplittingHub

__all__ = ["hub"]  # the fixture, used by name

T0 = datetime(2026, 1, 1, tzinfo=timezone.utc)


class DatedHub(SplittingHub):
    """SplittingHub that keeps each file's last commit, listed as the Hub lists it with
    get_paths_info(expand=True): `last_commit.date`."""

    def upload_folder(self, *, folder_path, repo_id, **kw):
        repo = self.repos[repo_id]
        before, commits = dict(repo["files"]), repo.get("commits", 0)
        try:
            super().upload_folder(folder_path=folder_path, repo_id=repo_id, **kw)
        finally:
            # each file a commit changed, dated by that commit (sorted, per_commit a commit, as
            # SplittingHub commits them; an unchanged file keeps its last commit, as on the Hub)
            names = sorted(p.name for p in Path(folder_path).iterdir())
            dates = repo.setdefault("dates", {})
            for i, name in enumerate(names):
                if name in repo["files"] and repo["files"][name] != before.get(name):
                    dates[name] = commits + i // self.per_commit + 1

    def get_paths_info(self, repo_id, paths, revision=None, expand=False, **kw):
        found = super().get_paths_info(repo_id, paths, revision=revision, **kw)
        dates = self.repos[repo_id].get("dates", {})
        for f in found:
            if expand and f.path in dates:
                f.last_commit = SimpleNamespace(date=T0 + timedelta(seconds=dates[f.path]))
        return found


def user_commit(hub, repo, name, data):
    """The user's own commit on the Hub (a file put back, an upload of theirs)."""
    r = hub[repo]
    r["files"][name] = data
    r["commits"] = r.get("commits", 0) + 1
    r.setdefault("dates", {})[name] = r["commits"]


@pytest.fixture
def dated_hub(hub, monkeypatch):
    import huggingface_hub

    monkeypatch.setattr(huggingface_hub, "HfApi", DatedHub)
    monkeypatch.setattr(DatedHub, "commits_before_kill", None)
    return hub


def publish(**kw):
    from distill.publish import PublishConfig, run

    return run(PublishConfig(**kw))


def two_publishes(tmp_path, hub):
    """A (adapter A, loss.png A), then B (adapter B, loss.png B): both complete."""
    student = student_folder(tmp_path / "student")
    (student / "loss.png").write_bytes(b"PNG of A")
    publish(dir=str(student), repo_id="me/s")
    a = dict(hub["me/s"]["files"])
    (student / "adapter_model.safetensors").write_bytes(b"adapter B")
    (student / "loss.png").write_bytes(b"PNG of B")
    publish(dir=str(student), repo_id="me/s")
    assert hub["me/s"]["files"]["adapter_model.safetensors"] == b"adapter B"
    return student, a


def test_a_file_put_back_to_the_earlier_publishs_bytes_is_not_replaced(tmp_path, dated_hub):
    hub = dated_hub
    student, a = two_publishes(tmp_path, hub)
    user_commit(hub, "me/s", "adapter_model.safetensors", a["adapter_model.safetensors"])
    (student / "adapter_model.safetensors").write_bytes(b"adapter C")
    with pytest.raises(DistillError) as e:  # replaced before the fix
        publish(dir=str(student), repo_id="me/s")
    said = str(e.value)
    assert "\n" not in said and "adapter_model.safetensors" in said
    assert "changed since distill published it" in said
    assert hub["me/s"]["files"]["adapter_model.safetensors"] == a["adapter_model.safetensors"]


def test_a_file_put_back_to_the_earlier_publishs_bytes_is_not_deleted(tmp_path, dated_hub):
    hub = dated_hub
    student, a = two_publishes(tmp_path, hub)
    user_commit(hub, "me/s", "loss.png", a["loss.png"])
    (student / "loss.png").unlink()  # C writes no loss.png: B's would be deleted
    (student / "adapter_model.safetensors").write_bytes(b"adapter C")
    publish(dir=str(student), repo_id="me/s")
    files = hub["me/s"]["files"]
    assert files["adapter_model.safetensors"] == b"adapter C"
    assert files["loss.png"] == b"PNG of A"  # the user's: deleted before the fix


def test_a_publish_cut_between_its_commits_still_completes_when_run_again(
    tmp_path, dated_hub, monkeypatch
):
    """What `earlier` is for, with the Hub's commit dates listed: the files the cut publish
    had yet to commit are at the earlier hash, committed before its marker."""
    hub = dated_hub
    student, _ = two_publishes(tmp_path, hub)
    (student / "adapter_model.safetensors").write_bytes(b"adapter C")
    (student / "train.yaml").write_text("model: Qwen/Qwen2.5-1.5B\nlora_r: 32\n")
    monkeypatch.setattr(DatedHub, "commits_before_kill", 1)  # [marker, README.md] landed
    with pytest.raises(Killed):
        publish(dir=str(student), repo_id="me/s")
    assert hub["me/s"]["files"]["adapter_model.safetensors"] == b"adapter B"
    monkeypatch.setattr(DatedHub, "commits_before_kill", None)
    publish(dir=str(student), repo_id="me/s")
    files = hub["me/s"]["files"]
    assert files["adapter_model.safetensors"] == b"adapter C"
    assert files["train.yaml"] == (student / "train.yaml").read_bytes()


def test_a_clone_holding_a_file_put_back_to_the_earlier_bytes_keeps_it(tmp_path, dated_hub):
    """A clone of the repo into a --local-dir: its history is not read there, so an earlier
    hash counts for nothing (before the fix the clone's file was replaced)."""
    hub = dated_hub
    student, a = two_publishes(tmp_path, hub)
    clone = tmp_path / "clone"
    clone.mkdir()
    for name, data in hub["me/s"]["files"].items():
        (clone / name).write_bytes(data)
    (clone / "adapter_model.safetensors").write_bytes(a["adapter_model.safetensors"])
    with pytest.raises(DistillError) as e:
        publish(dir=str(student), local_dir=str(clone), overwrite=True)
    assert "adapter_model.safetensors" in str(e.value) and "\n" not in str(e.value)
    assert (clone / "adapter_model.safetensors").read_bytes() == a["adapter_model.safetensors"]
