"""The filter stage: traces.jsonl -> kept.jsonl + rejects.jsonl + report.json (+ report.png).

    distill filter t.jsonl --out kept.jsonl --verify math --dedup near --decontam math500.jsonl

Two streaming passes over the input, so memory holds a few small facts per trace, never the
traces: pass 1 computes each trace's checks, verdict and dedup keys (in `num_proc` worker
processes); the decisions that need the whole set (majority vote, which copy of a duplicate
survives, per-prompt selection and difficulty) are made on those facts; pass 2 writes every
trace to kept or rejects. Every output (kept, rejects, report, plot, config) is written aside,
then the set is renamed into place and `kept.manifest.json` written last (distill/manifest.py):
readers refuse a set whose manifest does not match it.
"""

from __future__ import annotations

import json
import os
import sys
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from distill.errors import DistillError
from distill.filter import checks as C
from distill.filter.verify import CORRECT, NO_ANSWER, UNVERIFIABLE, WRONG

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


# =========================================================================== pass 1: facts

_W: dict[str, Any] = {}  # per-process state: config, check context, decontaminator


def _init_worker(cfg: FilterConfig) -> None:
    from distill.filter.decontam import Decontaminator

    tok = None
    if cfg.tokenizer:
        from distill.models import load_tokenizer

        tok = load_tokenizer(cfg.tokenizer)
    _W["cfg"] = cfg
    _W["checks"] = [(n, C.CHECKS[n]) for n in cfg.active_checks()]
    _W["ctx"] = C.CheckContext(
        min_tokens=cfg.min_tokens,
        max_tokens=cfg.max_tokens,
        tokenizer=tok,
        max_script_mix=cfg.max_script_mix,
        max_repetition=cfg.max_repetition,
        max_paragraph_chars=cfg.max_paragraph_chars,
    )
    _W["decontam"] = Decontaminator(cfg.decontam, cfg.decontam_ngram) if cfg.decontam else None
    _W["sandbox"] = None
    if cfg.verify == "code":
        from distill.filter.sandbox import require_isolation

        _W["sandbox"] = require_isolation(cfg.unsafe_sandbox)  # probed once, before the fork


class Fact:
    """What pass 1 keeps of one trace: a few small fields, in slots (a dict per trace cost
    ~2 KB at 1M traces)."""

    __slots__ = (
        "idx",
        "prompt_id",
        "teacher",
        "fails",
        "verdict",
        "detail",
        "key",
        "has_gold",
        "exact",
        "sig",
        "pexact",
        "psig",
        "decontam",
        "tokens",
        "reasons",
        "dedup_checked",
    )

    def __init__(self, **fields: Any):
        self.reasons: list[str] = []
        self.dedup_checked = False
        for k, v in fields.items():
            setattr(self, k, v)

    def __getstate__(self) -> tuple[Any, ...]:
        return tuple(getattr(self, k) for k in self.__slots__)

    def __setstate__(self, state: tuple[Any, ...]) -> None:
        for k, v in zip(self.__slots__, state):
            setattr(self, k, v)


def _prompt_text(rec: dict[str, Any]) -> str:
    return "\n".join(m.get("content", "") for m in rec["messages"] if m.get("role") != "system")


def _fact(item: tuple[int, int, bytes, bool]) -> tuple[str, Any]:
    """-> ("ok", fact) | ("skip", None) for a torn last line | ("error", message)."""
    from distill.filter.dedup import exact_key, normalize, signature

    idx, lineno, raw, torn = item
    cfg: FilterConfig = _W["cfg"]
    try:
        rec = json.loads(raw)
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        return ("skip", None) if torn else ("error", f"{cfg.input}:{lineno}: not valid JSON ({e})")
    if not isinstance(rec, dict):
        return "error", f"{cfg.input}:{lineno}: not a trace record (expected a JSON object)"
    for f in REQUIRED:
        if f not in rec:
            return "error", f"{cfg.input}:{lineno}: not a trace record: missing field '{f}'"
    fails = []
    for _name, check in _W["checks"]:
        reason = check(rec, _W["ctx"])
        if reason:
            fails.append(reason)
    from distill.filter.verify import judge

    verdict, key = judge(
        rec, cfg.verify, cfg.verify_timeout, cfg.code_memory_mb, sandbox=_W["sandbox"]
    )
    text = (rec.get("reasoning") or "") + "\n" + (rec.get("answer") or "")
    norm = normalize(text) if cfg.dedup != "none" else ""
    prompt = _prompt_text(rec)
    dec = _W["decontam"].hit(prompt) if _W["decontam"] else None
    near = cfg.dedup == "near"
    teacher = rec.get("teacher") or {}
    sig = signature(norm, cfg.shingle_size, cfg.num_perm, normalized=True) if near else None
    psig = signature(prompt, cfg.shingle_size, cfg.num_perm) if near and cfg.dedup_prompts else None
    return "ok", Fact(
        idx=idx,
        prompt_id=str(rec["prompt_id"]),
        teacher=f"{teacher.get('backend')}:{teacher.get('model')}",
        fails=tuple(fails),
        verdict=verdict,
        detail=key if cfg.verify == "code" else None,
        key=key if cfg.verify == "majority" else None,
        has_gold=rec.get("gold") is not None,
        exact=exact_key(norm, normalized=True) if cfg.dedup != "none" else None,
        sig=sig.tobytes() if sig is not None else None,
        pexact=exact_key(prompt) if cfg.dedup_prompts and cfg.dedup != "none" else None,
        psig=psig.tobytes() if psig is not None else None,
        decontam=dec,
        tokens=C.count_tokens(text, _W["ctx"]),
    )


def _lines(path: Path):
    from distill.records import _scan

    for idx, (lineno, raw, torn) in enumerate(_scan(path)):
        if raw.strip():
            yield idx, lineno, raw, torn


def collect_facts(cfg: FilterConfig) -> list[Fact]:
    from distill.manifest import check_input

    path = Path(cfg.input)
    if not path.is_file():
        raise DistillError(f"traces file not found: {path}")
    check_input(path)  # e.g. filtering a kept file again: refused if its filter run did not finish
    facts: list[Fact] = []
    prompts: set[str] = set()
    EMPTY: tuple[str, ...] = ()

    def take(results) -> None:
        for status, fact in results:
            if status == "error":
                raise DistillError(fact)
            if status == "ok":
                if not facts and cfg.verify in ("math", "choice", "exact") and not fact.has_gold:
                    raise DistillError(
                        f"{cfg.input}: traces have no gold answer for --verify {cfg.verify}; "
                        "use --verify majority (vote among each prompt's samples) or --verify none"
                    )
                # Shared strings; only a prompt's first trace needs the prompt's dedup keys.
                fact.prompt_id = sys.intern(fact.prompt_id)
                fact.teacher = sys.intern(fact.teacher)
                fact.fails = fact.fails or EMPTY
                if fact.prompt_id in prompts:
                    fact.pexact = fact.psig = None
                else:
                    prompts.add(fact.prompt_id)
                facts.append(fact)

    if cfg.num_proc == 1:
        _init_worker(cfg)
        take(map(_fact, _lines(path)))
    else:
        import multiprocessing as mp

        ctx = mp.get_context("fork") if hasattr(os, "fork") else mp.get_context()
        with ctx.Pool(cfg.num_proc, initializer=_init_worker, initargs=(cfg,)) as pool:
            # Running code costs ~0.1 s a test: small chunks keep every worker busy.
            chunksize = 4 if cfg.verify == "code" else 64
            take(pool.imap(_fact, _lines(path), chunksize=chunksize))
    return facts


# =========================================================================== decisions


def _majority(facts: list[Fact], min_agreement: float) -> None:
    by_prompt: dict[str, list[Fact]] = defaultdict(list)
    for f in facts:
        by_prompt[f.prompt_id].append(f)
    for group in by_prompt.values():
        votes = Counter(f.key for f in group if f.key is not None)
        if not votes:
            for f in group:
                f.verdict = NO_ANSWER
            continue
        top, count = votes.most_common(1)[0]
        agreed = count / len(group) >= min_agreement and list(votes.values()).count(count) == 1
        for f in group:
            if f.key is None:
                f.verdict = NO_ANSWER
            elif not agreed:
                f.verdict = UNVERIFIABLE
            else:
                f.verdict = CORRECT if f.key == top else WRONG


def decide(facts: list[Fact], cfg: FilterConfig) -> dict[str, float]:
    """Give every fact `reasons` (all failures, in STAGE_ORDER); return per-prompt pass rates."""
    from distill.filter.dedup import near_duplicates

    if cfg.verify == "majority":
        _majority(facts, cfg.min_agreement)
    for f in facts:
        r = []
        if f.decontam:
            r.append(f"contaminated:{f.decontam}")
        r += f.fails
        v = f.verdict
        if v is not None and v != CORRECT and not (v == UNVERIFIABLE and cfg.keep_unverifiable):
            r.append(v if v != WRONG else "wrong_answer")
        f.reasons = r

    # Duplicate prompts: the first prompt (in file order) keeps its traces.
    if cfg.dedup != "none" and cfg.dedup_prompts:
        first_of: dict[str, Fact] = {}
        for f in facts:
            first_of.setdefault(f.prompt_id, f)
        seen: set[bytes] = set()
        dup_prompts = set()
        near_candidates = []
        for pid, f in first_of.items():
            if f.pexact in seen:
                dup_prompts.add(pid)
            else:
                seen.add(f.pexact)
                near_candidates.append(f)
        if cfg.dedup == "near":
            flags = near_duplicates(
                [f.psig for f in near_candidates], cfg.dedup_threshold, cfg.num_perm
            )
            dup_prompts.update(f.prompt_id for f, d in zip(near_candidates, flags) if d)
        for f in near_candidates:
            f.psig = None  # done with; frees memory before the response pass
        for f in facts:
            if f.prompt_id in dup_prompts:
                f.reasons.append("duplicate_prompt")

    # Duplicate responses among the survivors, verified-correct ones first: the kept copy of a
    # duplicate group is the first correct one in file order (else the first one).
    if cfg.dedup != "none":
        order = sorted(
            (f for f in facts if not f.reasons),
            key=lambda f: (f.verdict != CORRECT, f.idx),
        )
        seen_exact: set[bytes] = set()
        unique = []
        for f in order:
            f.dedup_checked = True
            if f.exact in seen_exact:
                f.reasons.append("duplicate")
                continue
            seen_exact.add(f.exact)
            unique.append(f)
        del seen_exact
        if cfg.dedup == "near":
            flags = near_duplicates([f.sig for f in unique], cfg.dedup_threshold, cfg.num_perm)
            for f, d in zip(unique, flags):
                if d:
                    f.reasons.append("near_duplicate")
        for f in facts:
            f.sig = None

    # Per-prompt pass rates (over verifiable samples) and difficulty.
    by_prompt: dict[str, list[Fact]] = defaultdict(list)
    for f in facts:
        by_prompt[f.prompt_id].append(f)
    rates: dict[str, float] = {}
    for pid, group in by_prompt.items():
        judged = [f for f in group if f.verdict in (CORRECT, WRONG, NO_ANSWER)]
        if judged:
            rates[pid] = sum(f.verdict == CORRECT for f in judged) / len(judged)
    cfg_rates = (cfg.min_pass_rate, cfg.max_pass_rate)
    if cfg.verify != "none" and cfg_rates != (0.0, 1.0):
        for pid, group in by_prompt.items():
            rate = rates.get(pid)
            if rate is not None and not cfg_rates[0] <= rate <= cfg_rates[1]:
                for f in group:
                    f.reasons.append("difficulty")

    # Selection among each prompt's survivors.
    if cfg.select != "all" or cfg.max_per_prompt:
        k = cfg.max_per_prompt or (1 if cfg.select in ("first", "shortest") else None)
        for group in by_prompt.values():
            alive = [f for f in group if not f.reasons]
            if cfg.select == "shortest":
                alive.sort(key=lambda f: (f.tokens, f.idx))
            for f in alive[k:]:
                f.reasons.append("selection")
    return rates


# =========================================================================== pass 2 + report


def _stats(values: list[int]) -> dict[str, float]:
    if not values:
        return {"count": 0}
    v = sorted(values)
    pick = lambda q: v[min(len(v) - 1, int(q * len(v)))]  # noqa: E731
    return {
        "count": len(v),
        "mean": round(sum(v) / len(v), 1),
        "p50": pick(0.5),
        "p90": pick(0.9),
        "max": v[-1],
    }


def build_report(facts: list[Fact], cfg: FilterConfig, rates: dict[str, float]) -> dict[str, Any]:
    kept = [f for f in facts if not f.reasons]
    rejected = [f for f in facts if f.reasons]
    verdicts = Counter(f.verdict for f in facts if f.verdict is not None)
    judged = verdicts[CORRECT] + verdicts[WRONG] + verdicts[NO_ANSWER]
    by_teacher: dict[str, Counter] = defaultdict(Counter)
    for f in facts:
        t = by_teacher[f.teacher]
        t["total"] += 1
        t["kept"] += not f.reasons
        t["correct"] += f.verdict == CORRECT
    hist = Counter(min(9, int(r * 10)) for r in rates.values())
    return {
        "input": cfg.input,
        "total": len(facts),
        "kept": len(kept),
        "rejected": len(rejected),
        "reject_reasons": dict(Counter(f.reasons[0] for f in rejected).most_common()),
        "failures": dict(Counter(r for f in rejected for r in f.reasons).most_common()),
        "verify": {
            "mode": cfg.verify,
            **dict(verdicts),
            "pass_rate": round(verdicts[CORRECT] / judged, 4) if judged else None,
        },
        "by_teacher": {k: dict(v) for k, v in by_teacher.items()},
        "prompts": {
            "total": len({f.prompt_id for f in facts}),
            "with_kept": len({f.prompt_id for f in kept}),
            "solved_all": sum(r == 1.0 for r in rates.values()),
            "solved_none": sum(r == 0.0 for r in rates.values()),
            "pass_rate_histogram": {
                f"{b / 10:.1f}-{(b + 1) / 10:.1f}": hist.get(b, 0) for b in range(10)
            },
        },
        "tokens": {
            "kept": _stats([f.tokens for f in kept]),
            "rejected": _stats([f.tokens for f in rejected]),
        },
        "decontam": dict(Counter(f.decontam for f in facts if f.decontam)),
        "checks": cfg.active_checks(),
        "dedup": cfg.dedup,
    }


def _plot(facts: list[Fact], report: dict[str, Any], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (a, b) = plt.subplots(1, 2, figsize=(11, 4))
    kept = [f.tokens for f in facts if not f.reasons]
    rej = [f.tokens for f in facts if f.reasons]
    a.hist(
        [kept, rej], bins=40, label=[f"kept ({len(kept)})", f"rejected ({len(rej)})"], stacked=False
    )
    a.set(title="trace length (tokens)", xlabel="tokens", ylabel="traces")
    a.legend()
    reasons = report["reject_reasons"]
    b.barh(list(reasons)[::-1] or ["none"], list(reasons.values())[::-1] or [0])
    b.set(title="rejections by first reason", xlabel="traces")
    fig.tight_layout()
    fig.savefig(path, dpi=100, format="png")  # path may be a temporary name
    plt.close(fig)


def _print_report(report: dict[str, Any]) -> None:
    from rich.console import Console
    from rich.table import Table

    t = Table(title=f"filter: kept {report['kept']} of {report['total']}")
    t.add_column("reason (first failure)")
    t.add_column("rejected", justify="right")
    for reason, n in report["reject_reasons"].items():
        t.add_row(reason, str(n))
    v = report["verify"]
    if v.get("pass_rate") is not None:
        t.add_section()
        t.add_row(f"teacher pass rate ({v['mode']})", f"{v['pass_rate']:.1%}")
    for teacher, c in report["by_teacher"].items():
        t.add_row(f"kept from {teacher}", f"{c.get('kept', 0)}/{c['total']}")
    Console(stderr=True).print(t)


def run(cfg: FilterConfig, quiet: bool = False) -> Path:
    from distill.paths import guard_filter

    guard_filter(cfg)  # no output is the input or another output: checked before any work
    from distill.config import save_config
    from distill.logprobs import rebase
    from distill.manifest import HashingWriter, OutputSet, kill_point

    sandbox = _code_sandbox(cfg)
    facts = collect_facts(cfg)
    if not facts:  # a generate that failed before its first record: nothing to pass on
        raise DistillError(f"{cfg.input} holds no traces")
    rates = decide(facts, cfg)
    pending = iter(facts)  # in file order, like the lines
    nxt = next(pending, None)
    out, rej = Path(cfg.out), Path(cfg.rejects)
    report_path = Path(cfg.report)
    # Every output is written aside and the set is renamed into place at the end, manifest last
    # (distill/manifest.py): a kill never leaves a new kept file beside an old report.
    outputs = OutputSet("filter", manifest_of(cfg), config_hash(cfg), inputs_of(cfg))
    tmp_out, tmp_rej = outputs.tmp(out), outputs.tmp(rej)
    kill_at = _kill_indices(facts)
    with HashingWriter(tmp_out) as fo, HashingWriter(tmp_rej) as fr:
        for idx, _lineno, raw, _torn in _lines(Path(cfg.input)):
            if nxt is None or nxt.idx != idx:
                continue  # the torn tail
            if idx in kill_at:
                kill_point(kill_at[idx])
            f, nxt = nxt, next(pending, None)
            rec = json.loads(raw)
            checks = {name: "pass" for name in cfg.active_checks()}
            for r in f.fails:
                checks[_check_of(r)] = r
            if f.verdict is not None:
                checks["verify"] = f.verdict if not f.detail else f"{f.verdict} ({f.detail})"
            if "duplicate_prompt" in f.reasons:
                checks["dedup_prompt"] = "duplicate_prompt"
            if f.dedup_checked:
                checks["dedup"] = next(
                    (r for r in f.reasons if r in ("duplicate", "near_duplicate")), "unique"
                )
            rec["checks"] = checks
            # Kept and rejected records keep their teacher log-probs reachable from their dir.
            rec = rebase(rec, Path(cfg.input).parent, (rej if f.reasons else out).parent)
            if f.reasons:
                rec["reject_reason"] = f.reasons[0]
                rec["reject_reasons"] = f.reasons
                fr.write(json.dumps(rec, ensure_ascii=False) + "\n")
            else:
                fo.write(json.dumps(rec, ensure_ascii=False) + "\n")
    outputs.hashed(out, fo.hexdigest())
    outputs.hashed(rej, fr.hexdigest())
    report = build_report(facts, cfg, rates)
    if sandbox:
        report["verify"]["sandbox"] = sandbox
    outputs.tmp(report_path).write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    _plot(facts, report, outputs.tmp(report_path.with_suffix(".png")))
    save_config(cfg, outputs.tmp(config_path(cfg)))
    kill_point("filter:written")
    outputs.commit()
    if not quiet:
        _print_report(report)
    return out


# =========================================================================== the output set


def config_path(cfg: FilterConfig) -> Path:
    """kept.report.json -> kept.filter.yaml (the resolved config, saved with the outputs)."""
    report = Path(cfg.report)
    return report.with_name(report.stem.replace(".report", "") + ".filter.yaml")


def manifest_of(cfg: FilterConfig) -> Path:
    """kept.jsonl -> kept.manifest.json: what vouches for kept, rejects, report and config."""
    from distill.manifest import manifest_path

    return manifest_path(output_base(cfg.out))


def config_hash(cfg: FilterConfig) -> str:
    """The settings that change the outputs (num_proc does not)."""
    from distill.manifest import config_hash as hash_of

    return hash_of(cfg, ignore=("num_proc",))


def inputs_of(cfg: FilterConfig) -> list[str]:
    """The traces and the local decontamination files (hub names are not files: skipped)."""
    return [cfg.input, *cfg.decontam]


def done(cfg: FilterConfig) -> str | None:
    """None when the outputs on disk are this config's finished run; else why not
    (`distill run` reruns filter unless it is done)."""
    from distill.manifest import done as manifest_done

    return manifest_done(manifest_of(cfg), config_hash(cfg), inputs_of(cfg))


def _kill_indices(facts: list[Fact]) -> dict[int, str]:
    """Tests kill pass 2 at a share of the input: DISTILL_TEST_KILL_AT=filter:write:30%
    -> {line index of the trace 30% in: the point's name}."""
    at = os.environ.get("DISTILL_TEST_KILL_AT", "")
    if not at.startswith("filter:write:") or not at.endswith("%"):
        return {}
    return {facts[len(facts) * int(at[len("filter:write:") : -1]) // 100].idx: at}


def _code_sandbox(cfg: FilterConfig) -> str | None:
    """--verify code: the isolation it runs under, for the report; refuses before any work
    when there is none and --unsafe-sandbox was not passed."""
    if cfg.verify != "code":
        return None
    from distill.filter.sandbox import describe, require_isolation

    return describe(require_isolation(cfg.unsafe_sandbox))


_CHECK_OF = {
    "unclosed_think": "think_tags",
    "duplicated_think": "think_tags",
    "empty_answer": "empty",
    "empty_reasoning": "empty",
    "too_short": "length",
    "too_long": "length",
}


def _check_of(reason: str) -> str:
    return _CHECK_OF.get(reason, reason)
