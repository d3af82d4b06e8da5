"""A stage's outputs as one set: written aside, renamed into place together, a manifest last.

    python -c "from distill.manifest import check_input; check_input('runs/smoke/kept.jsonl')"

Used by filter, eval (eval.json + eval.yaml) and export (the dataset); generate's traces are
append-only and resumable by id, so they need none.

A stage that writes several files (filter: kept, rejects, report.json, report.png, filter.yaml)
must never leave a new kept file beside an older report that a reader trusts. So every output
is written to a temporary name first; then `<base>.manifest.json` is replaced by one that says
`"complete": false` and lists the new outputs; then the outputs are renamed into place one by
one; then the manifest is replaced by the complete one (tmp + fsync + rename). A kill at any
point leaves either the old consistent set (before the first rename) or a set whose manifest
says it is not done. A kill before any of this leaves only `.NAME.tmp` files, which the next
run overwrites.

Readers (`check_input`, called wherever a stage opens a local data file) refuse a file that a
manifest beside it lists but that does not match it, in one line. A file that no manifest lists
(a user's own file, or one written by an older distill) is read as before.
`done` is what `distill run` asks before skipping a stage. Writers ask `not_ours` (through
distill/paths.py `check_ours`) before they replace a file: only one a manifest lists as it is
now, or one an unfinished set names as replaced (`was`), is distill's to replace.

Sizes are what readers compare (a stat, no reading). kept and rejects also carry a sha256,
computed while their lines are written (`HashingWriter`), for anyone who wants to verify a copy;
small side files are hashed after they are written.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import signal
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from distill.errors import DistillError
from distill.records import json_line

SUFFIX = ".manifest.json"
FORMAT = 1
_SMALL = 64 << 20  # side files up to this size are hashed by reading them back


# =========================================================================== test kill points


def kill_point(name: str) -> None:
    """Tests (tests/test_filter_kill.py) kill the process here: DISTILL_TEST_KILL_AT=<name>."""
    if os.environ.get("DISTILL_TEST_KILL_AT") == name:
        os.kill(os.getpid(), signal.SIGKILL)


# =========================================================================== writing


def write_verdict(rec: dict[str, Any], reasons: list[str], kept: Any, rejects: Any) -> None:
    """One record of a stage that keeps or rejects (filter, select): a kept one to `kept`, a
    rejected one to `rejects` with its first and all reasons (`reject_reason(s)`)."""
    if reasons:
        rec["reject_reason"] = reasons[0]
        rec["reject_reasons"] = reasons
    else:  # a record of an earlier run's rejects file, kept now: no old verdict
        rec.pop("reject_reason", None)
        rec.pop("reject_reasons", None)
    (rejects if reasons else kept).write(json_line(rec))


def manifest_path(base: str | Path) -> Path:
    """filter: kept (--out without .jsonl) -> kept.manifest.json; eval and export (one main
    output each): eval.json -> eval.json.manifest.json, so no two stages share one."""
    return Path(f"{base}{SUFFIX}")


def config_hash(cfg: Any, ignore: tuple[str, ...] = ()) -> str:
    """Hash of the settings that change a stage's result (`ignore`: those that do not). A
    server URL counts without its credentials (userinfo, query): a rotated key is the same
    server, and a rerun that hashed the key would redo the stage (and pay a judge again)."""
    from distill.records import stable_hash
    from distill.urls import redact_url

    fields = {
        k: redact_url(v) if k.endswith("url") and isinstance(v, str) else v
        for k, v in dataclasses.asdict(cfg).items()
        if k not in ignore
    }
    return stable_hash(fields)


def config_hashes(cfg: Any, ignore: tuple[str, ...] = ()) -> tuple[str, ...]:
    """`config_hash`, and where a server URL carries credentials, the hash a distill before
    URLs were hashed without them wrote (URLs as given): a set on disk hashed so is this
    config's, not one of other settings (`done` takes either)."""
    from distill.records import stable_hash

    now = config_hash(cfg, ignore)
    typed = stable_hash({k: v for k, v in dataclasses.asdict(cfg).items() if k not in ignore})
    return (now,) if typed == now else (now, typed)


def file_stamp(path: str | Path) -> dict[str, Any]:
    """What identifies an input without reading it: path, size, mtime."""
    p = Path(path)
    st = p.stat()
    return {"path": str(p.resolve()), "size": st.st_size, "mtime_ns": st.st_mtime_ns}


class HashingWriter:
    """A binary file that takes str lines and hashes what it writes (kept/rejects at 1M
    records: one sha256 pass over bytes already in hand, instead of reading them back)."""

    def __init__(self, path: Path):
        self._f = open(path, "wb")
        self._h = hashlib.sha256()

    def write(self, text: str) -> None:
        b = text.encode("utf-8")
        self._h.update(b)
        self._f.write(b)

    def hexdigest(self) -> str:
        return self._h.hexdigest()

    def close(self) -> None:
        self._f.close()

    def __enter__(self) -> HashingWriter:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


# sha256s already read, by what identifies a file's bytes without reading them: one check
# hashes a file and the next asks again (distill run's two checks that the train data is the
# student's; commit's not_ours, then `was`). A change in place sets a new ctime, which nothing
# sets back; a file changed in the last seconds is not kept (its next change could fall in the
# same timestamp tick of a coarse file system).
_HASHED: dict[tuple[int, ...], str] = {}
_SETTLED_NS = 5 * 10**9


def _identity(st: os.stat_result) -> tuple[int, ...]:
    return (st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns)


def file_sha256(path: str | Path) -> str:
    st = os.stat(path)
    known = _HASHED.get(_identity(st))
    if known is not None:
        return known
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
        after = os.fstat(f.fileno())
    settled = time.time_ns() - max(st.st_mtime_ns, st.st_ctime_ns) > _SETTLED_NS
    if settled and _identity(after) == _identity(st):  # not renamed over nor written meanwhile
        _HASHED[_identity(st)] = h.hexdigest()
    return h.hexdigest()


def _write_json_durable(path: Path, obj: dict[str, Any]) -> None:
    tmp = path.with_name(f".{path.name}.tmp{os.getpid()}")
    with open(tmp, "w", encoding="utf-8") as f:
        f.write(json.dumps(obj, indent=2) + "\n")
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)
    try:  # the rename itself survives a power cut only once the directory is synced
        fd = os.open(path.parent, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def _key(output: Path, manifest: Path) -> str:
    """How a manifest names an output: its file name when beside it, else its absolute path."""
    if output.parent.resolve() == manifest.parent.resolve():
        return output.name
    return str(output.resolve())


@dataclasses.dataclass(frozen=True)
class Expected:
    """An output a stage may replace only with the same bytes (`distill run`: the data a trained
    student learned, its sha256): other bytes and `commit` stops with `refusal`, one line,
    every file and the manifest left as they were."""

    path: Path
    sha256: str
    refusal: str


class OutputSet:
    """One stage run's outputs. `tmp(final)` gives the name to write to; `commit()` puts the
    whole set in place and writes the manifest last (`expect`: an output that must come out
    as the bytes it holds now). Used as `with OutputSet(...) as outputs:`, a stage that stops
    before its renames (Ctrl-C, an error) removes its temporary files: a filter interrupted
    mid-write left a hidden copy of the data, `.kept.jsonl.tmp`, in the user's folder."""

    def __init__(
        self,
        stage: str,
        manifest: str | Path,
        config_hash: str,
        inputs: Sequence[str | Path] = (),
        expect: Expected | None = None,
    ):
        self.stage = stage
        self.manifest = Path(manifest)
        self.config_hash = config_hash
        self.inputs = [file_stamp(p) for p in inputs if Path(p).is_file()]
        self.expect = expect
        self._files: list[tuple[Path, Path]] = []
        self._sha: dict[Path, str] = {}
        self._renaming = False  # past this, a kill's leftovers are the manifest's to explain

    def __enter__(self) -> OutputSet:
        return self

    def __exit__(self, kind: Any, *_: Any) -> None:
        if kind is not None and not self._renaming:
            for _, t in self._files:
                t.unlink(missing_ok=True)

    def tmp(self, final: str | Path) -> Path:
        final = Path(final)
        final.parent.mkdir(parents=True, exist_ok=True)
        t = final.with_name(f".{final.name}.tmp")
        self._files.append((final, t))
        return t

    def _earlier(self, outputs: dict[str, Any]) -> dict[str, Any]:
        """The files an earlier run of this manifest wrote that this one does not (its rejects
        elsewhere now), still as written: distill's to replace when a later run writes them
        again, though no longer this set's outputs."""
        old = _load(self.manifest) if self.manifest.is_file() else None
        if old is None:
            return {}
        kept: dict[str, Any] = {}
        for listed in (old["outputs"], old.get("was") or {}, old.get("earlier") or {}):
            for key, entry in listed.items():
                path = Path(key) if os.path.isabs(key) else self.manifest.parent / key
                if key not in outputs and key not in kept and path.is_file() and _same(path, entry):
                    kept[key] = entry
        return kept

    def hashed(self, final: str | Path, sha256: str) -> None:
        """The sha256 of an output whose bytes were hashed while written."""
        self._sha[Path(final)] = sha256

    def _drop(self, line: str) -> DistillError:
        """Nothing of this run is put in place: its temporary files removed, `line` to raise."""
        for _, t in self._files:
            t.unlink(missing_ok=True)
        return DistillError(line)

    def commit(self) -> Path:
        outputs: dict[str, dict[str, Any]] = {}
        was: dict[str, dict[str, Any]] = {}
        e = self.expect
        same: set[Path] = set()  # the expected output written again as it is: left in place
        for final, t in self._files:
            if e is not None and os.path.realpath(final) == os.path.realpath(e.path):
                if (self._sha.get(final) or file_sha256(t)) != e.sha256:
                    raise self._drop(e.refusal)
                # not renamed over: a student of a distill before train_data.json kept the
                # sha256 knows its data by the file's mtime (train/sft.py learned_from)
                if final.is_file() and file_sha256(final) == e.sha256:
                    same.add(final)
        # The guard ran when the stage started: a file put at an output since (hours, at 1M
        # traces) is the user's, refused now as it would have been then.
        for final in [f for f, _ in self._files] + [self.manifest]:
            why = not_ours(final, self.manifest)
            if why:
                raise self._drop(
                    f"{final} exists and {why}: it was put there while {self.stage} ran; "
                    f"move it and run {self.stage} again"
                )
        for final, t in self._files:
            size = t.stat().st_size
            sha = self._sha.get(final) or (file_sha256(t) if size <= _SMALL else None)
            outputs[_key(final, self.manifest)] = {"size": size, "sha256": sha}
            if final.is_file():  # the file it replaces (the stage's guard found it distill's)
                was[_key(final, self.manifest)] = _entry(final)
        doc = {
            "distill_manifest": FORMAT,
            "stage": self.stage,
            "complete": False,
            "config_hash": self.config_hash,
            "inputs": self.inputs,
            "outputs": outputs,
            "earlier": self._earlier(outputs),
        }
        # The old manifest goes first (replaced by one that marks the set unfinished), so a kill
        # between the renames below leaves files that no complete manifest vouches for. It also
        # names the files not yet replaced (`was`): a rerun after that kill may replace them.
        self.manifest.parent.mkdir(parents=True, exist_ok=True)
        _write_json_durable(self.manifest, {**doc, "was": was})
        self._renaming = True
        kill_point(f"{self.stage}:before-renames")
        for final, t in self._files:
            if final in same:
                t.unlink()
            else:
                os.replace(t, final)
            kill_point(f"{self.stage}:renamed:{final.name}")
        kill_point(f"{self.stage}:before-manifest")
        _write_json_durable(self.manifest, {**doc, "complete": True})
        return self.manifest


# =========================================================================== reading


def _load(path: Path) -> dict[str, Any] | None:
    """A distill manifest, or None for anything else that happens to end in .manifest.json."""
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if not isinstance(doc, dict) or "distill_manifest" not in doc:
        return None
    if not isinstance(doc.get("outputs"), dict):
        return None
    # a hand-written JSON in distill's shape is not one: every entry {size, sha256}
    for key in ("outputs", "was", "earlier"):
        listed = doc.get(key) or {}
        if not isinstance(listed, dict) or not all(isinstance(e, dict) for e in listed.values()):
            return None
    return doc


def _entry(path: Path) -> dict[str, Any]:
    size = path.stat().st_size
    return {"size": size, "sha256": file_sha256(path) if size <= _SMALL else None}


def mismatch(path: Path, entry: dict[str, Any]) -> str | None:
    """Why `path` is not the output a manifest entry describes (None when it is)."""
    if not path.is_file():
        return "missing"
    size = path.stat().st_size
    if size != entry.get("size"):
        return f"{size} bytes, the manifest says {entry.get('size')}"
    return None


def _mtime(path: Path) -> int:
    try:
        return path.stat().st_mtime_ns
    except OSError:
        return 0


def check_input(path: str | Path) -> None:
    """Refuse, in one line, a file that a distill manifest beside it lists but that the
    manifest does not vouch for (an unfinished run, or a file changed since). Unlisted files
    pass: a user's own data, or a file from an older distill."""
    p = Path(path)
    if not p.is_file():
        return
    try:
        # newest first: the last stage that wrote this name decides (export's stale
        # data.jsonl.manifest.json must not outvote a later filter --out data.jsonl)
        candidates = sorted(p.parent.glob(f"*{SUFFIX}"), key=_mtime, reverse=True)
    except OSError:
        return
    for m in candidates:
        doc = _load(m)
        if doc is None:
            continue
        entry = doc["outputs"].get(_key(p, m))
        if entry is None:
            continue
        stage = doc.get("stage", "the")
        if not doc.get("complete"):
            raise DistillError(
                f"{p}: the {stage} run that wrote it did not finish ({m} marks the set "
                f"incomplete): rerun {stage}"
            )
        why = mismatch(p, entry)
        if why:
            raise DistillError(
                f"{p}: does not match {m} ({why}): the {stage} run that wrote it did not "
                f"finish, or the file was changed since; rerun {stage} (or delete {m.name} "
                "to read the file as it is)"
            )
        return  # the newest manifest that lists it vouches for it; older ones are stale


def done(
    manifest: str | Path, config_hash: str | Sequence[str], inputs: Sequence[str | Path] = ()
) -> str | None:
    """None when `manifest` vouches for a finished run with these settings (`config_hash`, or
    any of `config_hashes`) and inputs, every output in place; else why the stage must run
    again."""
    m = Path(manifest)
    if not m.is_file():
        return f"no {m.name}"
    doc = _load(m)
    if doc is None:
        return f"{m.name} is not a distill manifest"
    if not doc.get("complete"):
        return f"{m.name}: the last run did not finish"
    hashes = (config_hash,) if isinstance(config_hash, str) else tuple(config_hash)
    if doc.get("config_hash") not in hashes:
        return "settings changed"
    stamps = [file_stamp(p) for p in inputs if Path(p).is_file()]
    if stamps != doc.get("inputs"):
        return "input changed"
    for key, entry in doc["outputs"].items():
        out = Path(key) if os.path.isabs(key) else m.parent / key
        why = mismatch(out, entry)
        if why:
            return f"{out}: {why}"
    return None


def _same(path: Path, entry: Any) -> bool:
    """`path` holds the bytes a manifest entry lists: its size, and its sha256 where listed and
    the file is small enough to read back."""
    if not isinstance(entry, dict) or entry.get("size") != path.stat().st_size:
        return False
    sha = entry.get("sha256")
    return not sha or entry["size"] > _SMALL or file_sha256(path) == sha


def not_ours(path: str | Path, manifest: str | Path | None = None) -> str | None:
    """None when a stage may replace `path`: absent, or written by distill and unchanged since
    (a manifest lists it: the stage's own `manifest`, or one beside the file; or, for a
    manifest path, a distill manifest). Else why not, to end "PATH exists and ...".

    A set a kill left half renamed passes: its unfinished manifest lists the new files and the
    ones they replace (`was`). Outputs of a distill older than manifests do not: no file says
    who wrote them."""
    p = Path(path)
    if not p.is_file():
        return None
    if p.name.endswith(SUFFIX):
        return None if _load(p) is not None else "distill did not write it (not a distill manifest)"
    own = [Path(manifest)] if manifest is not None else []
    try:
        beside = sorted(p.parent.glob(f"*{SUFFIX}"), key=_mtime, reverse=True)
    except OSError:
        beside = []
    changed = None
    for m in [*own, *(b for b in beside if b not in own)]:
        doc = _load(m)
        if doc is None:
            continue
        key = _key(p, m)
        if _same(p, (doc.get("earlier") or {}).get(key)):
            return None  # an earlier run's output, not this set's: as that run wrote it
        entry = doc["outputs"].get(key)
        if entry is None:
            continue
        was = doc.get("was") if not doc.get("complete") else None
        if _same(p, entry) or (isinstance(was, dict) and _same(p, was.get(key))):
            return None
        size = p.stat().st_size
        how = (
            f"{m.name} lists {entry.get('size')} bytes, it holds {size}"
            if size != entry.get("size")
            else f"not the bytes {m.name} lists"
        )
        changed = changed or f"was changed since {doc.get('stage', 'a')} wrote it ({how})"
    return changed or "distill did not write it (no manifest lists it)"
