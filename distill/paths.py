"""No output may be an input: every stage checks its output paths before it opens anything.

    distill filter t.jsonl --out t.jsonl      # error: --out t.jsonl is the input traces t.jsonl ...

`check_outputs` compares each path a stage will write (its flags' own paths and the side files
they imply: `.generate.yaml`, `.summary.json`, the log-prob folder, filter's rejects, report,
plot and `.filter.yaml`, ...) with every input path and with each other: resolved, symlinks
followed, and by inode when both exist (a hard link is the same file under another name). It
also refuses, in one line, an output that is a directory, one under a file, and one in a folder
it cannot write. Nothing is opened or written before it returns, so a refused command leaves
every file as it was. `guard_<stage>(cfg)` lists one stage's paths; each stage's `run` calls it
first. The side-file names mirror the stages' own (one place per name where a helper exists).
"""

from __future__ import annotations

import contextvars
import functools
import os
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from distill.errors import DistillError
from distill.models import MODEL_FILES, RUN_FILES

PathLike = str | os.PathLike | None


@dataclass(frozen=True)
class Output:
    """One path a stage writes. `flag` and `value` name what the user typed; `path` is the file
    written (the flag's own path, or a side file it implies). `tree`: a folder whose whole
    content is the stage's (an input inside it would be overwritten too); `scratch`: one it
    also removes, never a result a later stage may read (train's on-policy sync folders)."""

    flag: str
    value: str
    path: Path
    tree: bool = False
    scratch: bool = False

    def subject(self) -> str:
        """What the user typed, and the side file when the clash is one: the start of a line."""
        if _real(self.path) == _real(Path(self.value)):
            return f"{self.flag} {self.value}"
        return f"{self.flag} {self.value} would also write {self.path}, which"


def outputs(
    flag: str, value: PathLike, *side: PathLike, trees: Iterable[PathLike] = ()
) -> list[Output]:
    """The flag's own path and the side files (and side folders, `trees`) it implies."""
    if value is None or str(value) == "":
        return []
    v = str(value)
    found = [Output(flag, v, Path(v))]
    found += [Output(flag, v, Path(s)) for s in side if s is not None]
    found += [Output(flag, v, Path(t), tree=True) for t in trees if t is not None]
    return found


# A check compares every output with every input and every other output; each comparison
# resolves both paths (realpath: a syscall per component). Nothing is written while a check
# runs, so within one each path is resolved once (_resolve_once) and looked up after.
_RESOLVED: contextvars.ContextVar[dict[tuple[str, str], Any] | None] = contextvars.ContextVar(
    "_RESOLVED", default=None
)


def _resolve_once(check: Callable[..., None]) -> Callable[..., None]:
    @functools.wraps(check)
    def run(*args: Any, **kwargs: Any) -> None:
        if _RESOLVED.get() is not None:  # inside another check: share its paths
            return check(*args, **kwargs)
        token = _RESOLVED.set({})
        try:
            return check(*args, **kwargs)
        finally:
            _RESOLVED.reset(token)

    return run


def _cached(kind: str, p: Path, resolve: Callable[[str], Any]) -> Any:
    seen, key = _RESOLVED.get(), (kind, str(p))
    if seen is not None and key in seen:
        return seen[key]
    found = resolve(os.path.expanduser(str(p)))
    if seen is not None:
        seen[key] = found
    return found


def _real(p: Path) -> str:
    return _cached("real", p, os.path.realpath)


def _abs(p: Path) -> str:
    return os.path.abspath(os.path.expanduser(str(p)))


def _stat_or_none(path: str) -> os.stat_result | None:
    try:
        return os.stat(path)
    except OSError:
        return None


def _stat(p: Path) -> os.stat_result | None:
    return _cached("stat", p, _stat_or_none)


def _overlap(o: Output, other: Output) -> bool:
    """Two outputs that write the same file, or one inside the other's folder (a tree)."""
    if other.tree:
        return _inside(o.path, other.path)
    if o.tree:
        return _inside(other.path, o.path)
    return _same_path(o.path, other.path)


def _same_path(a: Path, b: Path) -> bool:
    if _real(a) == _real(b):
        return True
    sa, sb = _stat(a), _stat(b)
    return sa is not None and sb is not None and (sa.st_dev, sa.st_ino) == (sb.st_dev, sb.st_ino)


def _inside(inner: Path, outer: Path) -> bool:
    """inner is outer or lies under it (resolved)."""
    i, o = _real(inner), _real(outer)
    return i == o or i.startswith(o.rstrip(os.sep) + os.sep) or _same_path(inner, outer)


def _is_path(value: str) -> bool:
    """A source that names a file, not a built-in set (`builtin:...`)."""
    return bool(value) and not value.startswith("builtin:")


def _writable(o: Output) -> None:
    """One line for an output that cannot be written: a directory where a file goes, a file
    where a folder goes, a parent that is a file, a read-only folder or file."""
    p = Path(os.path.expanduser(str(o.path)))
    where = o.subject()
    if p.is_dir() and not o.tree:
        raise DistillError(f"{where} is a directory: give a file path")
    if p.exists() and not p.is_dir() and o.tree:
        raise DistillError(
            f"{where} is a file where a folder goes: move it away or pick another {o.flag}"
        )
    if p.exists() and not os.access(p, os.W_OK):
        raise DistillError(f"{where} is read-only: make it writable or pick another {o.flag}")
    parent = p.parent
    while not parent.exists() and parent != parent.parent:
        parent = parent.parent
    if parent.exists() and not parent.is_dir():
        raise DistillError(
            f"{o.flag} {o.value}: {parent} is a file, not a folder: pick another {o.flag}"
        )
    if not os.access(parent, os.W_OK | os.X_OK):
        raise DistillError(
            f"{o.flag} {o.value}: cannot write in {parent}/ (read-only folder): pick another {o.flag}"
        )


@_resolve_once
def check_outputs(inputs: Mapping[str, PathLike], outs: Iterable[Output]) -> None:
    """Raise DistillError (one line) when an output is an input, two outputs are one file, or an
    output cannot be written. `inputs` maps a flag (`--data`, `traces`) to its path; values that
    are not local paths (None, builtin:..., a hub name that does not exist here) still compare
    by name, which is harmless: a hub name is never a sensible output path either."""
    ins = [(flag, str(v)) for flag, v in inputs.items() if v is not None and _is_path(str(v))]
    outs = list(outs)
    for o in outs:
        for flag, value in ins:
            src = Path(value)
            hit = _inside(src, o.path) if o.tree else _same_path(o.path, src)
            if hit:
                # the same file under another name: a symlink or a hard link
                link = "" if o.tree or _abs(o.path) == _abs(src) else " (through a link)"
                what = "holds" if o.tree and not _same_path(src, o.path) else "is"
                raise DistillError(
                    f"{o.subject()} {what} the input {flag} {value}{link}: pick another {o.flag}"
                )
    for i, o in enumerate(outs):
        for other in outs[:i]:
            if _overlap(o, other):
                theirs = f"{other.flag} {other.value}" if other.flag != o.flag else str(other.path)
                if _real(other.path) != _real(Path(other.value)) and other.flag != o.flag:
                    theirs = f"{other.path} (written for {other.flag} {other.value})"
                raise DistillError(
                    f"{o.subject()} is the same file as {theirs}: pick another {o.flag}"
                )
    for o in outs:
        _writable(o)


def check_ours(outs: Iterable[Output], manifest: PathLike) -> None:
    """Refuse, in one line, to replace a file distill did not write: each output that exists
    must be listed, as it is now, by `manifest` (the stage's own) or a manifest beside it
    (distill/manifest.py `not_ours`). A file of the user's at --out, or at a side file the user
    never typed (`notes.rejects.jsonl` for `--out notes.jsonl`), stays as it is."""
    from distill.manifest import not_ours

    for o in outs:
        why = not_ours(os.path.expanduser(str(o.path)), manifest)
        if why:
            raise DistillError(f"{_typed(o)} exists and {why}: move it or pick another {o.flag}")


def check_replaced(cfg: Any, outs: list[Output], manifest: PathLike) -> None:
    """filter's and select's check_ours, a default rejects or report (named after --out, not
    typed) named as a file beside --out."""
    from distill.filter.config import output_base

    base = output_base(cfg.out)  # as the configs name their default rejects and report
    implied = {"--rejects": f"{base}.rejects.jsonl", "--report": f"{base}.report.json"}
    outs = [Output("--out", cfg.out, o.path) if implied.get(o.flag) == o.value else o for o in outs]
    check_ours(outs, manifest)


def _typed(o: Output) -> str:
    """`--out k.jsonl`, or `k.rejects.jsonl, beside --out k.jsonl,` for a side file."""
    if _real(o.path) == _real(Path(o.value)):
        return f"{o.flag} {o.value}"
    return f"{o.path}, beside {o.flag} {o.value},"


# The side files generate and instruct (and eval's samples) write beside --out keep no manifest:
# they are written anew each run from the records (a summary, a report, the resolved config) or
# are the run's own state (the batches in flight, the teacher replies). One that exists is
# distill's when it has the shape distill writes there; one the user edited is still distill's
# (the next run writes it from the records again). Name ending -> what it is, and its test.
# A resolved config is every field of its stage's dataclass (_SAVED_CONFIG_KEYS); a recipe the
# user wrote names a few.
_SIDE_LIMIT = 64 << 20  # larger than any summary, report, config or stamp distill writes
# Written anew each run and never read as data: an empty one is what a machine that crashed
# right after distill wrote it leaves (renamed into place, never fsynced), and holds nothing
# of anyone's to lose. (An empty stamp or batches file is refused: eval and --batch read them.)
_EMPTY_OURS = (".generate.yaml", ".instruct.yaml", ".summary.json", ".report.json")


def _shaped(d: Any, **types: type) -> bool:
    return isinstance(d, dict) and all(isinstance(d.get(k), t) for k, t in types.items())


# The fields every <out>.generate.yaml / <out>.instruct.yaml holds: the stage saves its whole
# config (config.save_config: dataclasses.asdict, in every version), and these are the first
# version's (generate: 35, Nov 24 2026, distill/generate.py; instruct: 45, Nov 29 2026,
# distill/instruct.py), each a field since. Not a share of today's fields: those grow
# (generate 43, instruct 46 today), and each one added moves files an older distill wrote
# under the line (its run refused, not resumed: its samples bought again). The user's own yaml
# (a recipe, another tool's config) shares a few names, never the backends' keys it does not use.
_SAVED_CONFIG_KEYS = {
    "generate": frozenset(
        "answer_field api_key_env base_url batch_size concurrency data device dtype "
        "gpu_memory_utilization id_field limit logprobs max_model_len max_retries max_tokens "
        "model n n_per_request out price_input price_output prompt_field request_timeout rpm "
        "seed shard_size split system_prompt teacher teachers temperature template "
        "tensor_parallel_size top_p tpm".split()
    ),
    "instruct": frozenset(
        "api_key_env base_url batch_size blacklist chat_template concurrency dedup "
        "dedup_threshold device dtype gpu_memory_utilization include_seeds "
        "instruction_max_tokens language logprobs max_model_len max_retries max_rouge "
        "max_tokens max_words method min_words model n_per_request num_instructions "
        "num_prompt_generated num_prompt_tasks num_tasks_per_request out price_input "
        "price_output request_batch_size request_timeout rpm seed seed_tasks shard_size "
        "stall_rounds system_prompt teacher temperature template tensor_parallel_size top_p "
        "tpm".split()
    ),
}


def _saved_config(stage: str, d: Any) -> bool:
    """`d` is a config `stage` saved beside its --out, by this distill or an older one."""
    import dataclasses

    from distill.generate.config import GenerateConfig
    from distill.instruct.config import InstructConfig

    cls = {"generate": GenerateConfig, "instruct": InstructConfig}[stage]
    keys = _SAVED_CONFIG_KEYS[stage] & {f.name for f in dataclasses.fields(cls)}
    return _shaped(d, out=str) and keys <= set(d)


SIDE_KINDS: dict[str, tuple[str, Any]] = {
    ".generate.yaml": ("a generate config", lambda d: _saved_config("generate", d)),
    ".instruct.yaml": ("an instruct config", lambda d: _saved_config("instruct", d)),
    ".summary.json": (
        "a generate summary",
        lambda d: _shaped(d, samples=int, by_teacher=dict, this_run=dict),
    ),
    ".report.json": (
        "an instruct report",
        lambda d: _shaped(d, method=str, filtered=dict, this_run=dict),
    ),
    ".batches.json": (
        "a generate --batch state file",
        lambda d: _shaped(d, batches=list) and all(isinstance(e, dict) for e in d["batches"]),
    ),
    ".weights.json": ("an eval weights stamp", lambda d: _shaped(d, model=str) and "weights" in d),
    ".requests.jsonl": (
        "instruct's teacher replies",
        lambda d: _shaped(d, id=str, kind=str, messages=list, text=str),
    ),
}


# `distill run`'s result, RUN_DIR/NAME.json (any name: not known by its ending): the recipe, the
# run dir and the minutes, which every distill has written there
RUN_RESULT = (
    "a distill run result",
    lambda d: _shaped(d, recipe=str, run_dir=str) and isinstance(d.get("minutes"), int | float),
)


def check_run_result(path: PathLike) -> None:
    """Refuse, in one line, to write `distill run`'s result over a file that is not an earlier
    run's result (RUN_RESULT): a --run-dir of the user's holding their own smoke.json keeps it.
    An empty one is what a crash after its rename left, nothing to lose."""
    p = Path(os.path.expanduser(str(path)))
    if p.is_dir():
        raise DistillError(
            f"the run's result file {p} is a folder: set run.name (or rename the recipe) or "
            "pick another --run-dir"
        )
    if not p.exists() or (p.is_file() and p.stat().st_size == 0) or _distills(p, RUN_RESULT[1]):
        return
    raise DistillError(
        f"the run's result file {p} exists and distill did not write it (not {RUN_RESULT[0]}): "
        "move it, set run.name (or rename the recipe) or pick another --run-dir"
    )


def check_recipe(recipe: PathLike, stages: Iterable[tuple[str, Any]]) -> None:
    """The recipe a command reads is an input too: never a file train writes into its
    --output-dir (a recipe `train.yaml` kept in the folder it trains into was replaced by the
    resolved config, the user's comments and layout gone, after the first run). The config
    train saved there itself, given back as --recipe, is train's own to write again."""
    path = Path(os.path.expanduser(str(recipe))) if recipe is not None else None
    if path is None or not path.is_file():
        return
    for stage, cfg in stages:
        if stage == "train" and not _train_config(path, cfg):  # an older train's too
            check_outputs({"--recipe": str(recipe)}, paths_train(cfg)[1])


def _distills(path: Path, test: Any) -> bool:
    """Whether `path` holds what `test` accepts: a YAML or JSON file whole; a JSONL file (added
    to, never replaced) by its first record. A first line that is not JSON (a line a killed
    writer left torn, or text) is the reader's to judge: it cuts a torn line, and refuses text
    in one line naming FILE:LINE before anything is written."""
    import json

    import yaml

    try:
        if path.name.endswith(".jsonl"):
            with open(path, "rb") as f:
                first = f.readline(_SIDE_LIMIT)
            try:
                doc = json.loads(first)
            except ValueError:
                return True
            return test(doc)
        size = path.stat().st_size
        if size == 0 and path.name.endswith(_EMPTY_OURS):
            return True
        if size > _SIDE_LIMIT and not path.name.endswith(".batches.json"):
            return False
        text = path.read_text(encoding="utf-8")
        return test(yaml.safe_load(text) if path.suffix == ".yaml" else json.loads(text))
    except (OSError, UnicodeDecodeError, ValueError, yaml.YAMLError):
        return False


@_resolve_once
def check_side_files(outs: Iterable[Output]) -> None:
    """Refuse, in one line, to write over a file at a side file of generate, instruct or eval's
    samples (`notes.summary.json` for `--out notes.jsonl`) that is not of the shape distill
    writes there (SIDE_KINDS): a file of the user's stays as it is."""
    for o in outs:
        p = Path(os.path.expanduser(str(o.path)))
        kind = next((k for end, k in SIDE_KINDS.items() if p.name.endswith(end)), None)
        if o.tree or kind is None or not p.is_file() or _real(p) == _real(Path(o.value)):
            continue
        if _distills(p, kind[1]):
            continue
        raise DistillError(
            f"{_typed(o)} exists and distill did not write it (not {kind[0]}): move it or "
            f"pick another {o.flag}"
        )


# =========================================================================== the stages


def _template_input(template: str | None) -> str | None:
    """A template given as a file path is an input; a name (r1-math) is not a path here."""
    return template if template and Path(template).is_file() else None


def guard_generate(cfg: Any) -> None:
    """--data (a local file) and --template vs --out and its side files, which must be
    distill's if they exist (the summary, the resolved config, the batches in flight); and
    --split, which a source without splits cannot honour (not in GenerateConfig: eval samples
    through it with eval's split), so `distill run` refuses it before any stage, as it does
    eval's and train's (an instruct before it asked the teacher first)."""
    from distill.data import check_source_split

    check_source_split(cfg)
    inputs, outs = paths_generate(cfg)
    check_outputs(inputs, outs)
    check_side_files(outs)


def paths_generate(cfg: Any) -> tuple[dict[str, Any], list[Output]]:
    from distill.logprobs import side_dir
    from distill.teachers.batch import state_path

    out = Path(cfg.out)
    teachers = cfg.resolved_teachers()
    inputs = {"--data": cfg.data, "--template": _template_input(cfg.template)}
    for i, t in enumerate(teachers):
        if t.model and Path(t.model).exists():  # a local teacher folder
            inputs[f"teachers[{i}].model" if cfg.teachers else "--model"] = t.model
    side = [out.with_name(out.stem + ".generate.yaml"), out.with_name(out.stem + ".summary.json")]
    if cfg.batch:
        side.append(state_path(out))
    trees = [side_dir(out)] if any(t.logprobs for t in teachers) else []
    return inputs, outputs("--out", cfg.out, *side, trees=trees)


def guard_instruct(cfg: Any) -> None:
    """The seed tasks file and --template vs --out and its side files, which must be
    distill's if they exist (the teacher replies, the report, the resolved config)."""
    inputs, outs = paths_instruct(cfg)
    check_outputs(inputs, outs)
    check_side_files(outs)


def paths_instruct(cfg: Any) -> tuple[dict[str, Any], list[Output]]:
    inputs: dict[str, Any] = {"--template": _template_input(cfg.template)}
    if cfg.method == "self-instruct":
        from distill.templates import seed_path

        try:
            inputs["--seed-tasks"] = str(seed_path(cfg.seed_tasks))
        except DistillError:
            inputs["--seed-tasks"] = cfg.seed_tasks  # not found: the stage says so itself
    out = Path(cfg.out)
    side = [
        out.with_name(out.stem + s) for s in (".requests.jsonl", ".report.json", ".instruct.yaml")
    ]
    return inputs, outputs("--out", cfg.out, *side)


def guard_filter(cfg: Any) -> None:
    """The traces file (and decontamination files) vs --out, --rejects, --report and the files
    beside the report (plot, .filter.yaml), and those with each other."""
    from distill.filter.config import manifest_of

    inputs, outs = paths_filter(cfg)
    check_outputs(inputs, outs)
    check_replaced(cfg, outs, manifest_of(cfg))  # all replaced by the run's set


def paths_filter(cfg: Any) -> tuple[dict[str, Any], list[Output]]:
    from distill.filter.config import config_path, manifest_of
    from distill.filter.decontam import decontam_files

    inputs = {"traces": cfg.input}
    for i, d in enumerate(cfg.decontam or []):
        # the files it is read from: `file.jsonl@test`'s file, a folder's split's files
        files = decontam_files(d)
        for f in files:
            if f == d:
                inputs[f"--decontam {d}" if i else "--decontam"] = d
            else:
                one = f" ({Path(f).name})" if len(files) > 1 else ""
                inputs[f"--decontam {d}{one}"] = f
    outs = outputs("--out", cfg.out, manifest_of(cfg)) + outputs("--rejects", cfg.rejects)
    # the plot and the resolved config beside the report
    outs += outputs("--report", cfg.report, Path(cfg.report).with_suffix(".png"), config_path(cfg))
    return inputs, outs


# Files `distill train` writes into --output-dir, and the folders that are wholly its own.
# rollouts.jsonl: --rollout vllm's record, removed by a fresh run and trimmed by a resume.
TRAIN_FILES = (*RUN_FILES, *MODEL_FILES, "loss.jsonl", "rollouts.jsonl", "training_args.bin")
# Of those, the run's records (not the model): written over or removed by a fresh run.
RUN_RECORDS = (*RUN_FILES, "loss.jsonl", "rollouts.jsonl", "training_args.bin")


def train_checkpoints(out: PathLike) -> list[Path]:
    """The checkpoints in a train --output-dir: the folders the Trainer names checkpoint-N, and
    copies kept under such a name (checkpoint-N-best), which --resume takes too. Another
    checkpoint-* entry (a folder checkpoint-best/, a file checkpoint-notes.txt) is the user's."""
    out = Path(os.path.expanduser(str(out)))
    found = out.glob("checkpoint-*") if out.is_dir() else []
    return sorted(p for p in found if p.is_dir() and p.name.split("-")[1].isdigit())


# The fields every train.yaml holds: train saves its whole config (dataclasses.asdict), and
# these are the first version's (35, Nov 2026), each a field since. Not a share of today's
# fields: those grow (82 today), and a folder an older train wrote (killed before its first
# checkpoint, or its checkpoints deleted and --overwrite) was taken for the user's. Another
# trainer's config shares a few names (output_dir, learning_rate), a recipe sets a handful.
_TRAIN_YAML_KEYS = frozenset(
    "attn_implementation data dataloader_num_workers format gradient_accumulation_steps "
    "gradient_checkpointing learning_rate limit logging_steps lora lora_alpha lora_dropout "
    "lora_r lora_target_modules lr_scheduler_type max_grad_norm max_length max_steps merge "
    "model num_train_epochs output_dir overlong packing per_device_train_batch_size precision "
    "qlora report_to resume save_steps save_total_limit seed split warmup_ratio "
    "weight_decay".split()
)


def _train_config(path: Path, cfg: Any) -> bool:
    """`path` is a train config train saved, by this distill or an older one."""
    import dataclasses

    keys = _TRAIN_YAML_KEYS & {f.name for f in dataclasses.fields(cfg)}
    return path.is_file() and _distills(
        path, lambda d: _shaped(d, output_dir=str) and keys <= set(d)
    )


@_resolve_once
def guard_train(cfg: Any, overwrite: str = "pass --overwrite") -> None:
    """Every file or folder train reads (--data, --model, --tokenizer, --teacher-model,
    --gate-traces, a --template file) vs --output-dir: none of them may be the folder itself, a
    file train writes there, or lie in its checkpoints, merged/ or the on-policy syncs' folders.
    `overwrite`: how the caller's user asks to start over (`distill run`: its --set key)."""
    out = Path(cfg.output_dir)
    inputs, outs = paths_train(cfg)
    for flag, value in inputs.items():
        if value and _is_path(str(value)) and Path(value).exists() and _same_path(Path(value), out):
            raise DistillError(
                f"--output-dir {cfg.output_dir} is the input {flag} {value}: train would write "
                "over it; pick another --output-dir"
            )
    # The folder itself may hold the user's data (runs/x/kept.jsonl beside the adapter): only
    # train's own file names and folders (checkpoints, merged/) are checked against the inputs.
    folder = Output("--output-dir", cfg.output_dir, out, tree=True)
    _writable(folder)
    check_outputs(inputs, outs)
    # A model folder with no run to resume (a model of the user's, or a student whose
    # checkpoints were deleted): a fresh run would write its config, weights and tokenizer over
    # it. A run's own folder holds a checkpoint-N from its first save to its end.
    held = [n for n in MODEL_FILES if (out / n).is_file()] if out.is_dir() else []
    run = bool(train_checkpoints(out))
    if held and not getattr(cfg, "overwrite", False) and not run:
        raise DistillError(
            f"--output-dir {cfg.output_dir} holds a model ({', '.join(held[:3])}) and no "
            "checkpoint of a run to resume: train would write over it; pick another "
            f"--output-dir, or {overwrite} to replace it"
        )
    # A fresh run writes its records over (or removes) these names: in a folder no train run
    # wrote into (no checkpoint, no train.yaml of train's: it writes that one first), a file
    # there is the user's (their own train.yaml, loss.png), whatever --overwrite says.
    if out.is_dir() and not run and not _train_config(out / "train.yaml", cfg):
        theirs = [n for n in RUN_RECORDS if (out / n).exists() or (out / n).is_symlink()]
        # merged/ too, whatever the flags: --merge writes the student over it, --overwrite
        # removes it, and a run without either left it beside its adapter and train.yaml, after
        # which it passed for the run's own (the next --merge or --overwrite replaced it, and
        # publish --merged shipped the user's model as the student)
        if (out / "merged").exists() or (out / "merged").is_symlink():
            theirs.append("merged/")
        if theirs:
            raise DistillError(
                f"--output-dir {cfg.output_dir} holds {', '.join(theirs[:3])}, and no train "
                "run wrote into it (no checkpoint, no train.yaml of train's): train would write "
                "over or remove it; move it away or pick another --output-dir"
            )


def paths_train(cfg: Any) -> tuple[dict[str, Any], list[Output]]:
    """train's inputs, and what it writes: its own file names in --output-dir (not the folder:
    it may hold the user's data), its checkpoints and merged/."""
    out = Path(cfg.output_dir)
    inputs = {
        "--data": cfg.data,
        "--model": cfg.model,
        "--tokenizer": getattr(cfg, "tokenizer", None),
    }
    # several teachers (--teacher-model repeated): each one is an input, never Path(list)
    teachers = getattr(cfg, "teacher_model", None)
    for i, t in enumerate(teachers if isinstance(teachers, list) else [teachers]):
        inputs["--teacher-model" if i == 0 else f"--teacher-model #{i + 1}"] = t
    # --gate-teacher's verdicts (read when training starts) and onpolicy's prompt template
    for i, g in enumerate(getattr(cfg, "gate_traces", None) or []):
        inputs["--gate-traces" if i == 0 else f"--gate-traces #{i + 1}"] = g
    inputs["--template"] = _template_input(getattr(cfg, "template", None))
    checkpoints = train_checkpoints(out)
    # the folders it writes and removes itself: merged/, the checkpoints, the on-policy
    # vLLM syncs' (kd/rollout.py's ADAPTERS_DIR, WEIGHTS_DIR: removed at each sync)
    own = [out / "merged", *checkpoints]
    outs = [Output("--output-dir", cfg.output_dir, p, tree=True) for p in own]
    outs += [
        Output("--output-dir", cfg.output_dir, out / d, tree=True, scratch=True)
        for d in ("rollout-adapters", "rollout-weights")
    ]
    outs += [Output("--output-dir", cfg.output_dir, out / name) for name in TRAIN_FILES]
    return inputs, outs


def guard_export(cfg: Any) -> None:
    """The kept traces (and --model) vs --out and its manifest."""
    from distill.manifest import manifest_path

    out = Path(cfg.out)
    check_outputs(
        {"data": cfg.data, "--model": cfg.model or None},
        outputs("--out", cfg.out, out.with_name(f".{out.name}.tmp"), manifest_path(out)),
    )
    check_ours(outputs("--out", cfg.out, manifest_path(out)), manifest_path(out))


def guard_eval(cfg: Any) -> None:
    """--data, --model, --baseline, --template vs --out and the samples kept beside it."""
    from distill.manifest import manifest_path

    inputs, outs = paths_eval(cfg)
    check_outputs(inputs, outs)
    out = Path(cfg.out)
    # eval.json, its .eval.yaml and manifest are replaced as a set; the samples are appended to
    set_ = (out, out.with_name(out.stem + ".eval.yaml"), manifest_path(out))
    check_ours([o for o in outs if o.path in set_], manifest_path(out))
    check_side_files(o for o in outs if o.path not in set_)  # the samples' stamp, config, summary


def paths_eval(cfg: Any) -> tuple[dict[str, Any], list[Output]]:
    from distill.manifest import manifest_path

    out = Path(cfg.out)
    side = [out.with_name(out.stem + ".eval.yaml"), manifest_path(out)]
    for which in ("student", "baseline") if cfg.baseline else ("student",):
        traces = out.with_name(f"{out.stem}.{which}.traces.jsonl")
        side += [
            traces,
            traces.with_name(traces.stem + ".weights.json"),
            traces.with_name(traces.stem + ".generate.yaml"),
            traces.with_name(traces.stem + ".summary.json"),
        ]
    inputs = {
        "--data": cfg.data,
        "--model": cfg.model,
        "--baseline": cfg.baseline,
        "--template": _template_input(cfg.template),
    }
    return inputs, outputs("--out", cfg.out, *side)


def paths_select(cfg: Any) -> tuple[dict[str, Any], list[Output]]:
    """select's inputs and outputs as its own check lists them (distill/select/stage.py)."""
    from distill.select.config import cache_path, config_path, manifest_of

    inputs = {"traces": cfg.input, "--teacher-traces": cfg.teacher_traces}
    outs = outputs("--out", cfg.out, manifest_of(cfg)) + outputs("--rejects", cfg.rejects)
    outs += outputs("--report", cfg.report, Path(cfg.report).with_suffix(".png"), config_path(cfg))
    outs += outputs("--cache-dir", str(cache_path(cfg, "judge")), cache_path(cfg, "student"))
    return inputs, outs


def paths_publish(cfg: Any) -> tuple[dict[str, Any], list[Output]]:
    """publish reads the student folder and eval.json; --local-dir is wholly its own."""
    inputs = {"--dir": cfg.dir, "--eval": getattr(cfg, "eval", None)}
    local = getattr(cfg, "local_dir", None)
    return inputs, [Output("--local-dir", local, Path(local), tree=True)] if local else []


STAGE_PATHS = {
    "instruct": paths_instruct,
    "generate": paths_generate,
    "filter": paths_filter,
    "select": paths_select,
    "train": paths_train,
    "eval": paths_eval,
    "publish": paths_publish,
}


def _of(stage: str, o: Output) -> str:
    """`train's --output-dir runs/x (runs/x/config.json)`: a stage's output, named as typed."""
    side = "" if _real(o.path) == _real(Path(o.value)) else f" ({o.path})"
    return f"{stage}'s {o.flag} {o.value}{side}"


@_resolve_once
def check_stages(stages: Iterable[tuple[str, Any]]) -> None:
    """A run's stages, in order (`distill run`): no stage writes a file another stage writes,
    nor one an earlier stage reads (eval's --out the traces generate bought: replaced by
    eval.json, and filter run again on it). A later stage reading an earlier one's output is
    the run's chain, except a file inside a folder the earlier one owns whole (eval's --data in
    train's merged/ or its rollout-weights/, removed at every sync), or one of its scratch
    folders. Each stage's own paths are its guard's."""
    found = [(s, *STAGE_PATHS[s](cfg)) for s, cfg in stages if s in STAGE_PATHS]
    for j, (later, reads, outs) in enumerate(found):
        for earlier, inputs, theirs in found[:j]:
            for other in (t for t in theirs if t.tree):
                for flag, value in reads.items():
                    if value is None or not _is_path(str(value)):
                        continue
                    src = Path(str(value))
                    if _inside(src, other.path) and (
                        other.scratch or not _same_path(src, other.path)
                    ):
                        raise DistillError(
                            f"{later}'s input {flag} {value} lies in {other.path}, a folder "
                            f"{earlier} removes or rewrites as it runs (its {other.flag} "
                            f"{other.value}): move it out of that folder"
                        )
            for o in outs:
                for other in theirs:
                    if _overlap(o, other):
                        raise DistillError(
                            f"{later}'s {o.subject()} is also written by {_of(earlier, other)}: "
                            f"pick another {later}.{o.flag[2:].replace('-', '_')}"
                        )
                for flag, value in inputs.items():
                    if value is None or not _is_path(str(value)):
                        continue
                    src = Path(str(value))
                    if _inside(src, o.path) if o.tree else _same_path(o.path, src):
                        raise DistillError(
                            f"{later}'s {o.subject()} is {earlier}'s input {flag} {value}, "
                            f"which it would replace: pick another {later}.{o.flag[2:].replace('-', '_')}"
                        )
