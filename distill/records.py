"""The trace record: ids, append-only JSONL writing, reading that survives a killed writer.

    python -c "from distill.records import read_records; print(sum(1 for _ in read_records('t.jsonl')))"

One JSON object per line (fields in ../shared/DESIGN.md). A writer killed mid-line leaves a
torn last line; readers skip it and the next writer cuts it off before appending, so a rerun
neither trusts nor glues onto half a record. Any other unparseable line is an error naming
file:line.
"""

from __future__ import annotations

import hashlib
import json
import os
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from distill.errors import DistillError

# Sampling params that change what the teacher writes; only these enter a sample's id, so
# changing concurrency, retries or rate limits never re-buys a sample.
ID_PARAMS = ("temperature", "top_p", "max_tokens", "seed")


def stable_hash(obj: Any, length: int = 16) -> str:
    blob = json.dumps(obj, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    # surrogatepass: a lone surrogate escape in a dataset's text ("\ud83d") is valid JSON;
    # every other text hashes as before
    return hashlib.sha256(blob.encode("utf-8", "surrogatepass")).hexdigest()[:length]


def json_line(obj: Any) -> str:
    """One JSONL line, non-ASCII as is; a record holding a lone surrogate (valid JSON, no UTF-8)
    keeps it as its \\u escape instead of failing the write."""
    line = json.dumps(obj, ensure_ascii=False)
    try:
        line.encode("utf-8")
    except UnicodeEncodeError:
        line = json.dumps(obj)
    return line + "\n"


def sample_id(
    prompt_id: str,
    model: str,
    params: dict[str, Any],
    sample: int,
    messages: list[dict],
    messages_hash: str | None = None,
    raw_prompt: bool = False,
) -> str:
    """Same inputs => same id. The messages are hashed in too, so editing the template
    (or the system prompt) makes new samples instead of silently reusing old ones.
    `messages_hash` is stable_hash(messages) where the caller has it already. `raw_prompt`:
    the teacher is sent the user message alone, without its chat template (another input;
    the key is added only then, so every other id stays as it was)."""
    key = {
        "prompt_id": prompt_id,
        "model": model,
        "params": {k: params.get(k) for k in ID_PARAMS},
        "sample": sample,
        "messages": messages_hash or stable_hash(messages),
    }
    if raw_prompt:
        key["raw_prompt"] = True
    return stable_hash(key)


# A model loaded from the Hub by name (`teacher.hub` in its record), and one loaded from a local
# folder (`teacher.folder`), in a per-teacher key.
_FROM_HUB = "\0hub"
_FROM_FOLDER = "\0folder"


def teacher_key(teacher: Any) -> str:
    """A record's teacher, as per-teacher counts key it: `backend:model`. A Hub id and a local
    folder of the same name are two models (generate keeps their samples apart: `hub` in a
    Hub load's record, `folder` in a folder's), so each such key is marked; `teacher_labels`
    names them. A record with neither (written before they were kept) is marked by neither."""
    t = teacher if isinstance(teacher, dict) else {}
    key = f"{t.get('backend')}:{t.get('model')}"
    if t.get("hub") is True:
        return key + _FROM_HUB
    return key + _FROM_FOLDER if isinstance(t.get("folder"), str) else key


def teacher_labels(counts: dict[str, Any]) -> dict[str, Any]:
    """`counts` keyed by `teacher_key`, with the names users read: `backend:model`, and
    `backend:model@hub` for a Hub load where a same-named folder's samples are counted too
    (the name generate gives that model's sample ids then).
    A record that names neither (from before `hub` and `folder`) is counted under the plain
    name, as generate takes it by its name: with the Hub model's where no folder's samples
    hold that name, so a file resumed across that change is still one teacher."""
    folders = {k.removesuffix(_FROM_FOLDER) for k in counts if k.endswith(_FROM_FOLDER)}
    out: dict[str, Any] = {}
    for key, v in counts.items():
        name = key.removesuffix(_FROM_HUB).removesuffix(_FROM_FOLDER)
        if key.endswith(_FROM_HUB) and name in folders:
            name += "@hub"
        out[name] = _plus(out[name], v) if name in out else v
    return out


def _plus(a: Any, b: Any) -> Any:
    """Two counts of one teacher: numbers, or dicts of numbers (filter's total/kept/correct)."""
    if isinstance(a, dict) and isinstance(b, dict):
        return {k: a.get(k, 0) + b.get(k, 0) for k in {**a, **b}}
    return a + b


def scan_lines(path: Path) -> Iterator[tuple[int, bytes, bool]]:
    """(line number, raw line, is_last_and_unterminated). A line without its newline ends the
    scan: a writer appending meanwhile (generate while filter reads) may finish it after this
    read, and its rest must not be read as a line of its own."""
    with open(path, "rb") as f:
        lineno = 0
        for raw in f:
            lineno += 1
            torn = not raw.endswith(b"\n")
            yield lineno, raw, torn
            if torn:
                return


def read_records(path: str | Path, required: tuple[str, ...] = ()) -> Iterator[dict[str, Any]]:
    """Yield records; skip a torn final line; raise DistillError naming file:line otherwise."""
    p = Path(path)
    if not p.is_file():
        raise DistillError(f"file not found: {p}")
    for lineno, raw, torn in scan_lines(p):
        line = raw.strip()
        if not line:
            continue
        try:
            rec = json.loads(line)
        except RecursionError:  # json's: a value nested past Python's recursion limit
            raise DistillError(
                f"{p}:{lineno}: not valid JSON here (a value nested too deep to read)"
            ) from None
        except (json.JSONDecodeError, UnicodeDecodeError) as e:
            # A writer killed mid-line left the start of a record ({...), or a machine that died
            # a block of NULs: not a record, and not an error. A last line that is neither is
            # someone's text, never skipped.
            if torn and _torn_record(line):
                return
            raise DistillError(
                f"{p}:{lineno}: not valid JSON ({e.msg if hasattr(e, 'msg') else e})"
            ) from None
        if not isinstance(rec, dict):
            raise DistillError(f"{p}:{lineno}: expected a JSON object, got {type(rec).__name__}")
        for field in required:
            if field not in rec:
                raise DistillError(f"{p}:{lineno}: missing field '{field}'")
        yield rec


def _torn_record(tail: bytes) -> bool:
    """A last line without its newline that a writer of records can have left: the start of a
    JSON object, or NULs (a machine that died before the block was written) and blanks."""
    rest = tail.strip(b"\0 \t\r\n")
    return not rest or rest.startswith(b"{")


def _cut_torn_tail(path: Path) -> None:
    """Drop bytes after the last newline (a killed writer's half record). A whole record there
    that only lacks its newline is a record (read_records reads it, and a resume counts it
    done): it gets the newline instead."""
    size = path.stat().st_size
    if size == 0:
        return
    with open(path, "rb+") as f:
        f.seek(-1, os.SEEK_END)
        if f.read(1) == b"\n":
            return
        # Walk back in blocks to the last newline.
        pos, block, cut = size, 1 << 16, 0
        while pos > 0:
            start = max(0, pos - block)
            f.seek(start)
            chunk = f.read(pos - start)
            idx = chunk.rfind(b"\n")
            if idx >= 0:
                cut = start + idx + 1
                break
            pos = start
        f.seek(cut)
        tail = f.read()
        if not _torn_record(tail):
            # not the start of a record a killed writer left: the file is not distill's to cut
            raise DistillError(
                f"{path}: its last line is not a record distill wrote (no newline, not JSON): "
                "pick another output file, or end that line with a newline"
            )
        try:
            whole = isinstance(json.loads(tail), dict)
        except (ValueError, RecursionError):  # not JSON, or not UTF-8 (or nested past reading)
            whole = False
        if whole:
            f.seek(0, os.SEEK_END)
            f.write(b"\n")
        else:
            f.truncate(cut)


class RecordWriter:
    """Append-only JSONL writer.

    Each record is written and flushed as one line, so a SIGKILL loses at most the line being
    written (the OS page cache survives a killed process). fsync, which only matters if the
    machine itself dies, runs at most every `fsync_every` seconds and on close, so a fast API
    run is not throttled by the disk.
    """

    def __init__(
        self,
        path: str | Path,
        fsync_every: float = 1.0,
        on_write: Callable[[dict[str, Any]], None] | None = None,
    ):
        self.on_write = on_write  # called with each record once it is written
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        if self.path.exists():
            _cut_torn_tail(self.path)
        self._f = open(self.path, "a", encoding="utf-8")
        self._fsync_every = fsync_every
        self._last_sync = time.monotonic()
        self.written = 0

    def write(self, record: dict[str, Any]) -> None:
        self._f.write(json_line(record))
        self._f.flush()
        self.written += 1
        if self.on_write is not None:
            self.on_write(record)
        now = time.monotonic()
        if now - self._last_sync >= self._fsync_every:
            os.fsync(self._f.fileno())
            self._last_sync = now

    def close(self) -> None:
        if not self._f.closed:
            self._f.flush()
            os.fsync(self._f.fileno())
            self._f.close()

    def __enter__(self) -> RecordWriter:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def same_file(a: str | os.PathLike, b: str | os.PathLike, existing: bool = False) -> bool:
    """One path however it is spelled (`kept.jsonl`, `./kept.jsonl`, `~/x`, its absolute path, a
    symlink to it): resolved, symlinks followed; a file not written yet too (`distill run`'s
    stages' outputs). `existing`: only a path that exists is one; for a value that may be a name
    instead (generate's teacher keys: `./gpt-4o` and `gpt-4o`, or two URLs that differ only by
    a slash, resolve alike)."""
    real = os.path.realpath(os.path.expanduser(a))
    return real == os.path.realpath(os.path.expanduser(b)) and (
        not existing or os.path.exists(real)
    )


def write_atomic(path: str | Path, text: str) -> Path:
    """Write a whole file via rename, so a reader never sees half of it."""
    p = Path(path)
    p.parent.mkdir(parents=True, exist_ok=True)
    tmp = p.with_name(f".{p.name}.tmp{os.getpid()}")
    try:
        tmp.write_text(text, encoding="utf-8")
        tmp.replace(p)
    except BaseException:  # a full disk (or Ctrl-C) leaves no half-written temp file behind
        tmp.unlink(missing_ok=True)
        raise
    return p


def jsonable(v: Any) -> bool:
    """Whether a row's field can go into a record's meta (generate and eval keep those)."""
    try:
        json.dumps(v)
        return True
    except (TypeError, ValueError):
        return False


def try_lock(f: Any, wait: bool = False) -> bool:
    """Take an open file's exclusive lock (without waiting, unless `wait`): False when a live
    process holds it (the OS lets it go when its process dies). True where there is no lock to
    take: no flock (Windows), or a filesystem that has none (an NFS mount without lockd: ENOLCK;
    Lustre without -o flock: ENOSYS), where the caller goes on unlocked (logprobs' journals are
    recovered as before they were locked; distill run's run dir is not guarded). `f` open for
    writing: NFS emulates flock with POSIX locks, and an exclusive one of a file
    open read-only is EBADF."""
    import errno

    try:
        import fcntl
    except ImportError:
        return True
    try:
        fcntl.flock(f, fcntl.LOCK_EX | (0 if wait else fcntl.LOCK_NB))
    except OSError as e:
        return e.errno not in (errno.EAGAIN, errno.EWOULDBLOCK, errno.EACCES)
    return True
