"""The select stage: kept.jsonl -> selected.jsonl + rejects + report.json (+ report.png).

    distill select runs/smoke/kept.jsonl --out runs/smoke/selected.jsonl --budget 50 \
        --per-prompt 1 --prefer short --pass-rate 0.1:0.9 --teacher-traces runs/smoke/traces.jsonl

Criteria, each optional, in this order: difficulty (a prompt's pass rate, the student's or the
teacher's: a band, or lowest first), judge (an LLM's 1-10: a threshold, and highest first),
length (at most k traces per prompt, shortest or longest first; a token budget), diversity
(the survivors drawn round-robin across TF-IDF clusters of their prompts, or across a column's
values) up to --budget. Everything random hangs off --seed. Every trace, selected or not,
carries its scores in `meta.select`, and judge replies and student samples are cached by id,
so rerunning with another budget or threshold asks no model anything.

Like the filter: two streaming passes over the input (small facts per trace in memory, then
the writing), every output written aside and renamed into place with a manifest last.
"""

from __future__ import annotations

import json
import sys
from collections import Counter, defaultdict
from pathlib import Path
from typing import Any

from distill.errors import DistillError
from distill.filter.report import summary_stats
from distill.manifest import Expected
from distill.select.config import (
    LOCAL_JUDGES,
    SelectConfig,
    cache_path,
    config_path,
    manifest_of,
    parse_band,
)

MISSING = "(missing)"  # the --by group of the traces that lack the field

# reject_reason -> the criterion that removed the trace (the report's `removed`)
CRITERION_OF = {
    "difficulty": "difficulty",
    "judge": "judge",
    "judge_no_score": "judge",
    "per_prompt": "length",
    "token_budget": "length",
    "budget": "budget",
}


class Fact:
    """What pass 1 keeps of one trace (slots: ~100 bytes, not the trace)."""

    __slots__ = ("idx", "id", "prompt_id", "tokens", "group", "reasons", "rank", "order")

    def __init__(self, idx: int, id: str, prompt_id: str, tokens: int, group: Any):
        self.idx, self.id, self.prompt_id, self.tokens, self.group = (
            idx,
            id,
            prompt_id,
            tokens,
            group,
        )
        self.reasons: list[str] = []
        self.rank: int | None = None
        self.order = 0  # this trace's place among its prompt's survivors (0 = its best)


def _tokens(rec: dict[str, Any]) -> int:
    """Completion tokens as generate counted them; else ~4 characters a token."""
    usage = rec.get("usage")
    used = usage.get("completion_tokens") if isinstance(usage, dict) else None
    if isinstance(used, int) and not isinstance(used, bool) and used > 0:
        return used
    text = [v for v in (rec.get("reasoning"), rec.get("answer")) if isinstance(v, str)]
    return sum(map(len, text)) // 4 + 1


def _column(rec: dict[str, Any], path: str) -> Any:
    """`meta.domain` -> rec['meta']['domain'] (None when absent)."""
    value: Any = rec
    for part in path.split("."):
        value = value.get(part) if isinstance(value, dict) else None
    return json.dumps(value, sort_keys=True) if isinstance(value, (dict, list)) else value


def _lines(path: Path):
    from distill.records import scan_lines

    for idx, (lineno, raw, torn) in enumerate(scan_lines(path)):
        if raw.strip():
            yield idx, lineno, raw, torn


def collect(cfg: SelectConfig, need_prompts: bool) -> tuple[list[Fact], dict[str, Any], dict]:
    """Pass 1: a Fact per trace, each prompt's text (and what the student needs of it)."""
    from distill.manifest import check_input
    from distill.select.difficulty import PromptInfo
    from distill.select.judge import prompt_text

    path = Path(cfg.input)
    if not path.is_file():
        raise DistillError(f"traces file not found: {path}")
    check_input(path)  # a kept file whose filter run did not finish is refused
    facts: list[Fact] = []
    prompts: dict[str, Any] = {}
    texts: dict[str, str] = {}
    seen: set[str] = set()
    columns: set[str] = set()  # what --by could have named, for the line when it names nothing
    meta_keys: set[str] = set()
    for idx, lineno, raw, torn in _lines(path):
        try:
            rec = json.loads(raw)
        except (json.JSONDecodeError, UnicodeDecodeError) as e:
            if torn:
                continue
            raise DistillError(f"{path}:{lineno}: not valid JSON ({e})") from None
        if not isinstance(rec, dict):
            raise DistillError(f"{path}:{lineno}: not a trace record (expected a JSON object)")
        for field in ("id", "prompt_id", "messages"):
            if field not in rec:
                raise DistillError(f"{path}:{lineno}: not a trace record: missing field '{field}'")
        sel = rec["meta"].get("select") if isinstance(rec.get("meta"), dict) else None
        if sel is not None and not isinstance(sel, dict):
            # meta.select is where every trace's scores go (an earlier selection's are kept):
            # a source column of that name would be overwritten, so it is named, not lost
            raise DistillError(
                f"{path}:{lineno}: meta.select is a {type(sel).__name__} (a source column named "
                "'select'?), and select writes each trace's scores there: rename that column"
            )
        msgs = rec["messages"]
        if not isinstance(msgs, list) or not all(isinstance(m, dict) for m in msgs):
            # the prompt's text is read from it (clusters, the judge, the student)
            raise DistillError(
                f"{path}:{lineno}: not a trace record: field 'messages' is not a list of "
                "{role, content} objects"
            )
        tid = str(rec["id"])
        if tid in seen:
            raise DistillError(f"{path}:{lineno}: id {tid} appears twice; run distill filter first")
        seen.add(tid)
        pid = sys.intern(str(rec["prompt_id"]))
        group = None
        if cfg.by:
            group = _column(rec, cfg.by)
            columns.update(rec)
            if isinstance(rec.get("meta"), dict):
                meta_keys.update(rec["meta"])
        facts.append(Fact(idx, tid, pid, _tokens(rec), group))
        if pid not in texts:
            texts[pid] = prompt_text(rec)
            if need_prompts:
                prompts[pid] = PromptInfo(
                    rec["messages"], rec.get("gold"), rec.get("meta") or {}, f"{path}:{lineno}"
                )
    if cfg.by and facts and all(f.group is None for f in facts):
        # else every trace lands in one group and the draw is no draw across anything
        raise DistillError(
            f"--by {cfg.by}: no trace in {path} has it (columns: {', '.join(sorted(columns))}; "
            f"meta keys: {', '.join(sorted(meta_keys)) or 'none'}): name one of those"
        )
    return facts, prompts, texts


# =========================================================================== decisions


def _tiebreak(seed: int, tid: str) -> str:
    """A per-trace random key that depends on the seed and the id only (not on file order)."""
    from distill.records import stable_hash

    return stable_hash([seed, tid], 12)


def decide(
    facts: list[Fact],
    cfg: SelectConfig,
    texts: dict[str, str],
    rates: dict[str, float],
    scores: dict[str, tuple[float, str]],
) -> dict[str, Any]:
    """Give each fact its `reasons` (empty: selected) and a `rank` in the draw; return what the
    report needs of the draw (clusters, notes)."""
    criteria = cfg.active_criteria()
    notes: list[str] = []
    if "difficulty" in criteria and cfg.pass_rate is not None:
        lo, hi = parse_band(cfg.pass_rate)
        for f in facts:
            r = rates.get(f.prompt_id)
            if r is None or not lo <= r <= hi:
                f.reasons.append("difficulty")
    if "judge" in criteria:
        for f in facts:
            if f.reasons:
                continue
            s = scores.get(f.id)
            if s is None:
                f.reasons.append("judge_no_score")
            elif cfg.min_score is not None and s[0] < cfg.min_score:
                f.reasons.append("judge")

    # A prompt's pass rate ranks prompts (--prefer-failed, s1's hard questions first); the judge
    # and length rank a prompt's traces and, after the pass rate, break ties in the draw: with a
    # judge's continuous score first (a reward model, a likelihood) the pass rate would never
    # decide anything.
    failed_first = "difficulty" in criteria and cfg.prefer_failed

    def key(f: Fact) -> tuple:
        k: list[Any] = []
        if failed_first:
            k.append(rates.get(f.prompt_id, 1.0))
        if "judge" in criteria:
            k.append(-scores[f.id][0])
        if cfg.prefer != "none":
            k.append(f.tokens if cfg.prefer == "short" else -f.tokens)
        k.append(_tiebreak(cfg.seed, f.id))
        return tuple(k)

    # Each prompt's survivors in priority order; past --per-prompt they go.
    by_prompt: dict[str, list[Fact]] = defaultdict(list)
    for f in facts:
        if not f.reasons:
            by_prompt[f.prompt_id].append(f)
    keys: dict[str, tuple] = {}
    for group in by_prompt.values():
        for f in group:
            keys[f.id] = key(f)
        group.sort(key=lambda f: keys[f.id])
        for i, f in enumerate(group):
            f.order = i
            if "length" in criteria and cfg.per_prompt and i >= cfg.per_prompt:
                f.reasons.append("per_prompt")
    alive = [f for f in facts if not f.reasons]
    info: dict[str, Any] = {"criteria": criteria, "notes": notes}

    # The draw: every prompt's best trace before any prompt's second, each in priority order;
    # with diversity, round-robin across clusters (or --by values) in a seeded order.
    def priority(f: Fact) -> tuple:
        return (f.order, keys[f.id])

    if "diversity" in criteria:
        from distill.select.diversity import cluster, default_k, round_robin

        alive_pids = {f.prompt_id for f in alive}
        if cfg.by:
            # Traces without the field are one more group, as s1's domain sampling would have
            # it: still drawable (refusing would make a user tag every record first), but one
            # group's share of the round-robin, not a flood nor a loss of the untagged ones.
            # Each trace by its own value: the traces of one prompt may differ in it (two
            # teachers on the same prompts, --by teacher.model).
            label_of = {
                f.id: MISSING if f.group is None else f.group
                for f in facts
                if f.prompt_id in alive_pids
            }
            info["by"] = cfg.by
            missing = sum(f.group is None for f in facts)
            if missing:
                notes.append(
                    f"{missing} of {len(facts)} traces have no {cfg.by}: drawn as one more "
                    f"group, '{MISSING}'"
                )
        else:
            pids = sorted(alive_pids)
            k = cfg.clusters or default_k(len(pids))
            labels = cluster([texts[p] for p in pids], k, cfg.seed, cfg.embed_model)
            of_prompt = dict(zip(pids, labels))
            label_of = {f.id: of_prompt[f.prompt_id] for f in facts if f.prompt_id in of_prompt}
            info["clusters"] = len(set(labels))
        groups: dict[Any, list[Fact]] = defaultdict(list)
        for f in alive:  # by the value's text: a column's 1 and "1" are one group, as reported
            groups[str(label_of[f.id])].append(f)
        for g in groups.values():
            g.sort(key=priority)
        import random

        order = sorted(groups, key=lambda g: str(g))
        random.Random(cfg.seed).shuffle(order)
        drawn = round_robin(groups, order, lambda f: f.prompt_id)
        info["label_of"] = label_of
    else:
        drawn = sorted(alive, key=priority)
    total_tokens = 0
    taken = 0
    for f in drawn:
        if cfg.budget is not None and taken >= cfg.budget:
            f.reasons.append("budget")
            continue
        if "length" in criteria and cfg.token_budget and total_tokens + f.tokens > cfg.token_budget:
            f.reasons.append("token_budget")
            continue
        total_tokens += f.tokens
        taken += 1
        f.rank = taken
    if cfg.budget is not None and cfg.budget >= len(drawn):
        notes.append(
            f"--budget {cfg.budget} >= the {len(drawn)} traces left after the other criteria"
            + (
                ": all of them kept"
                if taken == len(drawn)  # else the token budget cut: "all kept" would be untrue
                else f"; --token-budget {cfg.token_budget} kept {taken} of them"
            )
        )
    return info


# =========================================================================== report


def build_report(
    facts: list[Fact],
    cfg: SelectConfig,
    info: dict[str, Any],
    rates: dict[str, float],
    scores: dict[str, tuple[float, str]],
    stats: dict[str, Any],
) -> dict[str, Any]:
    kept = [f for f in facts if not f.reasons]
    rejected = [f for f in facts if f.reasons]
    first = Counter(f.reasons[0] for f in rejected)
    removed = Counter()
    for reason, n in first.items():
        removed[CRITERION_OF[reason]] += n
    report: dict[str, Any] = {
        "input": cfg.input,
        "total": len(facts),
        "selected": len(kept),
        "rejected": len(rejected),
        "criteria": info["criteria"],
        "budget": cfg.budget,
        "seed": cfg.seed,
        "removed": {
            c: removed.get(c, 0) for c in (*info["criteria"], "budget") if c != "diversity"
        },
        "reject_reasons": dict(first.most_common()),
        "notes": info["notes"],
        "prompts": {
            "total": len({f.prompt_id for f in facts}),
            "selected": len({f.prompt_id for f in kept}),
        },
        "tokens": {
            "selected": summary_stats([f.tokens for f in kept], 2, 4),
            "rejected": summary_stats([f.tokens for f in rejected], 2, 4),
            "selected_total": sum(f.tokens for f in kept),
        },
    }
    if "difficulty" in stats:
        sel = [rates[p] for p in {f.prompt_id for f in kept} if p in rates]
        # the pool's prompts: --teacher-traces also rates those the filter dropped entirely
        pool = [rates[p] for p in {f.prompt_id for f in facts} if p in rates]
        report["difficulty"] = {
            **stats["difficulty"],
            "band": cfg.pass_rate,
            "prefer_failed": cfg.prefer_failed,
            "prompts_rated": len(pool),
            "pass_rate_all": summary_stats(pool, 2, 4),
            "pass_rate_selected": summary_stats(sel, 2, 4),
        }
    if "judge" in stats:
        report["judge"] = {
            **stats["judge"],
            "min_score": cfg.min_score,
            "score_all": summary_stats([s for s, _ in scores.values()], 2, 4),
            "score_selected": summary_stats(
                [scores[f.id][0] for f in kept if f.id in scores], 2, 4
            ),
        }
    if "label_of" in info:
        label_of = info["label_of"]
        drawn = [f for f in facts if not f.reasons or f.reasons[0] in ("budget", "token_budget")]
        sizes = Counter(str(label_of[f.id]) for f in drawn)  # what each group offered the draw
        chosen = Counter(str(label_of[f.id]) for f in kept)
        report["diversity"] = {
            "by": info.get("by")
            or f"{'embeddings of ' + cfg.embed_model if cfg.embed_model else 'tfidf'}"
            f"-kmeans (k={info.get('clusters')})",
            "groups": len(sizes),
            "groups_selected": len(chosen),
            "per_group": {
                str(g): {"pool": sizes[g], "selected": chosen.get(g, 0)}
                for g in sorted(sizes, key=lambda g: (-sizes[g], str(g)))[:100]
            },
        }
    return report


def _plot(facts: list[Fact], report: dict[str, Any], scores: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    panels = 3 if scores else 2
    fig, axes = plt.subplots(1, panels, figsize=(5.5 * panels, 4))
    a, b = axes[0], axes[1]
    removed = report["removed"]
    a.barh(list(removed)[::-1] or ["none"], list(removed.values())[::-1] or [0])
    a.set(
        title=f"removed by criterion (kept {report['selected']} of {report['total']})",
        xlabel="traces",
    )
    kept = [f.tokens for f in facts if not f.reasons]
    rej = [f.tokens for f in facts if f.reasons]
    b.hist([kept, rej], bins=40, label=[f"selected ({len(kept)})", f"not selected ({len(rej)})"])
    b.set(title="trace length (tokens)", xlabel="tokens", ylabel="traces")
    b.legend()
    if scores:
        c = axes[2]
        sel = [scores[f.id][0] for f in facts if not f.reasons and f.id in scores]
        rubric = all(1 <= s <= 10 for s, _ in scores.values())  # else a reward model's scale
        c.hist(
            [[s for s, _ in scores.values()], sel],
            bins=range(1, 12) if rubric else 30,
            label=["judged", "selected"],
        )
        c.set(title="judge score", xlabel="score", ylabel="traces")
        c.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=100, format="png")
    plt.close(fig)


def _print_report(report: dict[str, Any]) -> None:
    removed = ", ".join(
        f"{c} -{n}"
        for c, n in report["removed"].items()
        if c != "budget" or report.get("budget") is not None  # no --budget: none to name
    )
    # the student's and the judge's requests that got no reply in time (their caches' runs)
    timed_out = sum(
        t
        for part in ("difficulty", "judge")
        if type(t := (report.get(part) or {}).get("timed_out_requests")) is int and t > 0
    )
    print(
        f"select: kept {report['selected']} of {report['total']} traces "
        f"({report['prompts']['selected']} of {report['prompts']['total']} prompts)"
        + (f"; removed: {removed}" if removed else "")
        + (
            f"; {timed_out} requests timed out over the caches' runs (0 in this run): their "
            "cost is unknown"
            if timed_out
            else ""
        ),
        file=sys.stderr,
    )


# =========================================================================== the stage


def _not_hashed(cfg: SelectConfig) -> tuple[str, ...]:
    import dataclasses

    return tuple(f.name for f in dataclasses.fields(cfg) if not f.metadata.get("result", True))


def config_hash(cfg: SelectConfig) -> str:
    from distill.manifest import config_hash as hash_of

    return hash_of(cfg, ignore=_not_hashed(cfg))


def inputs_of(cfg: SelectConfig) -> list[str]:
    return [cfg.input] + ([cfg.teacher_traces] if cfg.teacher_traces else [])


def done(cfg: SelectConfig) -> str | None:
    """None when the outputs on disk are this config's finished run; else why not."""
    from distill.manifest import config_hashes
    from distill.manifest import done as manifest_done

    # a set hashed with its URLs' keys (a distill before they were left out) is this config's
    hashes = config_hashes(cfg, ignore=_not_hashed(cfg))
    return manifest_done(manifest_of(cfg), hashes, inputs_of(cfg))


def guard(cfg: SelectConfig) -> None:
    from distill.paths import check_outputs, check_replaced, paths_select

    inputs, outs = paths_select(cfg)
    check_outputs(inputs, outs)
    # the run's set is replaced whole; the caches are appended to (resumed by id)
    check_replaced(cfg, [o for o in outs if o.flag != "--cache-dir"], manifest_of(cfg))


def run(cfg: SelectConfig, quiet: bool = False, expect: Expected | None = None) -> Path:
    """Select from cfg.input into cfg.out; return its path. `expect`: --out must come out as
    these bytes or nothing is replaced (distill run, over the data a trained student learned)."""
    guard(cfg)
    from distill.config import save_config
    from distill.logprobs import rebase
    from distill.manifest import HashingWriter, OutputSet, kill_point, write_verdict

    criteria = cfg.active_criteria()
    if cfg.teacher_traces and not Path(cfg.teacher_traces).is_file():
        raise DistillError(
            f"--teacher-traces {cfg.teacher_traces}: no such file (generate's traces.jsonl, "
            "rejects included)"
        )
    student = "difficulty" in criteria and bool(cfg.student)
    facts, prompts, texts = collect(cfg, need_prompts=student)
    if not facts:
        raise DistillError(f"{cfg.input} holds no traces")
    stats: dict[str, Any] = {}
    rates: dict[str, float] = {}
    if "difficulty" in criteria:
        from distill.select import difficulty

        sandbox = None
        # model-written code: refused before sampling if not isolated; not where every teacher
        # trace holds the filter's verdict (read, no code runs)
        if cfg.verify == "code" and (
            student or difficulty.runs_code(cfg.teacher_traces or cfg.input)
        ):
            from distill.filter.sandbox import require_isolation

            sandbox = require_isolation(cfg.unsafe_sandbox)
        if student:
            rates, stats["difficulty"] = difficulty.student_rates(
                cfg, prompts, cache_path(cfg, "student"), sandbox
            )
        else:
            rates, stats["difficulty"] = difficulty.teacher_rates(
                cfg.teacher_traces or cfg.input,
                cfg.verify,
                sandbox,
                cfg.verify_timeout,
                cfg.code_memory_mb,
            )
            if not cfg.teacher_traces and rates and min(rates.values()) == 1.0:
                print(
                    f"note: every prompt's pass rate is 1.0 in {cfg.input} alone (a filter's kept "
                    "file holds only correct traces): pass --teacher-traces with generate's traces",
                    file=sys.stderr,
                )
    scores: dict[str, tuple[float, str]] = {}
    if "judge" in criteria:
        if cfg.judge_backend in LOCAL_JUDGES:
            from distill.select.reward import score_traces
        else:
            from distill.select.judge import score_traces

        band = parse_band(cfg.pass_rate) if cfg.pass_rate is not None else None
        wanted = {  # judge only what difficulty left: no paying for traces already out
            f.id
            for f in facts
            if band is None or (r := rates.get(f.prompt_id)) is not None and band[0] <= r <= band[1]
        }
        scores, stats["judge"] = score_traces(cfg, wanted, cache_path(cfg, "judge"))
    info = decide(facts, cfg, texts, rates, scores)
    for part in ("difficulty", "judge"):  # a note of the requests a server refused
        if stats.get(part, {}).get("note"):
            info["notes"].append(stats[part].pop("note"))
    for note in info["notes"]:
        print(f"note: {note}", file=sys.stderr)
    label_of = info.get("label_of") or {}

    out, rej, report_path = Path(cfg.out), Path(cfg.rejects), Path(cfg.report)
    with OutputSet(
        "select", manifest_of(cfg), config_hash(cfg), inputs_of(cfg), expect=expect
    ) as outputs:
        tmp_out, tmp_rej = outputs.tmp(out), outputs.tmp(rej)
        by_idx = {f.idx: f for f in facts}
        src = Path(cfg.input)
        with HashingWriter(tmp_out) as fo, HashingWriter(tmp_rej) as fr:
            for idx, _lineno, raw, _torn in _lines(src):
                f = by_idx.get(idx)
                if f is None:
                    continue  # a torn last line
                rec = json.loads(raw)
                meta = rec.get("meta") if isinstance(rec.get("meta"), dict) else {}
                sel: dict[str, Any] = dict(
                    meta.get("select") or {}
                )  # an earlier selection's scores
                sel["tokens"] = f.tokens
                if f.prompt_id in rates:
                    sel["pass_rate"] = round(rates[f.prompt_id], 4)
                    sel["pass_rate_from"] = stats["difficulty"].get("student", "teacher")
                if f.id in scores:
                    sel["judge"], sel["judge_reason"] = scores[f.id]
                    sel["judge_model"] = cfg.judge
                if f.id in label_of:
                    sel["cluster"] = label_of[f.id]
                sel["rank"] = f.rank
                rec["meta"] = {**meta, "select": sel}
                rec = rebase(rec, src.parent, (rej if f.reasons else out).parent)
                write_verdict(rec, f.reasons, fo, fr)
        outputs.hashed(out, fo.hexdigest())
        outputs.hashed(rej, fr.hexdigest())
        report = build_report(facts, cfg, info, rates, scores, stats)
        outputs.tmp(report_path).write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
        _plot(facts, report, scores, outputs.tmp(report_path.with_suffix(".png")))
        save_config(cfg, outputs.tmp(config_path(cfg)))
        kill_point("select:written")
        outputs.commit()
    if not quiet:
        _print_report(report)
    return out
