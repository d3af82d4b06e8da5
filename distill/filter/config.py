"""The filter stage's settings (FilterConfig) and the names of its outputs. Light on purpose:
`distill --help` and recipe checks import this.

    distill filter --help      # every key below, as a flag
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from distill.errors import DistillError
from distill.filter import checks as C

VERIFY_MODES = ("none", "math", "choice", "exact", "code", "countdown", "majority")
DEDUP_MODES = ("none", "exact", "near")
SELECT_MODES = ("all", "first", "shortest")
REQUIRED = ("id", "prompt_id", "messages", "answer")
# A reject's `reject_reason` is its first failure in this order; `reject_reasons` lists all.
STAGE_ORDER = (
    "decontam",
    "check",
    "verify",
    "duplicate_prompt",
    "duplicate",
    "difficulty",
    "selection",
)


def output_base(out: str | Path) -> Path:
    """kept.jsonl -> kept: what the default rejects and report files are named after."""
    out = Path(out)
    return out.with_suffix("") if out.suffix == ".jsonl" else out


@dataclass
class FilterConfig:
    input: str = ""  # traces.jsonl from `distill generate`
    out: str = ""  # kept traces
    rejects: str | None = None  # default: <out>.rejects.jsonl beside --out
    report: str | None = None  # default: <out>.report.json (+ .png)
    # --- verify
    verify: str = "none"  # none | math | choice | exact | code | countdown | majority
    verify_timeout: int = 5  # seconds per item (math parsing; code per test)
    min_agreement: float = 0.5  # majority: share of a prompt's samples that must agree
    keep_unverifiable: bool = (
        False  # keep traces whose gold does not parse (never marks them correct)
    )
    code_memory_mb: int = 512
    # code: run without OS isolation (rlimits + Python guard only) when bwrap/unshare do not
    # work here; named in the report and the model card. Isolation is used whenever it works.
    unsafe_sandbox: bool = False
    # --- dedup
    dedup: str = "exact"  # none | exact | near (near includes exact)
    dedup_threshold: float = 0.8  # MinHash Jaccard for near-duplicates
    shingle_size: int = 5  # words per shingle
    num_perm: int = 64
    dedup_prompts: bool = True  # also drop prompts that duplicate an earlier prompt
    # --- checks
    checks: list[str] | None = (
        None  # default: truncated,think_tags,empty,length,language_mix,repetition (+ long_paragraph,code_block for math)
    )
    skip_checks: list[str] = field(default_factory=list)
    min_tokens: int = 0
    max_tokens: int | None = None
    tokenizer: str | None = None  # student tokenizer for length bounds (default ~4 chars/token)
    max_script_mix: float = 0.02
    max_repetition: float = 0.3
    max_paragraph_chars: int = 3000
    # --- decontamination
    decontam: list[str] = field(default_factory=list)  # benchmark files or hub names (name@split)
    decontam_ngram: int = 8
    # --- selection (rejection sampling)
    select: str = "all"  # all | first | shortest  (among a prompt's passing traces)
    max_per_prompt: int | None = None  # keep at most k per prompt
    min_pass_rate: float = 0.0  # drop prompts the teacher solves less often than this
    max_pass_rate: float = 1.0  # ... or more often (e.g. 0.99 drops always-solved, s1-style)
    num_proc: int = 1

    def __post_init__(self) -> None:
        if not self.input:
            raise DistillError("missing the traces file to filter")
        if not self.out:
            raise DistillError("missing --out (the kept traces file)")
        if self.verify not in VERIFY_MODES:
            raise DistillError(
                f"unknown --verify '{self.verify}' (have: {', '.join(VERIFY_MODES)})"
            )
        if self.dedup not in DEDUP_MODES:
            raise DistillError(f"unknown --dedup '{self.dedup}' (have: {', '.join(DEDUP_MODES)})")
        if self.select not in SELECT_MODES:
            raise DistillError(
                f"unknown --select '{self.select}' (have: {', '.join(SELECT_MODES)})"
            )
        for name in list(self.checks or []) + list(self.skip_checks):
            if name not in C.CHECKS:
                raise DistillError(f"unknown check '{name}' (have: {', '.join(C.CHECKS)})")
        from distill.config import check_values

        check_values(
            self,
            [
                ("dedup_threshold", 0 < self.dedup_threshold <= 1, "in (0, 1]"),
                ("min_pass_rate", 0 <= self.min_pass_rate <= 1, "in [0, 1]"),
                ("max_pass_rate", 0 <= self.max_pass_rate <= 1, "in [0, 1]"),
                (
                    "max_pass_rate",
                    self.min_pass_rate <= self.max_pass_rate,
                    f">= --min-pass-rate {self.min_pass_rate}",
                ),
                ("min_agreement", 0 <= self.min_agreement <= 1, "in [0, 1]"),
                ("verify_timeout", self.verify_timeout >= 1, ">= 1 (seconds)"),
                ("num_proc", self.num_proc >= 1, ">= 1"),
                ("max_per_prompt", self.max_per_prompt is None or self.max_per_prompt >= 1, ">= 1"),
                ("min_tokens", self.min_tokens >= 0, ">= 0"),
                (
                    "max_tokens",
                    self.max_tokens is None or self.max_tokens >= max(1, self.min_tokens),
                    f">= 1 and >= --min-tokens {self.min_tokens}",
                ),
                ("shingle_size", self.shingle_size >= 1, ">= 1"),
                ("num_perm", self.num_perm >= 1, ">= 1"),
                ("decontam_ngram", self.decontam_ngram >= 1, ">= 1"),
                ("max_script_mix", 0 <= self.max_script_mix <= 1, "in [0, 1]"),
                ("max_repetition", 0 <= self.max_repetition <= 1, "in [0, 1]"),
                ("max_paragraph_chars", self.max_paragraph_chars >= 1, ">= 1"),
                ("code_memory_mb", self.code_memory_mb >= 1, ">= 1"),
            ],
        )
        base = output_base(self.out)
        self.rejects = self.rejects or f"{base}.rejects.jsonl"
        self.report = self.report or f"{base}.report.json"

    def active_checks(self) -> list[str]:
        names = list(self.checks) if self.checks is not None else list(C.DEFAULT_CHECKS)
        if self.checks is None and self.verify == "math":
            names += C.MATH_CHECKS
        return [n for n in names if n not in self.skip_checks]


# =========================================================================== output names


def config_path(cfg: FilterConfig) -> Path:
    """kept.report.json -> kept.filter.yaml (the resolved config, saved with the outputs)."""
    report = Path(cfg.report)
    return report.with_name(report.stem.replace(".report", "") + ".filter.yaml")


def manifest_of(cfg: FilterConfig) -> Path:
    """kept.jsonl -> kept.manifest.json: what vouches for kept, rejects, report and config."""
    from distill.manifest import manifest_path

    return manifest_path(output_base(cfg.out))
