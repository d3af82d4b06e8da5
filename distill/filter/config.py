"""The filter stage's settings (FilterConfig) and the names of its outputs. Light on purpose:
`distill --help` and recipe checks import this.

    distill filter --help      # every key below, as a flag
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from distill.config import setting
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
    input: str = setting("", "traces.jsonl from `distill generate`.", argument="traces")
    out: str = setting("", "Kept traces (JSONL).")
    rejects: str | None = setting(
        None, "Rejected traces with reject_reason (default: <out>.rejects.jsonl)."
    )
    report: str | None = setting(None, "Report JSON (default: <out>.report.json; a PNG beside it).")
    # --- verify
    verify: str = setting("none", "none | math | choice | exact | code | countdown | majority.")
    verify_timeout: int = setting(5, "Seconds per item (math parse/verify; code per test).")
    min_agreement: float = setting(0.5, "majority: share of samples that must agree.")
    keep_unverifiable: bool = setting(
        False,
        "Keep traces whose gold does not parse.",
        flags=("--keep-unverifiable/--drop-unverifiable",),
    )
    code_memory_mb: int = setting(512, cli=False)
    # code: run without OS isolation (rlimits + Python guard only) when bwrap/unshare do not
    # work here; named in the report and the model card. Isolation is used whenever it works.
    unsafe_sandbox: bool = setting(
        False,
        "code: run model-written code without OS isolation where bwrap/unshare do not work (rlimits + Python guard only; named in the report and card).",
        flags=("--unsafe-sandbox",),
    )
    # --- dedup
    dedup: str = setting("exact", "none | exact | near (MinHash LSH; includes exact).")
    dedup_threshold: float = setting(0.8, "Jaccard similarity for near-duplicates.")
    shingle_size: int = setting(5, "Words per MinHash shingle.")
    num_perm: int = setting(64, cli=False)
    # also drop prompts that duplicate an earlier prompt
    dedup_prompts: bool = setting(True, "Also drop duplicate prompts.")
    # --- checks
    checks: list[str] | None = setting(
        None,
        "Comma list of checks to run (default: truncated,think_tags,empty,length,language_mix,repetition; + long_paragraph,code_block for math).",
        csv=True,
    )
    skip_checks: list[str] = setting(
        factory=list, help="Comma list of checks to switch off.", csv=True
    )
    min_tokens: int = setting(0, "Drop traces shorter than this.")
    max_tokens: int | None = setting(None, "Drop traces longer than this.")
    tokenizer: str | None = setting(
        None, "Student tokenizer for token counts (default ~4 chars/token)."
    )
    max_script_mix: float = setting(0.02, cli=False)
    max_repetition: float = setting(0.3, cli=False)
    max_paragraph_chars: int = setting(3000, cli=False)
    # --- decontamination
    decontam: list[str] = setting(
        factory=list,
        help="Benchmark file or hub dataset (name@split) to decontaminate against; repeatable.",
    )
    decontam_ngram: int = setting(8, "Word n-gram size for decontamination.")
    # --- selection (rejection sampling)
    select: str = setting("all", "all | first | shortest: which passing traces per prompt to keep.")
    max_per_prompt: int | None = setting(None, "Keep at most k traces per prompt.")
    min_pass_rate: float = setting(0.0, "Drop prompts the teacher solves less often than this.")
    # ... or more often (e.g. 0.99 drops always-solved, s1-style)
    max_pass_rate: float = setting(
        1.0, "Drop prompts the teacher solves more often than this (0.99: always-solved)."
    )
    num_proc: int = setting(1, "Worker processes for checks and verification.")

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
        from distill.filter.decontam import decontam_source

        for src in self.decontam:  # a file@train (no splits): refused before generate buys
            decontam_source(src)
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
