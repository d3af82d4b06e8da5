"""`distill run`: every stage of a sectioned recipe, in order, with the numbers at the end.

    distill run --recipe recipes/smoke.yaml                       # make smoke
    distill run --recipe recipes/smoke.yaml --run-dir runs/s1 --set train.seed=1 --set generate.seed=1

A recipe has sections `instruct`, `generate`, `filter`, `train`, `eval`, `publish` (any subset); `{run_dir}`
in any string value is replaced by --run-dir (default: the recipe's `run: {dir: ...}`).
Each stage is resumable, so a rerun after a crash redoes only what is missing (train continues
from its newest checkpoint, refused in one line if its settings changed: `--set
train.overwrite=true` starts over; filter is skipped when its manifest matches its config, its input and
every output, and rerun in full otherwise; a filter, select, generate or instruct that would
write again the data the recipe's student learned from is refused before any stage runs, --only
filter too, unless train.overwrite=true, as is one that would write again the data of a trained
student beside it (distill/learned.py); one run again at the same settings that writes other data
stops before it replaces the file). The last line printed is
`NAME: base pass@1=X.XXX student pass@1=Y.YYY minutes=Z.Z` (with an instruct stage and no eval,
`NAME: instructions=N kept=K rouge_max=R minutes=M`; with neither, `NAME: generate, filter
done minutes=M`, the stages it ran), also written to RUN_DIR/NAME.json; NAME is
the recipe's `run: {name: ...}`, else the recipe file's name (a file there that is not an earlier
run's result refuses the run before any stage).
"""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import json
import os
import time
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

import yaml

from distill.config import (
    from_dict,
    key_lines,
    load_recipe,
    recipe_run_dir,
    recipe_section,
    run_section,
    substitute_run_dir,
    typed_keys,
)
from distill.errors import DistillError
from distill.records import same_file


def _only_these_samples(c: Any) -> None:
    """The traces file filter reads holds this run's samples only: another temperature, seed,
    model or data written into the same run dir earlier left samples of other settings there
    (generate appends), which filter would keep and train would learn beside these. Checked
    before generate runs: nothing is bought or appended for a run that is refused."""
    from distill.generate import build_jobs
    from distill.records import read_records

    planned = build_jobs(c)[1]
    other = sum(1 for r in read_records(c.out, required=("id",)) if r["id"] not in planned)
    if other:
        raise DistillError(
            f"{c.out} holds {other} samples this generate section does not plan (an earlier run "
            "in this run dir: another temperature, max_tokens, seed, n, limit, teacher or data), "
            "which filter would keep beside this run's; nothing was generated: use a new "
            "--run-dir (or --set generate.out=F --set filter.input=F)"
        )


def _read_by_next(configs: dict[str, Any], traces: str) -> bool:
    """Whether a later section of the recipe reads generate's --out as its traces (filter's
    input; select's input or its --teacher-traces, pass rates over every sample; train's
    data), and the file is there: a sample of other settings in it would be read beside these."""
    readers = [
        getattr(configs.get(stage), key, None)
        for stage, key in (
            ("filter", "input"),
            ("select", "input"),
            ("select", "teacher_traces"),
            ("train", "data"),
        )
    ]
    return Path(traces).is_file() and any(
        isinstance(r, str) and r and same_file(r, traces) for r in readers
    )


def _same_data(c: Any) -> None:
    """The train data a rerun would go on with is the file the checkpoints were trained on: the
    same content (its sha256 in train_data.json, kept at train start; a run from before that:
    not written since its train.yaml), e.g. not a filter run again with new settings."""
    from distill.train import sft

    data = Path(c.data)
    if data.is_file() and sft.learned_from(Path(c.output_dir), data) is False:
        raise DistillError(
            f"{c.data} changed after {c.output_dir} began training on it: its checkpoints "
            "learned other data; --set train.overwrite=true trains the student again on it"
        )


def _settings_changed(stage: str, module: Any, c: Any) -> str:
    """' (filter: verify none -> math, ...)': the settings of filter's or select's config `c` its
    saved config (kept.filter.yaml) holds otherwise and its manifest's hash counts. A user who
    changed nothing learns what did: a default a newer distill changed, or a setting it adds
    (`not in kept.filter.yaml`). Empty when the saved config is unreadable."""
    import copy

    from distill.urls import redact_url

    path = module.config_path(c)
    try:
        saved = yaml.safe_load(path.read_text())
    except (OSError, yaml.YAMLError):
        return ""
    if not isinstance(saved, dict):
        return ""
    now, lines = module.config_hash(c), []
    for f in dataclasses.fields(c):
        value = getattr(c, f.name)
        if isinstance(value, str) and f.name.endswith("url"):
            value = redact_url(value)
        if f.name in saved and saved[f.name] == value:
            continue
        was = copy.copy(c)  # a key the hash leaves out (filter's num_proc) is no change
        setattr(was, f.name, saved.get(f.name, "\0 not saved"))
        if module.config_hash(was) == now:
            continue
        old = saved[f.name] if f.name in saved else f"not in {path.name}"
        lines.append(f"{f.name} {old} -> {value}")
    more = f", {len(lines) - 3} more" if len(lines) > 3 else ""
    return f" ({stage}: {', '.join(lines[:3])}{more})" if lines else ""


def _generate_appends(configs: dict[str, Any]) -> bool:
    """Whether this call's generate adds samples to its --out: prompts or sample indices it
    lacks, or the instructions this call's instruct still writes into its --data."""
    from distill.generate import build_jobs
    from distill.learned import instruct_adds

    g, i = configs["generate"], configs.get("instruct")
    if i is not None and same_file(i.out, g.data) and instruct_adds(i):
        return True
    try:
        plan, planned = build_jobs(g)[:2]
    except DistillError:  # generate refuses it when it starts, nothing appended
        return False
    if not any(jobs for _, jobs in plan):
        return False
    # samples of other settings in --out (another seed): _only_these_samples refuses the run
    # when generate starts, nothing bought (the line that says to use a new --run-dir)
    from distill.records import read_records

    return all(r["id"] in planned for r in read_records(g.out, required=("id",)))


def _keeps_students_data(recipe: dict[str, Any], configs: dict[str, Any]) -> dict[Path, str]:
    """A stage of this call that would write again the file the recipe's student learned from
    is refused before the first stage runs (train refused only when its turn came: by then
    filter had rewritten kept.jsonl, the data the student was trained on was gone and its
    lineage, train_data.json and publish's card, named data it did not learn). Writers:
    filter and select run again (other settings, another input; not at the settings and on the
    inputs of the set on disk, which write the same data), or after a stage of this call that
    writes their input again (generate adding samples), generate adding samples, instruct
    adding instructions. The student: train's --output-dir holding a run, finished or killed
    after its first checkpoint, whose train_data.json sha256 is the file's; --set
    train.overwrite=true: the user starts over. And, as the commands on their own find them
    (distill/learned.py), any other trained student beside a file this call writes (a recipe
    without train, the student `distill train` made of its kept.jsonl; one the recipe's
    train.output_dir no longer names), which no setting of this recipe trains again. Returns
    each such file a writer of this call may still write, with its student (`_expected` holds
    it to the bytes it has now)."""
    from distill import filter as filter_stage
    from distill.learned import instruct_adds, same_set_again, students_of
    from distill.models import MODEL_FILES
    from distill.select import stage as select_stage
    from distill.train import sft

    tc, g, i = recipe.get("train"), configs.get("generate"), configs.get("instruct")
    writers = [
        (stage, module, configs[stage])
        for stage, module in (("filter", filter_stage), ("select", select_stage))
        if stage in configs
    ]

    def key(path: str | Path) -> Path:
        return Path(path).expanduser().resolve()

    learned: dict[Path, str] = {}  # a file a student learned -> that student
    own = None  # the recipe's student
    if tc is not None:
        out = Path(tc.output_dir)
        # the file it learned: the one its train.yaml names (the recipe's train.data may have
        # changed since: train refuses that itself), as it is now
        saved = out / "train.yaml"
        try:
            was = (yaml.safe_load(saved.read_text()) or {}).get("data") if saved.is_file() else None
        except (OSError, yaml.YAMLError, AttributeError):
            was = None
        data = Path(was if isinstance(was, str) and Path(was).is_file() else tc.data)
        trained = sft.checkpoints(out) or any((out / n).is_file() for n in MODEL_FILES)
        if trained and data.is_file() and sft.learned_from(out, data):
            own = key(out)
            if not tc.overwrite:
                learned[key(data)] = tc.output_dir
    for c in [*(c for _, _, c in writers), g, i]:
        if c is not None and key(c.out) not in learned:
            other = [s for s in students_of(c.out) if key(s) != own]
            if other:
                learned[key(c.out)] = str(other[0])
    if not learned:
        return {}
    # the files whose rewrite reaches a student's data: its own, and the inputs of a writer
    # of this call that writes one of those (select reading kept.jsonl, filter the traces)
    reach = set(learned)
    for _, module, c in reversed(writers):
        if key(c.out) in reach:
            reach |= {key(p) for p in module.inputs_of(c)}
    story: dict[Path, str] = {}  # a file this call writes again -> how it comes to
    asked, changed = False, ""

    def again(path: str | Path) -> str | None:
        nonlocal asked  # generate's plan is read once, and only when it matters (1M traces)
        if g is not None and not asked and key(path) == key(g.out):
            asked = True
            if _generate_appends(configs):
                story[key(g.out)] = f"generate would add samples to {g.out}"
        return story.get(key(path))

    if i is not None and key(i.out) in learned and instruct_adds(i):
        story[key(i.out)] = f"instruct would add instructions to {i.out}"
    if g is not None and key(g.out) in learned:  # train learns the traces themselves
        again(g.out)
    for stage, module, c in writers:
        if key(c.out) not in reach:
            continue
        why = module.done(c)
        if why is not None and not same_set_again(module, c):
            if why == "settings changed" and not changed:  # which: a newer distill's too
                changed = _settings_changed(stage, module, c)
            story[key(c.out)] = f"{stage} would run again ({why}) and rewrite {c.out}"
            continue
        before = next((b for p in module.inputs_of(c) if (b := again(p))), None)
        if before:
            story[key(c.out)] = f"{before}, so {stage} would run again and rewrite {c.out}"
    hit = next((p for p in story if p in learned), None)
    if hit is not None:
        student = learned[hit]
        undo = (
            "use another --run-dir, or --set train.overwrite=true to train the student again on "
            "the new data"
            if own is not None and key(student) == own
            else "use another --run-dir, or move the student away first"
        )
        raise DistillError(
            f"{story[hit]}, which {student} was trained on (its train_data.json): that "
            "data would be gone and the student's lineage would name data it did not learn; "
            f"nothing was run: undo the change, {undo}{changed}"
        )
    return learned


def _expected(stage: str, c: Any, learned: dict[Path, str], own: str | None) -> Any:
    """What filter's or select's --out must come out as when it is the data a student learned
    (`learned`: file -> student; `own`: the recipe's train.output_dir): the bytes it holds now.
    `_keeps_students_data` let the stage run again as one that writes the same data (its
    settings and inputs those of the set on disk; select after a filter that wrote its input
    again), but a judge's cache deleted, a code test that timed out this time or a judge that
    answers otherwise writes other data: the stage stops before it replaces the file, which is
    kept with its manifest as they were."""
    from distill.manifest import Expected, file_sha256

    data = Path(c.out).expanduser().resolve()
    student = learned.get(data)
    if student is None:
        return None
    again = (
        "--set train.overwrite=true writes the new data and trains the student again on it"
        if own is not None and same_file(student, own)
        else "pick another --out, or move the student away first"
    )
    return Expected(
        Path(c.out),
        file_sha256(data),  # its train_data.json sha256 (_keeps_students_data compared them)
        f"{stage} would replace {c.out}, which {student} was trained on (its train_data.json "
        "sha256), with other data, run again at the same settings (a judge's cache deleted, a "
        "code test timing out, a judge that answers otherwise): the file and its manifest are "
        f"left as they were and no stage after {stage} ran; {again}",
    )


def _inputs_there(recipe: dict[str, Any], running: dict[str, Any]) -> list[str]:
    """A stage of this call reads a file a section of the recipe writes, and --only leaves that
    section out: the file is there already (the run would stop on it when the stage starts:
    `data file not found` after the stages before it ran, generate's samples bought). The
    lines of those that are not."""
    missing = []
    for ws, wk, rs, rk in LINKS:
        if rs not in running or ws in running or ws not in recipe:
            continue
        wrote, reads = getattr(recipe[ws], wk, None), getattr(running[rs], rk, None)
        if not (isinstance(wrote, str) and wrote and isinstance(reads, str) and reads):
            continue
        merged = (ws, wk) == ("train", "output_dir") and same_file(Path(wrote) / "merged", reads)
        if not (merged or same_file(wrote, reads)) or Path(reads).expanduser().exists():
            continue
        what = "folder" if (ws, wk) == ("train", "output_dir") else "file"
        missing.append(
            f"--only {','.join(running)}: {rs}.{rk} {reads}: no such {what}: {ws} writes it, "
            f"and --only leaves {ws} out: run it first (--only {ws},{rs})"
        )
    return missing


def _still_true(result_path: Path, ran: dict[str, Any]) -> dict[str, Any]:
    """The numbers of the run's result file that a call running only some stages leaves as they
    were: instruct's when it did not run; eval's when neither it nor any stage before it ran
    (--only publish; a call that trains again drops them: they are another student's)."""
    try:
        previous = json.loads(result_path.read_text())
    except (OSError, ValueError):
        return {}
    if not isinstance(previous, dict):
        return {}
    kept = {}
    if "instruct" not in ran and "instruct" in previous:
        kept["instruct"] = previous["instruct"]
    ev = previous.get("eval")
    student = str((ev.get("student") or {}).get("model") or "") if isinstance(ev, dict) else ""
    stamp = (ev.get("weights") or {}).get("student") if isinstance(ev, dict) else None
    if student and stamp is not None and Path(student).expanduser().is_dir():
        from distill.eval import weights_stamp

        if weights_stamp(student) != stamp:  # retrained since (outside distill run): not its
            return kept
    if not set(ran) & set(ORDER[: ORDER.index("eval") + 1]):
        kept.update(
            {k: previous[k] for k in ("student_pass@1", "base_pass@1", "eval") if k in previous}
        )
    return kept


# train's keys `distill run` takes from another section when train's names none, as a refused
# rerun names them: a user who changed nothing learns where the new value came from.
TAKEN = {
    "template": "generate's template",
    "system_prompt": "generate's system prompt",
    "context_field": "generate's context_field",
    "prompt_field": "generate's prompt_field",
    "verify_timeout": "filter's verify_timeout",
    "code_memory_mb": "filter's code_memory_mb",
}


def _train_rerun(c: Any, rewritten: bool, taken: Iterable[str] = ()) -> None:
    """What a rerun's train refuses when it starts, checked read-only before the first stage
    (and by --dry-run): checkpoints of a run at other settings, data changed since they began
    (not when a stage run before it writes its data again). Nothing is removed here (train
    removes a checkpoint cut off mid-save). `taken`: train's keys the run took from another
    section (TAKEN), named as such when they differ. A max_length left to train (resolved from
    the student's context when it starts) is compared by train then, the other keys here."""
    import copy

    import yaml

    from distill.train import sft

    out = Path(c.output_dir)
    if c.overwrite or not sft.checkpoints(out):
        return
    if not rewritten:
        _same_data(c)
    whole = [
        p
        for p in out.glob("checkpoint-*")
        if p.is_dir() and p.name.split("-")[1].isdigit() and (p / "trainer_state.json").is_file()
    ]
    if not whole:
        return
    ckpt = max(whole, key=lambda p: int(p.name.split("-")[1]))
    saved_path = sft.saved_config_path(ckpt)
    if saved_path is None:
        return
    saved = yaml.safe_load(saved_path.read_text()) or {}
    if c.max_length is None:  # None: resolved from the student's context by train
        c = copy.copy(c)
        c.max_length = saved.get("max_length") if isinstance(saved, dict) else None
    changed = sft.changed_run_keys(c, saved)
    if not changed:
        return
    why = "rerun with the same settings"
    ours = [k for k in (line.split(":")[0] for line in changed) if k in taken]
    if ours:
        keys = " and ".join(f"train.{k}" for k in ours)
        why = (
            f"{', '.join(f'train.{k} is {TAKEN.get(k, k)}' for k in ours)} now, taken where "
            f"train's section names none; set {keys} in the recipe as the run began to go on "
            "with it"
        )
    raise DistillError(
        f"{ckpt} belongs to a different run ({'; '.join(changed)}): {why}, or --set "
        "train.overwrite=true trains the student again"
    )


def _generate_adds(configs: dict[str, Any], path: str) -> bool:
    """Whether this call's generate appends samples to `path` (prompts or sample indices its
    --out lacks): the filter reading it then runs again."""
    from distill.generate import build_jobs

    g = configs.get("generate")
    if g is None or not same_file(g.out, path):
        return False
    return any(jobs for _, jobs in build_jobs(g)[0])


def _select_runs_code(c: Any, configs: dict[str, Any]) -> bool:
    """Whether select's difficulty verifies anything itself: the student's samples, or teacher
    traces without the filter's verdict (a filter --verify code of this call stores one on each
    trace it keeps; generate's traces hold none)."""
    if c.student:
        return True
    path = c.teacher_traces or c.input
    f, g = configs.get("filter"), configs.get("generate")
    if f is not None and same_file(f.out, path):
        return f.verify != "code"
    if g is not None and same_file(g.out, path):
        return True
    from distill.select.difficulty import runs_code

    return runs_code(path)


# train's --overwrite as a recipe sets it
RUN_OVERWRITE = "pass --set train.overwrite=true (or overwrite: true in the recipe's train section)"


def _guard(stage: str, c: Any, configs: dict[str, Any]) -> None:
    """The check of its paths `stage`'s run does first (distill/paths.py; select's own)."""
    from distill import paths

    code = getattr(c, "verify", None) == "code"
    if stage == "select":  # select runs code only to rate difficulty, where no verdict is stored
        code = code and "difficulty" in c.active_criteria() and _select_runs_code(c, configs)
    if stage in ("filter", "eval", "select") and code:
        # model-written code runs only isolated (or --unsafe-sandbox): refused when the stage
        # starts, after generate bought the samples or train ran
        from distill.filter.sandbox import require_isolation

        try:
            require_isolation(c.unsafe_sandbox)
        except DistillError:
            # a filter done (its manifest matches) is skipped and runs no code: a rerun of a
            # finished run goes on (--unsafe-sandbox, another setting, would filter again);
            # not when this call's generate adds to its input (filtered again, after it paid)
            from distill import filter as filter_stage
            from distill.select import stage as select_stage

            done = {"filter": filter_stage, "select": select_stage}.get(stage)
            if done is None or done.done(c) is not None:  # (eval: no --input, never done)
                raise
            reads = [c.input] + ([c.teacher_traces] if getattr(c, "teacher_traces", None) else [])
            if any(_generate_adds(configs, p) for p in reads):
                raise
    if stage == "select":
        from distill.select.stage import guard as guard_select

        guard_select(c)
    elif stage == "publish":  # what publish refuses first: its token, its --local-dir
        from distill.publish import check_local_dir

        if c.repo_id and not os.environ.get(c.token_env):
            raise DistillError(
                f"pushing to the Hub needs a token: set ${c.token_env} (or use --local-dir)"
            )
        if c.local_dir:
            check_local_dir(c)
    elif stage == "train":  # its refusal of a model folder names this command's way to start over
        paths.guard_train(c, overwrite=RUN_OVERWRITE)
    else:
        getattr(paths, f"guard_{stage}")(c)


def _check_models(stage: str, c: Any, produced: list[Path]) -> None:
    """A local model (hf, vllm) that generate's teacher or eval loads and its load would refuse
    (a missing folder, a hub name not in the offline cache), before the first stage: an eval
    refused when it starts came after generate paid. Not a folder this call's train writes
    (checked when eval runs); not a generate whose traces exist (it checks the teachers it
    still asks). Served teachers' keys are each stage's own check."""
    from distill.models import check_model_loadable

    def written(name: str) -> bool:  # --output-dir, merged/, a checkpoint-N/ in it
        path = Path(name).expanduser().resolve()
        return any(path.is_relative_to(Path(d).expanduser().resolve()) for d in produced)

    if stage == "eval" and c.backend in ("hf", "vllm"):
        for flag, name in (("--model", c.model), ("--baseline", c.baseline)):
            if name and not written(name):
                check_model_loadable(name, flag)
    elif stage == "generate" and not Path(c.out).exists():
        for t in c.resolved_teachers():
            if t.teacher in ("hf", "vllm"):
                check_model_loadable(t.model, "--model")


def _check_rows(stage: str, c: Any, configs: dict[str, Any], dry_run: bool) -> None:
    """The rows of a local set that eval (its problems) or on-policy train (its prompt source)
    reads only when its turn comes, checked before the first stage as that stage would: a row
    without the prompt field, a `tools` column listing tools, no gold answer (or tests) for
    eval's --verify or train's --reward were refused an hour and the teacher's samples later.
    One pass, no model. Eval's hub dataset too, loaded as eval loads it (the download eval
    makes anyway, cached for it): one that cannot be loaded here is one line now, as a local
    file not found is, not after generate and train were paid for. Not train's hub prompts,
    nor a file a stage of this call writes (read as it will be then), nor under --dry-run a
    file not here or a hub dataset (a recipe's check on any machine: no download)."""
    from distill.eval import check_data, local_data

    if not (stage == "eval" or (stage == "train" and c.method == "onpolicy")):
        return
    data = c.data
    if not local_data(data):
        if stage == "eval" and not dry_run:
            check_data(c)
            _check_eval_templates(c, configs)  # (a hub set: MATH-500 under a Gemma baseline)
        return
    if any(
        isinstance(getattr(o, "out", None), str) and same_file(o.out, data)
        for o in configs.values()
    ):
        return
    if dry_run and not data.startswith("builtin:") and not Path(data).expanduser().exists():
        return
    if stage == "eval":
        check_data(c)
        if not dry_run:
            _check_eval_templates(c, configs)
    elif _reads_prompts(c):
        _check_prompts(c)


def _check_eval_templates(c: Any, configs: dict[str, Any]) -> None:
    """eval's prompts (generate's system prompt and template taken, `_trained_system_prompt`)
    rendered with the chat template of each hf/vllm model it asks that is there now and that
    no train of this call writes (the --baseline, a student trained before): one its template
    refuses (Gemma-2 takes no system turn) stopped eval when its turn came, after generate had
    bought its samples and train had run. The student this call trains is checked by eval."""
    from distill.eval import check_templates
    from distill.models import looks_local

    t = configs.get("train")
    out = Path(t.output_dir).expanduser().resolve() if t is not None else None

    def there(name: str) -> bool:
        path = Path(name).expanduser()
        if out is not None and path.resolve().is_relative_to(out):
            return False  # (train writes it: its tokenizer may not be there yet)
        return path.exists() or not looks_local(name)

    models = [(w, m) for w, m in (("student", c.model), ("baseline", c.baseline)) if m]
    check_templates(c, [(w, m) for w, m in models if there(m)])


def _check_prompts(c: Any) -> None:
    """On-policy train's prompt source, as train reads it (kd.data.prompt_chats) and as
    --reward math/code asks of it (some row with a gold answer, or tests to run)."""
    import itertools

    from distill.data import ANSWER_FIELDS, iter_source
    from distill.filter.code import runnable_tests
    from distill.train.kd.data import prompt_chats, source_prompts
    from distill.train.kd.reward import gold_of

    for _ in prompt_chats(c):
        pass
    if c.reward not in ("math", "code"):
        return
    rows = itertools.islice(iter_source(c.data, c.split), c.limit)
    # each row's gold as the references read it (reward._references): generate's (load_rows: a
    # multiple-choice row's letter, ARC's answerKey, SQuAD's span), a chat row's own column
    golds = (gold_of(fields) if row is None else row.gold for _, fields, row in source_prompts(c))
    if c.reward == "math" and not any(g is not None for g in golds):
        raise DistillError(
            f"--reward math: no example of {c.data} has a gold answer to verify against; add "
            f"an {'/'.join(ANSWER_FIELDS)} column to its rows"
        )
    if c.reward == "code" and not any(
        runnable_tests(r["meta"] if isinstance(r.get("meta"), dict) else r) for r in rows
    ):
        raise DistillError(
            f"--reward code: no example of {c.data} has tests to run; add a `tests` field (or "
            "one of the layouts filter --verify code reads) to its rows"
        )


ORDER = ("instruct", "generate", "filter", "select", "train", "eval", "publish")


def _describe(c: Any) -> str:
    """One line of what a stage will do: its main keys."""
    keys = (
        "method",
        "seed_tasks",
        "num_instructions",
        "data",
        "input",
        "teacher",
        "model",
        "baseline",
        "n",
        "verify",
        "format",
        "lora",
        "max_length",
        "dir",
        "repo_id",
        "local_dir",
        "out",
        "output_dir",
    )
    return ", ".join(f"{k}={getattr(c, k)}" for k in keys if getattr(c, k, None) not in (None, ""))


# (stage, key) that writes a file or folder -> (stage, key) that reads it, in a recipe that
# names the path in both (train.output_dir and eval.model: "{run_dir}/student").
LINKS = (
    ("instruct", "out", "generate", "data"),
    ("generate", "out", "filter", "input"),
    ("generate", "out", "select", "teacher_traces"),
    ("filter", "out", "select", "input"),
    ("filter", "out", "train", "data"),
    ("select", "out", "train", "data"),
    ("train", "output_dir", "eval", "model"),
    ("train", "output_dir", "publish", "dir"),
    ("eval", "out", "publish", "eval"),
)


def _reads_prompts(c: Any) -> bool:
    """train `c` reads its data as a prompt source (kd.data.prompt_source), as it stands: a
    system prompt given to a dataset with completions made it one (a GKD mix at lmbda < 1 on
    generate's own data was refused when train started, after generate had bought its
    samples; a chat's own prompts were swapped for its prompt field). Data that cannot be read
    here is train's to refuse, as before."""
    from distill.train.kd.data import prompt_source

    try:
        return prompt_source(c)
    except (DistillError, OSError):
        return False


def _trained_system_prompt(stage: str, configs: dict[str, Any], section: dict[str, Any]) -> None:
    """One system message, generate's: every trace holds it, so the student trains after it;
    eval (its student and baseline, chat-template format) and train's on-policy sampling on
    generate's own prompt source ask each problem after it too, when their section sets none.
    Without it eval asked a Qwen2.5 student after its template's default ('You are Qwen...'),
    a prompt it never trained with. A section that sets its own (null too) keeps it: one line
    says the two differ. Written into `section`, which a deferred eval is built from again."""
    g, c = configs.get("generate"), configs[stage]
    if g is None or not g.system_prompt:
        return
    if stage == "eval":
        asks = c.format == "r1"  # (an Alpaca prompt has no system message, trained or asked)
    elif stage == "train":  # on-policy on generate's prompts: rendered as generate sent them
        asks = (
            c.method == "onpolicy"
            and _same_source(c.data, g.data)
            and (bool(c.system_prompt) or _reads_prompts(c))
        )
    else:
        return
    if not asks:
        return
    if "system_prompt" in section:
        if section["system_prompt"] != g.system_prompt:
            print(
                f"note: {stage}.system_prompt is not generate.system_prompt, the system message "
                f"the traces hold: {stage} uses its own"
            )
        return
    section["system_prompt"] = c.system_prompt = g.system_prompt


def _trained_format(stage: str, configs: dict[str, Any], section: dict[str, Any]) -> None:
    """One prompt format, train's: eval of the recipe's student (its --output-dir, or merged/
    in it) asks each problem in the format the student trained in when its section names none.
    eval's default is r1: a `format: alpaca` student was asked through its chat template, a
    prompt it never trained on, and its pass@1 (and the baseline's beside it) measured that."""
    t, c = configs.get("train"), configs[stage]
    if stage != "eval" or t is None or "format" in section or t.format == c.format:
        return
    student = section.get("model")
    out = t.output_dir
    if isinstance(student, str) and any(same_file(student, d) for d in (out, Path(out) / "merged")):
        if t.format == "alpaca" and section.get("system_prompt"):  # as EvalConfig refuses it
            raise DistillError(
                "eval.system_prompt has no place in the Alpaca prompt the recipe's student "
                "trained in (train.format: alpaca), which eval asks it in: drop "
                "eval.system_prompt, or set eval.format: r1 to ask it through its chat template"
            )
        section["format"] = c.format = t.format


def _same_source(a: str, b: str) -> bool:
    """Two prompt sources name one dataset, whatever slice or split each reads: builtin:NAME
    without its ?query (`builtin:arithmetic?n=200` and `?start=1000&n=100`), else one file or
    folder however spelled, a local folder and one of the data files its splits are read from
    (`data/` and `data/test.jsonl`), two files of one folder named alike but for their split
    (`data/train.jsonl` and `data/test.jsonl`, `gsm8k_train.jsonl` and `gsm8k_test.jsonl`), or
    one hub name, or a bare hub name and NAME:CONFIG where CONFIG is the default config the
    bare name loads (the split is a key of its own). Its rows are worded alike; another
    dataset's need not be (its columns may not fit the template): two configs of one hub name,
    a bare name and a config other than its default (or one not known to be it: offline and
    not cached), two files named otherwise (`gsm8k.jsonl` beside `math.jsonl`, `gsm8k_train.jsonl` beside
    `math_test.jsonl`), a file outside the folder."""
    if a.startswith("builtin:") or b.startswith("builtin:"):
        return a.partition("?")[0] == b.partition("?")[0]
    if a == b or same_file(a, b):
        return True
    pa, pb = (Path(x).expanduser() for x in (a, b))
    if pa.exists() or pb.exists():  # a local source: never a hub name
        return _split_files_of_one_folder(pa, pb)
    from distill.eval import local_data

    if local_data(a) or local_data(b):  # a file not written yet, ./x: no hub name either
        return False
    (na, _, ca), (nb, _, cb) = a.partition(":"), b.partition(":")
    if na != nb:
        return False
    if ca == cb:
        return True
    if ca and cb:
        return False  # two configs of one name
    # a bare name loads the dataset's default config: one source with NAME:CONFIG only when
    # that is the config named (`org/x` is cfgA's rows, `org/x:cfgB` another config's, whose
    # columns need not fit generate's template and fields); not known here: two sources
    return (ca or cb) == _default_config(na)


@functools.lru_cache(maxsize=64)
def _default_config(name: str) -> str | None:
    """The config `datasets` loads for a bare hub name (`default` for a dataset of one), read
    from the hub or its offline cache; None when it cannot tell (not cached offline, several
    configs and none the default).

    First from its dataset card in the local HF cache (load_dataset keeps it there): the card's
    `configs` name the default as datasets reads them, with no request. datasets' own lookup,
    for a card not cached or without configs, asks the Hub (the card, the dataset viewer, the
    data files' listing) at each run's start (no network, HF_HUB_OFFLINE unset: ~25 s of
    retries), and offline answers `default` from its cache whichever config is cached: org/x
    and org/x:cfgA, cfgA the default, were two sources offline and one online."""
    with contextlib.suppress(Exception):  # (no card cached, or one datasets cannot read)
        from datasets.utils.metadata import MetadataConfigs
        from huggingface_hub import DatasetCard, try_to_load_from_cache

        card = try_to_load_from_cache(name, "README.md", repo_type="dataset")
        if isinstance(card, str):
            configs = MetadataConfigs.from_dataset_card_data(DatasetCard.load(card).data)
            if configs:  # (a card without: datasets' data files and infos decide)
                return configs.get_default_config_name()
    try:
        import datasets

        return datasets.get_dataset_default_config_name(name)
    except Exception:  # noqa: BLE001 - not found, offline, no network: not known to be one
        return None


def _split_files_of_one_folder(a: Path, b: Path) -> bool:
    """A local folder and a data file of one of its splits, as `datasets` (and distill.data)
    finds them, or two data files of one folder named alike but for their split."""
    if a.is_dir() and b.is_file():
        return _in_splits(a, b)
    if b.is_dir() and a.is_file():
        return _in_splits(b, a)
    if a.is_file() and b.is_file() and a.resolve().parent == b.resolve().parent:
        # By name, not by the folder's splits as `datasets` finds them: it globs the folder's
        # whole tree (a project folder beside .venv/ and runs/: minutes, for each stage that
        # asks), reads gsm8k_train.jsonl and math_test.jsonl as the splits of one dataset, and
        # refuses a folder whose train/ holds code (a package's): no splits there at all.
        return _named_alike(a.resolve().name, b.resolve().name)
    return False


# The words `datasets` reads a data file's split from (datasets.data_files.SPLIT_KEYWORDS), each
# between separators (-._ space and digits) in the file's name.
SPLIT_WORDS = ("train", "training", "validation", "valid", "dev", "val", "test", "testing",
               "eval", "evaluation")  # fmt: skip


def _named_alike(a: str, b: str) -> bool:
    """Two data file names that name a split each and are one name but for it: `train.jsonl`
    and `test.jsonl`, `gsm8k_train.jsonl` and `gsm8k-test.jsonl`, two shards `train-00000-of-
    00002.parquet` and `test-00000-of-00001.parquet`; not `gsm8k_train.jsonl` and
    `math_test.jsonl` (two datasets), nor a name that names no split (`math.jsonl`)."""
    import re

    from distill.data import COMPRESSED, DATA_SUFFIXES

    def words(name: str) -> list[str]:
        name = name.lower()
        for suffixes in (COMPRESSED, DATA_SUFFIXES):
            name = next((name[: -len(s)] for s in suffixes if name.endswith(s)), name)
        return [w for w in re.split(r"[-._ 0-9]+", name) if w]

    wa, wb = words(a), words(b)
    if not any(w in SPLIT_WORDS for w in wa) or not any(w in SPLIT_WORDS for w in wb):
        return False
    return [w for w in wa if w not in SPLIT_WORDS] == [w for w in wb if w not in SPLIT_WORDS]


def _in_splits(folder: Path, file: Path) -> bool:
    """`file` is a data file of one of `folder`'s splits (the files generate or eval reads
    the folder from: the same glob)."""
    import logging

    from distill.data import has_splits

    if not has_splits(str(folder)) or (folder / "dataset_dict.json").is_file():
        return False  # a saved dataset: its files are no data files to read alone
    import datasets

    card_log = logging.getLogger("huggingface_hub.repocard")  # (a README.md without a header)
    level = card_log.level
    card_log.setLevel(logging.ERROR)
    try:
        splits = datasets.load_dataset_builder(str(folder)).config.data_files or {}
    except Exception:  # noqa: BLE001 - no data files: no splits to be one of
        return False
    finally:
        card_log.setLevel(level)
    return file.resolve() in {Path(f).resolve() for found in splits.values() for f in found}


def _generates_template(stage: str, configs: dict[str, Any], section: dict[str, Any]) -> None:
    """One prompt template, generate's: train's on-policy sampling on generate's own prompt
    source renders each prompt with it when its section names none, as the system message
    (`_trained_system_prompt`), and eval on generate's dataset (another slice or split: its
    held-out problems) asks each one in it, the student and the baseline. Without it the
    student sampled or was asked other prompts than the teacher was (generate's `template:
    plain` on builtin:arithmetic, the student asked after the set's own r1-math instruction,
    a wording it never trained on). Another dataset keeps its own default. A section's own
    template is kept (eval's: one line says it differs). Written into `section`, which a
    deferred eval is built from again."""
    g, c = configs.get("generate"), configs[stage]
    if g is None or not g.template:
        return
    if stage == "train":
        asks = (
            "template" not in section
            and c.method == "onpolicy"
            and _same_source(c.data, g.data)
            and _reads_prompts(c)
        )
    elif stage == "eval":
        asks = _same_source(c.data, g.data)
        if asks and "template" in section:
            if section["template"] != g.template:
                print(
                    f"note: eval.template is not generate.template ({g.template}), the wording "
                    f"the traces hold on {c.data}: eval uses its own"
                )
            return
    else:
        return
    if asks:
        section["template"] = c.template = g.template


def _generates_fields(
    stage: str, configs: dict[str, Any], section: dict[str, Any], origins: dict[str, str]
) -> None:
    """One mapping of the dataset's columns, generate's: eval on generate's dataset (another
    split or slice: its held-out problems) asks each problem's --prompt-field and judges it
    against its --answer-field, and train's on-policy sampling on generate's prompt source
    samples the --prompt-field, when their section names none (train's own prompt field, on
    train's dataset, for eval too: train --data DATASET --prompt-field question). Without it
    eval picked its default columns: another column asked (`problem` before the `question`
    the teacher was asked), the problems judged against another column or refused as having
    no gold answer, and on-policy train sampled other prompts than generate sent. A section's
    own is kept (eval's: one line says it differs). Written into `section`, which a deferred
    eval is built from again; where each came from into `origins` (`_naming_taken`)."""
    g, t, c = configs.get("generate"), configs.get("train"), configs[stage]
    if stage == "eval":
        keys = {
            # train's answer_field is its completion's column, not a gold answer: not eval's
            "prompt_field": [s for s in (g, t) if s is not None],
            "answer_field": [g] if g is not None else [],
        }
        for key, sources in keys.items():
            given = next(
                (s for s in sources if getattr(s, key) and _same_source(c.data, s.data)), None
            )
            if given is None:
                continue
            if key in section:
                if section[key] != getattr(given, key):
                    print(
                        f"note: eval.{key} is not {getattr(given, key)}, the column the student "
                        f"trained with on {c.data}: eval uses its own"
                    )
                continue
            section[key] = getattr(given, key)
            setattr(c, key, section[key])
            origins[f"{stage}.{key}"] = f"{'generate' if given is g else 'train'}'s {key}"
    elif stage == "train":  # on-policy on generate's prompts: its prompt field, as its template
        if g is None or not g.prompt_field or "prompt_field" in section:
            return
        if c.method != "onpolicy" or not _same_source(c.data, g.data) or not _reads_prompts(c):
            return
        section["prompt_field"] = c.prompt_field = g.prompt_field
        origins["train.prompt_field"] = "generate's prompt_field"


def _generates_max_tokens(stage: str, configs: dict[str, Any], section: dict[str, Any]) -> None:
    """One length, generate's: eval asks the student (and the baseline beside it) with
    generate's max_tokens when its section sets none. eval's default is 512, and
    an R1-style student trained on traces of up to generate's 4096 (or 32768) tokens was cut
    off mid-thought: its answers lost, its pass@1 understated (eval reported the truncation
    rate, no more). A section's own is kept: one line says when it is below generate's.
    Written into `section`, which a deferred eval is built from again. Generate's length is
    its teachers' longest: each `teachers:` entry may set its own max_tokens. Capped, when eval
    runs, at what each model's own context leaves after the longest prompt (`_fit_context`)."""
    g, c = configs.get("generate"), configs[stage]
    if stage != "eval" or g is None:
        return
    longest = max(t.max_tokens for t in g.resolved_teachers())
    if "max_tokens" in section:
        if c.max_tokens < longest:
            print(
                f"note: eval.max_tokens {c.max_tokens} is below generate.max_tokens "
                f"({longest}), the length the student's traces may run to: answers cut off "
                "there score as wrong (eval.json's truncation_rate); eval uses its own"
            )
        return
    section["max_tokens"] = c.max_tokens = longest


def _fit_context(c: Any) -> Any:
    """eval `c` with generate's max_tokens (`_generates_max_tokens`), each model it asks within
    what its own context leaves after the longest prompt of its set: a served student of a
    shorter context (vLLM's --max-model-len 2048 under generate's 4096) answered every request
    with a 400 and eval stopped; an hf student sampled past the positions it has. The context:
    a local model's config.json (max_position_embeddings), a served one's max_model_len as
    GET /models lists it (vLLM's; a server that lists none: generate's length as it is). One
    line says when it is capped; a prompt that leaves no room at all stops the run in one
    line (each of its requests a 400); an hf student on CPU is told how long it may write.
    The student's cap and the baseline's are each its own (eval.max_tokens,
    eval.baseline_max_tokens): a baseline of a shorter context capped the student too, its
    pass@1 measured on a budget it did not need; eval.json names both where they differ. One
    budget for all of a model's problems (the most its set's longest prompt leaves), so its
    pass@1 is at one stated max_tokens."""
    caps: dict[str, tuple[int, str]] = {}
    for which, model, size, where, longest in _eval_contexts(c):
        left = size - longest.tokens
        context = f"{model}'s context of {size} tokens ({where})"
        if longest.counted and left <= 0:
            longer = "--max-model-len" if c.backend == "openai" else "max_position_embeddings"
            raise DistillError(
                f"eval: {longest.label} is {longest.tokens} tokens as {model} is sent it "
                f"({longest.how}), and {context} leaves no room for an answer: leave it out of "
                f"{c.data}, or give the model a longer context ({longer})"
            )
        if left <= longest.margin and not longest.counted:
            if c.backend == "openai":  # (an hf model's tokenizer refused: eval's own line)
                print(
                    f"note: {longest.label} is {longest.tokens} bytes, {model}'s context {size} "
                    f"tokens ({where}); "
                    f"its tokens cannot be counted here ({longest.uncounted}), so whether it "
                    "fits is not known: eval asks up to "
                    f"{c.max_tokens} tokens; set eval.max_tokens in the recipe if the server "
                    "refuses requests as too long"
                )
            continue
        room = left - longest.margin if left > longest.margin else left
        caps[which] = (room, f"{context} leaves after the set's longest prompt ({longest.how})")
    asked = c.max_tokens
    student, base = caps.get("student"), caps.get("baseline")
    if student is not None and student[0] < asked:
        print(
            f"note: eval.max_tokens {student[0]}: generate's max_tokens {asked} is more than "
            f"{student[1]}; set eval.max_tokens in the recipe for another"
        )
        c = dataclasses.replace(c, max_tokens=student[0])
    if c.baseline and c.baseline_max_tokens is None:
        # the baseline asked up to generate's length too, or what its own context leaves
        room = min(base[0], asked) if base is not None else asked
        if room != c.max_tokens:  # (the same as the student's: one budget, said once)
            if base is not None and base[0] < asked:
                print(
                    f"note: eval.baseline_max_tokens {room}: generate's max_tokens {asked} is "
                    f"more than {base[1]}; set eval.baseline_max_tokens in the recipe for another"
                )
            print(
                f"note: the student is asked up to {c.max_tokens} tokens a problem, the baseline "
                f"up to {room}: each the most its own context allows, not the same budget "
                "(eval.json names both); set eval.max_tokens and eval.baseline_max_tokens in "
                "the recipe to compare them on one"
            )
            c = dataclasses.replace(c, baseline_max_tokens=room)
    if c.backend == "hf" and c.device in ("auto", "cpu"):
        from distill.models import pick_device

        if pick_device(c.device) == "cpu":
            print(
                f"note: eval samples up to {c.max_tokens} tokens a problem on CPU "
                "(generate's max_tokens, taken as eval's section sets none): set eval.max_tokens "
                "in the recipe for a shorter, faster eval"
            )
    return c


# what a chat template adds around the messages, at most: each turn's markers, a default
# system prompt (Qwen2.5's), the generation prompt; the margin kept where a prompt is counted
# in bytes or by a local tokenizer (the server may render its own template)
TEMPLATE_TOKENS = 64
# a served model's prompts counted by its POST /tokenize: the longest in bytes first, at most
# this many requests (a token is one byte or more: a prompt of fewer bytes than the most
# tokens counted so far cannot be longer, and the count stops there)
TOKENIZE_ASKS = 64


@dataclasses.dataclass
class _Longest:
    """The set's longest prompt as one model is sent it."""

    tokens: int  # its tokens: counted, or at most (its UTF-8 bytes)
    margin: int  # what the count may leave out: a template the server renders otherwise
    how: str  # how it was counted, for the lines that name it
    counted: bool  # a tokenizer counted it (local or the server's), not its bytes
    label: str  # which problem: "DATA row N (id X)"
    # why bytes measure it (not counted): the note that names it says
    uncounted: str = "no local tokenizer, no POST /tokenize on the server"


def _eval_contexts(c: Any) -> list[tuple[str, str, int, str, _Longest]]:
    """(student | baseline, model, its context, where that was read, the set's longest prompt
    as it is sent that model) for each model eval asks whose context is known and whose set
    reads here."""
    from distill.eval import served_cards

    cards = served_cards(c) if c.backend == "openai" else None
    out = []
    for which, model in (("student", c.model), ("baseline", c.baseline)):
        if not model:
            continue
        if c.backend == "openai":
            context = _served_context(cards, model) if cards is not None else None
        else:
            context = _local_context(model)
        if context is None:
            continue
        size, where = context
        longest = _longest_prompt(c, model, size, cards or {})
        if longest is not None:
            out.append((which, model, size, where, longest))
    return out


def _local_context(model: str) -> tuple[int, str] | None:
    """A local (or cached) model's positions, from its config (an adapter's: its base's)."""
    from distill.models import adapter_base, is_adapter, resolve_model

    try:
        path = resolve_model(model)
        if is_adapter(path):
            path = resolve_model(adapter_base(path))
        from transformers import AutoConfig

        config = AutoConfig.from_pretrained(path)
    except Exception:  # noqa: BLE001 - not loadable here: eval's own check names it
        return None
    size = getattr(config.get_text_config(), "max_position_embeddings", None)
    return (size, "max_position_embeddings in its config.json") if isinstance(size, int) else None


def _served_headers(c: Any) -> dict[str, str]:
    key = os.environ.get(c.api_key_env)
    return {"Authorization": f"Bearer {key}"} if key else {}


def _served_base(cards: dict[Any, Any], model: str) -> str | None:
    """The base a served LoRA adapter runs on: vLLM lists an adapter it serves (--lora-modules
    student=DIR: a trained student) without max_model_len, its base model as `parent` (before
    0.5: as `root`)."""
    card = cards.get(model)
    if not isinstance(card, dict):
        return None
    named = (card.get("parent"), card.get("root"))
    base = next((b for b in named if isinstance(b, str) and b in cards), None)
    return base if base != model else None


def _served_context(cards: dict[Any, Any], model: str) -> tuple[int, str] | None:
    """A served model's max_model_len as its server's GET /models lists it (vLLM, SGLang); a
    LoRA adapter's is its base's (it runs in the base's context)."""
    card, where = cards.get(model), "max_model_len, its server's GET /models"
    base = _served_base(cards, model)
    if isinstance(card, dict) and not _a_length(card.get("max_model_len")) and base:
        where = f"its base {base}'s max_model_len, its server's GET /models"
        card = cards[base]
    size = card.get("max_model_len") if isinstance(card, dict) else None
    if _a_length(size):
        return size, where
    return None


def _a_length(size: Any) -> bool:
    """A context length as a server lists one: a positive int (not true/false, a string, ...)."""
    return isinstance(size, int) and not isinstance(size, bool) and size > 0


def _longest_prompt(c: Any, model: str, context: int, cards: dict[Any, Any]) -> _Longest | None:
    """The set's longest prompt as eval sends it to `model`. Counted in UTF-8 bytes first (a
    token is one byte or more); where those leave less than max_tokens of room, counted in
    tokens: by the model's own tokenizer where one is here (a local model; a served one named
    by a folder here, the trained student, or its card's root: vLLM lists the folder it serves;
    an adapter's base), else by a served model's POST /tokenize (vLLM), else the bytes stand.
    None when the set cannot be read here (eval's own check names it)."""
    from distill.generate import source_messages

    try:
        rows = list(source_messages(c))
    except (DistillError, OSError):
        return None
    if not rows:
        return None

    def label(k: int) -> str:
        row = rows[k][0]
        return f"{c.data} row {k + 1}" + (f" (id {row.row_id})" if row.row_id else "")

    sizes = [sum(len(str(m.get("content") or "").encode()) + 8 for m in ms) for _, ms in rows]
    widest = max(range(len(rows)), key=sizes.__getitem__)
    how = "counted in UTF-8 bytes"
    by_bytes = _Longest(sizes[widest], TEMPLATE_TOKENS, how, False, label(widest))
    if by_bytes.tokens + by_bytes.margin + c.max_tokens <= context:
        return by_bytes  # fits however it tokenizes
    tok, name = _prompt_tokenizer(c, model, cards)
    if tok is not None:
        count = functools.partial(_count_locally, c, tok)
        most = _most_tokens(sizes, lambda k: count(rows[k][1]))
        if most is not None:
            how = f"counted by {name}'s tokenizer"
            return _Longest(most[1], TEMPLATE_TOKENS, how, True, label(most[0]))
    if c.backend == "openai":
        ask = _served_tokenizer(c, model)
        most = _most_tokens(sizes, lambda k: ask(rows[k][1]), TOKENIZE_ASKS)
        if most is not None:
            k, tokens, rest = most
            how = "counted by its server's POST /tokenize"
            # the messages as eval sends them, but for the Alpaca prompt eval wraps each problem
            # in under --format alpaca (eval.alpaca_template), whose wording is kept as a margin
            margin = TEMPLATE_TOKENS if c.format == "alpaca" else 0
            if rest is None or tokens >= context:  # the longest, or one that leaves no room
                return _Longest(tokens, margin, how, True, label(k))
            # The problems past the TOKENIZE_ASKS longest in bytes were not counted, and one of
            # them may hold more tokens (digits: a token a byte): at most its bytes. A cap at
            # what the counted ones leave made its every request a 400 (vLLM refuses a prompt
            # + max_tokens past max_model_len), on each rerun too.
            if tokens >= sizes[rest]:
                return _Longest(tokens, TEMPLATE_TOKENS, how, True, label(k))
            how = (
                f"counted in UTF-8 bytes: its server's POST /tokenize counted the "
                f"{TOKENIZE_ASKS} longest in bytes, not this one"
            )
            why = f"its server's POST /tokenize asked for the {TOKENIZE_ASKS} longest in bytes only"
            return _Longest(sizes[rest], TEMPLATE_TOKENS, how, False, label(rest), why)
    return by_bytes


def _most_tokens(
    sizes: list[int], count: Any, asks: int | None = None
) -> tuple[int, int, int | None] | None:
    """(which prompt, its tokens, the longest in bytes of those not counted that may hold more:
    None when none may) of the most tokens `count` gives, asked longest in bytes first and no
    further than a prompt whose bytes cannot hold more tokens (at most `asks` prompts); None
    where `count` cannot count one."""
    best: tuple[int, int] | None = None
    for n, k in enumerate(sorted(range(len(sizes)), key=lambda k: -sizes[k])):
        if best is not None and sizes[k] + TEMPLATE_TOKENS <= best[1]:
            break
        if best is not None and n == asks:
            return (*best, k)
        tokens = count(k)
        if tokens is None:
            return None
        if best is None or tokens > best[1]:
            best = (k, tokens)
    return (*best, None) if best is not None else None


def _prompt_tokenizer(c: Any, model: str, cards: dict[Any, Any]) -> tuple[Any, str]:
    """(the tokenizer `model`'s prompts are counted by, whose it is), (None, "") where none is
    here. A local model's own; a served model's where a name it goes by is a folder here (the
    trained student; an adapter: its base's tokenizer, as load_tokenizer reads it) or a hub
    name in the local HF cache (read from the cache, no request)."""
    from distill.models import load_tokenizer

    if c.backend != "openai":
        try:
            return load_tokenizer(model), model
        except Exception:  # noqa: BLE001 - a model eval refuses: its own line, when it runs
            return None, ""
    names: list[Any] = [model]
    card, base = cards.get(model), _served_base(cards, model)
    if isinstance(card, dict):
        names.append(card.get("root"))
    if base is not None:
        names += [(cards[base] or {}).get("root"), base]
    for name in dict.fromkeys(n for n in names if isinstance(n, str) and n):
        try:
            if Path(name).expanduser().is_dir():
                return load_tokenizer(str(Path(name).expanduser())), name
            tok = _cached_tokenizer(name)
        except Exception:  # noqa: BLE001 - no usable tokenizer there: the next name
            continue
        if tok is not None:
            return tok, name
    return None, ""


def _cached_tokenizer(name: str) -> Any:
    """A hub model's tokenizer where the local HF cache holds it; None where it does not."""
    from huggingface_hub import try_to_load_from_cache

    if name.count("/") != 1 or name.startswith((".", "/", "~")):
        return None
    if not isinstance(try_to_load_from_cache(name, "tokenizer_config.json"), str):
        return None
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(name, local_files_only=True)
    return tok if len(tok) >= 8 else None


def _count_locally(c: Any, tok: Any, messages: list[dict[str, Any]]) -> int | None:
    """A prompt's tokens as `tok` renders it: a served model is sent the messages (its chat
    template); a local one its chat template (r1) or the Alpaca text (the tokenizer adds BOS)."""
    from distill.teachers.hf import render_prompt

    try:
        if tok.chat_template and (c.backend == "openai" or c.format == "r1"):
            text, special = render_prompt(tok, messages), False
        elif c.backend == "openai":
            text, special = "\n".join(str(m.get("content") or "") for m in messages), True
        else:
            text, special = messages[-1]["content"], True
        return len(tok(text, add_special_tokens=special)["input_ids"])
    except Exception:  # noqa: BLE001 - a template eval refuses: its own line, when it runs
        return None


def _served_tokenizer(c: Any, model: str) -> Any:
    """A function counting a prompt's tokens by the server's POST /tokenize (vLLM's: at the
    server's root, beside /v1; {"model", "messages"} rendered in its chat template with the
    generation prompt, answered {"count", "tokens", "max_model_len"}); it answers None once
    the server did not."""
    import urllib.request

    base = c.base_url.rstrip("/")
    url = (base[:-3] if base.endswith("/v1") else base) + "/tokenize"
    headers = {"Content-Type": "application/json", **_served_headers(c)}
    failed = False

    def count(messages: list[dict[str, Any]]) -> int | None:
        nonlocal failed
        if failed:
            return None
        body = json.dumps({"model": model, "messages": messages}).encode()
        request = urllib.request.Request(url, data=body, headers=headers, method="POST")
        try:
            with urllib.request.urlopen(request, timeout=10) as r:
                n = json.loads(r.read()).get("count")
        except Exception:  # noqa: BLE001 - no such endpoint (not vLLM), a refusal: not counted
            n = None
        if not isinstance(n, int) or isinstance(n, bool) or n < 0:
            failed = True
            return None
        return n

    return count


# filter's --verify modes eval and select judge with too (their own lists): `none` judges
# nothing, `majority` is filter's self-consistency (eval's at n=1 scores every problem 1)
SHARED_VERIFY = ("math", "choice", "exact", "countdown", "code")


def _filters_verify(stage: str, configs: dict[str, Any], section: dict[str, Any]) -> None:
    """One verifier, filter's: select rating the difficulty of filter's kept traces, and eval
    on the dataset the filtered traces were sampled from (generate's, another split or slice),
    judge with filter's --verify (and its --unsafe-sandbox, unless their section sets one) when
    their section names none. Their default is math: a
    countdown or code recipe whose eval section named no verify scored its student's
    expressions or programs as math answers. A section's own is kept (eval's: one line says it
    differs). Written into `section`, as `_filter_limits`."""
    f, g, c = configs.get("filter"), configs.get("generate"), configs[stage]
    if f is None or f.verify not in SHARED_VERIFY:
        return
    if stage == "select":  # (verify judges the difficulty criterion's samples alone)
        reads = [p for p in (c.input, c.teacher_traces) if p]
        if "difficulty" not in c.active_criteria() or not any(
            same_file(p, x) for p in reads for x in (f.out, f.input)
        ):
            return
    elif stage == "eval":
        if g is None or not same_file(f.input, g.out) or not _same_source(c.data, g.data):
            return
    else:
        return
    if "verify" in section:
        if stage == "eval" and section["verify"] != f.verify:
            print(
                f"note: eval.verify is not filter.verify ({f.verify}), the verifier the "
                f"student's traces were kept by on {c.data}: eval uses its own"
            )
        return
    section["verify"] = c.verify = f.verify
    # with where it runs the code: filter.unsafe_sandbox says this machine runs model-written
    # code without bwrap/unshare; eval and select were refused in one line. Only with filter's
    # verifier: a section naming its own verify names its own unsafe_sandbox too.
    if f.unsafe_sandbox and "unsafe_sandbox" not in section:
        section["unsafe_sandbox"] = c.unsafe_sandbox = True


def _votes(configs: dict[str, Any]) -> None:
    """filter --verify majority votes among each prompt's samples: on generate's traces of one
    sample a prompt (generate.n 1, one teacher) every answer won its own vote and every trace
    was kept as correct: generate paid for a filter that filtered nothing. Refused before any
    stage, as filter's own settings are."""
    f, g = configs.get("filter"), configs.get("generate")
    if f is None or g is None or f.verify != "majority" or not same_file(f.input, g.out):
        return
    if g.n * len(g.resolved_teachers()) < 2:
        raise DistillError(
            f"filter.verify majority votes among each prompt's samples, and generate.n {g.n} "
            "draws one a prompt: every answer would win its own vote and be kept; set "
            "generate.n to 3 or more (and a temperature > 0), or another filter.verify"
        )


def _trained_context(
    stage: str, configs: dict[str, Any], section: dict[str, Any], origins: dict[str, str]
) -> None:
    """One context column (--context-field: Alpaca's input, dolly's context), the one the
    student trained with: eval on train's dataset (train's mapping of it: another split, its
    held-out rows) or on generate's (whose traces hold it after each prompt), and train's
    on-policy sampling on generate's own prompt source, ask each prompt with it when their
    section names none, as `_generates_template`. Without it a dolly-style set was asked
    without its context (or, with a template, the context inside the Alpaca instruction):
    a prompt the student never trained on. A section's own is kept (eval's: one line says it
    differs). Written into `section`, which a deferred eval is built from again."""
    g, t, c = configs.get("generate"), configs.get("train"), configs[stage]
    if stage == "eval":
        sources = [s for s in (t, g) if s is not None and s.context_field]
        given = next((s for s in sources if _same_source(c.data, s.data)), None)
        if given is None:
            return
        if "context_field" in section:
            if section["context_field"] != given.context_field:
                print(
                    f"note: eval.context_field is not {given.context_field}, the column the "
                    f"student trained with on {c.data}: eval uses its own"
                )
            return
    elif stage == "train":
        given = g if g is not None and g.context_field else None
        if given is None or "context_field" in section or c.method != "onpolicy":
            return
        if not _same_source(c.data, g.data) or not _reads_prompts(c):
            return
    else:
        return
    section["context_field"] = c.context_field = given.context_field
    origins[f"{stage}.context_field"] = f"{'generate' if given is g else 'train'}'s context_field"


# The column settings a section may take from another (`origins`), and how a refusal of a data
# loader names a column a set lacks.
COLUMNS = ("prompt_field", "answer_field", "context_field")


@contextlib.contextmanager
def _naming_taken(stage: str, c: Any, origins: dict[str, str]) -> Iterator[None]:
    """A refusal of `stage`'s data naming a column it took from another section (generate's
    prompt_field on eval's set, which has no such column): the line said `pass --prompt-field`,
    a flag of `distill eval` the user never typed, nor that the column was generate's. Said
    again with where the column came from and the recipe key that sets stage's own."""
    try:
        yield
    except DistillError as e:
        said = str(e)
        for key in COLUMNS:
            origin, value = origins.get(f"{stage}.{key}"), getattr(c, key, None)
            if origin is None or not value:
                continue
            if not any(f"{w} '{value}'" in said for w in ("no field", "no column")):
                continue
            flag = "--" + key.replace("_", "-")
            said = said.removesuffix(f"; pass {flag}")
            raise DistillError(
                f"{said}: {stage}.{key} {value} is {origin}, taken as the recipe's {stage} "
                f"section names none; set {stage}.{key} to a column of {c.data} in the "
                f"recipe (or --set {stage}.{key}=COLUMN)"
            ) from None
        raise


# The verifier's limits, set once: filter's (its --verify-timeout, code_memory_mb) are what
# select, train (--reward, --gate-teacher) and eval verify under when their section sets none.
VERIFY_LIMITS = ("verify_timeout", "code_memory_mb")


def _filter_limits(stage: str, configs: dict[str, Any], section: dict[str, Any]) -> None:
    """One verifier, one set of limits: a test that needs more than the default 5 s was correct
    under filter's --verify-timeout and a failure (or no rate) in select's difficulty, train's
    reward and gate, and eval, which verified at their own defaults. Each takes filter's
    values unless its section sets its own. Written into `section`, as `_trained_system_prompt`."""
    f = configs.get("filter")
    if f is None or stage not in ("select", "train", "eval"):
        return
    for key in VERIFY_LIMITS:
        if key not in section:
            section[key] = getattr(f, key)
            setattr(configs[stage], key, section[key])


def _check_links(
    data: dict[str, Any],
    overrides: dict[str, dict[str, Any]],
    sets: list[str],
    running: set[str],
    run_dir: str,
    p: Path,
) -> None:
    """Refuse a --set that moves a stage's output while the next stage, run too, still reads
    the recipe's path (a new student trained, the old one evaluated and published)."""

    def recipe_value(stage: str, key: str) -> Any:
        if not isinstance(data.get(stage), dict):
            return None
        return substitute_run_dir(data[stage].get(key), run_dir)

    for ws, wk, rs, rk in LINKS:
        if ws not in running or rs not in running:
            continue
        was, reads = recipe_value(ws, wk), recipe_value(rs, rk)
        if not (isinstance(was, str) and isinstance(reads, str) and was and reads):
            continue
        # eval may read the merged student train writes under its --output-dir
        sub = "/merged" if (ws, wk) == ("train", "output_dir") else None
        if sub and same_file(Path(was) / "merged", reads):
            pass
        elif same_file(was, reads):
            sub = ""
        else:
            continue
        if wk not in overrides.get(ws, {}):
            continue
        if rk in overrides.get(rs, {}):
            continue  # both given: the user wired them
        now = substitute_run_dir(overrides[ws][wk], run_dir)
        if isinstance(now, str) and now and same_file(now + sub, reads):
            continue
        typed = next(s for s in reversed(sets) if s.startswith(f"{ws}.{wk}="))
        raise DistillError(
            f"--set {typed}: {rs}.{rk} still reads {reads} (the recipe's {ws}.{wk}): "
            f"--set {rs}.{rk}={typed.partition('=')[2]}{sub} too"
        )


_RUN_DIR = "__distill_run_dir__"


def _put_back(value: Any) -> Any:
    if isinstance(value, str):
        return value.replace(_RUN_DIR, "{run_dir}")
    if isinstance(value, list):
        return [_put_back(v) for v in value]
    if isinstance(value, dict):
        return {_put_back(k): _put_back(v) for k, v in value.items()}
    return value


def shown(s: str) -> str:
    """A --set as an error line shows it: a server URL's token (user:pass@, ?api_key=) left out,
    that of a *url key's value typed without its scheme (`me:tok@host/v1`) too."""
    from distill.urls import redact_url, redact_urls

    key, eq, value = s.partition("=")
    if eq and key.strip().lower().endswith(("url", "urls")):
        return f"{key}={redact_url(value)}"
    return redact_urls(s)


def text_keys(classes: dict[str, type]) -> dict[tuple[str, str], str]:
    """(stage, key) -> "text" for every text setting (`str`, `str | None`: a --set gives it as
    typed) and "csv" for a list its flag takes as `a,b,c`."""
    import dataclasses
    import typing

    found = {}
    for stage, cls in classes.items():
        hints = typing.get_type_hints(cls)
        for f in dataclasses.fields(cls):
            if hints[f.name] in (str, str | None):
                found[(stage, f.name)] = "text"
            elif f.metadata.get("csv"):
                found[(stage, f.name)] = "csv"
    return found


def parse_sets(
    sets: list[str], texts: dict[tuple[str, str], str] | None = None
) -> dict[str, dict[str, Any]]:
    """['train.seed=1', 'eval.limit=10'] -> {'train': {'seed': 1}, 'eval': {'limit': 10}} (YAML values).
    A text setting (`texts`) takes the value as typed, as its flag does (YAML read `You are #1`
    as 'You are' and a comment, `Answer: yes` as a mapping, 007 as 7); null (or ~, or nothing)
    still clears it and a quoted value is read as YAML. A list its flag takes as `a,b` (a
    "csv" one) is that list unless written as YAML (`[a, b]`)."""
    out: dict[str, dict[str, Any]] = {}
    for s in sets:
        key, eq, value = s.partition("=")
        stage, dot, field = key.partition(".")
        if not eq or not dot or stage not in ORDER:
            raise DistillError(
                f"--set {shown(s)}: expected STAGE.KEY=VALUE with STAGE one of {', '.join(ORDER)}"
            )
        bare, kind = value.strip(), (texts or {}).get((stage, field))
        if kind and bare not in ("", "~", "null", "Null", "NULL"):
            if kind == "text" and not (len(bare) > 1 and bare[0] == bare[-1] and bare[0] in "'\""):
                out.setdefault(stage, {})[field] = value
                continue
            if kind == "csv" and not bare.startswith("["):
                out.setdefault(stage, {})[field] = [
                    v.strip() for v in value.split(",") if v.strip()
                ]
                continue
        try:
            # `{run_dir}/x` is a YAML flow mapping (`{run_dir}` alone: {'run_dir': None}): the
            # placeholder is read as plain text, then put back for substitute_run_dir
            parsed = yaml.safe_load(value.replace("{run_dir}", _RUN_DIR))
            out.setdefault(stage, {})[field] = _put_back(parsed)
        except yaml.YAMLError as e:
            why = getattr(e, "problem", None) or str(e).strip().splitlines()[0]
            raise DistillError(f"--set {shown(s)}: the value is not valid YAML ({why})") from None
    return out


def _train_outputs(
    data: dict[str, Any], overrides: dict[str, dict[str, Any]], run_dir: str, p: Path
) -> list[str]:
    """The model folders this recipe's train section writes: --output-dir and its merged/."""
    if "train" not in data and "train" not in overrides:
        return []
    section = {**recipe_section(data, "train", p), **overrides.get("train", {})}
    out = substitute_run_dir(section.get("output_dir"), run_dir)
    return [out, str(Path(out) / "merged")] if isinstance(out, str) and out else []


def _lock_run_dir(run_dir: str, held: contextlib.ExitStack, create: bool) -> bool:
    """Hold RUN_DIR/.distill-run.lock (flock, let go when the run ends or its process dies):
    two `distill run` at once in one run dir each bought every sample, appended it to the one
    traces file and renamed filter's outputs over the other's, and every later run stopped on
    them. The second is refused in one line. Taken before the checks that read the run's
    files when the folder is there; else (`create`) before the first stage, so a refused
    recipe or --dry-run writes nothing. True when held, or when there is no lock to take (no
    flock: Windows; a filesystem without locks; a folder that cannot be written, which the
    stage's own check names)."""
    from distill.records import try_lock

    if os.name == "nt":  # pragma: no cover - no flock: no folder made for a lock never taken
        return True
    folder = Path(run_dir).expanduser()
    if not folder.is_dir() and not create:
        return False
    path = folder / ".distill-run.lock"
    while True:
        made = not folder.exists()
        try:
            folder.mkdir(parents=True, exist_ok=True)
            f = open(path, "a")
        except FileNotFoundError:
            if folder.exists():  # (the lock file a dangling link, say: no lock to take)
                return True
            # the folder went between mkdir and open: the run that made it ended, removing it
            # bare (_let_go); as for a lock file removed before it was locked (below), again
            if not create:
                return False
            continue
        except OSError:
            return True
        if not try_lock(f):
            f.close()
            # the holder's file and folder stay as they are (a folder this run saw missing may
            # be the holder's, made a moment later)
            raise DistillError(
                f"another `distill run` is running in {run_dir} (it holds {path}): nothing "
                "was run; wait for it to end, or use another --run-dir"
            )
        try:  # the file locked is still the one at `path` (not one the last run removed)
            here = os.stat(path)
        except OSError:
            here = None
        st = os.fstat(f.fileno())
        if here is not None and (here.st_dev, here.st_ino) == (st.st_dev, st.st_ino):
            break
        f.close()
        if not folder.is_dir() and not create:
            return False
    _HELD.add(f)
    # The lock file goes with the run however it ends (a recipe refused after the lock was
    # taken left it in the user's folder), removed while still held: a run that opened it just
    # before finds it gone and takes a new one (above). So does a run dir this run made and
    # left empty (a run stopped at its first stage's start).
    held.callback(_let_go, f, folder if made else None, path)
    return True


# The run dir locks this process holds: a child it forks (the filter's pool, an in-process vLLM
# engine) closes its copy, or one outliving a SIGKILLed run held the lock and every rerun was
# refused as another run.
_HELD: set[Any] = set()


def _close_held() -> None:
    # dup2 over the number, not close: the child's file object closing it later (a child
    # unwinding the run's stack) closes /dev/null, never a file of the child's opened since
    for f in _HELD:
        try:
            null = os.open(os.devnull, os.O_RDONLY)
            os.dup2(null, f.fileno())
            os.close(null)
        except OSError:
            pass
    _HELD.clear()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_close_held)


def _let_go(f: Any, made: Path | None = None, path: Path | None = None) -> None:
    """Remove the lock file (still the one held: not a file another run made since) and the
    run dir this run made when nothing else is in it; then let the lock go."""
    try:
        if path is not None:
            here, st = os.stat(path), os.fstat(f.fileno())
            if (here.st_dev, here.st_ino) == (st.st_dev, st.st_ino):
                path.unlink()
        if made is not None and not any(made.iterdir()):
            made.rmdir()
    except OSError:
        pass
    _HELD.discard(f)
    f.close()


def run(
    recipe: str | Path,
    run_dir: str | None = None,
    sets: list[str] | None = None,
    only: list[str] | None = None,
    dry_run: bool = False,
) -> dict[str, Any]:
    with contextlib.ExitStack() as held:  # the run dir's lock, let go however the run ends
        return _run(recipe, run_dir, sets, only, dry_run, held)


def _run(
    recipe: str | Path,
    run_dir: str | None,
    sets: list[str] | None,
    only: list[str] | None,
    dry_run: bool,
    held: contextlib.ExitStack,
) -> dict[str, Any]:
    from distill import eval as eval_stage
    from distill import filter as filter_stage
    from distill import generate, instruct, publish, train
    from distill.select import stage as select_stage

    p = Path(recipe)
    data = load_recipe(p)
    unknown = [k for k in data if k not in (*ORDER, "run")]
    if unknown:
        raise DistillError(f"{p}: unknown section '{unknown[0]}' (have: run, {', '.join(ORDER)})")
    run_dir = os.path.expanduser(run_dir) if run_dir else recipe_run_dir(data, p)  # --run-dir=~/x
    name = str(run_section(data, p).get("name") or p.stem)  # of the last line and result file
    if name in (".", "..") or "/" in name or os.sep in name:  # checked before any stage runs
        raise DistillError(
            f"{p}: run.name {name}: a file name is expected (RUN_DIR/NAME.json is the run's "
            "result): no folder in it"
        )
    stages = {
        "instruct": (instruct.InstructConfig, instruct.run),
        "generate": (generate.GenerateConfig, lambda c: generate.run(c, progress=True)),
        "filter": (filter_stage.FilterConfig, filter_stage.run),
        "select": (select_stage.SelectConfig, select_stage.run),
        "train": (train.TrainConfig, train.run),
        "eval": (eval_stage.EvalConfig, eval_stage.run),
        "publish": (publish.PublishConfig, publish.run),
    }
    overrides = parse_sets(sets or [], text_keys({k: v[0] for k, v in stages.items()}))
    # A --set key or value is named as typed, not as the recipe's (which has no such typo):
    # the last --set of each key, the one that counts.
    seen = set()
    for s in reversed(sets or []):
        stage, _, key = s.partition("=")[0].partition(".")
        if (stage, key) not in seen:
            seen.add((stage, key))
            typed_keys(stages[stage][0], {key: overrides[stage][key]}, f"--set {shown(s)}")
    # Validate every section before spending any time on the first. A model folder that train
    # writes is not checked before train has run: a killed train leaves it without a model, and
    # eval's check refused every rerun that would have finished it (checked when eval starts).
    produced = _train_outputs(data, overrides, run_dir, p)
    selected = set(only) if only is not None else None
    present = {s for s in ORDER if s in data or s in overrides}
    _check_links(data, overrides, sets or [], present & (selected or present), run_dir, p)
    deferred, configs = {}, {}  # deferred: the sections built again when their turn comes
    taken: dict[str, list[str]] = {}  # the keys each section took from another (TAKEN)
    origins: dict[str, str] = {}  # "eval.prompt_field" -> "generate's prompt_field"
    for stage in ORDER:
        if stage not in data and stage not in overrides:
            continue
        section = substitute_run_dir(
            {**recipe_section(data, stage, p), **overrides.get(stage, {})}, run_dir
        )
        given = set(section)
        pending = [
            k
            for k in ("model", "baseline")
            if stage == "eval"
            and isinstance(section.get(k), str)
            and section[k]
            and any(same_file(section[k], d) for d in produced)
        ]
        if pending and selected is not None and "eval" in selected and "train" not in selected:
            pending = []  # eval runs on a folder no train of this run writes: checked now
        # a name that passes the model-folder check (the real folder is checked when eval runs)
        stand_in = {k: "builtin:smollm2" for k in pending}
        where = f"{p} [{stage}]"
        lines = {
            k: v for k, v in key_lines(p, stage, where).items() if k not in overrides.get(stage, {})
        }
        configs[stage] = from_dict(stages[stage][0], {**section, **stand_in}, where, lines)
        for k in pending:
            setattr(configs[stage], k, section[k])
        _trained_format(stage, configs, section)  # (before: an Alpaca prompt has no system one)
        _trained_system_prompt(stage, configs, section)
        _generates_template(stage, configs, section)
        _generates_fields(stage, configs, section, origins)
        _generates_max_tokens(stage, configs, section)
        _trained_context(stage, configs, section, origins)
        _filter_limits(stage, configs, section)
        _filters_verify(stage, configs, section)
        taken[stage] = [k for k in section if k not in given]
        if pending:
            deferred[stage] = section
    if not configs:
        raise DistillError(f"{p}: no stages (sections {', '.join(ORDER)})")
    _votes(configs)
    # The result file written at the end is never a stage's input or output (a recipe named
    # report.yaml would overwrite {run_dir}/report.json): checked before any stage runs.
    result_path = Path(run_dir) / f"{name}.json"
    for stage, c in configs.items():
        for key in ("data", "input", "seed_tasks", "out", "rejects", "report", "eval"):
            value = getattr(c, key, None)
            if isinstance(value, str) and value and same_file(value, result_path):
                flag = "--" + key.replace("_", "-")
                raise DistillError(
                    f"{p}: the run's result file {result_path} is {stage}'s {flag} {value}: "
                    "set run.name (or rename the recipe) to another name"
                )
    # Nor a file train writes into its --output-dir (a recipe config.yaml training into
    # "{run_dir}" replaced the student's config.json), nor one in a folder wholly train's
    # (merged/, its checkpoints, the on-policy syncs' rollout-weights/ and rollout-adapters/,
    # removed at every sync) or publish's --local-dir.
    from distill.paths import TRAIN_FILES, paths_train

    owners = []  # (stage, flag, its value, folder, the names it writes there; None: a tree)
    if "train" in configs:
        tc = configs["train"]
        owners.append(("train", "--output-dir", tc.output_dir, Path(tc.output_dir), TRAIN_FILES))
        trees = [o.path for o in paths_train(tc)[1] if o.tree]
        owners += [("train", "--output-dir", tc.output_dir, t, None) for t in trees]
    if "publish" in configs and configs["publish"].local_dir:
        local = configs["publish"].local_dir
        owners.append(("publish", "--local-dir", local, Path(local), None))
    for stage, flag, value, folder, names in owners:
        if names is not None:
            if same_file(folder, result_path.parent) and result_path.name in names:
                raise DistillError(
                    f"{p}: the run's result file {result_path} would replace {stage}'s "
                    f"{result_path.name} in {flag} {folder}: set run.name (or rename the "
                    "recipe) to another name"
                )
        elif result_path.expanduser().resolve().is_relative_to(folder.expanduser().resolve()):
            raise DistillError(
                f"{p}: the run's result file {result_path} would replace {stage}'s files in "
                f"{folder}, a folder its {flag} {value} owns whole: set run.name (or rename "
                "the recipe) to another name"
            )
    # A file of the user's at the result's path (a --run-dir of theirs holding a smoke.json)
    # is theirs: replaced only when it is an earlier run's result.
    from distill.paths import check_run_result

    check_run_result(result_path)
    # No stage writes over another's files (eval's --out the traces generate bought), checked
    # for every section of the run, run now or not: they are the run's files.
    from distill.paths import check_stages

    check_stages(configs.items())
    recipe_configs = dict(configs)  # every section, the stages --only leaves out too
    if only is not None:
        if not only:
            raise DistillError(
                f"--only names no stage: give a comma list of {', '.join(configs)}, or leave "
                "--only out to run them all"
            )
        missing = [s for s in only if s not in configs]
        if missing:
            raise DistillError(
                f"--only {missing[0]}: {p} has no such section (has: {', '.join(configs)})"
            )
        configs = {s: c for s, c in configs.items() if s in only}
    from distill.paths import check_recipe

    check_recipe(p, configs.items())  # (a recipe train.yaml in the folder train writes into)
    locked = not dry_run and _lock_run_dir(run_dir, held, create=False)
    # Each stage's own check of its paths (an output that is an input, a read-only folder), which
    # it runs when it starts: here for every stage before the first, so a run refused at filter
    # has not bought generate's samples first, and --dry-run refuses what the run would.
    for stage, c in configs.items():
        _guard(stage, c, configs)
        if not dry_run:  # (as its inputs: --dry-run validates a recipe on any machine)
            _check_models(stage, c, produced)
    missing = _inputs_there(recipe_configs, configs)
    if missing and not dry_run:
        raise DistillError(missing[0])
    for stage, c in configs.items():  # eval's problems, on-policy train's prompts
        with _naming_taken(stage, c, origins):
            _check_rows(stage, c, configs, dry_run)
    # nor a stage that would write again the data the recipe's student learned from
    learned = _keeps_students_data(recipe_configs, configs)
    if "train" in configs:
        data = configs["train"].data
        writers = [getattr(c, "out", None) for s, c in configs.items() if s in ("filter", "select")]
        rewritten = any(isinstance(w, str) and w and same_file(w, data) for w in writers)
        _train_rerun(configs["train"], rewritten, taken.get("train", ()))
    mixed = "generate" in configs and _read_by_next(recipe_configs, configs["generate"].out)
    if mixed and dry_run:
        _only_these_samples(configs["generate"])
    if dry_run:
        for stage, c in configs.items():
            print(f"== {stage}: {_describe(c)}")
        for line in missing:  # valid; a run now would stop on it (a later call may write it)
            print(f"note: {line}")
        print(f"{name}: dry run, {len(configs)} stages valid, nothing run")
        return {"recipe": str(p), "run_dir": run_dir, "stages": list(configs)}
    if not locked:
        _lock_run_dir(run_dir, held, create=True)
    t0 = time.monotonic()
    for stage, c in configs.items():
        if stage in ("filter", "select"):
            # Done only when its manifest vouches for this config, its inputs and every output
            # in place (distill/manifest.py); a set a kill left half renamed is made again.
            module = filter_stage if stage == "filter" else select_stage
            why = module.done(c)
            if why is None:
                print(f"== {stage}: done ({module.manifest_of(c)} matches), skipped")
                continue
            again = f" (again: {why})" if module.manifest_of(c).exists() else ""
            print(f"== {stage}{again}", flush=True)
            own = recipe_configs["train"].output_dir if "train" in recipe_configs else None
            module.run(c, expect=_expected(stage, c, learned, own))
            continue
        if stage in deferred:  # its model folder is checked now that train has written it
            c = from_dict(stages[stage][0], deferred[stage], f"{p} [{stage}]")
        if stage == "eval" and "max_tokens" in taken.get("eval", ()):
            c = _fit_context(c)  # generate's length, within the models' context
        if stage == "train" and not (c.resume or c.overwrite) and train.checkpoints(c.output_dir):
            # a rerun (after a crash, or of a finished run) goes on with this run's train: its
            # settings (a changed one refused as --resume refuses it) and its data unchanged
            _same_data(c)
            done = train.finished_run(c)
            if done:
                print(f"== train: done ({done} is its last step), skipped", flush=True)
                continue
            print(
                f"== train (resuming: {c.output_dir} holds checkpoints; "
                "--set train.overwrite=true starts over)",
                flush=True,
            )
            with _naming_taken(stage, c, origins):
                stages[stage][1](dataclasses.replace(c, resume=True))
            continue
        if stage == "generate" and mixed:
            # before generate: a refused run buys nothing and appends nothing (its samples
            # left in the file refused the run dir's own settings ever after); with --only
            # generate too, as the recipe's filter reads the file on the next run
            _only_these_samples(c)
        print(f"== {stage}", flush=True)
        with _naming_taken(stage, c, origins):
            stages[stage][1](c)
    minutes = (time.monotonic() - t0) / 60
    result: dict[str, Any] = {"recipe": str(p), "run_dir": run_dir, "minutes": round(minutes, 2)}
    if "instruct" in configs:
        out = Path(configs["instruct"].out)
        rep = json.loads(out.with_name(out.stem + ".report.json").read_text())
        result["instruct"] = {k: rep[k] for k in ("items", "kept", "rouge_max", "cost_usd")}
    if "eval" in configs:
        ev = json.loads(Path(configs["eval"].out).read_text())
        result["student_pass@1"] = ev["student"]["pass@1"]
        result["base_pass@1"] = ev.get("baseline", {}).get("pass@1")
        result["eval"] = ev
    result = {**_still_true(result_path, configs), **result}
    from distill.records import write_atomic

    # whole or not at all: a run killed here leaves no torn file that the next one refuses
    write_atomic(result_path, json.dumps(result, indent=2) + "\n")
    if "instruct" in configs and "eval" not in configs:
        ins = result["instruct"]
        print(
            f"{name}: instructions={ins['items']} kept={ins['kept']} "
            f"rouge_max={ins['rouge_max']:.3f} minutes={minutes:.1f}"
        )
    if "eval" not in configs and "instruct" not in configs:  # the run is over, NAME.json written
        print(f"{name}: {', '.join(configs)} done minutes={minutes:.1f}")
    if "eval" in configs:
        # None: no problem of the set could be verified (eval.json says how many were not)
        base, student = result["base_pass@1"], result["student_pass@1"]
        # two budgets (each model's own context): said here too, where the two are compared
        from distill.eval import budgets_differ

        ev = result["eval"]
        budgets = (
            f"(not the same budget: max_tokens {ev['baseline']['max_tokens']} and "
            f"{ev['student']['max_tokens']}) "
            if budgets_differ(ev)
            else ""
        )
        print(
            f"{name}: base pass@1={base if base is None else format(base, '.3f')} "
            f"student pass@1={student if student is None else format(student, '.3f')} "
            f"{budgets}minutes={minutes:.1f}"
        )
    return result
