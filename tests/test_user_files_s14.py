"""Nothing the user owns is destroyed: publish into a Hub repo holding the user's files, and
train --overwrite in a folder holding the user's checkpoint-* entries."""

from __future__ import annotations

import pytest

from distill.errors import DistillError
from tests.test_third_read_eval import hub, student_folder

__all__ = ["hub"]  # the fixture, used by name

MARKER = ".distill-publish.json"


def publish(**kw):
    from distill.publish import PublishConfig, run

    return run(PublishConfig(**kw))


# =========================================================================== publish --repo-id


def test_an_adapter_published_into_the_users_model_repo_keeps_their_weights(tmp_path, hub):
    """delete_patterns=PUBLISHED deleted every config.json / model.safetensors in the repo,
    whoever wrote it: the user's full model was gone in the adapter's commit."""
    student = student_folder(tmp_path / "student")
    theirs = {
        "config.json": b'{"model_type": "qwen2"}',
        "model.safetensors": b"the user's full weights",
        "generation_config.json": b"{}",
    }
    hub["me/model"] = {"private": False, "files": dict(theirs)}
    publish(dir=str(student), repo_id="me/model")
    files = hub["me/model"]["files"]
    assert {n: files[n] for n in theirs} == theirs
    assert {"adapter_model.safetensors", "README.md", MARKER} <= set(files)


def test_a_readme_the_user_wrote_is_refused_before_any_upload(tmp_path, hub):
    """The card was uploaded over the user's own README.md."""
    student = student_folder(tmp_path / "student")
    hub["me/model"] = {"private": False, "files": {"README.md": b"# my model\n"}}
    with pytest.raises(DistillError) as e:
        publish(dir=str(student), repo_id="me/model")
    msg = str(e.value)
    assert "\n" not in msg and "me/model" in msg and "README.md" in msg
    assert "no distill publish wrote it" in msg and "delete or rename it" in msg
    assert hub["me/model"]["files"] == {"README.md": b"# my model\n"}  # no commit
    assert hub["me/model"].get("commits", 0) == 0


def test_a_file_the_user_replaced_after_a_publish_is_theirs(tmp_path, hub):
    """A README.md edited on the Hub after publish (the card, made the user's own) was
    replaced by the next publish; a model.safetensors the user uploaded over the merged one
    (an LFS file: compared by sha256) was deleted when the adapter was published."""
    student = student_folder(tmp_path / "student", merged=True)
    publish(dir=str(student), repo_id="me/s", merged=True)
    files = hub["me/s"]["files"]
    files["model.safetensors"] = b"the user's retrained weights"
    publish(dir=str(student), repo_id="me/s")  # the adapter: merged config.json is publish's
    assert files["model.safetensors"] == b"the user's retrained weights"
    assert "config.json" not in files  # the earlier publish's, unchanged: deleted as before
    files["README.md"] += b"\nMy notes on this model.\n"
    with pytest.raises(DistillError, match=r"README.md is already in the repo and changed since"):
        publish(dir=str(student), repo_id="me/s")
    assert files["README.md"].endswith(b"My notes on this model.\n")


def test_a_publish_again_replaces_its_own_files_and_deletes_the_ones_it_no_longer_writes(
    tmp_path, hub
):
    student = student_folder(tmp_path / "student", merged=True)
    (student / "loss.png").write_bytes(b"PNG")
    publish(dir=str(student), repo_id="me/s", merged=True)
    assert {"loss.png", "config.json", "model.safetensors"} <= set(hub["me/s"]["files"])
    (student / "loss.png").unlink()
    (student / "adapter_model.safetensors").write_bytes(b"adapter, trained again")
    publish(dir=str(student), repo_id="me/s")
    files = hub["me/s"]["files"]
    assert files["adapter_model.safetensors"] == b"adapter, trained again"
    assert not {"loss.png", "config.json", "model.safetensors"} & set(files)


def test_a_marker_that_is_not_one_is_refused_in_one_line(tmp_path, hub):
    student = student_folder(tmp_path / "student")
    hub["me/s"] = {"private": False, "files": {MARKER: b"my notes"}}
    with pytest.raises(DistillError) as e:
        publish(dir=str(student), repo_id="me/s")
    assert (
        "\n" not in str(e.value)
        and "me/s" in str(e.value)
        and "not a publish marker" in str(e.value)
    )
    assert hub["me/s"]["files"] == {MARKER: b"my notes"}


def test_a_commit_between_the_check_and_the_upload_fails_the_publish(tmp_path, hub, monkeypatch):
    """The user's file uploaded while publish staged its own (a large model uploads for
    minutes) was written over: the commit is made on the revision that was checked."""
    from tests.test_third_read_eval import FakeHub

    student = student_folder(tmp_path / "student")
    listed = FakeHub.list_repo_files

    def list_then_user_commits(self, repo_id, **kw):
        names = listed(self, repo_id, **kw)
        self.repos[repo_id]["files"]["README.md"] = b"# the user's, meanwhile\n"
        self.repos[repo_id]["commits"] = self.repos[repo_id].get("commits", 0) + 1
        return names

    monkeypatch.setattr(FakeHub, "list_repo_files", list_then_user_commits)
    with pytest.raises(DistillError, match="changed while publishing.*run publish again"):
        publish(dir=str(student), repo_id="me/s")
    assert hub["me/s"]["files"] == {"README.md": b"# the user's, meanwhile\n"}


# =========================================================================== train --output-dir


def train_cfg(out, **kw):
    from distill.train.config import TrainConfig

    out.mkdir(parents=True, exist_ok=True)
    data = out.parent / "kept.jsonl"
    data.write_text('{"prompt": "p", "completion": "c"}\n')
    return TrainConfig(data=str(data), model="builtin:smollm2", output_dir=str(out), **kw)


def users_checkpoint_entries(out):
    (out / "checkpoint-best").mkdir()
    (out / "checkpoint-best" / "adapter_model.safetensors").write_bytes(b"the user's pick")
    (out / "checkpoint-notes.txt").write_text("step 200 looked best\n")


def test_overwrite_removes_the_runs_checkpoints_and_not_the_users(tmp_path):
    """--overwrite deleted every checkpoint-* folder: the user's checkpoint-best/ too."""
    from distill.train import sft

    out = tmp_path / "student"
    cfg = train_cfg(out, overwrite=True)
    (out / "checkpoint-2").mkdir()
    (out / "checkpoint-2" / "trainer_state.json").write_text("{}")
    users_checkpoint_entries(out)
    assert sft.check_output_dir(cfg) is None
    assert not (out / "checkpoint-2").exists()
    assert (
        out / "checkpoint-best" / "adapter_model.safetensors"
    ).read_bytes() == b"the user's pick"
    assert (out / "checkpoint-notes.txt").is_file()


def test_the_users_checkpoint_entries_are_no_earlier_run(tmp_path):
    """Without --overwrite, checkpoint-best/ made train refuse, calling it a checkpoint of an
    earlier run."""
    from distill.train import sft

    out = tmp_path / "student"
    cfg = train_cfg(out)
    users_checkpoint_entries(out)
    assert sft.check_output_dir(cfg) is None
    assert sft.checkpoints(out) == []
    (out / "checkpoint-3").mkdir()  # the Trainer's: refused as before
    with pytest.raises(DistillError, match=r"checkpoints of an earlier run \(checkpoint-3\)"):
        sft.check_output_dir(cfg)


def test_a_checkpoint_kept_under_its_own_name_is_refused_not_removed(tmp_path):
    """checkpoint-4-best (a copy --resume takes for a checkpoint) was deleted by --overwrite.
    Left there, a later --resume of the new run could start from it: refused, nothing removed."""
    from distill.train import sft

    out = tmp_path / "student"
    cfg = train_cfg(out, overwrite=True)
    (out / "checkpoint-2").mkdir()
    (out / "checkpoint-4-best").mkdir()
    with pytest.raises(DistillError) as e:
        sft.check_output_dir(cfg)
    assert "\n" not in str(e.value) and "checkpoint-4-best" in str(e.value)
    assert "move it" in str(e.value)
    assert (out / "checkpoint-2").is_dir() and (out / "checkpoint-4-best").is_dir()


def test_a_users_model_beside_a_checkpoint_named_file_is_still_refused(tmp_path):
    """guard_train took any checkpoint-* entry for a run to resume: a model folder of the
    user's holding checkpoint-notes.txt was trained over without --overwrite."""
    from distill.paths import guard_train

    out = tmp_path / "mine"
    cfg = train_cfg(out)
    (out / "config.json").write_text('{"model_type": "llama"}')
    (out / "model.safetensors").write_bytes(b"the user's weights")
    (out / "checkpoint-notes.txt").write_text("notes\n")
    with pytest.raises(DistillError, match=r"holds a model \(config.json, model.safetensors\)"):
        guard_train(cfg)


@pytest.mark.parametrize("overwrite", [False, True])
def test_a_folder_no_train_run_wrote_into_keeps_the_users_run_named_files(tmp_path, overwrite):
    """A fresh run writes train.yaml, train_data.json and loss.png over, and removes loss.jsonl
    and kd.json, in any --output-dir: the user's own train.yaml (another trainer's config) and
    loss.png in their experiment folder were lost."""
    import dataclasses

    import yaml

    from distill.paths import guard_train

    out = tmp_path / "exp"
    cfg = train_cfg(out, overwrite=overwrite)
    (out / "train.yaml").write_text("# LLaMA-Factory\nstage: sft\nlearning_rate: 1e-5\n")
    (out / "loss.png").write_bytes(b"their plot")
    with pytest.raises(DistillError) as e:
        guard_train(cfg)
    msg = str(e.value)
    assert "\n" not in msg and "train.yaml, loss.png" in msg and "move it away" in msg
    # a train run's own folder (its saved config there): its records are its own
    (out / "train.yaml").write_text(yaml.safe_dump(dataclasses.asdict(cfg)))
    guard_train(cfg)
    (out / "train.yaml").unlink()  # a folder with train's checkpoint: a run's too
    (out / "checkpoint-1").mkdir()
    guard_train(cfg)
