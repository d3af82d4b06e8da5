"""The students a data file taught: a stage run on its own never writes over them silently.

    distill filter runs/x/traces.jsonl --out runs/x/kept.jsonl --verify code
    # error: --out runs/x/kept.jsonl is the data runs/x/student was trained on (...)

`distill run` refuses a stage that would write again the data its recipe's student learned
(distill/pipeline.py). The commands on their own know no recipe, so they look where distill puts
a student: in the data file's own folder and the folders in it (a recipe's `{run_dir}/kept.jsonl`
beside `{run_dir}/student/`). A student there learned the file when its train_data.json holds
the file's sha256 as it is now and its train.yaml names a file of that name, and it has trained
(a checkpoint or weights). That is certain; a student elsewhere (or one trained before
train_data.json kept the sha256) is not found, and nothing is guessed.

Found, filter, select and export go on only at the settings and on the inputs of the set on
disk, which write the same data (filter and select are held to its bytes: manifest.Expected);
generate and instruct only when they would add nothing to the file. Else one line, nothing run.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import yaml

from distill.errors import DistillError


def students_of(path: str | Path) -> list[Path]:
    """The trained students in `path`'s folder, or one folder down, that learned the file as it
    is now (their train_data.json sha256); none when it is not a file."""
    from distill.manifest import file_sha256
    from distill.models import MODEL_FILES

    p = Path(path).expanduser()
    if not p.is_file():
        return []
    try:
        folders = [p.parent, *sorted(d for d in p.parent.iterdir() if d.is_dir())]
    except OSError:
        return []
    found, sha = [], None
    for d in folders:
        counts, began = d / "train_data.json", d / "train.yaml"
        if not (counts.is_file() and began.is_file()):
            continue
        try:
            saved = json.loads(counts.read_text()).get("data_sha256")
            data = (yaml.safe_load(began.read_text()) or {}).get("data")
        except (OSError, ValueError, AttributeError, yaml.YAMLError):
            continue
        if not (isinstance(saved, str) and isinstance(data, str) and Path(data).name == p.name):
            continue
        if not (any(d.glob("checkpoint-*")) or any((d / n).is_file() for n in MODEL_FILES)):
            continue  # train_data.json is written when training starts: nothing learned yet
        sha = sha or file_sha256(p)
        if saved == sha:
            found.append(d)
    return found


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
    if not same_set_again(module, cfg):
        raise _refusal(stage, cfg.out, students[0], "run at other settings and write over it")
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
        from distill.records import read_records

        own = sum(1 for r in read_records(cfg.out) if r.get("source") != "seed")
        adds = own < cfg.num_instructions
        what = "add instructions to it"
    if adds:
        raise _refusal(stage, cfg.out, students[0], what)
