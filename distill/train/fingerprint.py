"""What a train run trains on, fingerprinted: a --resume goes on only over the token sequences
its run began on.

    distill train --data kept.jsonl --model M --output-dir out --resume

A resume already checks the data file's sha256 and the run's settings; the rows as they render
to tokens can still change under them: another distill (a chat template default, a tools block,
a system prompt, a masking fix) or a template/tokenizer file changed in the student's folder.
build_trainer (sft.py) keeps `rendered` in train_data.json: a sha256 over each example's rows
(token ids, loss mask, every column the trainer gets) in the order the data gives them, before
TRL packs them or the Trainer shuffles them; an example dropped as too long is one with no rows.
Beside it: the sha256 of each of up to PARTS runs of examples (to name the first that differs),
the template/tokenizer files' (to name what changed), and the clock the rows rendered at: a
template may write the day (Llama 3.2's 'Today Date: 06 Dec 2026'), and a resume renders at the
clock its run began at, so a run resumed the next day trains on its rows. No distill version:
the rows' own sha256 is what a resume must match (the package's version is a static string,
which named no change and told a refused resume to go back to the distill it was running).

kd and onpolicy learn the teacher's targets too (`teacher`, compared apart): the stored top-K side
files the rows point at (their bytes, and the tokenizer and vocab hash each pointer names) and
each local teacher's tokenizer/template files and weights (a teacher folder trained again in
place; one named by a Hub id: the revision of it the HF cache holds), and a served teacher's
local tokenizer/template files (a served teacher of another tokenizer renders its prompts in its
own chat template, read here; a Hub id's from the HF cache), its URL and what its server's
GET /models lists under its name (the model it loaded, its context: another model served under
the same name), so a resume on other teacher data is refused like one on other tokens. A run whose train_data.json predates the
field (or one of its keys) goes on (nothing to compare).

A teacher's weights are hashed whole (a copy of the folder is the same teacher), once: the
sha256 is kept in DISTILL_CACHE/sha256.json under the file's path, size, mtime and inode, and
every later start (the fingerprint is made at each) reads it from there while those hold.
"""

from __future__ import annotations

import hashlib
import json
from array import array
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import Any

from distill.errors import DistillError

# the examples' digests kept in runs of ceil(n / PARTS): a difference is named to its example up
# to PARTS examples, to a run of them beyond (8 hex digits a part: at most 8 KB of train_data.json)
PARTS = 1024
# the files of a student's (or --tokenizer's) folder that decide how a row renders
TEMPLATE_FILES = (
    "chat_template.jinja",
    "chat_template.json",
    "tokenizer_config.json",
    "tokenizer.json",
    "special_tokens_map.json",
    "added_tokens.json",
    "tokenizer.model",
    "vocab.json",
    "merges.txt",
    "generation_config.json",
)


def _value_bytes(value: Any) -> bytes:
    """One cell's bytes, tagged by kind: a list of ints (token ids, a mask) as int64s."""
    if isinstance(value, list):
        try:
            return b"L" + array("q", value).tobytes()
        except (TypeError, OverflowError):
            pass
    elif isinstance(value, int):
        return b"I" + array("q", [value]).tobytes()
    return b"J" + json.dumps(value, sort_keys=True).encode()


def fingerprint(
    columns: dict[str, list[Any]],
    origins: list[int] | None = None,
    examples: int | None = None,
    dropped: int = 0,
    unit: str = "example",
) -> dict[str, Any]:
    """The record of the rows a run trains on (`columns`, in dataset order). `origins`: the
    example each row came from (of `examples`, those with no row included); without them each
    row is its own unit (a prompt). `dropped`: units left out before `columns` (counted only)."""
    names = sorted(columns)
    n_rows = len(columns[names[0]]) if names else 0
    by_example = origins is not None and examples is not None
    units = examples if by_example else n_rows
    rows_of: list[list[bytes]] = [[] for _ in range(units)]
    for r in range(n_rows):
        h = hashlib.sha256()
        for name in names:
            b = _value_bytes(columns[name][r])
            h.update(len(b).to_bytes(8, "little"))
            h.update(b)
        rows_of[origins[r] if by_example else r].append(h.digest())
    digests = [hashlib.sha256(b"".join(rows)).digest() for rows in rows_of]
    per_part = max(1, -(-units // PARTS))
    parts = "".join(
        hashlib.sha256(b"".join(digests[i : i + per_part])).hexdigest()[:8]
        for i in range(0, units, per_part)
    )
    whole = hashlib.sha256(json.dumps([names, units, n_rows, dropped]).encode())
    for d in digests:
        whole.update(d)
    return {
        "sha256": whole.hexdigest(),
        "unit": unit,
        "units": units,
        "rows": n_rows,
        "dropped": dropped,
        "per_part": per_part,
        "parts": parts,
    }


def began_at(out: Path) -> str | None:
    """The clock the rows of the run in `out` rendered at (train_data.json's), if it kept one."""
    try:
        saved = json.loads((out / "train_data.json").read_text())
        clock = saved["rendered"]["clock"]
        datetime.fromisoformat(clock)
    except (OSError, ValueError, KeyError, TypeError):
        return None
    return clock


@contextmanager
def template_clock(at: str | None = None) -> Iterator[str]:
    """The chat templates rendered inside see the clock stopped at `at` (an ISO time; none:
    now): transformers' strftime_now, which a template calls for the day it writes. Yields the
    time they see, which train_data.json keeps."""
    from transformers.utils import chat_template_utils

    real = getattr(chat_template_utils, "datetime", None)
    stopped = datetime.fromisoformat(at) if at else (real or datetime).now().replace(microsecond=0)
    if real is None:  # another transformers: its templates see its own clock
        yield stopped.isoformat()
        return

    class Stopped(real):  # type: ignore[misc,valid-type]
        @classmethod
        def now(cls, tz: Any = None) -> Any:
            return stopped if tz is None else stopped.astimezone(tz)

    chat_template_utils.datetime = Stopped
    try:
        yield stopped.isoformat()
    finally:
        chat_template_utils.datetime = real


def template_record(name: str, tok: Any) -> dict[str, Any]:
    """The template/tokenizer the rows were rendered with: the sha256 (16 hex digits) of each
    TEMPLATE_FILES file of the local folder the tokenizer loads from (none for a Hub name), of
    the chat template it holds."""
    shown, files = _tokenizer_files(name)
    template = getattr(tok, "chat_template", None)
    return {
        "tokenizer": shown,
        "files": files,
        "chat_template": (
            hashlib.sha256(json.dumps(template, sort_keys=True).encode()).hexdigest()[:16]
            if template
            else None
        ),
    }


# how a teacher record names a LoRA adapter whose tokenizer is its base's (_tokenizer_files)
BASE_OF = "the base model of "


def _tokenizer_files(name: str) -> tuple[str, dict[str, str]]:
    """(the tokenizer as named, the sha256 of each TEMPLATE_FILES file of the local folder it
    loads from: none for a Hub name)."""
    from distill.models import is_adapter, resolve_model

    # named as given, never as resolved: train_data.json is published (a builtin's path is
    # this machine's cache, ~ its home folder), and the user knows the name they typed
    path, shown = resolve_model(name), name
    if is_adapter(path) and not (Path(path) / "tokenizer_config.json").is_file():
        path = _base_of(path)  # load_tokenizer's source (none here: no files read)
        shown = f"{BASE_OF}{name}"
    files = {}
    if Path(path).is_dir():
        for f in TEMPLATE_FILES:
            p = Path(path) / f
            if p.is_file():
                files[f] = _file_sha256(p)[:16]
    return shown, files


# a teacher's weight files (its folder's; an adapter's base folder's too): what a teacher
# trained again in place rewrites, beside its config
WEIGHT_FILES = ("config.json", "adapter_config.json", "*.safetensors", "*.safetensors.index.json",
                "pytorch_model*.bin", "adapter_model.bin")  # fmt: skip
# the sha256 of each large file hashed, by its path, size, mtime and inode (the most kept)
HASH_CACHE = "sha256.json"
CACHED = 512
# weights to hash past this size are named first: a 70B teacher's 140 GB read whole took
# minutes (sha256 at ~0.5-2 GB/s a core, or the disk's pace) with nothing said, on rank 0
# before the student loads
NOTE_BYTES = 1 << 30


def _weights(name: str) -> dict[str, str]:
    """The sha256 (16 hex digits) of each WEIGHT_FILES file of the local folder `name` loads
    from (an adapter: its base folder's too, as `base/NAME`); none for a Hub name."""
    from distill.models import is_adapter, resolve_model

    path = Path(resolve_model(name))
    folders = [("", path, name)]
    hub = None if path.is_dir() else _hub_adapter(name)  # (a LoRA adapter named by a Hub id)
    if is_adapter(str(path)) or hub is not None:
        base = _base_of(str(path) if hub is None else str(hub))
        folders.append(("base/", Path(base).expanduser(), base))
    found = {}
    for prefix, folder, _ in folders:
        if not folder.is_dir():
            continue
        files = {f for pattern in WEIGHT_FILES for f in folder.glob(pattern) if f.is_file()}
        # Mistral's repos ship consolidated.safetensors (mistral_inference's format, vLLM's
        # --load-format mistral) beside the model-*.safetensors transformers loads: the same
        # weights again (14 GB for a 7B), which the teacher never reads where those exist
        loaded = {f for f in files if f.name.endswith((".safetensors", ".bin"))}
        extra = {f for f in loaded if f.name.startswith("consolidated")}
        if loaded - extra:
            files -= extra
        found.update({prefix + f.name: f for f in files})
    names = sorted(found)
    digests = _cached_sha256([found[n] for n in names])
    weights = {n: h[:16] for n, h in zip(names, digests, strict=True)}
    for prefix, folder, source in folders:
        if not folder.is_dir():
            # a Hub id (the teacher's, or a LoRA adapter's base: 'base/revision', none kept
            # before 1244d1c's review): loaded from the HF cache's snapshot of `main`, whose
            # commit names its weights (a cache updated to another revision between a run and
            # its resume)
            revision = _cached_revision(source)
            if revision is not None:
                weights[prefix + "revision"] = revision
    return weights


# what a local teacher's `weights` keep of the HF cache: the revision of a teacher named by a
# Hub id, of a LoRA adapter's base named by one
REVISIONS = ("revision", "base/revision")


def _hub_sources(model: str) -> list[tuple[str, str]]:
    """(the `weights` key, the Hub id) of what a local teacher, as its record names it (`model`),
    loads from the HF cache: itself, named by a Hub id ('revision'), and the base of a LoRA
    adapter (a folder, or a Hub id whose snapshot here holds adapter_config.json) named by one
    ('base/revision'); none for a folder of its own."""
    path = model.removeprefix(BASE_OF)
    own = [("revision", path)] if _hub_id(path) else []
    if path.startswith("builtin:"):
        return []
    base = _adapter_base_name(path)
    return own + ([("base/revision", base)] if base is not None and _hub_id(base) else [])


def _adapter_base_name(path: str) -> str | None:
    """The base model a LoRA adapter names (`path`: its folder, or a Hub id its snapshot in the
    HF cache holds adapter_config.json for), as _base_of reads it; None for no adapter here."""
    from distill.models import is_adapter

    try:
        local = str(Path(path).expanduser())
        if is_adapter(local):
            return _base_of(local)
        hub = _hub_adapter(path)
        return _base_of(str(hub)) if hub is not None else None
    except (DistillError, OSError, ValueError):  # (its load says what is wrong with it)
        return None


def _hub_adapter(name: str) -> Path | None:
    """The snapshot folder in the HF cache of a LoRA adapter named by Hub id `name` (one holding
    adapter_config.json: the folder its load reads the base's name from); None for another."""
    config = _hub_snapshot(name, "adapter_config.json")
    return config.parent if config is not None and config.is_file() else None


def _base_of(adapter: str) -> str:
    """The base model of the LoRA adapter folder `adapter` as its load resolves it
    (models.adapter_base), or as its adapter_config.json names it where that is a folder not on
    this machine (the load refuses it; a resume names it: cannot_check)."""
    from distill.models import adapter_base

    try:
        return adapter_base(adapter)
    except DistillError:
        base = json.loads((Path(adapter) / "adapter_config.json").read_text()).get(
            "base_model_name_or_path"
        )
        if not isinstance(base, str) or not base:
            raise
        return base


def _hub_id(name: str) -> bool:
    """`name` is read as a Hub model id (ORG/NAME, no folder of that name here)."""
    return (
        name.count("/") == 1
        and not name.startswith((".", "/", "~"))
        and not Path(name).expanduser().exists()
    )


def _cached_revision(name: str) -> str | None:
    """The commit the local HF cache's `main` of Hub model `name` names (a snapshot holding
    its config.json, or a LoRA adapter's adapter_config.json); None where the cache holds
    none."""
    for f in ("config.json", "adapter_config.json"):
        config = _hub_snapshot(name, f)
        if config is not None:
            return config.parent.name
    return None


def _hub_snapshot(name: str, filename: str) -> Path | None:
    """The file `filename` of Hub model `name`'s snapshot in the local HF cache (the revision
    `main` names there, as a load without a network reads it); None where it holds none."""
    if not _hub_id(name):
        return None
    from huggingface_hub import try_to_load_from_cache

    try:
        got = try_to_load_from_cache(name, filename)
    except Exception:  # noqa: BLE001 - not a repo id the cache reads: nothing known
        return None
    return Path(got) if isinstance(got, str) else None


def _cached_files(name: str) -> dict[str, str]:
    """The sha256 (16 hex digits) of each TEMPLATE_FILES file (but generation_config.json) the
    local HF cache holds for Hub model `name`: the tokenizer and chat template a served teacher
    named by its Hub id renders its prompts in here (none where the cache holds none)."""
    files = {}
    for f in TEMPLATE_FILES:
        path = _hub_snapshot(name, f) if f != "generation_config.json" else None
        if path is not None and path.is_file():
            files[f] = _file_sha256(path)[:16]
    return files


# what a served teacher's card (GET /models, vLLM's) says of the model behind its name: the
# folder or Hub id it loaded (`root`), a LoRA adapter's base (`parent`), its context
CARD_KEYS = ("root", "parent", "max_model_len")


def served_card(url: str, name: str) -> dict[str, Any] | None:
    """What the server at `url` lists for the model it serves as `name` (GET /models: vLLM's
    card, CARD_KEYS of it): another model served under the same name on a resume (vLLM's
    --served-model-name teacher, now over other weights) is other teacher targets. None where
    the server answers no such card (not up, not vLLM, the name not listed): not known."""
    import os
    import urllib.parse
    import urllib.request

    from distill.urls import split_query

    base, query = split_query(url)
    target = base.rstrip("/") + "/models"
    if query:
        target += "?" + urllib.parse.urlencode(query)
    key = os.environ.get("OPENAI_API_KEY")  # (the key the scorer sends: ServedTeacher)
    headers = {"Authorization": f"Bearer {key}"} if key else {}
    try:
        with urllib.request.urlopen(
            urllib.request.Request(target, headers=headers), timeout=10
        ) as r:
            body = json.loads(r.read())
    except Exception:  # noqa: BLE001 - no server, no such endpoint: not known
        return None
    listed = body.get("data") if isinstance(body, dict) else None
    cards = [m for m in listed if isinstance(m, dict)] if isinstance(listed, list) else []
    card = next((m for m in cards if m.get("id") == name), None)
    if card is None:
        return None
    # (a string or a number as listed; null, a list, true/false: not one of the card's keys)
    return {k: v for k in CARD_KEYS if type(v := card.get(k)) in (str, int)}


def _cached_sha256(paths: list[Path]) -> list[str]:
    """Each file's sha256, read from DISTILL_CACHE/sha256.json while its path, size, mtime and
    inode are those it was hashed at; hashed (and kept there) otherwise. A cache that cannot
    be read or written is no cache."""
    from distill.models import cache_dir
    from distill.records import write_atomic

    where = cache_dir() / HASH_CACHE
    try:
        cache = json.loads(where.read_text())
    except (OSError, ValueError):
        cache = {}
    if not isinstance(cache, dict):  # (another program's file, a half-written one): no cache
        cache = {}
    stamps = []
    for path in paths:
        st = path.stat()
        key, stamp = str(path.resolve()), [st.st_size, st.st_mtime_ns, st.st_ino]
        hit = cache.get(key)
        valid = isinstance(hit, list) and len(hit) == 4 and hit[:3] == stamp and _hex64(hit[3])
        stamps.append((key, stamp, hit if valid else None))
    todo = sum(stamp[0] for _, stamp, hit in stamps if hit is None)
    if todo >= NOTE_BYTES:
        print(
            f"train: hashing the teacher's weights ({todo / 1e9:.1f} GB), once: a resume "
            f"compares them (kept in {where})",
            flush=True,
        )
    out, changed = [], False
    for path, (key, stamp, hit) in zip(paths, stamps, strict=True):
        if hit is not None:
            out.append(hit[3])
            continue
        digest = _file_sha256(path)
        cache.pop(key, None)  # (last in the order: the newest)
        cache[key] = [*stamp, digest]
        out.append(digest)
        changed = True
    if changed:
        kept = dict(list(cache.items())[-CACHED:])
        try:
            where.parent.mkdir(parents=True, exist_ok=True)
            write_atomic(where, json.dumps(kept) + "\n")
        except OSError:
            pass
    return out


def _hex64(value: Any) -> bool:
    """A sha256 as the cache keeps it: 64 lowercase hex digits."""
    return isinstance(value, str) and len(value) == 64 and value.strip("0123456789abcdef") == ""


def _file_sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def teacher_record(cfg: Any) -> dict[str, Any] | None:
    """The teacher-side data a kd/onpolicy run learns from, as a resume compares it: the stored
    top-K side files its rows point at (each file's sha256, and each pointer's tokenizer and
    vocab hash; the files are read whole once, as kd reads them), else each local teacher's
    tokenizer/template files and weights (several teachers: each in order). A served teacher
    is its name and URL (the run's settings hold them too), the tokenizer/template files of
    the local folder (or HF cache) its name loads a tokenizer from (its prompts rendered in its
    own chat template across tokenizers) and its server's card for that name (`served_card`:
    a name given by a Hub id, the same on another model, was all that was kept). None for
    sft."""
    if cfg.method == "sft":
        return None
    from distill.train.kd.multi import teacher_specs

    specs = teacher_specs(cfg)
    if specs:
        teachers = []
        for spec in specs:
            try:
                shown, files = _tokenizer_files(spec.name)
                weights = {} if spec.url is not None else _weights(spec.name)
            except (DistillError, OSError):  # not loadable: the teacher's own load says so
                shown, files, weights = spec.name, {}, {}
            files.pop("generation_config.json", None)  # (its sampling defaults: never read)
            if spec.url is not None:  # named as given: its name is the server's
                from distill.urls import redact_url

                # a Hub id has no folder here: the tokenizer files its name loads from the HF
                # cache; and what its server says it serves under that name (GET /models)
                files = files or _cached_files(spec.name)
                served = {"model": spec.name, "served": True, "files": files}
                served["url"] = redact_url(spec.url)
                card = served_card(spec.url, spec.name)
                if card is not None:
                    served["card"] = card
                teachers.append(served)
                continue
            teachers.append({"model": shown, "files": files, "weights": weights})
        return {"teachers": teachers}
    if cfg.method != "kd":
        return None
    import itertools

    from distill.data import iter_source

    base = Path(cfg.data).expanduser().parent  # the pointers are relative to the records file
    files: dict[str, str] = {}
    tokenizers: set[tuple[str, str]] = set()
    try:
        rows = itertools.islice(iter_source(cfg.data, cfg.split, strict=True), cfg.limit)
        for row in rows:
            ptr = row.get("logprobs")
            if not isinstance(ptr, dict) or not isinstance(ptr.get("file"), str):
                continue
            tokenizers.add((str(ptr.get("tokenizer")), str(ptr.get("vocab_hash"))))
            if ptr["file"] not in files:
                side = base / ptr["file"]
                files[ptr["file"]] = _file_sha256(side) if side.is_file() else "missing"
    except (DistillError, OSError):  # a data set kd refuses: its own line, when it reads it
        return None
    whole = hashlib.sha256(json.dumps(sorted(files.items())).encode()).hexdigest()
    # Not the files of the teacher folder a pointer names: kd reads the stored ids, log-probs and
    # token texts alone (hashed above; the vocab hash says which vocabulary), never that folder,
    # which may be gone (deleted once generate stored its top-K), elsewhere, or relative to
    # another working folder when the run resumes.
    return {
        "stored": {
            "sha256": whole,
            "files": len(files),
            "tokenizers": sorted([t, v] for t, v in tokenizers),
        }
    }


def _hf_cache() -> str:
    from huggingface_hub import constants

    return str(constants.HF_HUB_CACHE)


def loaded_teacher(out: Path, compared: bool) -> None:
    """After the teachers loaded: train_data.json's `teacher` record completed with what the HF
    cache holds of each Hub-id teacher now. The record is made before the teachers load; on a
    fresh cache their load downloads them after it, so it kept no revision (nor a served
    teacher's tokenizer files) and a resume compared nothing: a cache moved on to another
    revision since went unnoticed. A revision the load moved (a download of a newer `main`) is
    the one the run trains on: kept, on a run `compared` with its checkpoint's record (a
    resume) refused in one line, the steps after the checkpoint would learn another teacher.
    The same for a LoRA adapter's base named by a Hub id ('base/revision'), and a served
    teacher's tokenizer files (its prompts rendered in the template its load read)."""
    from distill.records import write_atomic

    path = out / "train_data.json"
    try:
        saved = json.loads(path.read_text())
        teachers = saved["rendered"]["teacher"]["teachers"]
    except (OSError, ValueError, KeyError, TypeError):
        return
    changed = False
    for t in teachers if isinstance(teachers, list) else []:
        name = t.get("model") if isinstance(t, dict) else None
        if not isinstance(name, str):
            continue
        if t.get("served"):
            if not _hub_id(name):
                continue
            files, was = _cached_files(name), t.get("files")
            if not files or files == was:
                continue
            if was and compared:  # (those its checkpoint's record held: check_rendered)
                moved = sorted(f for f in set(files) | set(was) if files.get(f) != was.get(f))
                raise DistillError(
                    f"--resume: teacher {name}'s tokenizer files in the HF cache changed as its "
                    f"tokenizer loaded ({', '.join(moved)}: its main moved on): the rest of the "
                    "run would render its prompts in another template than the run began with; "
                    f"point {_hf_cache()}/models--{name.replace('/', '--')}/refs/main back at "
                    "the snapshot the run began on and resume with HF_HUB_OFFLINE=1, or start "
                    "over with --overwrite"
                )
            t["files"], changed = files, True
            continue
        weights = t.get("weights")
        for key, hub in _hub_sources(name) if isinstance(weights, dict) else []:
            revision = _cached_revision(hub)
            if revision in (None, weights.get(key)):
                continue
            was = weights.get(key)
            if was is not None and compared:  # (one its checkpoint's record held: check_rendered)
                whose = name if key == "revision" else f"{name.removeprefix(BASE_OF)}'s base {hub}"
                raise DistillError(
                    f"--resume: teacher {whose} loaded at revision {revision[:12]} of the HF "
                    f"cache, not {was[:12]} its run began on (its main moved on as it loaded): "
                    f"the rest of the run would learn another teacher's targets; write {was} into "
                    f"{_hf_cache()}/models--{hub.replace('/', '--')}/refs/main and resume with "
                    "HF_HUB_OFFLINE=1, or start over with --overwrite"
                )
            weights[key], changed = revision, True
    if changed:
        write_atomic(path, json.dumps(saved, indent=2) + "\n")


def cannot_check(then: dict[str, Any], now: dict[str, Any] | None) -> str | None:
    """Why a teacher's record cannot be checked here (None: it can): the run read a Hub-id
    teacher from its HF cache (a local teacher's revision, an adapter's base's, a served one's
    tokenizer files) and this machine's cache holds none of it (a resume on another machine,
    another HF_HUB_CACHE); or it read a local teacher's folder, not on this machine. Not
    'changed': nothing says it did."""
    x, y = then.get("teachers"), (now or {}).get("teachers")
    if not isinstance(x, list) or not isinstance(y, list):
        return None
    for t, u in zip(x, y):
        if not isinstance(t, dict) or not isinstance(u, dict) or t.get("model") != u.get("model"):
            continue
        name = str(u.get("model"))
        where = f"not in this machine's HF cache ({_hf_cache()})"
        was, weights = t.get("weights"), u.get("weights")
        path = name.removeprefix(BASE_OF)
        if (
            not u.get("served")
            and isinstance(was, dict)
            # the hashes of its own folder's files (not only its base's: a LoRA adapter named
            # by a Hub id, on a base folder here)
            and any(k not in REVISIONS and not k.startswith("base/") for k in was)
            and not path.startswith("builtin:")
            and not Path(path).expanduser().is_dir()
        ):  # (before: each of its files 'changed', and 'start over with --overwrite')
            return (
                f"cannot check teacher {path}: no folder {path} on this machine, so the weights "
                "its run began on cannot be compared; resume with the teacher's folder at that "
                "path"
            )
        base = None if u.get("served") else _adapter_base_name(path)
        if (
            base is not None
            and _folder_files(was, "base/")
            and not _folder_files(weights, "base/")
            and not Path(base).expanduser().is_dir()
        ):  # (before: the teacher's model and each of its base's files 'changed')
            return (
                f"cannot check teacher {path}: no folder {base} (its base model) on this "
                "machine, so the weights its run began on cannot be compared; resume with the "
                "base model's folder at that path"
            )
        for key, hub in [] if u.get("served") else _hub_sources(name):
            if (
                isinstance(was, dict)
                and isinstance(was.get(key), str)
                and isinstance(weights, dict)
                and key not in weights
            ):
                whose = (
                    f"{name}: "
                    if key == "revision"
                    else f"{name.removeprefix(BASE_OF)}: its base model {hub} is "
                )
                return (
                    f"cannot check teacher {whose}{where}, so the revision its run began on "
                    f"({was[key][:12]}) cannot be compared; download it there (hf download "
                    f"{hub}) and resume again (refused if its main has moved on since), or "
                    "start over with --overwrite"
                )
        if not _hub_id(name):
            continue
        files = t.get("files")
        if t.get("served") and isinstance(files, dict) and files and not u.get("files"):
            return (
                f"cannot check teacher {name}: its tokenizer files are {where}, so those its "
                f"run rendered prompts with cannot be compared; download them there (hf "
                f"download {name} {' '.join(sorted(files))}) and resume again, or start over "
                "with --overwrite"
            )
    return None


def _folder_files(weights: Any, prefix: str = "") -> bool:
    """A teacher record's `weights` hold the hashes of files of a folder (`prefix`: 'base/', a
    LoRA adapter's base's), not only the HF cache's revisions."""
    return isinstance(weights, dict) and any(
        k.startswith(prefix) and k not in REVISIONS for k in weights
    )


def teacher_differences(then: dict[str, Any], now: dict[str, Any] | None) -> list[str]:
    """What differs between two `teacher` records (empty: the same). The stored top-K's
    `tokenizer_files` (a record of ee697a1's: the files of the folder a pointer named, which kd
    never reads) are not compared."""
    then, now = _without_folder_files(then), _without_folder_files(now or {})
    # a key a teacher's record gained since (a served teacher's files, a local one's weights):
    # nothing to compare it with
    x = then.get("teachers")
    if isinstance(x, list) and isinstance(now.get("teachers"), list):
        y = [
            _known_then(t, {k: v for k, v in u.items() if k in t}) if isinstance(t, dict) else u
            for t, u in zip(x, now["teachers"])
        ] + now["teachers"][len(x) :]
        # a served teacher's card read one time and not the other (its server not up when the
        # fingerprint was made): not known, not compared
        x = [
            {k: v for k, v in t.items() if k != "card" or "card" in u}
            if isinstance(t, dict) and isinstance(u, dict)
            else t
            for t, u in zip(x, y)
        ] + x[len(y) :]
        then, now = {**then, "teachers": x}, {**now, "teachers": y}
    if then == now:
        return []
    said = []
    a, b = then.get("stored"), now.get("stored")
    if isinstance(a, dict) or isinstance(b, dict):
        a, b = a or {}, b or {}
        if a.get("sha256") != b.get("sha256"):
            said.append(
                f"the stored top-K side files differ ({a.get('files', 0)} files then, "
                f"{b.get('files', 0)} now, other bytes)"
            )
        if a.get("tokenizers") != b.get("tokenizers"):
            said.append(
                f"the stored top-K's tokenizer was {_listed(a.get('tokenizers'))}, is "
                f"{_listed(b.get('tokenizers'))} now"
            )
    x, y = then.get("teachers") or [], now.get("teachers") or []
    if [t.get("model") for t in x] != [t.get("model") for t in y]:
        said.append(
            f"the teachers were {', '.join(str(t.get('model')) for t in x) or 'none'}, are "
            f"{', '.join(str(t.get('model')) for t in y) or 'none'} now"
        )
    else:
        for t, u in zip(x, y):
            if t.get("url") != u.get("url"):
                said.append(
                    f"teacher {u.get('model')} was served at {t.get('url')}, is at {u.get('url')} now"
                )
            was, card = t.get("card") or {}, u.get("card") or {}
            said += [
                f"teacher {u.get('model')}'s server lists {k} {card.get(k)} now, not {was.get(k)}"
                + _card_hint(k, was.get(k))
                for k in CARD_KEYS
                if was.get(k) != card.get(k)
            ]
            for key, what in (("files", ""), ("weights", " (its weights)")):
                was, files = t.get(key) or {}, u.get(key) or {}
                said += [
                    f"{f} of teacher {u.get('model')} changed{what}"
                    for f in sorted(set(was) | set(files))
                    if was.get(f) != files.get(f)
                ]
    return said or ["the teacher's data differs"]


def _unchecked_revisions(then: dict[str, Any], now: dict[str, Any] | None) -> None:
    """`now`'s cached revisions of a Hub-id teacher (or adapter base) dropped where `then` (a
    run fingerprinted before they were kept) holds none, and a served teacher's tokenizer files
    where `then` holds none: nothing was compared, so the resume's record does not say it was;
    loaded_teacher keeps what the teacher loaded (not refused as moved)."""
    x, y = then.get("teachers"), (now or {}).get("teachers")
    x = x if isinstance(x, list) else []
    for i, u in enumerate(y if isinstance(y, list) else []):
        t = x[i] if i < len(x) and isinstance(x[i], dict) else {}
        if not isinstance(u, dict):
            continue
        if u.get("served") and u.get("files") and not t.get("files"):
            if _hub_id(str(u.get("model"))):  # (loaded_teacher reads them from the HF cache)
                u["files"] = {}
        was, weights = t.get("weights"), u.get("weights")
        for key in REVISIONS if isinstance(weights, dict) else ():
            if key in weights and (not isinstance(was, dict) or key not in was):
                del weights[key]


def _card_hint(key: str, was: Any) -> str:
    """How to serve the teacher as its run began, where a server setting names it: the context
    (vLLM's --max-model-len) is compared, though the weights are the same, because a model's
    RoPE scaling may follow it (other logits, other targets)."""
    if key == "max_model_len" and isinstance(was, int):
        return f": restart it with --max-model-len {was} as when the run began"
    return ""


def _known_then(then: dict[str, Any], now: dict[str, Any]) -> dict[str, Any]:
    """`now` (a teacher's record) without what the HF cache holds of a Hub-id teacher where
    `then` holds none of it: a served teacher's tokenizer files, a local one's cached revision.
    A run fingerprinted before these were read, or on a cache that held none of the teacher yet
    (the run's own load then downloads it, after the fingerprint is made), knew nothing of them:
    not compared, or every such run's resume was refused. Read then, they are compared."""
    if then.get("served") and not then.get("files") and "files" in now:
        now = {**now, "files": then.get("files")}
    was, weights = then.get("weights"), now.get("weights")
    if isinstance(weights, dict):
        unknown = {k for k in REVISIONS if k in weights}
        unknown -= set(was) if isinstance(was, dict) else set()
        if _hub_id(str(then.get("model"))) and not _folder_files(was, "base/"):
            # a LoRA adapter named by a Hub id whose base is a folder here: a record before
            # bd5a1dc read no base of it (its repo holds no config.json), none of its files
            unknown |= {k for k in weights if k.startswith("base/") and k not in REVISIONS}
        if unknown:
            now = {**now, "weights": {k: v for k, v in weights.items() if k not in unknown}}
    return now


def _without_folder_files(record: dict[str, Any]) -> dict[str, Any]:
    stored = record.get("stored")
    if not isinstance(stored, dict) or "tokenizer_files" not in stored:
        return record
    return {**record, "stored": {k: v for k, v in stored.items() if k != "tokenizer_files"}}


def _listed(pairs: Any) -> str:
    if not pairs:
        return "none"
    return ", ".join(f"{t} (vocab {v})" if v not in (None, "None") else str(t) for t, v in pairs)


def _first_part(then: dict[str, Any], now: dict[str, Any]) -> str | None:
    """Where the first difference lies: one example, or a run of them."""
    if then.get("per_part") != now.get("per_part"):
        return None
    a, b, k = str(then.get("parts", "")), str(now.get("parts", "")), int(now["per_part"])
    j = next((j for j in range(0, min(len(a), len(b)), 8) if a[j : j + 8] != b[j : j + 8]), None)
    if j is None:
        return None
    first = j // 8 * k
    unit = now.get("unit", "example")
    if k == 1:
        where = f"row {first + 1} of the data" if unit == "example" else "of those kept"
        return f"{unit} {first + 1} ({where}) is the first whose tokens differ"
    return f"the first {unit} whose tokens differ is among {unit}s {first + 1}-{first + k}"


def differences(then: dict[str, Any], now: dict[str, Any]) -> list[str]:
    """What differs between two `rendered` records, as far as they tell."""
    unit = now.get("unit", "example")
    said = []
    counts = ("units", "rows", "dropped")
    if any(then.get(k) != now.get(k) for k in counts):
        said.append(
            f"{then.get('units')} {unit}s ({then.get('rows')} rows trained, {then.get('dropped')} "
            f"dropped as too long) then, {now['units']} ({now['rows']} rows, {now['dropped']} "
            "dropped) now"
        )
    first = _first_part(then, now)
    if first:
        said.append(first)
    was, files = then.get("files") or {}, now.get("files") or {}
    changed = [
        f"{f} of {now.get('tokenizer')} changed (sha256 {was.get(f) or 'none'} -> "
        f"{files.get(f) or 'none'})"
        for f in sorted(set(was) | set(files))
        if was.get(f) != files.get(f)
    ]
    if not changed and then.get("chat_template", now.get("chat_template")) != now.get(
        "chat_template"
    ):  # a Hub tokenizer's (no folder of files to name)
        changed.append("the tokenizer's chat template changed")
    said += changed
    return said


def check_rendered(out: Path, ckpt: str, now: dict[str, Any], data: str) -> None:
    """A --resume from `ckpt`: the rows render to the tokens its run began on (train_data.json's
    `rendered`, written when that run started), or one line naming what differs. A run from a
    distill before the record goes on, with a note."""
    try:
        saved = json.loads((out / "train_data.json").read_text())
    except (OSError, ValueError):
        saved = None
    then = saved.get("rendered") if isinstance(saved, dict) else None
    if not isinstance(then, dict) or not isinstance(then.get("teacher"), dict):
        _unchecked_revisions({}, now.get("teacher"))  # (nothing of the teacher to compare)
    if not isinstance(then, dict) or "sha256" not in then:
        print(
            f"train: note: {out} recorded no fingerprint of the tokens its run trained on (a "
            "distill before it kept one): whether its examples render as they did cannot be "
            "checked"
        )
        return
    if isinstance(then.get("teacher"), dict):  # (a record before the field: nothing to compare)
        unknown = cannot_check(then["teacher"], now.get("teacher"))
        if unknown is not None:  # before: '... changed', as if the teacher were another
            raise DistillError(f"--resume: {unknown}")
        teacher = teacher_differences(then["teacher"], now.get("teacher"))
        if teacher:
            raise DistillError(
                f"--resume: {ckpt} learned from other teacher data than {data} gives now "
                f"({'; '.join(teacher)}): the rest of the run would learn other teacher "
                "targets; resume with the teacher data the run began with, or start over with "
                "--overwrite"
            )
        _unchecked_revisions(then["teacher"], now.get("teacher"))
    if then["sha256"] == now["sha256"]:
        return
    said = differences(then, now) or ["the same counts, other tokens"]
    began = "the distill"
    rows = ""
    if not data.startswith("builtin:") and not Path(data).is_file():
        # a folder or a Hub dataset: no sha256 of it is kept (check_same_data checks a file's),
        # so the rows themselves may be what changed
        kind = "a folder" if Path(data).is_dir() else "a dataset"
        said.append(f"{data} is {kind}, of which no sha256 is kept: its rows may have changed")
        rows = "the rows, "
    raise DistillError(
        f"--resume: {ckpt} trained on other tokens than {data} renders to now ({'; '.join(said)}): "
        f"the rest of the run would train on other sequences; resume with {rows}{began} and the "
        "template/tokenizer files the run began with, or start over with --overwrite"
    )
