"""A file is read for its sha256 once per process while it stays as it was: `distill run`'s
checks that the train data is the one its student learned (before any stage, then when train's
turn comes, and train's own --resume check) each read the whole file (a 200 MB kept.jsonl read
two or three times over), and a stage's commit read an existing output twice (whether it is
distill's, then for the manifest's `was`)."""

from __future__ import annotations

import hashlib
import os
from collections import Counter

import pytest

import distill.manifest as manifest
from distill.manifest import OutputSet, file_sha256
from distill.pipeline import run as pipeline_run
from tests.test_run_rewrites_s11 import FILTER, TRAIN
from tests.test_run_same_settings_s12 import recipe, trained  # noqa: F401 (a fixture)


@pytest.fixture
def hashed(monkeypatch):
    """Path -> how many times manifest read it whole for its sha256; every file settled (as a
    run's data is, hours old)."""
    read: Counter[str] = Counter()

    def reading(path, mode="r", *args, **kwargs):
        if mode == "rb":
            read[os.path.realpath(path)] += 1
        return open(path, mode, *args, **kwargs)

    monkeypatch.setattr(manifest, "open", reading, raising=False)
    monkeypatch.setattr(manifest, "_HASHED", {}, raising=False)
    monkeypatch.setattr(manifest, "_SETTLED_NS", 0, raising=False)
    return read


def test_a_rerun_reads_the_students_data_once(tmp_path, trained, hashed, capsys):  # noqa: F811
    r, run = recipe(tmp_path, filter=FILTER, train=TRAIN)
    pipeline_run(r)
    hashed.clear()
    manifest._HASHED.clear()  # a new process
    capsys.readouterr()
    pipeline_run(r)  # filter and train done: nothing but the checks
    out = capsys.readouterr().out
    assert "== filter: done" in out and "== train: done" in out
    assert hashed[os.path.realpath(run / "kept.jsonl")] == 1
    assert max(hashed.values()) == 1  # filter's other outputs, checked as distill's: once


def test_commit_reads_the_output_it_replaces_once(tmp_path, hashed):
    out, body = tmp_path / "kept.jsonl", b'{"id": "a"}\n' * 1000
    for _ in range(2):
        s = OutputSet("filter", tmp_path / "kept.manifest.json", "h")
        s.tmp(out).write_bytes(body)
        s.hashed(out, hashlib.sha256(body).hexdigest())
        hashed.clear()
        s.commit()
    assert hashed[os.path.realpath(out)] == 1  # the earlier run's kept.jsonl


def test_a_file_changed_since_is_read_again(tmp_path, monkeypatch):
    # a file written moments ago is not remembered: a change in place within the same tick of
    # its timestamps, size and mtime as they were, is still seen
    monkeypatch.setattr(manifest, "_HASHED", {}, raising=False)
    p = tmp_path / "kept.jsonl"
    p.write_bytes(b"a" * 100)
    st = p.stat()
    assert file_sha256(p) == hashlib.sha256(b"a" * 100).hexdigest()
    with open(p, "r+b") as f:
        f.write(b"b")
    os.utime(p, ns=(st.st_atime_ns, st.st_mtime_ns))
    assert file_sha256(p) == hashlib.sha256(b"b" + b"a" * 99).hexdigest()
