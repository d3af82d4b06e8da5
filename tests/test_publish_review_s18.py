"""Review of 66a45aa (`publish --local-dir`: the marker's `pending` stamps).

_place's marker names, for each file about to be moved in, the stamps (size, mtime) it is
publish's at: the staged file's, which a rename keeps. Where dest's parent did not exist yet,
the files were staged in the system's temp folder, on another filesystem as often as not
(tmpfs): each move was a copy, and a publish cut during one left a part of the file whose stamp
matched neither; the next publish refused its own file as the user's ('publish did not write
it'). They are staged in the nearest folder above dest that exists now, on dest's filesystem.
Staging beside dest in a folder the user cannot write in was a PermissionError: the publish failed."""

from __future__ import annotations

import errno
import json
import os
import tempfile
from pathlib import Path

import pytest

from tests.inproc import distill

MARKER = ".distill-publish.json"


@pytest.fixture
def student(tmp_path: Path) -> Path:
    s = tmp_path / "student"
    s.mkdir()
    (s / "config.json").write_text('{"model_type": "llama"}\n')
    (s / "model.safetensors").write_bytes(b"weights-1" * 1000)
    (s / "train.yaml").write_text("model: m\nformat: r1\n")
    return s


@pytest.fixture
def other_fs(tmp_path: Path, monkeypatch):
    """The system's temp folder on another filesystem: a rename out of it is EXDEV, and
    shutil.move copies instead (a kill during the copy leaves part of the file)."""
    import shutil

    systmp = tmp_path / "systmp"
    systmp.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(systmp))
    real_rename = os.rename

    def rename(src, dst, *a, **kw):
        if systmp in Path(src).parents:
            raise OSError(errno.EXDEV, "Invalid cross-device link")
        return real_rename(src, dst, *a, **kw)

    real_copyfile = shutil.copyfile

    def copyfile(src, dst, *a, **kw):
        if systmp in Path(src).parents and Path(src).name == "model.safetensors":  # the kill,
            # halfway through the copy
            Path(dst).write_bytes(Path(src).read_bytes()[:100])
            raise KeyboardInterrupt
        return real_copyfile(src, dst, *a, **kw)

    monkeypatch.setattr(os, "rename", rename)
    monkeypatch.setattr(shutil, "copyfile", copyfile)
    return systmp


def test_a_publish_cut_moving_into_a_new_folder_is_replaced_by_the_next(
    student, tmp_path, other_fs, monkeypatch
):
    from distill import publish as P

    dest = tmp_path / "out" / "models" / "pub"  # out/ does not exist yet
    real_move = P.shutil.move

    def move(src, dst):
        real_move(src, dst)
        if Path(dst).name == "model.safetensors":
            raise KeyboardInterrupt  # cut right after this move (or during it, as a copy)

    with monkeypatch.context() as mp, pytest.raises(KeyboardInterrupt):
        mp.setattr(P.shutil, "move", move)
        P.run(P.PublishConfig(dir=str(student), local_dir=str(dest)))
    assert "model.safetensors" in json.loads((dest / MARKER).read_text())["files"]
    assert not list(other_fs.iterdir())  # nothing staged there
    res = distill("publish", str(student), "--local-dir", str(dest))
    # before: 'model.safetensors is already there and publish did not write it' (its own part)
    assert res.returncode == 0, res.stderr
    assert (dest / "model.safetensors").read_bytes() == b"weights-1" * 1000
    marker = json.loads((dest / MARKER).read_text())
    assert "pending" not in marker and set(marker["stamps"]) == set(marker["files"])


def test_a_local_dir_in_a_folder_the_user_cannot_write_in_is_published(
    student, tmp_path, monkeypatch
):
    """The user's own folder inside a read-only one (/mnt/models/me): staged beside it, mkdtemp
    was refused by the OS (as this test's, root writing anywhere): 'error: .../ro: Permission
    denied', and nothing published."""
    ro = tmp_path / "ro"
    dest = ro / "mine"
    dest.mkdir(parents=True)
    real_access, real_mkdtemp = os.access, tempfile.mkdtemp

    def access(path, mode, *a, **kw):
        if Path(path) == ro and mode & os.W_OK:
            return False
        return real_access(path, mode, *a, **kw)

    def mkdtemp(*a, dir=None, **kw):
        if dir is not None and Path(dir) == ro:
            raise PermissionError(errno.EACCES, "Permission denied", str(ro))
        return real_mkdtemp(*a, dir=dir, **kw)

    monkeypatch.setattr(os, "access", access)
    monkeypatch.setattr(tempfile, "mkdtemp", mkdtemp)
    res = distill("publish", str(student), "--local-dir", str(dest))
    assert res.returncode == 0, res.stderr  # before: 'error: .../ro: Permission denied'
    assert (dest / "model.safetensors").read_bytes() == b"weights-1" * 1000
    assert sorted(p.name for p in ro.iterdir()) == ["mine"]
