"""The publish stage: a trained student + a model card with its data lineage, to a local folder
or the Hugging Face Hub.

    distill publish runs/smoke/student --local-dir runs/smoke/published
    HF_TOKEN=... distill publish runs/r1/student --repo-id me/qwen-1.5b-r1-distill --private

The card's numbers come from the run's own files: the generate summary (teachers, samples,
tokens, cost), the filter report (kept after each filter, decontamination sets), the resolved
train config (hyperparameters) and eval.json (base vs student). The token is read from
$HF_TOKEN and never written anywhere.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from distill.config import setting
from distill.data import COMPRESSED
from distill.errors import DistillError
from distill.models import BUILTIN_HUB_NAMES, MODEL_FILES, RUN_FILES


@dataclass
class PublishConfig:
    dir: str = setting("", "The train output dir (adapter or full weights).", argument="dir")
    # USER/NAME on the Hub
    repo_id: str | None = setting(None, "Push to the Hub as USER/NAME (token from $HF_TOKEN).")
    # or a local folder
    local_dir: str | None = setting(None, "Or write the model and its card to this folder.")
    private: bool = setting(False, "Create the Hub repo private.", flags=("--private",))
    token_env: str = setting("HF_TOKEN", "Env var holding the Hub token.")
    merged: bool = setting(
        False, "Publish DIR/merged (full weights) instead of the adapter.", flags=("--merged",)
    )
    eval: str | None = setting(None, "eval.json for the card (default: found beside DIR).")
    # default: the report of the data train read
    filter_report: str | None = setting(
        None, "Filter report for the card (default: the training data's)."
    )
    license: str | None = setting(
        None,
        "License in the card metadata (default: the base model's where known here: a builtin "
        "base, a local base folder's README; else 'other', said on a line).",
    )
    commit_message: str = setting("Upload student trained with distill", cli=False)
    # --local-dir: also write into a non-empty folder that is not a previous publish of this
    # student; even then only files publish wrote there (listed in its marker) are replaced.
    overwrite: bool = setting(
        False,
        "--local-dir: also write into a non-empty folder that holds no publish of this student; its own files stay (only files an earlier publish wrote are replaced).",
        flags=("--overwrite",),
    )

    def __post_init__(self) -> None:
        if not self.dir:
            raise DistillError("missing the trained model dir to publish")
        if bool(self.repo_id) == bool(self.local_dir):
            raise DistillError("give exactly one of --repo-id USER/NAME or --local-dir PATH")
        if self.repo_id and self.repo_id.count("/") != 1:
            raise DistillError(f"--repo-id must be USER/NAME, got '{self.repo_id}'")
        if self.repo_id:  # the Hub's own rule (letters, digits, - _ . ; no -- or ..)
            from huggingface_hub.utils import HFValidationError, validate_repo_id

            try:
                validate_repo_id(self.repo_id)
            except HFValidationError as e:
                raise DistillError(f"--repo-id '{self.repo_id}': {e}") from None
        # huggingface_hub's own reading of the variable; found here, not as OfflineModeIsEnabled
        # after the card is built
        offline = os.environ.get("HF_HUB_OFFLINE", "").strip().upper()
        if self.repo_id and offline in ("1", "ON", "YES", "TRUE"):
            raise DistillError("HF_HUB_OFFLINE is set: publish to --local-dir, or unset it")


def _model_dir(cfg: PublishConfig) -> Path:
    d = Path(cfg.dir) / "merged" if cfg.merged else Path(cfg.dir)
    if not d.is_dir():
        if cfg.merged and Path(cfg.dir).is_dir():
            raise DistillError(
                f"--merged: {d} not found: train with --merge to write it, or publish the "
                "adapter without --merged"
            )
        raise DistillError(f"not a folder: {d}")
    has_adapter = (d / "adapter_config.json").is_file() and (
        d / "adapter_model.safetensors"
    ).is_file()
    has_weights = (d / "config.json").is_file() and any(d.glob("*.safetensors"))
    if not (has_adapter or has_weights):
        raise DistillError(
            f"not a trained model: {d} (no adapter_config.json + adapter weights, "
            "nor config.json + *.safetensors)"
        )
    return d


def _load(path: Path | None) -> dict[str, Any] | None:
    if path is None or not path.is_file():
        return None
    from distill.manifest import check_input

    check_input(path)  # a filter report or eval.json from a run that did not finish: refused
    text = path.read_text()
    return json.loads(text) if path.suffix == ".json" else yaml.safe_load(text)


def lineage(train_dir: Path, filter_report: str | None = None) -> dict[str, Any]:
    """Follow the run's files back: train.yaml -> kept data -> filter report -> generate summary."""
    from distill.config import read_saved
    from distill.generate.config import GenerateConfig
    from distill.train.config import TrainConfig, trained_precisions

    saved_train = _load(train_dir / "train.yaml")
    train = read_saved(TrainConfig, saved_train)
    kept = Path(train.data) if train.data else None
    report_path = Path(filter_report) if filter_report else None
    if report_path is None and kept is not None:
        from distill.filter import output_base

        report_path = Path(f"{output_base(kept)}.report.json")
    report = _load(report_path)
    selection = None
    if report and "criteria" in report and report.get("input"):
        # trained on `distill select`'s output: its report, then the filter's it chose from
        from distill.filter import output_base

        selection = report
        report_path = Path(f"{output_base(Path(report['input']))}.report.json")
        report = _load(report_path)
    # the filter's resolved config beside its report (kept.filter.yaml): which --decontam sets
    # an older report, that names only the sets that removed something, was checked against
    filter_config = None
    if report is not None and report_path is not None:
        from types import SimpleNamespace

        from distill.filter.config import config_path

        filter_config = _load(config_path(SimpleNamespace(report=str(report_path))))
    gen_summary = gen_cfg = None
    # the traces generate wrote: the filter's input, or the training data itself (no filter)
    traces = Path(report["input"]) if report and report.get("input") else None
    if traces is None and kept is not None and selection is None:
        traces = kept
    if traces is None and selection is not None and report is None:  # select read the traces
        traces = Path(selection["input"])
    if traces is not None:
        gen_summary = _load(traces.with_name(traces.stem + ".summary.json"))
        saved = _load(traces.with_name(traces.stem + ".generate.yaml"))
        gen_cfg = read_saved(GenerateConfig, saved) if saved is not None else None
    return {
        "train": train,
        # the keys train.yaml holds: the card shows no value the run did not record
        "train_keys": set(saved_train or {}),
        # what each part of the run trained in (a resume on another machine: train/sft.py)
        "precisions": trained_precisions(saved_train or {}),
        "filter": report,
        "filter_config": filter_config,
        "select": selection,
        "generate": gen_summary,
        "generate_config": gen_cfg,
    }


def _precisions(parts: list[tuple[int, str]]) -> str:
    """The card's precision: `bf16`, or each part of a run resumed in another
    (`bf16, fp16 from step 301`)."""
    return ", ".join(p if step == 1 else f"{p} from step {step}" for step, p in parts)


def _fmt(v: Any) -> str:
    """A metric in the card's eval table: None (pass@1 where no problem could be verified) n/a."""
    return "n/a" if v is None else f"{v:.3f}" if isinstance(v, float) else str(v)


def _sandbox_line(sandbox: str, whose: str = "teachers'") -> str:
    """How model-written code was run: the card says plainly when it was not isolated."""
    if sandbox.startswith("none"):
        return (
            f"**Unsafe sandbox:** the {whose} code was verified with `--unsafe-sandbox`, "
            "without OS isolation (rlimits and a Python guard only)."
        )
    return (
        f"The {whose} code was verified in an OS sandbox (`{sandbox}`: no network, read-only host)."
    )


def _funnel(
    header: tuple[str, str],
    start: tuple[str, int],
    removed: dict[str, int],
    end: tuple[str, int],
) -> list[str]:
    """A markdown table of how many traces each step removed and how many were left."""
    lines = ["", f"| {header[0]} | {header[1]} | traces left |", "|---|---|---|"]
    lines.append(f"| {start[0]} | | {start[1]} |")
    left = start[1]
    for step, n in removed.items():
        left -= n
        lines.append(f"| {step} | {n} | {left} |")
    return lines + [f"| **{end[0]}** | | **{end[1]}** |"]


def _decontam_line(report: dict[str, Any], config: dict[str, Any] | None) -> str:
    """Which benchmark sets the prompts were checked against and how many traces each removed,
    0 included. A report from before it listed every set names only those that removed
    something: the sets its kept.filter.yaml asked for are added with 0."""
    from distill.filter.decontam import decontam_label

    dec = dict(report.get("decontam") or {})
    for src in (config or {}).get("decontam") or []:
        name = src.rsplit("@", 1)[0] if "@" in src else src
        if not {src, name, Path(name).stem, decontam_label(src)} & set(dec):
            dec[decontam_label(src)] = 0
    if dec:
        sets = ", ".join(f"`{k}` ({n} removed)" for k, n in dec.items())
        return f"Decontamination: checked against {sets}."
    if config is not None:
        return "Decontamination: none requested."
    return (
        "Decontamination: not recorded (the filter report names no set, and the filter config "
        "saved beside it, *.filter.yaml, that would say whether any was asked for is missing)."
    )


def _select_lines(sel: dict[str, Any] | None) -> list[str]:
    """`distill select`'s part of the lineage: its criteria in the order they applied and how
    many traces each removed (the budget last), from its report."""
    if not sel:
        return []
    lines = [
        "",
        f"Selected with `distill select` (criteria: {', '.join(sel['criteria']) or 'none'}; "
        f"budget {sel.get('budget') or 'none'}; seed {sel.get('seed')}):",
    ]
    lines += _funnel(
        ("select criterion", "removed"),
        ("kept by the filter", sel["total"]),
        sel.get("removed", {}),
        ("selected for training", sel["selected"]),
    )
    diff, judge, div = sel.get("difficulty"), sel.get("judge"), sel.get("diversity")
    if diff:
        lines.append(
            f"\nDifficulty: the {diff.get('student') or 'teacher'}'s pass rate"
            + (f", band {diff['band']}" if diff.get("band") else "")
            + (", lowest first" if diff.get("prefer_failed") else "")
            + (
                f"; {diff['refused']} student samples refused by the server, unrated"
                if diff.get("refused")
                else ""
            )
            + (
                f"; {diff['unverifiable']} prompts unverifiable (no gold that parses, no tests), "
                "unrated"
                if diff.get("unverifiable")
                else ""
            )
            + "."
        )
    if judge:
        lines.append(
            f"\nJudge: `{judge.get('model')}` ({judge.get('scored')} of {judge.get('judged')} "
            f"scored, {judge.get('malformed', 0)} replies without a score"
            + (f", {judge['refused']} refused by the server" if judge.get("refused") else "")
            + (f"; min score {judge['min_score']}" if judge.get("min_score") is not None else "")
            + ")."
        )
    if div:
        lines.append(
            f"\nDiversity: round-robin over {div.get('groups')} groups ({div.get('by')}), "
            f"{div.get('groups_selected')} represented."
        )
    return lines


def _other_student(
    ev: dict[str, Any], train_dir: Path, model_dir: Path, base: str | None = None
) -> str | None:
    """Why eval.json's numbers are not this student's (None when they are, or when its student
    is a served or Hub name that cannot be checked). `base`: the model the student was trained
    from, never the student itself."""
    from distill.eval import weights_stamp
    from distill.models import looks_local

    student = str((ev.get("student") or {}).get("model") or "")
    if not student:
        return None
    if base and student in (base, BUILTIN_HUB_NAMES.get(base)):
        return f"it evaluates {student}, the base model, not the student {train_dir}"
    path = Path(student).expanduser()
    if not path.exists():
        if not looks_local(student):
            return None  # a served or Hub name
        # a folder not found here: this one only where it names it relative to another cwd
        # (runs/r1/student, evaluated from the project's root), or by the absolute path of
        # the machine it was trained on (the run folder copied here to publish: its last
        # two names, r1/student, are this one's)
        parts = tuple(x for x in path.parts if x != ".")
        if path.is_absolute():
            parts = parts[-2:]
        ours = (_real(train_dir).parts, _real(model_dir).parts)
        if ".." in parts or all(o[-len(parts) :] != parts for o in ours):
            return f"it evaluates {student}, not {train_dir}"
        return None
    if _real(student) not in (_real(train_dir), _real(model_dir)):
        return f"it evaluates {student}, not {train_dir}"
    stamp = (ev.get("weights") or {}).get("student")
    if stamp is not None and stamp != weights_stamp(student):
        return f"{student} holds other weights than it evaluated (retrained since)"
    return None


def _eval_of(
    path: Path, explicit: bool, train_dir: Path, model_dir: Path, base: str | None = None
) -> dict[str, Any] | None:
    """The eval.json the card shows: one of another student (or of this folder before it was
    retrained) is refused when given with --eval, and left out when found beside DIR."""
    ev = _load(path)
    why = _other_student(ev, train_dir, model_dir, base) if ev else None
    if why is None:
        return ev
    if explicit:
        raise DistillError(
            f"--eval {path}: {why}; run distill eval --model {train_dir} and pass its eval.json"
        )
    print(f"publish: {path} left out of the card: {why}")
    return None


# What iter_source reads as a data file, whether or not it is found
DATA_SUFFIXES = (".jsonl", ".ndjson", ".json", ".parquet", ".csv", ".tsv", *COMPRESSED)


def _hub_id(name: str) -> str | None:
    """`name` as the card's metadata may give it (base_model, datasets): a Hub id, not a local
    path (./ckpt, ~/ckpt, /home/me/ckpt, a folder here); an id without an org (gpt2) is one."""
    from huggingface_hub.utils import HFValidationError, validate_repo_id

    from distill.models import looks_local

    if looks_local(name) or Path(name).expanduser().exists():
        return None
    try:
        validate_repo_id(name)
    except HFValidationError:
        return None
    return name


def _local_adapter_base(model_dir: Path) -> str | None:
    """The local folder an adapter's adapter_config.json names as its base (None for a Hub
    id, or a builtin's folder, which the published copy names by its Hub model)."""
    try:
        base = json.loads((model_dir / "adapter_config.json").read_text()).get(
            "base_model_name_or_path"
        )
    except (ValueError, OSError, AttributeError):
        return None
    if not isinstance(base, str) or not base or hub_base(base) is not None:
        return None
    return None if _hub_id(base) else base


def build_card(model_dir: Path, train_dir: Path, cfg: PublishConfig) -> Any:
    from huggingface_hub import ModelCard, ModelCardData

    lin = lineage(train_dir, cfg.filter_report)
    train, rep, gen, gcfg = lin["train"], lin["filter"], lin["generate"], lin["generate_config"]
    ev_path = (
        Path(cfg.eval)
        if cfg.eval
        else next(
            (p for p in (train_dir / "eval.json", train_dir.parent / "eval.json") if p.is_file()),
            None,
        )
    )
    ev = _eval_of(ev_path, bool(cfg.eval), train_dir, model_dir, train.model) if ev_path else None
    base_model = train.model or "unknown"
    is_adapter = (model_dir / "adapter_config.json").is_file()
    # prompts from a file are no Hub dataset, found here or not (published from another folder
    # or machine than generate ran in): named as iter_source tells a file from a Hub name
    # (builtin:arithmetic is distill's own: cut at ':' it read as the Hub id 'builtin')
    source = str(gcfg.data) if gcfg and gcfg.data else ""
    data_id = (
        _hub_id(source.split(":")[0]) if source and not source.startswith("builtin:") else None
    )
    if data_id and Path(data_id).suffix.lower() in DATA_SUFFIXES:
        data_id = None
    base_id = _hub_id(BUILTIN_HUB_NAMES.get(train.model, train.model)) if train.model else None
    local_base = _local_adapter_base(model_dir) if is_adapter else None
    if local_base:
        print(
            f"publish: warning: the adapter's base model is a local folder, {local_base} "
            "(adapter_config.json base_model_name_or_path): whoever loads the adapter needs "
            "that model; publish --merged weights, or upload the base and name it there"
        )
    # the base's license_name/license_link go with it (`license: other` names nothing alone)
    terms = {"license": cfg.license} if cfg.license else _base_license(train.model) or {}
    license = terms.pop("license", None)
    if license is None:
        # a student's weights are its base's: apache-2.0 claimed for a Gemma or Llama student
        # was a license its base never gave
        license = "other"
        print(
            f"publish: note: the base model's license is not known here ({train.model}): the "
            "card says 'license: other'; give --license with the base model's"
        )
    data = ModelCardData(
        base_model=base_id,
        datasets=[data_id] if data_id else None,
        license=license,
        **terms,
        library_name="peft" if is_adapter else "transformers",
        pipeline_tag="text-generation",
        tags=[
            "distill",
            "knowledge-distillation",
            str(train.method or "sft"),
            # merged/ holds a LoRA adapter folded into the base: not a full fine-tune
            "lora" if is_adapter or cfg.merged else "full-finetune",
            f"format-{train.format or 'r1'}",
        ],
    )
    lines = [
        f"# {cfg.repo_id or Path(cfg.dir).resolve().name}",
        "",
        f"A student distilled with distill from `{base_model}`"
        f" ({'LoRA adapter' if is_adapter else 'full weights'}).",
        *(
            [
                "",
                f"**Base model:** the adapter's `adapter_config.json` names a local folder, "
                f"`{local_base}`, as its base model: load the adapter onto a copy of that model.",
            ]
            if local_base
            else []
        ),
        "",
        "## Data lineage",
        "",
    ]
    if gen:
        teachers = ", ".join(f"`{k}` ({v} samples)" for k, v in gen.get("by_teacher", {}).items())
        lines += [
            f"- Teacher(s): {teachers}",
            f"- Prompts: {gen.get('prompts')} from `{gcfg.data if gcfg else '?'}`"
            f"{' with template `' + str(gcfg.template) + '`' if gcfg and gcfg.template else ''}",
            f"- Samples generated: {gen.get('samples')} ({gen.get('completion_tokens', 0):,} completion tokens, "
            f"{gen.get('truncated', 0)} truncated, ${gen.get('cost_usd', 0):.4f})",
        ]
        if gen.get("failed_cost_usd") or gen.get("failed_tokens"):  # billed, in no record
            lines[-1] += (
                f"; {gen.get('failed_tokens', 0):,} tokens (${gen.get('failed_cost_usd', 0):.4f}) "
                f"of failed samples, ${gen.get('spent_usd', 0):.4f} spent in all"
            )
        if type(t := gen.get("timed_out_requests")) is int and t > 0:  # no usage: in no $ above
            lines[-1] += f"; {t} requests timed out: their cost is unknown"
        if gcfg:
            lines.append(
                f"- Sampling: n={gcfg.n}, temperature={gcfg.temperature}, "
                f"top_p={gcfg.top_p}, max_tokens={gcfg.max_tokens}"
            )
        if gcfg and gcfg.system_prompt:  # in every trace: the student trained after it
            lines.append(f"- System prompt: {json.dumps(gcfg.system_prompt)}")
    if rep:
        lines += _funnel(
            ("filter step", "dropped"),
            ("generated", rep["total"]),
            rep.get("reject_reasons", {}),
            ("kept for training", rep["kept"]),
        )
        # each line below its own paragraph: one right under the table is read as a table row
        v = rep.get("verify", {})
        if v.get("pass_rate") is not None:
            lines += [
                "",
                f"Teacher pass rate ({v.get('mode')} verification): {v['pass_rate']:.1%}.",
            ]
        if v.get("sandbox"):
            lines += ["", _sandbox_line(v["sandbox"])]
        lines += ["", _decontam_line(rep, lin["filter_config"])]
    lines += _select_lines(lin["select"])
    if not gen and not rep and not lin["select"]:
        lines.append("No generate summary or filter report was found next to the training data.")
    lines += ["", "## Training", "", "| hyperparameter | value |", "|---|---|"]
    from distill.config import keys_where
    from distill.train.config import TrainConfig

    lines += [
        f"| {k} | {_precisions(lin['precisions']) if k == 'precision' else getattr(train, k)} |"
        for k in keys_where(TrainConfig, "card")
        if k in lin["train_keys"]  # none without a train.yaml (a student trained elsewhere)
        # a full fine-tune used no adapter: its LoRA settings (defaults) are not the run's
        and (train.lora or not (k.startswith("lora_") or k == "qlora"))
    ]
    from distill.train.kd import card_lines

    lines += card_lines(train, _load(_kd_json(train_dir)))
    td = _load(train_dir / "train_data.json")
    if td and td.get("prompts_only"):
        lines.append(
            f"\nPrompts: {td['kept']} ({td['dropped_overlong']} dropped as too long); every "
            "completion sampled by the student and scored by the teacher (on-policy, no teacher text)."
        )
    elif td:
        # --overlong truncate: an example whose completion the cut left empty is dropped too; a
        # chat whose every assistant turn the dataset gives weight 0 is counted with them
        untrained = td.get("all_masked_weight_0", 0)
        masked = td.get("dropped_all_masked", 0) - untrained
        lines.append(
            f"\nExamples: {td['kept']} trained on ({td['dropped_overlong']} dropped as too long, "
            + (f"{masked} dropped with no completion left after truncation, " if masked else "")
            + (f"{untrained} left out with every assistant turn of weight 0, " if untrained else "")
            + f"{td['truncated']} truncated); loss on {td['completion_tokens']:,} completion tokens only"
            + (
                f", in {td['turns']:,} assistant turns ({td['sequences']:,} sequences)."
                if "turns" in td
                else "."
            )
        )
    if ev:
        from distill.eval import budgets_differ

        cols = [c for c in ("baseline", "student") if c in ev]
        # every metric of either column (eval.json names `unverifiable` only where it is > 0)
        metrics = list(dict.fromkeys(m for c in cols for m in ev[c] if m != "model"))
        lines += [
            "",
            "## Evaluation",
            "",
            f"On `{ev['data']}` ({ev['verify']} verification, n={ev['n']}, "
            f"temperature {ev['temperature']}, max {ev['max_tokens']} tokens"
            + (
                f" (the baseline's max {ev['baseline']['max_tokens']})"
                if budgets_differ(ev)
                else ""
            )
            + (f", template `{ev['template']}`" if ev.get("template") else "")
            + (
                f", system prompt {json.dumps(ev['system_prompt'])}"
                if ev.get("system_prompt")
                else ""
            )
            + "):",
            "",
            "| metric | " + " | ".join(f"{c} (`{ev[c]['model']}`)" for c in cols) + " |",
            "|---|" + "---|" * len(cols),
        ]
        lines += [
            f"| {m} | "
            + " | ".join(_fmt(ev[c].get(m, 0 if m == "unverifiable" else None)) for c in cols)
            + " |"
            for m in metrics
        ]
        # eval.json's delta is paired (fd1ac56): over the problems both models were scored on,
        # which differ from each column's own where one model's answers could not be verified,
        # so the two pass@1s above need not differ by it. (An eval.json without delta_problems
        # is older: its delta was the difference of the two.)
        if "baseline" in ev and ev.get("delta_problems") and ev.get("delta_pass@1") is not None:
            lines += [
                "",
                f"pass@1 student - baseline: {ev['delta_pass@1']:+.3f}, on the "
                f"{ev['delta_problems']} problems both were scored on{budgets_differ(ev)}.",
            ]
        if ev.get("sandbox"):
            lines += ["", _sandbox_line(ev["sandbox"], "models'")]
    repo = cfg.repo_id or "PATH/TO/THIS/FOLDER"
    lines += [
        "",
        "## Use",
        "",
        "```python",
        "from transformers import AutoModelForCausalLM, AutoTokenizer",
    ]
    if is_adapter:
        lines += [
            "from peft import PeftModel",
            "",
            f'base = AutoModelForCausalLM.from_pretrained("{base_id or base_model}")',
            f'model = PeftModel.from_pretrained(base, "{repo}")',
        ]
    else:
        lines += ["", f'model = AutoModelForCausalLM.from_pretrained("{repo}")']
    alpaca = train.format == "alpaca"
    if alpaca:  # trained in the Alpaca prompt, no chat template (the tokenizer adds its BOS)
        from distill.templates import load_template

        text = load_template("alpaca-no-input").render({"instruction": "What is 12 + 34?"})
        use = [f"prompt = {text!r}", "inputs = tok(prompt, return_tensors='pt')"]
    else:
        # the system message the student trained after (its traces hold it; on-policy, the one
        # it sampled after): asked without it, the template's default (Qwen2.5's 'You are
        # Qwen...') stands in its place
        system = train.system_prompt or (
            gcfg.system_prompt if gcfg else (ev or {}).get("system_prompt")
        )
        turns = ([{"role": "system", "content": system}] if system else []) + [
            {"role": "user", "content": "What is 12 + 34?"}
        ]
        use = [
            f"prompt = tok.apply_chat_template({json.dumps(turns)}, tokenize=False, add_generation_prompt=True)",
            "inputs = tok(prompt, return_tensors='pt', add_special_tokens=False)",
        ]
    lines += [
        f'tok = AutoTokenizer.from_pretrained("{repo}")',
        *use,
        "out = model.generate(**inputs, max_new_tokens=256)",
        "```",
        "",
        "Serve with vLLM:",
        "",
        "```bash",
    ]
    if is_adapter:
        lines.append(
            f"vllm serve {base_id or base_model} --enable-lora --lora-modules student={repo}"
        )
    else:
        lines.append(f"vllm serve {repo}")
    lines += [
        "```",
        "",
        "Trained on Alpaca's prompt (`### Instruction:` / `### Input:` / `### Response:`), not a "
        "chat template: prompt it the same way (an input, where there is one, after the "
        "instruction as `### Input:`)."
        if alpaca
        else "The chat template shipped with the tokenizer is the one used in training; render "
        "prompts with it (and its generation prompt) so the student sees what it was trained on.",
    ]
    return ModelCard(f"---\n{data.to_yaml()}\n---\n\n" + "\n".join(lines) + "\n")


def _kd_json(train_dir: Path) -> Path | None:
    """The run's kd.json when it is this student's: a kd / onpolicy run's of the same method.
    An sft student was scored by no teacher; a kd.json beside it is an earlier kd run's in the
    same folder (trained before a fresh train removed it), which said a teacher scored its tokens."""
    path = train_dir / "kd.json"
    if not path.is_file():
        return None
    method = (_load(train_dir / "train.yaml") or {}).get("method")
    if method == "sft":
        return None
    saved = (_load(path) or {}).get("method")  # (a train.yaml that does not say: kept as before)
    return path if None in (method, saved) or saved == method else None


def _sources(model_dir: Path, train_dir: Path) -> list[Path]:
    """The files published beside the card (README.md), each under its own name."""
    found = [model_dir / n for n in MODEL_FILES if (model_dir / n).is_file()]
    found += sorted(model_dir.glob("model-*.safetensors"))
    run = [train_dir / n for n in RUN_FILES if n != "kd.json" and (train_dir / n).is_file()]
    kd = _kd_json(train_dir)
    return found + run + ([kd] if kd else [])


# The names publish writes into a Hub repo (README.md aside): on a repo published into before,
# those its marker lists (_hub_plan) that this publish does not write are deleted in its commit,
# and never a name outside these. Matched with fnmatch, whose `*` crosses '/'
# ('model-*.safetensors' took a user's model-awq/model.safetensors): the shards
# save_pretrained names, by character class, match in the repo's root alone.
SHARDS = "model-[0-9][0-9][0-9][0-9][0-9]-of-[0-9][0-9][0-9][0-9][0-9].safetensors"
PUBLISHED = [*MODEL_FILES, SHARDS, *RUN_FILES]


def hub_base(base: Any) -> str | None:
    """The Hub model an adapter's `base_model_name_or_path` names when it is a builtin: PEFT
    writes the folder the builtin was loaded from (~/.cache/distill/models/smollm2, on the
    machine that trained it), which no one loading the published adapter has."""
    if not isinstance(base, str):
        return None
    if base in BUILTIN_HUB_NAMES:
        return BUILTIN_HUB_NAMES[base]
    b = Path(base)
    return BUILTIN_HUB_NAMES.get(f"builtin:{b.name}") if b.parent.name == "models" else None


def _stage(model_dir: Path, train_dir: Path, card: Any, dest: Path) -> None:
    from distill.urls import redact_urls

    for src in _sources(model_dir, train_dir):
        if src.name == "adapter_config.json":  # the published copy names the builtin's Hub model
            config = json.loads(src.read_text())
            hub = hub_base(config.get("base_model_name_or_path"))
            if hub is not None:
                config["base_model_name_or_path"] = hub
                (dest / src.name).write_text(json.dumps(config, indent=2) + "\n")
                continue
        if src.name in ("train.yaml", "kd.json"):  # server URLs without userinfo or query
            text = src.read_text()
            data = yaml.safe_load(text) if src.name == "train.yaml" else json.loads(text)
            if redact_urls(data) != data:
                (dest / src.name).write_text(
                    yaml.safe_dump(redact_urls(data), sort_keys=False)
                    if src.name == "train.yaml"
                    else json.dumps(redact_urls(data), indent=2) + "\n"
                )
                continue
        shutil.copy2(src, dest / src.name)
    card.save(str(dest / "README.md"))


# =========================================================================== --local-dir

# Written last into a --local-dir: the student it holds and the files publish wrote there. A
# later publish replaces (and removes) only those files; anything else in the folder is the
# user's and is never touched.
MARKER = ".distill-publish.json"


def _real(p: Path | str) -> Path:
    return Path(os.path.realpath(os.path.expanduser(str(p))))


def _within(inner: Path, outer: Path) -> bool:
    return inner == outer or outer in inner.parents


def _parse_marker(text: str, where: str, proceed: str) -> dict[str, Any]:
    """A publish marker's contents, checked; refused in one line naming `where` otherwise."""
    try:
        marker = json.loads(text)
        files = marker["files"]
        assert isinstance(marker["student"], str) and isinstance(files, list)
        assert all(isinstance(f, str) and f == Path(f).name and f != MARKER for f in files)
        assert isinstance(marker.setdefault("stamps", {}), dict)
        pending = marker.setdefault("pending", {})  # (_place: a publish cut while placing)
        assert isinstance(pending, dict) and all(
            isinstance(s, list) and all(isinstance(x, list) for x in s) for s in pending.values()
        )
        hashes = marker.setdefault("hashes", {})  # a Hub publish's (below)
        assert isinstance(hashes, dict)
        assert all(
            isinstance(h, dict)
            and isinstance(h.get("git"), str)
            and isinstance(h.get("sha256"), str)
            for h in hashes.values()
        )
        earlier = marker.setdefault("earlier", {})  # (_hub_plan: a publish cut between commits)
        assert isinstance(earlier, dict) and all(
            isinstance(h, dict)
            and {"git", "sha256"} & set(h)
            and all(isinstance(h[k], str) for k in {"git", "sha256"} & set(h))
            for h in earlier.values()
        )
    except (ValueError, KeyError, TypeError, AssertionError):
        raise DistillError(
            f"{where}: {MARKER} is not a publish marker (expected the student and the files it "
            f"wrote); {proceed}"
        ) from None
    return marker


def _read_marker(dest: Path) -> dict[str, Any] | None:
    path = dest / MARKER
    if not path.exists():
        return None
    proceed = "move it away or pick another folder"
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, ValueError):
        text = ""  # (refused below, as a marker that does not parse)
    return _parse_marker(text, f"--local-dir {dest}", proceed)


def check_local_dir(cfg: PublishConfig) -> dict[str, Any] | None:
    """Refuse, before anything is read or written, a --local-dir publish may not write into;
    -> the previous publish's marker there (None for an absent or empty folder).

    Allowed: an absent or empty folder, or one holding a previous publish of the same student;
    with --overwrite, any other folder of the user's, whose files stay (only publish's own
    files, listed in the marker, are replaced). Never the student folder, a folder inside it
    or one that contains it."""
    assert cfg.local_dir
    dest, student = Path(cfg.local_dir), _real(cfg.dir)
    real = _real(dest)
    if _within(real, student):
        where = "is the student folder" if real == student else "is inside the student folder"
        raise DistillError(
            f"--local-dir {dest} {where} {cfg.dir}: publish would write over the trained run; "
            "pick a folder outside it"
        )
    if _within(student, real):
        raise DistillError(
            f"--local-dir {dest} contains the student folder {cfg.dir}: pick a folder outside it"
        )
    parent = real
    while not parent.exists() and parent != parent.parent:
        parent = parent.parent
    if parent.exists() and not parent.is_dir():
        what = "is a file" if parent == real else f"is under a file ({parent})"
        raise DistillError(f"--local-dir {dest} {what}: pick a folder")
    if not os.access(parent, os.W_OK | os.X_OK):
        raise DistillError(f"--local-dir {dest}: cannot write in {parent}/ (read-only folder)")
    # a folder that holds only what a publish killed in it left (its marker's temp) is empty
    if not real.exists() or not set(real.iterdir()) - set(_leftovers(real, None)):
        return None
    marker = _read_marker(real)
    if marker is None and not cfg.overwrite:
        raise DistillError(
            f"--local-dir {dest} is a non-empty folder that holds no previous publish: pick an "
            "empty or new folder, or pass --overwrite to add the model beside its files (none of "
            "them is replaced or removed)"
        )
    if marker is not None and _real(marker["student"]) != student and not cfg.overwrite:
        raise DistillError(
            f"--local-dir {dest} holds a publish of another student ({marker['student']}): pick "
            "another folder, or pass --overwrite to replace that publish's files"
        )
    return marker


def _stamp(path: Path) -> list[int]:
    st = path.stat()
    return [st.st_size, st.st_mtime_ns]


def _ours(dest: Path, name: str, previous: dict[str, Any] | None) -> bool:
    """`name` in dest is the file a previous publish wrote: listed in its marker, a plain file,
    and (where the marker has its size and mtime, or a Hub publish's its sha256) not written
    over by the user since."""
    if not previous or name not in previous["files"]:
        return False
    p = dest / name
    if not p.is_file() or p.is_symlink():
        return False
    stamp = previous.get("stamps", {}).get(name)
    if stamp is not None:
        return stamp == _stamp(p)
    pending = previous.get("pending", {}).get(name)
    if pending is not None:  # a publish cut while placing: its file before or after the move
        return _stamp(p) in [s[:2] for s in pending]  # (size, mtime; then its hashes)
    # A Hub publish's marker (a clone or download of the repo) has no size and mtime here: the
    # README.md the user edited in the clone is theirs by its hash, as on the Hub (_hub_plan).
    # Its `earlier` hashes are not: they are publish's only while a cut publish had yet to
    # commit the file, which the Hub's history tells and a folder does not (a file the user
    # put back to the earlier publish's bytes after it was replaced would be taken).
    if "hashes" not in previous or name not in previous["hashes"]:
        return True
    kept = [previous["hashes"][name]]
    mine = _hashes(p)  # both at once: _place's pending asks for them too (read once: _HASHES)
    return any(h.get(k) == v for h in kept for k, v in mine.items())


def _clashes(dest: Path, names: list[str], previous: dict[str, Any] | None) -> None:
    """A file publish would write that is already there and is not its own: refused, by name."""
    for name in names:
        if (dest / name).exists() or (dest / name).is_symlink():
            if not _ours(dest, name, previous):
                raise DistillError(
                    f"--local-dir {dest}: {name} is already there and publish did not write it; "
                    "move it away (publish never replaces a file it did not write)"
                )


def _write_marker(
    dest: Path,
    student: Path,
    files: list[str],
    stamps: dict[str, list[int]] | None = None,
    pending: dict[str, list[list[Any]]] | None = None,
    hashes: dict[str, dict[str, str]] | None = None,
) -> None:
    """`stamps`: size and mtime of each file as publish left it (a file changed since is the
    user's). `pending`: for a file about to be placed, the stamps it is publish's at (the
    staged file's, and the earlier publish's file it replaces), each followed by the file's
    git blob id and sha256 where known; a name with neither (a marker of an older distill) is
    publish's by name. `hashes`: each stamped file's (the folder uploaded to the Hub by hand:
    what _hub_plan compares with the Hub's listing, which has no mtime)."""
    from distill.records import write_atomic

    doc: dict[str, Any] = {"student": str(student), "files": files, "stamps": stamps or {}}
    if pending:
        doc["pending"] = pending
    if hashes:
        doc["hashes"] = hashes
    write_atomic(dest / MARKER, json.dumps(doc, indent=2) + "\n")


# A file's temp name while it is copied into dest (a move that is no rename: _move_in), and
# the temp name of the marker while write_atomic writes it (the pid of the writer after it)
PART = ".distill-publish.{}.part"
MARKER_TEMP = re.compile(rf"\.{re.escape(MARKER)}\.tmp([0-9]+)")


def _leftovers(dest: Path, previous: dict[str, Any] | None) -> list[Path]:
    """What a publish killed in dest (no `finally` ran) left there of its own: the temp of a
    file it was copying in, under PART of a name its marker lists as being placed, no larger
    than that file; the marker's temp, a marker or the start of one, of a process no longer
    running. Never a name of the user's: anything else stays."""
    found = []
    for name, stamps in ((previous or {}).get("pending") or {}).items():
        part = dest / PART.format(name)
        if part.is_file() and not part.is_symlink():
            staged = stamps[0][0] if stamps and stamps[0] else None
            if isinstance(staged, int) and part.stat().st_size <= staged:
                found.append(part)
    try:
        names = [p for p in dest.iterdir() if MARKER_TEMP.fullmatch(p.name)]
    except OSError:
        names = []
    head = '{\n  "student": '  # how _write_marker's json.dumps begins
    for p in names:
        if p.is_symlink() or not p.is_file() or _running(int(MARKER_TEMP.fullmatch(p.name)[1])):
            continue
        try:
            text = p.read_text(encoding="utf-8")
        except (OSError, ValueError):
            continue
        if text.startswith(head) or head.startswith(text):
            found.append(p)
    return found


def _running(pid: int) -> bool:
    """Whether process `pid` is alive (another publish writing its marker now)."""
    if pid == os.getpid():
        return False  # this one has written none yet
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (OSError, OverflowError):  # (another user's: alive)
        return True
    return True


def _staging_parent(dest: Path) -> Path | None:
    """Where the files are staged: the nearest folder above dest that exists (beside dest, or
    above the folders publish creates for it), on dest's filesystem, so each move into dest is
    a rename that keeps the size and mtime _place's marker names. Staged in the system's temp
    folder where dest's parent did not exist yet, each move was a copy: a publish cut during
    one left a part of the file no stamp matched, and the next publish refused it as the
    user's. `dest` as the files land: a --local-dir that is a symlink is its target (staged
    beside the link, on the link's filesystem, the moves were copies again). Dest itself where
    it is a folder on another filesystem than the one above it (a mount point: a volume, a
    disk) or in a folder that cannot be written in (/mnt/usb). None (the system's temp folder)
    only where neither can be written: a --local-dir of the user's in a read-only folder
    failed ('Permission denied' for it)."""
    parent = dest.parent
    while not parent.is_dir() and parent != parent.parent:
        parent = parent.parent
    writable = os.access(parent, os.W_OK | os.X_OK)
    if dest.is_dir() and (not writable or _device(dest) != _device(parent)):
        return dest
    return parent if writable else None


def _device(path: Path) -> int | None:
    """The filesystem `path` is on (None: not known)."""
    try:
        return path.stat().st_dev
    except OSError:
        return None


def _place(
    tmp: Path, dest: Path, names: list[str], previous: dict[str, Any] | None, train_dir: Path
) -> None:
    """Move the staged files into dest, then remove the previous publish's files this one did not
    write again. The marker first lists both sets (a kill midway leaves every file it placed
    still named as publish's), and last only this publish's."""
    student = _real(train_dir)
    for left in _leftovers(dest, previous):  # of a publish killed here
        left.unlink(missing_ok=True)
    for name in names:  # a file of the user's under a temp name publish copies through
        part = dest / PART.format(name)
        if part.exists() or part.is_symlink():
            raise DistillError(
                f"--local-dir {dest}: {part.name} is in the way (publish copies {name} in "
                "under that name) and publish did not write it; move it away"
            )
    old = [n for n in previous["files"] if _ours(dest, n, previous)] if previous else []
    # Each listed name keeps what tells publish's file from a user's: an earlier file not
    # replaced, its stamp as it is now (_ours took it); a name about to be placed, the staged
    # file's stamp (a rename keeps size and mtime) and the earlier file's it replaces. Until
    # then such a name was listed bare, publish's by name: a publish cut before its move left
    # it so, and a file the user then wrote under that name was replaced by the next publish,
    # or deleted by one that no longer writes it. With each, the file's hashes: the folder
    # uploaded to the Hub by hand is read there by them (_hub_plan), not by its sizes (a
    # user's file of the same size was taken for publish's and replaced).
    new = {n: _hashes(tmp / n) for n in names}
    was = {n: _hashes_of(dest, n, previous) for n in old}
    kept = {n: _stamp(dest / n) for n in old if n not in names}
    pending = {
        n: [_stamp(tmp / n) + _pair(new[n])]
        + ([_stamp(dest / n) + _pair(was[n])] if n in old else [])
        for n in names
    }
    hashes = {n: was[n] for n in kept}
    _write_marker(dest, student, sorted(set(old) | set(names)), kept, pending, hashes)
    for name in names:
        _move_in(tmp / name, dest / name)
    for name in old:
        if name not in names:
            (dest / name).unlink()
    _write_marker(dest, student, names, {n: _stamp(dest / n) for n in names}, hashes=new)


def _pair(h: dict[str, str]) -> list[str]:
    return [h["git"], h["sha256"]]


def _hashes_of(dest: Path, name: str, previous: dict[str, Any] | None) -> dict[str, str]:
    """The hashes of an earlier publish's file in dest: its marker's, where the file is as
    that publish left it (its stamp), else read."""
    prev = previous or {}
    h, stamp = prev.get("hashes", {}).get(name), prev.get("stamps", {}).get(name)
    if h is not None and stamp is not None and stamp == _stamp(dest / name):
        return h
    return _hashes(dest / name)


def _move_in(src: Path, dst: Path) -> None:
    """Move a staged file to `dst` so that no part of it ever carries dst's name: a rename
    where it can be one, else (another filesystem, a bind mount: EXDEV) a copy to a temp name
    beside dst (PART), synced to disk, with src's mtime, then renamed. shutil.move copied
    straight to dst: a publish killed during the copy left part of the file there, which no
    stamp matched, and the next publish refused its own file as the user's. A temp a kill
    leaves is removed by the next publish (_leftovers); one an exception leaves, here. Any
    rename refused is copied, as shutil.move did (not EXDEV alone: a FUSE or network mount that
    renames nothing, ENOSYS or EPERM, failed the publish shutil.move had copied in)."""
    part = dst.with_name(PART.format(dst.name))
    try:
        try:
            os.rename(src, part)
        except OSError:
            shutil.copyfile(src, part)
            shutil.copystat(src, part)  # the mtime the marker's stamp names
            fd = os.open(part, os.O_RDONLY)
            try:
                os.fsync(fd)
            finally:
                os.close(fd)
            src.unlink()
        shutil.move(str(part), str(dst))  # in one folder: a rename
    except BaseException:
        part.unlink(missing_ok=True)
        raise


# =========================================================================== --repo-id

# A Hub repo keeps the same marker (uploaded in the publish's commit), with each file's hashes in
# place of size and mtime: what a later publish compares with the repo's listing, so a file the
# user replaced on the Hub (their own README.md) is theirs. A repo without a marker (the user's
# own, or published by a distill before markers) holds no file of publish's: a name publish
# writes that is there is refused, and nothing is deleted. Until a9e0249 (one day, unreleased)
# publish deleted nothing; since then it deleted every PUBLISHED name, whoever wrote it: a
# user's full model in a repo an adapter was published into. Guessing by name is what lost
# the user's weights; refusing costs one deletion on the Hub, once.
#
# huggingface_hub (with hf_xet) commits a large folder in several commits, its files in sorted
# order: the marker (a dot-file) rides the first, with the deletions; a publish killed after
# it left the new marker beside the earlier publish's files it had yet to replace, and the next
# publish refused them as changed by someone. So the marker also keeps, under `earlier`, the
# hashes the repo listed for each file it replaces, as they were when checked: a file at the
# earlier content is publish's while no commit has touched it since the marker's own (the cut
# publish had yet to reach it: tests/test_user_files_s15.py); one committed after the marker
# (the publish went on past it, and the user put the earlier bytes back) is the user's
# (tests/test_publish_earlier_s16.py).


# Each file's hashes already read, by what identifies its bytes without reading them (as
# manifest.file_sha256 keeps its sha256s, on the same terms: a file changed in the last seconds
# is not kept). A publish into a clone of its Hub repo read each earlier file of publish's
# there twice or more (its sha256 for _ours, then both hashes for the marker's pending): a
# model of several GB read twice over.
_HASHES: dict[tuple[int, ...], dict[str, str]] = {}


def _hashes(path: Path) -> dict[str, str]:
    """The file's git blob id (what the Hub lists for a plain file) and sha256 (an LFS file's)."""
    import hashlib
    import time

    from distill import manifest

    st = os.stat(path)
    known = _HASHES.get(manifest._identity(st))
    if known is not None:
        return dict(known)
    git = hashlib.sha1(f"blob {st.st_size}\0".encode(), usedforsecurity=False)
    sha = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            git.update(chunk)
            sha.update(chunk)
        after = os.fstat(f.fileno())
    found = {"git": git.hexdigest(), "sha256": sha.hexdigest()}
    settled = time.time_ns() - max(st.st_mtime_ns, st.st_ctime_ns) > manifest._SETTLED_NS
    if settled and manifest._identity(after) == manifest._identity(st):  # not changed meanwhile
        _HASHES[manifest._identity(st)] = dict(found)
    return found


def _write_hub_marker(
    folder: Path, train_dir: Path, names: list[str], earlier: dict[str, dict[str, str]]
) -> None:
    """The marker uploaded with the files (the student by its folder's name: the repo may be
    public, and the machine's paths are no one else's). `earlier`: the repo's hashes of the
    files this publish replaces (_hub_plan), kept where they differ from the new ones."""
    hashes = {n: _hashes(folder / n) for n in names}
    doc = {
        "student": _real(train_dir).name,
        "files": names,
        "stamps": {},
        "hashes": hashes,
        "earlier": {
            n: h
            for n, h in sorted(earlier.items())
            if n in hashes and not any(hashes[n].get(k) == v for k, v in h.items())
        },
    }
    (folder / MARKER).write_text(json.dumps(doc, indent=2) + "\n")


def _listed_hashes(f: Any) -> dict[str, str]:
    """A file's hash as the Hub lists it: an LFS file's sha256, a plain file's git blob id."""
    lfs = getattr(f, "lfs", None)
    return {"sha256": lfs["sha256"]} if lfs else {"git": f.blob_id}


# paths a get_paths_info call asks for (not expanded, expanded): a page of the Hub's answer
PAGE = (1000, 50)


def _hub_plan(
    api: Any, repo_id: str, names: list[str], revision: str | None
) -> tuple[list[str], dict[str, dict[str, str]]]:
    """Refuse, in one line, a publish that would replace a file in the repo no earlier publish
    wrote (or that the user replaced since); -> the earlier publish's files this one does not
    write, to delete in its commit, and the listed hashes of those it replaces (its marker's
    `earlier`)."""
    from fnmatch import fnmatchcase

    where = f"--repo-id {repo_id}"
    files = set(api.list_repo_files(repo_id, repo_type="model", revision=revision))
    previous = None
    if MARKER in files:
        got = api.hf_hub_download(repo_id, MARKER, repo_type="model", revision=revision)
        proceed = "delete it from the repo or pick another --repo-id"
        try:
            text = Path(got).read_text(encoding="utf-8")
        except (OSError, ValueError):
            text = ""
        previous = _parse_marker(text, where, proceed)
    listed = [n for n in (previous or {}).get("files", []) if n in files]
    ours: dict[str, dict[str, str]] = {}
    if listed:
        hashes = previous["hashes"] if previous else {}
        earlier = previous["earlier"] if previous else {}
        stamps = previous["stamps"] if previous else {}
        # with each file's last commit when an earlier hash may count (the marker's first)
        dated = any(n in earlier for n in listed)
        paths = [MARKER, *listed] if dated else listed
        kw = {"expand": True} if dated else {}
        # the Hub answers an expanded listing 50 paths a page (1000 without, huggingface_hub's
        # docs) and get_paths_info reads one: asked PAGE at a time, or the files past the
        # 50th of a model of many shards were refused as changed by someone
        page = PAGE[bool(dated)]
        found = [
            f
            for i in range(0, len(paths), page)
            for f in api.get_paths_info(
                repo_id, paths[i : i + page], repo_type="model", revision=revision, **kw
            )
        ]
        marked = next((_committed(f) for f in found if f.path == MARKER), None)
        # the repo's history as the Hub walks it from `revision` (newest first): which commit
        # came before which, whatever their dates say (a push from a machine whose clock is
        # behind dated the user's commit before the marker's)
        order = None
        if getattr(marked, "oid", None) is not None:
            commits = api.list_repo_commits(repo_id, repo_type="model", revision=revision)
            order = {c.commit_id: i for i, c in enumerate(commits)}
        for f in found:
            if f.path not in listed or not hasattr(f, "blob_id"):
                continue  # a folder of that name
            now = _listed_hashes(f)
            kept = [hashes.get(f.path)]
            if _not_reached(_committed(f), marked, order):
                kept.append(earlier.get(f.path))
            kept = [h for h in kept if h is not None]
            if kept:
                same = any(h.get(k) == v for h in kept for k, v in now.items())
            else:  # a --local-dir publish uploaded by hand, of a distill before its hashes
                # (or cut while placing): its marker has the size it left
                stamp = stamps.get(f.path)
                size = getattr(f, "size", None)
                # (one cut while placing: the sizes its file had before and after the move)
                pending = (previous or {}).get("pending", {}).get(f.path)
                if stamp is None and pending is not None:  # by its hashes where it has them
                    same = any(_pending_is(s, now, size) for s in pending)
                else:
                    same = stamp is None or (isinstance(stamp, list) and stamp[:1] == [size])
            if same:
                ours[f.path] = now
    for name in names:
        if name in files and name not in ours:
            why = (
                "changed since distill published it"
                if name in listed
                else "no distill publish wrote it"
                + ("" if previous else f" (the repo has no {MARKER})")
            )
            raise DistillError(
                f"{where}: {name} is already in the repo and {why}: delete or rename it there, "
                "or pick another --repo-id (publish never replaces a file it did not write)"
            )
    # a name publish writes (never a pattern: deleted by fnmatch) from the marker's list
    delete = sorted(
        n
        for n in set(ours) - set(names)
        if not set("*?[]") & set(n) and any(fnmatchcase(n, p) for p in PUBLISHED)
    )
    return delete, {n: h for n, h in ours.items() if n in names}


def _pending_is(stamp: list[Any], listed: dict[str, str], size: Any) -> bool:
    """Whether the Hub's file is the one a --local-dir publish's `pending` stamp names: by
    its git blob id or sha256 (a stamp followed by them: [size, mtime, git, sha256]), by
    its size where the stamp has none (a distill before they were kept)."""
    if len(stamp) >= 4:
        return listed.get("git") == stamp[2] or listed.get("sha256") == stamp[3]
    return stamp[:1] == [size]


def _committed(f: Any) -> Any:
    """The file's last commit as the Hub lists it (get_paths_info(expand=True): its `oid` and
    `date`); None when the listing does not say."""
    return getattr(f, "last_commit", None)


def _not_reached(file: Any, marker: Any, order: dict[str, int] | None) -> bool:
    """A file at its `earlier` hash is one the cut publish whose marker it is had yet to
    commit: last committed before the marker was (the publish's first commit). One committed
    since is the user's, put back to those bytes. Before is the commit graph's order
    (`order`: list_repo_commits from the revision read, newest first), not the commits' dates:
    a user's commit pushed from a machine whose clock is behind is dated before the marker's,
    and its file was taken for publish's (replaced, or deleted). A commit the history does not
    place is the user's. A listing without commit ids (none of the Hub's) is read by its dates;
    one without dates either as before them: the earlier hash counts."""
    if file is None or marker is None:
        return True
    ids = getattr(file, "oid", None), getattr(marker, "oid", None)
    if order is not None and None not in ids:
        if ids[0] not in order or ids[1] not in order:
            return False
        return order[ids[0]] > order[ids[1]]
    when, marked = getattr(file, "date", None), getattr(marker, "date", None)
    if when is None or marked is None:
        return True
    try:
        return when < marked
    except TypeError:  # (an aware and a naive time)
        return True


def _scrub_check(folder: Path) -> None:
    """Refuse to publish a folder that holds a secret from this environment."""
    secrets = [
        v
        for k, v in os.environ.items()
        if len(v) >= 8 and any(s in k.upper() for s in ("TOKEN", "KEY", "SECRET"))
    ]
    for f in folder.iterdir():
        if f.suffix in (".json", ".md", ".yaml", ".jinja", ".txt"):
            text = f.read_text(errors="ignore")
            for s in secrets:
                if s in text:
                    raise DistillError(
                        f"refusing to publish: {f.name} contains the value of a secret env var"
                    )


def run(cfg: PublishConfig) -> str:
    train_dir = Path(cfg.dir)
    model_dir = _model_dir(cfg)
    token = None
    if cfg.repo_id:
        token = os.environ.get(cfg.token_env)
        if not token:
            raise DistillError(
                f"pushing to the Hub needs a token: set ${cfg.token_env} (or use --local-dir)"
            )
    previous = None
    if cfg.local_dir:  # refused before anything is read or written
        previous = check_local_dir(cfg)
        planned = [p.name for p in _sources(model_dir, train_dir)] + ["README.md"]
        _clashes(Path(cfg.local_dir).expanduser(), planned, previous)
    card = build_card(model_dir, train_dir, cfg)
    if cfg.local_dir:
        # the folder check_local_dir checked: '~/x' (quoted, a recipe's) was a folder '~' here
        dest = Path(cfg.local_dir).expanduser()
        real = _real(dest)  # (a symlink: its target, made where it is none yet)
        tmp = Path(tempfile.mkdtemp(prefix=f".{real.name}.", dir=_staging_parent(real)))
        try:
            _stage(model_dir, train_dir, card, tmp)
            _scrub_check(tmp)
            written = sorted(f.name for f in tmp.iterdir())
            real.mkdir(parents=True, exist_ok=True)
            _clashes(dest, written, previous)  # again: the folder may have changed meanwhile
            _place(tmp, dest, written, previous, train_dir)
        finally:  # a refused or failed copy is not left lying beside dest
            shutil.rmtree(tmp, ignore_errors=True)
        print(f"publish: wrote {len(written)} files to {dest}")
        return str(dest)
    from huggingface_hub import HfApi

    api = HfApi(token=token)
    with tempfile.TemporaryDirectory() as tmp:
        _stage(model_dir, train_dir, card, Path(tmp))
        _scrub_check(Path(tmp))
        api.create_repo(cfg.repo_id, private=cfg.private, exist_ok=True, repo_type="model")
        # create_repo leaves a repo that exists as it is: a public one stays public
        info = api.repo_info(cfg.repo_id, repo_type="model")
        private = getattr(info, "private", None) if cfg.private else True
        if private is not True:  # ModelInfo.private is Optional: unknown is not private
            said = (
                "is a public repo already"
                if private is False
                else "exists and the Hub does not say it is private"
            )
            raise DistillError(
                f"--private: {cfg.repo_id} {said}; make it private in its settings on the Hub "
                "first, or publish without --private"
            )
        names = sorted(f.name for f in Path(tmp).iterdir())
        head = getattr(info, "sha", None)  # every look and the commit at this one revision
        # refused before any upload
        delete, replaced = _hub_plan(api, cfg.repo_id, names, head)
        _write_hub_marker(Path(tmp), train_dir, names, replaced)
        from huggingface_hub.utils import HfHubHTTPError

        try:
            api.upload_folder(
                folder_path=tmp,
                repo_id=cfg.repo_id,
                repo_type="model",
                commit_message=cfg.commit_message,
                # the files an earlier publish wrote (its marker) and this one does not: the
                # merged weights' config.json beside an adapter loads as another model than the
                # card's. Files published now are kept by upload_folder, the user's stay.
                delete_patterns=delete or None,
                parent_commit=head,  # the repo as _hub_plan read it, or no commit
            )
        except HfHubHTTPError as e:
            status = getattr(getattr(e, "response", None), "status_code", None)
            if head is None or status not in (409, 412):
                raise
            raise DistillError(
                f"--repo-id {cfg.repo_id}: the repo changed while publishing (a commit since "
                "its files were checked); run publish again"
            ) from None
    url = f"https://huggingface.co/{cfg.repo_id}"
    print(f"publish: pushed to {url}")
    return url


# the licenses of the builtin bases (their Hub cards'): a student published from one keeps it
BUILTIN_LICENSES = {"builtin:smollm2": "apache-2.0", "builtin:gemma3-270m": "gemma"}


def _base_license(model: str | None) -> dict[str, str] | None:
    """The base model's license where it is known here: a builtin's, or the `license` of a
    local base folder's README.md metadata, with its `license_name` and `license_link` (what
    the Hub reads for `license: other`: a Llama or Qwen base's own terms); None for a Hub
    name (not looked up offline)."""
    if not model:
        return None
    if model in BUILTIN_LICENSES:
        return {"license": BUILTIN_LICENSES[model]}
    readme = Path(model).expanduser() / "README.md"
    if not readme.is_file():
        return None
    from huggingface_hub import ModelCard

    try:
        meta = ModelCard.load(readme).data.to_dict()
    except Exception:  # noqa: BLE001 - a README without metadata, or not readable: unknown
        return None
    found = {
        k: meta[k].strip()
        for k in ("license", "license_name", "license_link")
        if isinstance(meta.get(k), str) and meta[k].strip()
    }
    return found if "license" in found else None
