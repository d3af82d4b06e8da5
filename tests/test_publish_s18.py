"""`distill publish --local-dir` killed while it places its files: nothing the user owns is
destroyed by the next publish.

_place writes its marker first, listing every name it is about to move in, then moves them. A
name listed there had no stamp: a kill before its move left it publish's by name, so a file the
user then put under that name (their own train.yaml) was replaced by the next publish, or
deleted by one that no longer writes that name. The marker now keeps, for each name about to be
placed, the stamps (size, mtime) at which it is publish's: the staged file's and the earlier
publish's file it replaces."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from tests.inproc import distill
from tests.test_no_clobber import refused

MARKER = ".distill-publish.json"
MINE = "my own notes, not the run's config\n"


@pytest.fixture
def student(tmp_path: Path) -> Path:
    s = tmp_path / "student"
    s.mkdir()
    (s / "config.json").write_text('{"model_type": "llama"}\n')
    (s / "model.safetensors").write_bytes(b"weights-1")
    (s / "train.yaml").write_text("model: m\nformat: r1\n")
    return s


def publish(student: Path, dest: Path):
    return distill("publish", str(student), "--local-dir", str(dest))


def killed_before_moving(student: Path, dest: Path, name: str) -> None:
    """A publish cut (in this process) just before it moves `name` into dest."""
    from distill import publish as P

    real = P.shutil.move

    def move(src, dst):
        if Path(dst).name == name:
            raise KeyboardInterrupt  # the kill
        return real(src, dst)

    with pytest.MonkeyPatch.context() as mp, pytest.raises(KeyboardInterrupt):
        mp.setattr(P.shutil, "move", move)
        P.run(P.PublishConfig(dir=str(student), local_dir=str(dest)))
    assert name in json.loads((dest / MARKER).read_text())["files"]  # the window: listed


@pytest.mark.parametrize("first", [True, False], ids=["first-publish", "republish"])
def test_a_users_file_under_a_name_a_cut_publish_listed_is_not_replaced(student, tmp_path, first):
    dest = tmp_path / "pub"
    if not first:  # an earlier publish left no train.yaml: this one adds it
        (student / "train.yaml").rename(tmp_path / "train.yaml")
        assert publish(student, dest).returncode == 0
        (tmp_path / "train.yaml").rename(student / "train.yaml")
    killed_before_moving(student, dest, "train.yaml")
    assert not (dest / "train.yaml").exists()
    (dest / "train.yaml").write_text(MINE)  # the user's, after the kill
    # before: taken as publish's by name and replaced by the run's train.yaml
    refused(publish(student, dest), r"train\.yaml is already there and publish did not write it")
    assert (dest / "train.yaml").read_text() == MINE


def test_a_users_file_under_a_name_a_cut_publish_listed_is_not_deleted(student, tmp_path):
    dest = tmp_path / "pub"
    killed_before_moving(student, dest, "train.yaml")
    (dest / "train.yaml").write_text(MINE)
    (student / "train.yaml").unlink()  # the next publish no longer writes that name
    res = publish(student, dest)
    assert res.returncode == 0, res.stderr
    assert (dest / "train.yaml").read_text() == MINE  # before: deleted as publish's
    assert "train.yaml" not in json.loads((dest / MARKER).read_text())["files"]


def test_a_publish_cut_before_replacing_its_earlier_file_replaces_it_next_time(student, tmp_path):
    """What the cut publish left of its own is still its own: the earlier publish's file it had
    yet to replace, and the files it had moved in."""
    dest = tmp_path / "pub"
    assert publish(student, dest).returncode == 0
    (student / "model.safetensors").write_bytes(b"weights-2, longer")
    (student / "train.yaml").write_text("model: m\nformat: r1\nlr: 1.0\n")
    killed_before_moving(student, dest, "train.yaml")
    assert (dest / "model.safetensors").read_bytes() == b"weights-2, longer"  # moved in
    res = publish(student, dest)
    assert res.returncode == 0, res.stderr
    assert (dest / "train.yaml").read_text() == "model: m\nformat: r1\nlr: 1.0\n"
    marker = json.loads((dest / MARKER).read_text())
    assert "pending" not in marker and set(marker["stamps"]) == set(marker["files"])


def test_a_publish_killed_by_the_os_while_placing_leaves_the_users_file_alone(student, tmp_path):
    """The kill as a lost process (os._exit in a subprocess: no finally runs, the staging
    folder is left beside dest), then the user's file, then the CLI again."""
    dest = tmp_path / "pub"
    script = textwrap.dedent(
        f"""
        import os, shutil
        from pathlib import Path
        from distill import publish as P
        real = shutil.move
        def move(src, dst):
            if Path(dst).name == "train.yaml":
                os._exit(9)
            return real(src, dst)
        P.shutil.move = move
        P.run(P.PublishConfig(dir={str(student)!r}, local_dir={str(dest)!r}))
        """
    )
    cut = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True)
    assert cut.returncode == 9, cut.stderr
    assert "train.yaml" in json.loads((dest / MARKER).read_text())["files"]
    (dest / "train.yaml").write_text(MINE)
    refused(publish(student, dest), r"train\.yaml is already there and publish did not write it")
    assert (dest / "train.yaml").read_text() == MINE
    (dest / "train.yaml").rename(tmp_path / "mine.yaml")  # moved away, as the line says
    res = publish(student, dest)
    assert res.returncode == 0, res.stderr
    assert (dest / "train.yaml").read_text() == "model: m\nformat: r1\n"


# A --local-dir publish uploaded to the Hub by hand: its marker is read there too (_hub_plan),
# a listed name without hashes by the size it has in the marker.


@pytest.fixture
def sized_hub(monkeypatch):
    """FakeHub listing each file's size too, as the Hub's get_paths_info does."""
    import huggingface_hub

    from tests.test_third_read_eval import FakeHub

    class SizedHub(FakeHub):
        def get_paths_info(self, repo_id, paths, revision=None, **kw):
            found = super().get_paths_info(repo_id, paths, revision=revision, **kw)
            files = self._at(repo_id, revision)
            for f in found:
                f.size = len(files[f.path])
            return found

    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    monkeypatch.setenv("HF_TOKEN", "hf_test_token_value")
    monkeypatch.setattr(FakeHub, "repos", {})
    monkeypatch.setattr(huggingface_hub, "HfApi", SizedHub)
    return FakeHub.repos


def test_a_cut_local_publish_uploaded_by_hand_keeps_the_users_file_on_the_hub(
    student, tmp_path, sized_hub
):
    from distill.errors import DistillError
    from distill.publish import PublishConfig, run

    dest = tmp_path / "pub"
    killed_before_moving(student, dest, "train.yaml")
    files = {p.name: p.read_bytes() for p in dest.iterdir() if p.is_file()}
    files["train.yaml"] = MINE.encode()  # the user's, under the name the cut publish listed
    sized_hub["me/student"] = {"private": False, "files": dict(files)}
    with pytest.raises(DistillError, match=r"train\.yaml is already in the repo and changed"):
        run(PublishConfig(dir=str(student), repo_id="me/student"))
    assert sized_hub["me/student"]["files"]["train.yaml"] == MINE.encode()
    # the files the cut publish had moved in are its own: replaced once the user's is gone
    del sized_hub["me/student"]["files"]["train.yaml"]
    (student / "model.safetensors").write_bytes(b"weights-2")
    run(PublishConfig(dir=str(student), repo_id="me/student"))
    assert sized_hub["me/student"]["files"]["model.safetensors"] == b"weights-2"
