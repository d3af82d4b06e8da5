"""Filter pass 1: one streaming read of the traces -> a few small facts per trace (checks,
verdict, dedup keys, length), in `num_proc` worker processes.

    distill filter t.jsonl --out kept.jsonl --verify math --num-proc 2
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Any

from distill.errors import DistillError
from distill.filter import checks as C
from distill.filter.config import REQUIRED, FilterConfig
from distill.records import teacher_key

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
        "scope",
        "decontam",
        "tokens",
        "reasons",
        "dedup_checked",
    )

    def __init__(self, **fields: Any):
        self.reasons: list[str] = []
        self.dedup_checked = False
        self.scope = 0
        for k, v in fields.items():
            setattr(self, k, v)

    def __getstate__(self) -> tuple[Any, ...]:
        return tuple(getattr(self, k) for k in self.__slots__)

    def __setstate__(self, state: tuple[Any, ...]) -> None:
        for k, v in zip(self.__slots__, state):
            setattr(self, k, v)


def _kind(value: Any) -> str:
    return "null" if value is None else f"a {type(value).__name__}"


def _bad_field(rec: dict[str, Any]) -> str | None:
    """Why a record (another tool's, or edited by hand) has a field of a type the filter cannot
    read, naming the field; None when it has none. The checks would raise a TypeError with no
    file, line or field."""
    pid = rec["prompt_id"]
    if not isinstance(pid, (str, int)) or isinstance(pid, bool):
        return f"field 'prompt_id' is {_kind(pid)} (expected a string)"
    msgs = rec["messages"]
    if not isinstance(msgs, list):
        return f"field 'messages' is {_kind(msgs)} (expected a list of {{role, content}})"
    for i, m in enumerate(msgs):
        if not isinstance(m, dict):
            return f"field 'messages[{i}]' is {_kind(m)} (expected {{role, content}})"
        if "content" in m and not isinstance(m["content"], str):
            return f"field 'messages[{i}].content' is {_kind(m['content'])} (expected a string)"
    for f in ("reasoning", "answer"):
        if rec.get(f) is not None and not isinstance(rec[f], str):
            return f"field '{f}' is {_kind(rec[f])} (expected a string or null)"
    if rec.get("teacher") is not None and not isinstance(rec["teacher"], dict):
        return f"field 'teacher' is {_kind(rec['teacher'])} (expected {{backend, model, params}})"
    return None


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
    bad = _bad_field(rec)
    if bad:
        return "error", f"{cfg.input}:{lineno}: not a trace record: {bad}"
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
        teacher=teacher_key(teacher),
        fails=tuple(fails),
        verdict=verdict,
        detail=key if cfg.verify == "code" else None,
        key=key if cfg.verify == "majority" else None,
        has_gold=rec.get("gold") is not None,
        exact=exact_key(norm, normalized=True) if cfg.dedup != "none" else None,
        sig=sig.tobytes() if sig is not None else None,
        # The prompt's key: prompt dedup, and the scope of response dedup (a duplicate is the
        # same prompt's text again; another prompt's same short answer is its own example).
        pexact=exact_key(prompt) if cfg.dedup != "none" else None,
        psig=psig.tobytes() if psig is not None else None,
        decontam=dec,
        tokens=C.count_tokens(text, _W["ctx"]),
    )


def trace_lines(path: Path):
    """(index, line number, raw line, torn) of every non-blank line, in file order."""
    from distill.records import scan_lines

    for idx, (lineno, raw, torn) in enumerate(scan_lines(path)):
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
    scopes: dict[bytes, int] = {}  # prompt text key -> small int (response dedup's scope)
    EMPTY: tuple[str, ...] = ()

    def take(results) -> None:
        for status, fact in results:
            if status == "error":
                raise DistillError(fact)
            if status == "ok":
                # Shared strings; only a prompt's first trace needs the prompt's dedup keys.
                fact.prompt_id = sys.intern(fact.prompt_id)
                fact.teacher = sys.intern(fact.teacher)
                fact.fails = fact.fails or EMPTY
                if fact.pexact is not None:
                    fact.scope = scopes.setdefault(fact.pexact, len(scopes))
                if fact.prompt_id in prompts:
                    fact.pexact = fact.psig = None
                else:
                    prompts.add(fact.prompt_id)
                facts.append(fact)

    # Set up here, in this process: a refusal (a --decontam set that does not load, no code
    # isolation) is one line; raised in a pool's initializer it killed each worker, which the
    # pool started again, forever. Forked workers inherit what it set up.
    _init_worker(cfg)
    if cfg.num_proc == 1:
        take(map(_fact, trace_lines(path)))
    else:
        import multiprocessing as mp

        fork = hasattr(os, "fork")
        ctx = mp.get_context("fork") if fork else mp.get_context()
        init = {} if fork else {"initializer": _init_worker, "initargs": (cfg,)}
        with ctx.Pool(cfg.num_proc, **init) as pool:
            # Running code costs ~0.1 s a test: small chunks keep every worker busy.
            chunksize = 4 if cfg.verify == "code" else 64
            take(pool.imap(_fact, trace_lines(path), chunksize=chunksize))
    # Refused when no trace has a gold; a file whose first traces lack one (a merged set, a
    # problem without an answer) is judged trace by trace: those are unverifiable.
    if facts and cfg.verify in ("math", "choice", "exact") and not any(f.has_gold for f in facts):
        raise DistillError(
            f"{cfg.input}: traces have no gold answer for --verify {cfg.verify}; "
            "use --verify majority (vote among each prompt's samples) or --verify none"
        )
    return facts
