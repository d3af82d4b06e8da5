"""Third read of session 11's --logprobs journals (4e8acef): a killed run's journal is written by
the rerun on an NFS mount (flock emulated by POSIX locks) and on a filesystem with no locks at
all, as it was before journals were locked; two generates started together on one --out never
plan a journal's samples as missing while the other is writing them."""

import errno
import os
import threading

import numpy as np
import pytest

from distill.logprobs import ShardBuffer, TokenLogprobs, recover, side_dir
from distill.records import RecordWriter, read_records

fcntl = pytest.importorskip("fcntl")


def _sample(i: int) -> TokenLogprobs:
    lp = -np.linspace(0.1, 1.0, 3 * (i + 2), dtype=np.float32).reshape(i + 2, 3)
    return TokenLogprobs(np.arange(i + 2) + i, lp[:, 0], np.tile([i, 7, 8], (i + 2, 1)), lp)


def _journal(out, ids) -> ShardBuffer:
    buf = ShardBuffer(out, max_records=100)
    for n, i in enumerate(ids):
        buf.add({"id": i, "prompt_id": "p"}, _sample(n), tokenizer="tok", vocab=None,
                stop_token=False)  # fmt: skip
    return buf


def _killed(out, ids) -> None:
    """A generate killed with `ids` bought and journaled: the kill lets its lock go."""
    _journal(out, ids)._journal.close()


def test_an_nfs_mount_recovers_a_killed_runs_samples(tmp_path, monkeypatch):
    """Linux NFS emulates flock with POSIX locks: an exclusive one needs the file open for
    writing (EBADF otherwise). recover opened journals read-only, so on NFS (a shared home or
    cluster storage) no killed run's journal was ever written: its samples were bought again."""
    real = fcntl.flock

    def nfs_flock(f, op):
        fd = f if isinstance(f, int) else f.fileno()
        if op & fcntl.LOCK_EX and fcntl.fcntl(fd, fcntl.F_GETFL) & os.O_ACCMODE == os.O_RDONLY:
            raise OSError(errno.EBADF, "Bad file descriptor")
        return real(f, op)

    monkeypatch.setattr(fcntl, "flock", nfs_flock)
    out = tmp_path / "t.jsonl"
    _killed(out, ["s0", "s1"])
    assert recover(out) == 2
    assert [r["id"] for r in read_records(out)] == ["s0", "s1"]
    assert not list(side_dir(out).glob("pending*"))


@pytest.mark.parametrize("code", [errno.ENOLCK, errno.ENOSYS, errno.EOPNOTSUPP])
def test_a_filesystem_without_locks_recovers_as_before(tmp_path, monkeypatch, code):
    """An NFS mount without lockd (ENOLCK, common in containers), Lustre without -o flock
    (ENOSYS): every flock fails. recover took that for 'a live run holds it' and wrote no
    journal, ever. Now it writes them as it did before journals were locked (and as on
    Windows); a run whose journal another start took there goes on without a traceback."""

    def no_flock(f, op):
        raise OSError(code, os.strerror(code))

    monkeypatch.setattr(fcntl, "flock", no_flock)
    out = tmp_path / "t.jsonl"
    _killed(out, ["s0"])
    assert recover(out) == 1 and [r["id"] for r in read_records(out)] == ["s0"]
    live = _journal(out, ["s1"])
    assert recover(out) == 1  # another start: nothing tells it s1's run lives
    with RecordWriter(out) as writer:
        live.flush(writer.write)  # its journal gone: no FileNotFoundError
    assert {r["id"] for r in read_records(out)} == {"s0", "s1"}


def test_two_starts_at_once_never_plan_a_journal_being_written(tmp_path, monkeypatch):
    """Two generates (two teachers) relaunched together on one --out after a kill: one start
    took the dead journal and was writing it; the other found it locked, went on at once and
    read the records without its samples (then bought them again: duplicate records). A start
    now waits for another's recover to finish."""
    import distill.logprobs as lp

    out = tmp_path / "t.jsonl"
    _killed(out, ["s0", "s1"])
    writing, real = threading.Event(), lp._write_pending

    def slow(*a, **kw):  # the first start, its journal's lock held, writing
        writing.set()
        threading.Event().wait(0.5)
        return real(*a, **kw)

    monkeypatch.setattr(lp, "_write_pending", slow)
    first = threading.Thread(target=recover, args=(out,))
    first.start()
    assert writing.wait(10)
    recover(out)  # the second start
    seen = [r["id"] for r in read_records(out)] if out.exists() else []
    first.join()
    assert seen == ["s0", "s1"]  # what it plans from: the journal's samples, once
    assert [r["id"] for r in read_records(out)] == ["s0", "s1"]


# ---------------------------------------- f8211d5: generate's side files a crash left empty


@pytest.mark.parametrize("name", ["notes.generate.yaml", "notes.summary.json"])
def test_a_rerun_replaces_a_side_file_a_crash_left_empty(tmp_path, server, name):
    """The resolved config and the summary are renamed into place, never fsynced: a machine
    that crashed (a preempted node, a power cut) after a run can leave one empty. The rerun
    called it a file distill did not write ('move it or pick another --out'); an empty file
    holds nothing of anyone's, and the rerun writes it anew."""
    import json

    from tests.inproc import distill
    from tests.test_user_outputs_gen_s11 import gen_args

    args = gen_args(server.url)
    assert distill(*args, cwd=tmp_path).returncode == 0
    (tmp_path / name).write_bytes(b"")
    res = distill(*args, cwd=tmp_path)
    assert res.returncode == 0, res.stderr
    assert json.loads((tmp_path / "notes.summary.json").read_text())["samples"] == 3
    assert "out: notes.jsonl" in (tmp_path / "notes.generate.yaml").read_text()
