"""`distill select` settings: which of the kept traces are worth training on.

    distill select runs/smoke/kept.jsonl --out runs/smoke/selected.jsonl --budget 50 --per-prompt 1

Light on purpose (`distill --help` imports it): no numpy, torch or openai at module level.
Every field is a `--flag` and a recipe key of the `select:` section (CLI > recipe > defaults).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from distill.config import check_values, setting
from distill.errors import DistillError

# The order they apply in: filters first (difficulty, judge), then length, then the draw.
CRITERIA = ("difficulty", "judge", "length", "diversity")
PREFER = ("none", "short", "long")
STUDENT_BACKENDS = ("openai", "vllm", "hf")
JUDGE_BACKENDS = ("openai", "reward", "likelihood")
LOCAL_JUDGES = ("reward", "likelihood")  # loaded here, scored on their own scale
VERIFY_MODES = ("math", "choice", "exact", "countdown", "code")


def output_base(out: str | Path) -> Path:
    """selected.jsonl -> selected: what the default rejects and report are named after."""
    out = Path(out)
    return out.with_suffix("") if out.suffix == ".jsonl" else out


def parse_band(text: str) -> tuple[float, float]:
    """'0.1:0.6' -> (0.1, 0.6); one line naming --pass-rate when it is not a band in [0, 1]."""
    lo, sep, hi = str(text).partition(":")
    try:
        band = (float(lo), float(hi)) if sep else None
    except ValueError:
        band = None
    if band is None or not 0 <= band[0] <= band[1] <= 1:
        raise DistillError(
            f"--pass-rate {text}: expected LO:HI with 0 <= LO <= HI <= 1 (e.g. 0.1:0.6)"
        )
    return band


@dataclass
class SelectConfig:
    input: str = setting("", "Traces to choose from (a filter's kept.jsonl).", argument="traces")
    out: str = setting("", "The selected traces (JSONL).", result=False)
    rejects: str | None = setting(
        None,
        "Traces not selected, each with its reject_reason (default: <out>.rejects.jsonl).",
        result=False,
    )
    report: str | None = setting(
        None, "Report JSON (+ .png beside it; default: <out>.report.json).", result=False
    )
    budget: int | None = setting(None, "Traces to keep at most (default: every survivor).")
    seed: int = setting(0, "Seed of every random choice (clusters, draw order, ties).")
    criteria: list[str] | None = setting(
        None,
        "Comma list of difficulty,judge,length,diversity (default: those whose flags are given; "
        "diversity whenever --budget is).",
        csv=True,
    )
    # --- difficulty
    pass_rate: str | None = setting(
        None, "Keep prompts solved this share of the time, LO:HI (open-r1: 0.1:0.6; s1: 0:0)."
    )
    prefer_failed: bool = setting(
        False, "Rank prompts by pass rate, lowest first (s1: the ones models fail)."
    )
    student: str | None = setting(
        None, "Student model to measure difficulty with (else the teacher's stored samples)."
    )
    student_backend: str = setting("openai", "Student backend: openai | vllm | hf.")
    student_base_url: str | None = setting(None, "OpenAI-compatible URL of the student.")
    samples: int = setting(4, "Student samples per prompt.")
    student_temperature: float = setting(0.7, "Student sampling temperature.")
    student_max_tokens: int = setting(1024, "Student max new tokens per sample.")
    student_seed: int | None = setting(
        0,
        "Student sampling seed (part of each sample's id; not --seed, so a new draw reuses them).",
    )
    verify: str = setting(
        "math", "How a sample is verified: math | choice | exact | countdown | code."
    )
    # the filter's limits (distill run gives select the filter's when its section sets none): a
    # slow test correct under filter's --verify-timeout was a failure here at the default
    verify_timeout: int = setting(5, "Seconds per item (math parse/verify; code per test).")
    code_memory_mb: int = setting(512, cli=False)
    unsafe_sandbox: bool = setting(
        False,
        "code: run model-written code without OS isolation where bwrap/unshare do not work.",
        flags=("--unsafe-sandbox",),
        result=False,  # where code runs, not its verdicts: a finished select stays done
    )
    teacher_traces: str | None = setting(
        None,
        "Traces the teacher's pass rate is counted on (generate's traces.jsonl, rejects included; "
        "default: the input).",
    )
    # --- judge
    judge: str | None = setting(None, "Judge model on an OpenAI-compatible server (scores 1-10).")
    judge_backend: str = setting(
        "openai",
        "Judge backend: openai (an LLM on a server, the rubric's 1-10) | reward (a local "
        "transformers reward model scoring prompt+trace on its own scale) | likelihood (a local "
        "causal LM's mean log-probability per token of the reply, <= 0).",
    )
    judge_base_url: str | None = setting(None, "URL of the judge's server.")
    api_key_env: str = setting("OPENAI_API_KEY", "Env var holding the API key.", result=False)
    judge_template: str = setting(
        "prompts/judge.txt", "Rubric prompt ({problem} {reasoning} {answer})."
    )
    judge_max_tokens: int = setting(512, "Judge max tokens per reply.")
    min_score: float | None = setting(
        None, "Drop traces the judge scores below this (1-10; a local judge: its own scale)."
    )
    concurrency: int = setting(
        16, "Requests in flight (judge, and an openai student).", result=False
    )
    max_retries: int = setting(
        6,
        "Retries on connection errors/408/409/429/5xx (judge, and an openai student), as generate's.",
        result=False,
    )
    request_timeout: float = setting(
        600.0,
        "Seconds a reply may pause (judge, openai student); past that it fails, not asked again.",
        result=False,
    )
    # --- diversity
    by: str | None = setting(
        None, "Draw round-robin over this column instead of clusters (meta.domain)."
    )
    embed_model: str | None = setting(
        None,
        "Embedding model the prompts are clustered by (transformers, mean-pooled; e.g. "
        "sentence-transformers/all-MiniLM-L6-v2; default: TF-IDF).",
    )
    clusters: int | None = setting(
        None, "k-means clusters of the prompts' TF-IDF (default: about sqrt(prompts), <= 64)."
    )
    # --- length
    per_prompt: int | None = setting(None, "Traces to keep per prompt at most.")
    prefer: str = setting("none", "Within a prompt and in the draw: none | short | long.")
    token_budget: int | None = setting(
        None, "Stop drawing once the selection holds this many tokens."
    )
    cache_dir: str | None = setting(
        None,
        "Where judge replies and student samples are kept, by id (default: --out's folder).",
        result=False,
    )

    def __post_init__(self) -> None:
        if not self.input:
            raise DistillError("missing the traces file to select from")
        if not self.out:
            raise DistillError("missing --out (the selected traces file)")
        for name in self.criteria or []:
            if name not in CRITERIA:
                raise DistillError(f"unknown criterion '{name}' (have: {', '.join(CRITERIA)})")
        if self.criteria is not None and not self.criteria:
            raise DistillError(f"--criteria names none (have: {', '.join(CRITERIA)})")
        if self.prefer not in PREFER:
            raise DistillError(f"unknown --prefer '{self.prefer}' (have: {', '.join(PREFER)})")
        if self.student_backend not in STUDENT_BACKENDS:
            raise DistillError(
                f"unknown --student-backend '{self.student_backend}' "
                f"(have: {', '.join(STUDENT_BACKENDS)})"
            )
        if self.judge_backend not in JUDGE_BACKENDS:
            raise DistillError(
                f"unknown --judge-backend '{self.judge_backend}' (have: {', '.join(JUDGE_BACKENDS)})"
            )
        if self.verify not in VERIFY_MODES:
            raise DistillError(
                f"unknown --verify '{self.verify}' (have: {', '.join(VERIFY_MODES)})"
            )
        if self.pass_rate is not None:
            parse_band(self.pass_rate)
        check_values(
            self,
            [
                ("budget", self.budget is None or self.budget >= 1, ">= 1"),
                ("samples", self.samples >= 1, ">= 1"),
                ("student_temperature", self.student_temperature >= 0, ">= 0"),
                ("student_max_tokens", self.student_max_tokens >= 1, ">= 1"),
                ("judge_max_tokens", self.judge_max_tokens >= 1, ">= 1"),
                (  # a reward model's scores are on its own scale
                    "min_score",
                    self.min_score is None
                    or self.judge_backend in LOCAL_JUDGES
                    or 1 <= self.min_score <= 10,
                    "in [1, 10]",
                ),
                ("concurrency", self.concurrency >= 1, ">= 1"),
                ("max_retries", self.max_retries >= 0, ">= 0"),
                ("request_timeout", self.request_timeout > 0, "> 0 (seconds)"),
                ("clusters", self.clusters is None or self.clusters >= 1, ">= 1"),
                ("per_prompt", self.per_prompt is None or self.per_prompt >= 1, ">= 1"),
                ("token_budget", self.token_budget is None or self.token_budget >= 1, ">= 1"),
                ("verify_timeout", self.verify_timeout >= 1, ">= 1 (seconds)"),
                ("code_memory_mb", self.code_memory_mb >= 1, ">= 1"),
            ],
        )
        active = self.active_criteria()
        if "judge" in active and not self.judge:
            raise DistillError("--criteria judge needs --judge MODEL (and --judge-base-url)")
        if self.min_score is not None and "judge" not in active:
            raise DistillError("--min-score needs the judge criterion (--judge MODEL)")
        if self.judge_backend == "likelihood" and self.min_score is not None and self.min_score > 0:
            # every trace would go: a mean log-probability is never above 0
            raise DistillError(
                f"--min-score {self.min_score}: --judge-backend likelihood scores a trace by its "
                "mean log-probability per token, never above 0 (e.g. --min-score -0.8)"
            )
        if self.embed_model and self.by:
            raise DistillError(
                "--embed-model clusters the prompts, --by draws over a column: pick one"
            )
        if self.clusters is not None and self.by:  # else --clusters was ignored without a word
            raise DistillError(
                f"--clusters {self.clusters} sets the k-means clusters of the prompts, --by "
                f"{self.by} draws over a column instead: pick one"
            )
        if self.pass_rate is not None and "difficulty" not in active:
            raise DistillError("--pass-rate needs the difficulty criterion (--criteria difficulty)")
        # A flag whose criterion --criteria leaves out would be ignored without a word (a
        # --token-budget not kept to): refused, as --pass-rate and --min-score are.
        for flag, given, criterion in (
            ("--student", bool(self.student), "difficulty"),
            ("--prefer-failed", self.prefer_failed, "difficulty"),
            ("--teacher-traces", bool(self.teacher_traces), "difficulty"),
            ("--per-prompt", self.per_prompt is not None, "length"),
            ("--token-budget", self.token_budget is not None, "length"),
            ("--by", bool(self.by), "diversity"),
            ("--clusters", self.clusters is not None, "diversity"),
            ("--embed-model", bool(self.embed_model), "diversity"),
        ):
            if given and criterion not in active:
                raise DistillError(
                    f"{flag} needs the {criterion} criterion: add {criterion} to --criteria "
                    f"(now {','.join(active) or 'none'}) or leave {flag} out"
                )
        if self.teacher_traces and self.student:
            raise DistillError(
                "--teacher-traces counts the teacher's pass rate, --student samples the "
                "student's: difficulty uses one, pick it"
            )
        if self.student and self.student_backend == "openai" and not self.student_base_url:
            raise DistillError("--student with --student-backend openai needs --student-base-url")
        base = output_base(self.out)
        self.rejects = self.rejects or f"{base}.rejects.jsonl"
        self.report = self.report or f"{base}.report.json"

    def active_criteria(self) -> list[str]:
        """The criteria asked for, in the order they apply (CRITERIA)."""
        if self.criteria is not None:
            return [c for c in CRITERIA if c in self.criteria]
        on = {
            "difficulty": bool(self.student or self.pass_rate is not None or self.prefer_failed),
            "judge": bool(self.judge),
            "length": bool(self.per_prompt or self.token_budget or self.prefer != "none"),
            "diversity": bool(self.by or self.clusters or self.embed_model or self.budget),
        }
        return [c for c in CRITERIA if on[c]]


# Where select writes (its own check and distill run's cross-stage check list them: paths.py).
def cache_path(cfg: SelectConfig, what: str) -> Path:
    """<cache_dir>/<input stem>.select-<what>.jsonl: named after the input, not --out, so a
    second selection from the same traces (another budget, another --out) reuses it."""
    folder = Path(cfg.cache_dir) if cfg.cache_dir else Path(cfg.out).parent
    return folder / f"{Path(cfg.input).stem}.select-{what}.jsonl"


def config_path(cfg: SelectConfig) -> Path:
    report = Path(cfg.report)
    return report.with_name(report.stem.replace(".report", "") + ".select.yaml")


def manifest_of(cfg: SelectConfig) -> Path:
    from distill.manifest import manifest_path

    return manifest_path(output_base(cfg.out))
