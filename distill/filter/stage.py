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
from collections import Counter, defaultdict
from pathlib import Path

from distill.errors import DistillError
from distill.filter.config import (
    FilterConfig,
    config_path,
    manifest_of,
)
from distill.filter.facts import Fact, collect_facts, trace_lines
from distill.filter.report import build_report, plot, print_report
from distill.filter.verify import CORRECT, NO_ANSWER, UNVERIFIABLE, WRONG
from distill.manifest import Expected

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

    # Duplicate prompts: of the copies of one prompt, the first (in file order) of those with a
    # trace that passed so far keeps its traces (else the first): a copy whose traces are all
    # wrong or truncated no longer outvotes one with correct traces.
    if cfg.dedup != "none" and cfg.dedup_prompts:
        first_of: dict[str, Fact] = {}
        passing: set[str] = set()
        for f in facts:
            first_of.setdefault(f.prompt_id, f)
            if not f.reasons:
                passing.add(f.prompt_id)
        seen: set[bytes] = set()
        dup_prompts = set()
        near_candidates = []
        firsts = sorted(first_of.values(), key=lambda f: (f.prompt_id not in passing, f.idx))
        for f in firsts:
            pid = f.prompt_id
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

    # Duplicate responses among the survivors of one prompt (by its text: `scope`), verified-
    # correct ones first: the kept copy of a duplicate group is the first correct one in file
    # order (else the first one). Another prompt's same response ("Positive", "\boxed{4}") is
    # another training example, not a copy.
    if cfg.dedup != "none":
        order = sorted(
            (f for f in facts if not f.reasons),
            key=lambda f: (f.verdict != CORRECT, f.idx),
        )
        seen_exact: set[tuple[int, bytes]] = set()
        unique = []
        for f in order:
            f.dedup_checked = True
            if (f.scope, f.exact) in seen_exact:
                f.reasons.append("duplicate")
                continue
            seen_exact.add((f.scope, f.exact))
            unique.append(f)
        del seen_exact
        if cfg.dedup == "near":
            flags = near_duplicates(
                [f.sig for f in unique],
                cfg.dedup_threshold,
                cfg.num_perm,
                scopes=[f.scope for f in unique],
            )
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


# =========================================================================== pass 2


def run(cfg: FilterConfig, quiet: bool = False, expect: Expected | None = None) -> Path:
    """Filter cfg.input into cfg.out; return its path. `expect`: --out must come out as these
    bytes or nothing is replaced (distill run, over the data a trained student learned)."""
    from distill.paths import guard_filter

    guard_filter(cfg)  # no output is the input or another output: checked before any work
    from distill.config import save_config
    from distill.logprobs import rebase
    from distill.manifest import HashingWriter, OutputSet, kill_point, write_verdict

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
    with OutputSet(
        "filter", manifest_of(cfg), config_hash(cfg), inputs_of(cfg), expect=expect
    ) as outputs:
        tmp_out, tmp_rej = outputs.tmp(out), outputs.tmp(rej)
        kill_at = _kill_indices(facts)
        with HashingWriter(tmp_out) as fo, HashingWriter(tmp_rej) as fr:
            for idx, _lineno, raw, _torn in trace_lines(Path(cfg.input)):
                if nxt is None or nxt.idx != idx:
                    continue  # the torn tail
                if idx in kill_at:
                    kill_point(kill_at[idx])
                f, nxt = nxt, next(pending, None)
                rec = json.loads(raw)  # (an earlier run's verdict on it: write_verdict replaces it)
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
                write_verdict(rec, f.reasons, fo, fr)
        outputs.hashed(out, fo.hexdigest())
        outputs.hashed(rej, fr.hexdigest())
        report = build_report(facts, cfg, rates)
        if sandbox:
            report["verify"]["sandbox"] = sandbox
        outputs.tmp(report_path).write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
        plot(facts, report, outputs.tmp(report_path.with_suffix(".png")))
        save_config(cfg, outputs.tmp(config_path(cfg)))
        kill_point("filter:written")
        outputs.commit()
    if not quiet:
        print_report(report)
    return out


# =========================================================================== the output set


def config_hash(cfg: FilterConfig) -> str:
    """The settings that change the outputs (num_proc does not)."""
    from distill.manifest import config_hash as hash_of

    return hash_of(cfg, ignore=("num_proc",))


def inputs_of(cfg: FilterConfig) -> list[str]:
    """The traces and the files the local decontamination sets are read from (a folder's
    split's, `file.jsonl@test`'s file; hub names are not files: skipped). The folder or
    `NAME@SPLIT` itself is no file: never stamped, so an edited benchmark left filter done."""
    from distill.filter.decontam import decontam_files

    return [cfg.input, *(f for d in cfg.decontam for f in decontam_files(d))]


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
