# ruff: noqa: F811 - the student fixture, imported from tests/test_ops_s19.py
"""Second read of session 19's publish leftovers and hashes (ebf79ca).

- a --local-dir publish into a clone of its Hub repo (the marker the Hub publish uploaded: each
  file's hashes, no size and mtime here) read each earlier file of publish's there twice: its
  sha256 to tell it publish's (_ours), then its git blob id and sha256 again for the marker's
  pending stamps (_hashes_of). A model of several GB was read twice over. Read once now.
- pinned: what the next publish removes of a killed one's is never a file of the user's: a
  symlink under a part's or the marker temp's name (and what it points to), a folder under
  such a name, a hard link's other name; a file the user changed in place, its size and mtime
  put back, is read again (not taken for publish's by a hash remembered from before).
"""

from __future__ import annotations

import errno
import json
import os
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest

from tests.inproc import distill
from tests.test_no_clobber import refused
from tests.test_ops_s19 import MARKER, WEIGHTS, cut_copy, marker_of, publish, student  # noqa: F401

FILES = ["README.md", "config.json", "model.safetensors", "train.yaml"]


def as_a_hub_clone(dest: Path) -> None:
    """dest's marker made the one a --repo-id publish uploads (a clone or download of the repo):
    each file's hashes, no size or mtime."""
    from distill import publish as P

    files = marker_of(dest)["files"]
    doc = {
        "student": "student",
        "files": files,
        "stamps": {},
        "hashes": {n: P._hashes(dest / n) for n in files},
        "earlier": {},
    }
    (dest / MARKER).write_text(json.dumps(doc, indent=2) + "\n")


@pytest.fixture
def reads(monkeypatch):
    """Path -> how many times publish or manifest opened it to read it whole; every file
    settled (a clone made hours ago) and nothing remembered from before."""
    import distill.manifest as manifest
    from distill import publish as P

    read: Counter[str] = Counter()

    def reading(path, mode="r", *args, **kwargs):
        if mode == "rb":
            read[os.path.realpath(path)] += 1
        return open(path, mode, *args, **kwargs)

    for module in (P, manifest):
        monkeypatch.setattr(module, "open", reading, raising=False)
    monkeypatch.setattr(manifest, "_HASHED", {}, raising=False)
    monkeypatch.setattr(P, "_HASHES", {}, raising=False)
    monkeypatch.setattr(manifest, "_SETTLED_NS", 0, raising=False)
    return read


def forget() -> None:
    import distill.manifest as manifest
    from distill import publish as P

    manifest._HASHED.clear()
    getattr(P, "_HASHES", {}).clear()


def test_a_publish_into_a_clone_of_its_hub_repo_reads_each_file_once(student, tmp_path, reads):
    dest = tmp_path / "clone"
    assert publish(student, dest).returncode == 0
    as_a_hub_clone(dest)
    (student / "model.safetensors").write_bytes(b"weights-2" * 1000)
    forget()  # a new process: nothing remembered
    reads.clear()
    res = distill("publish", str(student), "--local-dir", str(dest), "--overwrite")
    assert res.returncode == 0, res.stderr
    assert (dest / "model.safetensors").read_bytes() == b"weights-2" * 1000
    # the earlier model.safetensors there: before, read twice (sha256, then both hashes)
    assert reads[os.path.realpath(dest / "model.safetensors")] == 1
    assert max(reads.values()) == 1  # each file, the staged ones too


def test_a_file_changed_in_place_in_the_clone_is_read_again(student, tmp_path, reads):
    """Hashes remembered by what identifies a file's bytes: the README.md the user rewrote in
    the clone (the same size, its mtime put back) is theirs, not publish's by its old hash."""
    dest = tmp_path / "clone"
    assert publish(student, dest).returncode == 0
    as_a_hub_clone(dest)  # its hashes read: remembered
    readme = dest / "README.md"
    st, text = readme.stat(), readme.read_text()
    mine = text.replace("a", "b", 1)
    assert mine != text and len(mine) == len(text)
    readme.write_text(mine)
    os.utime(readme, ns=(st.st_atime_ns, st.st_mtime_ns))
    res = distill("publish", str(student), "--local-dir", str(dest), "--overwrite")
    refused(res, r"README\.md is already there and publish did not write it")
    assert readme.read_text() == mine


# =========================================================================== what is removed


def cut(student: Path, dest: Path) -> Path:
    """A publish killed while copying model.safetensors in (its marker lists it as pending):
    -> the part it left."""
    assert publish(student, dest).returncode == 0
    (student / "model.safetensors").write_bytes(b"weights-2" * 1000)
    cut_copy(student, dest, hard=True)
    part = dest / ".distill-publish.model.safetensors.part"
    assert part.is_file() and "model.safetensors" in marker_of(dest)["pending"]
    return part


def test_a_symlink_under_a_parts_name_stays_and_so_does_its_target(student, tmp_path):
    dest = tmp_path / "pub"
    part = cut(student, dest)
    part.unlink()
    mine = tmp_path / "notes.txt"
    mine.write_text("mine")  # smaller than the file the publish was copying
    part.symlink_to(mine)
    refused(publish(student, dest), r"\.distill-publish\.model\.safetensors\.part is in the way")
    assert part.is_symlink() and mine.read_text() == "mine"


def test_a_folder_under_a_parts_name_stays(student, tmp_path):
    dest = tmp_path / "pub"
    part = cut(student, dest)
    part.unlink()
    part.mkdir()
    (part / "mine.txt").write_text("mine")
    refused(publish(student, dest), r"\.distill-publish\.model\.safetensors\.part is in the way")
    assert (part / "mine.txt").read_text() == "mine"


def test_a_part_hard_linked_to_a_users_file_leaves_the_users_file_whole(student, tmp_path):
    dest = tmp_path / "pub"
    part = cut(student, dest)
    part.unlink()
    mine = tmp_path / "mine.bin"
    mine.write_bytes(b"x" * 10)
    os.link(mine, part)
    res = publish(student, dest)
    assert res.returncode == 0, res.stderr
    assert mine.read_bytes() == b"x" * 10  # only publish's name for it is gone
    assert not part.exists()


def dead_pid() -> int:
    p = subprocess.Popen([sys.executable, "-c", "pass"])
    p.wait()
    return p.pid


def test_a_symlink_under_the_marker_temps_name_stays(student, tmp_path):
    dest = tmp_path / "pub"
    assert publish(student, dest).returncode == 0
    mine = tmp_path / "saved.json"
    mine.write_text('{\n  "student": "my copy of a marker"\n}\n')
    link = dest / f".{MARKER}.tmp{dead_pid()}"
    link.symlink_to(mine)
    assert publish(student, dest).returncode == 0
    assert link.is_symlink() and mine.read_text().startswith('{\n  "student": "my copy')


def test_a_folder_under_the_marker_temps_name_is_the_users(student, tmp_path):
    """A new folder holding only such a folder is not empty: refused, nothing removed."""
    dest = tmp_path / "pub"
    dest.mkdir()
    mine = dest / f".{MARKER}.tmp{dead_pid()}"
    mine.mkdir()
    (mine / "notes.txt").write_text("mine")
    refused(publish(student, dest), r"is a non-empty folder that holds no previous publish")
    assert (mine / "notes.txt").read_text() == "mine"


@pytest.mark.parametrize("err", [errno.ENOSYS, errno.EPERM], ids=["ENOSYS", "EPERM"])
def test_a_mount_that_renames_nothing_is_copied_into(student, tmp_path, monkeypatch, err):
    """A FUSE or network mount whose rename fails otherwise than EXDEV: shutil.move copied
    the files in (ebf79ca's move failed the publish, 'Function not implemented')."""
    dest = tmp_path / "pub"
    real_rename = os.rename

    def rename(src, dst, *a, **kw):
        if Path(src).parent.name.startswith(f".{dest.name}."):  # out of publish's staging
            raise OSError(err, os.strerror(err))
        return real_rename(src, dst, *a, **kw)

    monkeypatch.setattr(os, "rename", rename)
    res = publish(student, dest)
    assert res.returncode == 0, res.stderr
    assert (dest / "model.safetensors").read_bytes() == WEIGHTS
    assert sorted(p.name for p in dest.iterdir()) == sorted([MARKER, *FILES])
    monkeypatch.undo()
    assert publish(student, dest).returncode == 0  # its own files, by their stamps
