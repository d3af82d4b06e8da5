"""The students a data file taught: a stage run on its own never writes over them silently.

    distill filter runs/x/traces.jsonl --out runs/x/kept.jsonl --verify code
    # error: --out runs/x/kept.jsonl is the data runs/x/student was trained on (...)

`distill run` refuses a stage that would write again the data its recipe's student learned
(distill/pipeline.py), and the data of any student found here beside a file it writes. The
commands on their own know no recipe, so they look where distill puts a student: in the data
file's own folder and the folders in it (a recipe's `{run_dir}/kept.jsonl` beside
`{run_dir}/student/`). A student there learned the file when its train_data.json holds
the file's sha256 as it is now and its train.yaml names a file of that name, and it has trained
(a checkpoint or weights). That is certain; a student elsewhere (or one trained before
train_data.json kept the sha256) is not found, and nothing is guessed.

Found, filter, select and export go on only at the settings and on the inputs of the set on
disk, which write the same data (filter and select are held to its bytes: manifest.Expected);
generate and instruct only when they would add nothing to the file. Else one line, nothing run.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import yaml

from distill.errors import DistillError


def students_of(path: str | Path) -> list[Path]:
    """The trained students in `path`'s folder, or one folder down, that learned the file as it
    is now (their train_data.json sha256); none when it is not a file. A `publish --local-dir`
    copy of a student found here (the recipes' {run_dir}/published) is that student's, not
    another: a run that trains its own student again (train.overwrite) publishes it again."""
    from distill.manifest import file_sha256

    p = Path(path).expanduser()
    if not p.is_file():
        return []
    try:  # scandir: a folder of thousands of files is read once, no stat per file
        with os.scandir(p.parent) as it:
            folders = [p.parent, *sorted(Path(e.path) for e in it if _is_dir(e))]
    except OSError:
        return []
    found, sha = [], None
    for d in folders:
        saved = _learned(d, p.name)
        if saved is not None and saved == (sha := sha or file_sha256(p)):
            found.append(d)
    here = {d.resolve() for d in found}
    return [d for d in found if _published_from(d) not in here - {d.resolve()}]


def _published_from(d: Path) -> Path | None:
    """The student whose files `publish --local-dir` wrote into `d` (its marker), if any."""
    from distill.publish import MARKER

    try:
        student = json.loads((d / MARKER).read_text()).get("student")
        return Path(student).resolve() if isinstance(student, str) else None
    except (OSError, ValueError, AttributeError):
        return None


def _is_dir(entry: os.DirEntry) -> bool:
    try:
        return entry.is_dir()
    except OSError:
        return False


def _learned(d: Path, name: str) -> str | None:
    """The sha256 in `d`'s train_data.json when `d` holds a trained student (a checkpoint or
    weights) whose train.yaml names a file called `name`; else None. Whatever `d` is, a folder
    this user may not read (a volume's lost+found beside --out) or a file there that does not
    parse is no student and says nothing: never a refusal of the stage over it."""
    from distill.models import MODEL_FILES
    from distill.paths import train_checkpoints

    try:
        counts, began = d / "train_data.json", d / "train.yaml"
        if not (counts.is_file() and began.is_file()):
            return None
        saved = json.loads(counts.read_text()).get("data_sha256")
        data = (yaml.safe_load(began.read_text()) or {}).get("data")
        if not (isinstance(saved, str) and isinstance(data, str) and Path(data).name == name):
            return None
        # train_data.json is written when training starts: nothing learned yet without these
        # (a checkpoint-N of the Trainer's: checkpoint-notes.txt or checkpoint-best/ is the
        # user's, beside a run killed before its first save)
        if train_checkpoints(d) or any((d / n).is_file() for n in MODEL_FILES):
            return saved
    except (OSError, ValueError, AttributeError, yaml.YAMLError):
        pass
    return None


def same_set_again(module: Any, c: Any) -> bool:
    """filter or select (`module`) runs again at the settings and on the inputs of the set its
    manifest vouches for (a side file of it deleted or edited: its report, its rejects), its
    --out as that run wrote it: it writes the same data again."""
    from distill.manifest import check_input, file_stamp

    try:
        doc = json.loads(module.manifest_of(c).read_text())
        check_input(c.out)  # --out as the manifest lists it (not a file changed since)
    except (OSError, ValueError, DistillError):
        return False
    stamps = [file_stamp(p) for p in module.inputs_of(c) if Path(p).is_file()]
    return (
        isinstance(doc, dict)
        and doc.get("complete") is True
        and doc.get("config_hash") == module.config_hash(c)
        and doc.get("inputs") == stamps
    )


def _refusal(stage: str, out: str, student: Path, what: str) -> DistillError:
    return DistillError(
        f"--out {out} is the data {student} was trained on (its train_data.json sha256): "
        f"{stage} would {what}, and the student's lineage would name data that is gone; "
        "nothing was run: pick another --out (or move the student away first)"
    )


def _again(module: Any, cfg: Any, why: str) -> str:
    """How the refused run would come to write over the set, by what differs from the run its
    manifest vouches for (manifest.done's `why`): its settings, or an input, named (the traces
    grew since), from the stamps (path, size, mtime) the manifest keeps, read without hashing."""
    if why == "settings changed":
        return "run at other settings and write over it"
    if why != "input changed":
        return f"run again ({why}) and write over it"
    from distill.manifest import file_stamp

    try:
        was = json.loads(module.manifest_of(cfg).read_text()).get("inputs") or []
    except (OSError, ValueError, AttributeError):
        was = []
    now = [str(p) for p in module.inputs_of(cfg) if Path(p).is_file()]
    changed = next((p for p in now if file_stamp(p) not in was), None)
    if changed is not None:
        return f"run again on {changed} (changed since the set on disk was made) and write over it"
    here = {file_stamp(p)["path"] for p in now}
    gone = next((w["path"] for w in was if isinstance(w, dict) and w.get("path") not in here), None)
    if gone is not None:
        return f"run again without {gone} (the set on disk was made from it) and write over it"
    return "run again on a changed input and write over it"


def guard_rewrite(stage: str, cfg: Any) -> Any:
    """Before filter, select or export writes --out: None when no student learned it; the bytes
    it must come out as (manifest.Expected) when the run writes the same data again; else one
    line, nothing run."""
    from distill.manifest import Expected, file_sha256

    students = students_of(cfg.out)
    if not students:
        return None
    if stage == "export":
        from distill.manifest import config_hash, done, manifest_path

        # export's rows are its settings' and its data's: the same set is the same bytes
        if done(manifest_path(cfg.out), config_hash(cfg), [cfg.data]) is None:
            return None
        raise _refusal(stage, cfg.out, students[0], "write other rows over it")
    if stage == "filter":
        from distill import filter as module
    else:
        from distill.select import stage as module
    # done: the set on disk is this config's (select's hashed by an older distill too, as
    # `distill run` takes it); else a side file of it gone, at its settings and inputs
    why = module.done(cfg)
    if why is not None and not same_set_again(module, cfg):
        raise _refusal(stage, cfg.out, students[0], _again(module, cfg, why))
    return Expected(
        Path(cfg.out),
        file_sha256(cfg.out),
        f"{stage} would replace {cfg.out}, which {students[0]} was trained on (its "
        "train_data.json sha256), with other data, run again at the same settings (a judge's "
        "cache deleted, a code test timing out): the file and its manifest are left as they "
        "were: pick another --out",
    )


def guard_append(stage: str, cfg: Any) -> None:
    """Before generate or instruct appends to --out: one line when a student learned the file
    and this run would add to it."""
    students = students_of(cfg.out)
    if not students:
        return
    if stage == "generate":
        from distill.generate import build_jobs

        adds = any(jobs for _, jobs in build_jobs(cfg)[0])
        what = "add samples to it"
    else:
        adds = instruct_adds(cfg)
        what = "add instructions to it"
    if adds:
        raise _refusal(stage, cfg.out, students[0], what)


def instruct_adds(cfg: Any) -> bool:
    """Whether instruct `cfg` would write into its --out (the standalone guard above, and
    `distill run`'s reading of an instruct before generate): a file not there yet or not read;
    one short of --num-instructions, unless a finished run stopped there (stall_rounds: a rerun
    replays its rounds and adds nothing); the seed tasks --include-seeds writes first into a
    file written without them (its seed file changed: instruct refuses that itself, by the
    hash in each lineage)."""
    from distill.instruct.stage import stopped_short
    from distill.records import read_records

    try:
        sources = [r.get("source") for r in read_records(cfg.out)]
    except (OSError, DistillError):
        return True
    own = sum(s != "seed" for s in sources)
    if own < cfg.num_instructions and not stopped_short(cfg, own):
        return True
    return cfg.method == "self-instruct" and bool(cfg.include_seeds) and "seed" not in sources
