"""The instruct stage (run): seed tasks -> a teacher writes new instructions -> instructions.jsonl.

    distill instruct --seed-tasks prompts/seed_tasks.jsonl --teacher openai --model gpt-4o \
        --num-instructions 52000 --out runs/alpaca/instructions.jsonl

Two methods:
- self-instruct (default, as Alpaca's generate_instruction.py): each request shows the teacher
  `num_prompt_tasks` in-context tasks (seeds, plus `num_prompt_generated` already-kept ones as
  self-instruct did) and asks it to continue a numbered list of new tasks with instruction,
  input and output. The list is parsed item by item; a malformed item is dropped and counted.
- magpie (hf/vllm teachers): the model gets its chat template's text up to where the user's
  words would start, writes the user turn itself, and then answers it in a second pass.

Every candidate goes through the filters in order, each counted in `<out>.report.json`: too
short/long, keywords a text model cannot do (Alpaca's list), starts with punctuation,
non-English (`language: en`), exact and near duplicate (the filter's dedup), and ROUGE-L >=
`max_rouge` against any seed or kept instruction (rouge-score's own LCS, run only on the few
instructions whose token overlap could reach the threshold: see RougeIndex).

Resume: every teacher reply is on disk (`<out>.requests.jsonl`) under an id that hashes its
prompt, so a rerun replays the same rounds from disk, pays only for replies it lacks, and
writes only kept records not yet in --out. The output has Alpaca's columns, so
`distill generate --template alpaca` and `distill train --format alpaca` read it as is.
"""

from __future__ import annotations

import dataclasses
import json
import random
import re
import string
import time
from array import array
from collections import Counter
from pathlib import Path
from typing import Any

from distill.config import save_config
from distill.errors import DistillError
from distill.filter.dedup import exact_key, lsh_bands, normalize, signature
from distill.generate.config import TeacherConfig, cost_of
from distill.generate.stage import TIMED_OUT, spent_tokens, timed_out_in, timed_out_words
from distill.instruct.config import FILTERS, InstructConfig
from distill.records import RecordWriter, read_records, sample_id, stable_hash, write_atomic
from distill.teachers import TEACHERS, Completion, Job, check_teacher
from distill.templates import load_template, seed_path

# =========================================================================== seed tasks


def load_seed_tasks(name: str) -> list[dict[str, Any]]:
    """Self-instruct's JSONL ({"id", "name", "instruction", "instances": [{"input", "output"}],
    "is_classification"}); each task's first instance is the example shown to the teacher."""
    p = seed_path(name)
    tasks = []
    seen: dict[str, tuple[int, dict]] = {}  # id -> (first line, its task)
    # utf-8-sig: a BOM (Notepad) is not part of the first line's JSON
    with open(p, encoding="utf-8-sig") as f:
        try:
            lines = list(enumerate(f, 1))
        except UnicodeDecodeError as e:
            raise DistillError(f"{p}: not UTF-8 ({e.reason}); save it as UTF-8") from None
        for lineno, line in lines:
            if not line.strip():
                continue
            where = f"{p}:{lineno}"
            try:
                row = json.loads(line)
            except json.JSONDecodeError as e:
                raise DistillError(f"{where}: not valid JSON ({e.msg})") from None
            if not isinstance(row, dict):
                raise DistillError(f"{where}: expected a JSON object, got {type(row).__name__}")
            if not isinstance(row.get("instruction"), str) or not row["instruction"].strip():
                raise DistillError(f"{where}: missing field 'instruction' (a non-empty string)")
            inst = row.get("instances")
            if not isinstance(inst, list) or not inst or not isinstance(inst[0], dict):
                raise DistillError(f"{where}: missing field 'instances' (a list of objects)")
            for key in ("input", "output"):
                if not isinstance(inst[0].get(key), str):
                    raise DistillError(f"{where}: instances[0] is missing field '{key}'")
            if row.get("id") is not None:  # one id, two tasks: which one did a record use?
                key = str(row["id"])
                first = seen.setdefault(key, (lineno, row))
                if first[1] != row:  # the same task in other spacing or key order is the same
                    raise DistillError(
                        f"{where}: id '{key}' (field 'id') is already on line {first[0]} with "
                        "different content; give each seed task its own id"
                    )
                if first[0] != lineno:
                    continue  # the same task twice: once is enough
            tasks.append(
                {
                    "id": str(row.get("id") or f"seed_task_{len(tasks)}"),
                    "instruction": row["instruction"].strip(),
                    "input": inst[0]["input"].strip(),
                    "output": inst[0]["output"].strip(),
                }
            )
    if not tasks:
        raise DistillError(f"{p}: no seed tasks (empty file)")
    return tasks


# =========================================================================== parsing

_ITEM = re.compile(r"(?m)^[ \t]*(?:#+[ \t]*)?(\d+)[ \t]*[.)][ \t]*Instruction[ \t]*:[ \t]*")
_FIELD = re.compile(r"(?m)^[ \t]*(?:\d+[ \t]*[.)][ \t]*)?(Input|Output)[ \t]*:[ \t]*")
_SEP = re.compile(r"(?m)^[ \t]*#{3,}[ \t]*$")  # the line between two tasks
_NO_INPUT = {"<noinput>", "<no input>", "noinput", "none", "n/a", ""}


def format_task(i: int, task: dict[str, Any]) -> str:
    instruction = re.sub(r"\s+", " ", task["instruction"]).strip().rstrip(":")
    inp = task["input"] or "<noinput>"
    return f"###\n{i}. Instruction: {instruction}\n{i}. Input:\n{inp}\n{i}. Output:\n{task['output']}\n"


def parse_tasks(text: str, first: int, finish_reason: str = "stop") -> tuple[list[dict], Counter]:
    """The numbered tasks in a teacher's reply, and counts of what was dropped.

    The prompt ends with "{first}. Instruction:", so a reply may continue that line or restate
    it. An item needs an instruction and an Output (Input may be missing: no input); anything
    else is `malformed`. When the reply was cut by max_tokens its last item is `truncated`.
    """
    counts: Counter = Counter()
    m = _ITEM.search(text)
    head = text[: m.start()] if m else text
    # Text before the first numbered item is the rest of the prompt's open item if it holds
    # an Output; otherwise a chat preamble ("Sure! Here are ...") to skip.
    if _FIELD.search(head) or not m:
        text = f"{first}. Instruction: " + text.lstrip()
    starts = list(_ITEM.finditer(text))
    items = []
    for k, m in enumerate(starts):
        end = starts[k + 1].start() if k + 1 < len(starts) else len(text)
        items.append((m.group(1), text[m.end() : end]))
    tasks = []
    for k, (num, body) in enumerate(items):
        if k == len(items) - 1 and finish_reason == "length":
            # Cut by max_tokens: what follows this item's closing ### is the cut one (Alpaca
            # splits on ### and drops the last part); with no ### the item itself was cut.
            sep = _SEP.search(body)
            if sep is None or body[sep.end() :].strip():
                counts["truncated"] += 1
            if sep is None:
                continue
            body = body[: sep.start()]
        body = _SEP.sub("", body).strip()
        # An item whose fields carry its number ("4. Output:") splits on those only (as
        # Alpaca's parser): an output's own "Output: 3" line (a code example) is its text.
        numbered = re.compile(rf"(?m)^[ \t]*{num}[ \t]*[.)][ \t]*(Input|Output)[ \t]*:[ \t]*")
        field = numbered if numbered.search(body) else _FIELD
        parts = field.split(body)  # [instruction, name, value, name, value, ...]
        fields = dict(zip(parts[1::2], parts[2::2]))
        names = parts[1::2]
        instruction = re.sub(r"\s+", " ", parts[0]).strip()
        if (
            not instruction
            or "Output" not in fields
            or len(names) != len(set(names))
            or names[-1] != "Output"
        ):
            counts["malformed"] += 1
            continue
        inp = fields.get("Input", "").strip()
        tasks.append(
            {
                "instruction": instruction,
                "input": "" if inp.lower() in _NO_INPUT else inp,
                "output": fields["Output"].strip(),
            }
        )
    return tasks, counts


# =========================================================================== filters


def _keyword_res(words: list[str]) -> re.Pattern[str] | None:
    # a blank word (a recipe's `blacklist: [image, ""]`) is no word: as `\b()\b` it matched
    # every instruction; a word's own spaces around it are not part of it
    words = [w.strip() for w in words if w.strip()]
    if not words:
        return None
    # not inside a longer word: \b...\b would need a word character at the ends, so "c++" or
    # "c#" (ending in a symbol) never matched "Write c++ code"
    return re.compile(
        r"(?<!\w)(" + "|".join(re.escape(w) for w in words) + r")(?!\w)", re.IGNORECASE
    )


def is_english(text: str) -> bool:
    """Alpaca's rule (the first character is ASCII) plus: most letters are ASCII."""
    letters = [c for c in text if c.isalpha()]
    if not text or not text[0].isascii():
        return False
    return not letters or sum(c.isascii() for c in letters) / len(letters) >= 0.9


# A letter or digit of any script (rouge-score's [a-z0-9] on ASCII text), and the scripts written
# without spaces, whose runs are read a character at a time (ROUGE-L on Chinese is over characters).
_ROUGE_WORD = re.compile(r"[^\W_]+")
_ROUGE_UNSPACED = re.compile(r"([\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff])")


def rouge_tokens(text: str) -> list[str]:
    """rouge-score's own tokenizer (lower case, [a-z0-9] runs, no stemmer: as Alpaca) on ASCII
    text. Its [a-z0-9] drops every other letter: `--language any` scored two Russian (or Greek,
    Chinese) instructions that differ in one word 0 against each other, and kept both. Such a
    text's words are runs of letters and digits of any script instead (the same tokens on ASCII)."""
    if text.isascii():
        from rouge_score import tokenize

        return tokenize.tokenize(text, None)
    out: list[str] = []
    for w in _ROUGE_WORD.findall(text.lower()):
        out += [t for t in _ROUGE_UNSPACED.split(w) if t] if _ROUGE_UNSPACED.search(w) else [w]
    return out


class RougeIndex:
    """ROUGE-L F1 of a new instruction against every indexed one, without the all-pairs loop.

    F1 = 2·LCS/(m+n), and an LCS is a common sub-multiset, so 2·overlap/(m+n) (overlap = shared
    tokens counted with multiplicity) bounds it from above. The overlap with every indexed text
    comes from an inverted index in a few numpy operations; rouge-score's own `_score_lcs`
    then runs only where the bound can beat the best score seen, best bound first, stopping at
    the first score >= threshold. Decisions equal the all-pairs loop's (tests/test_instruct.py);
    `best` (the highest score among kept instructions) is exact as well, since every pair that
    could beat it is scored.
    """

    def __init__(self, threshold: float):
        self.threshold = threshold
        self.vocab: dict[str, int] = {}
        self.postings: list[tuple[array, array]] = []  # token -> (doc ids, counts)
        self.lengths = array("i")
        self.tokens: list[list[str]] = []
        self.best = 0.0  # highest score any accepted text had against earlier ones
        self.scored = 0  # exact LCS computations (the cost the bound saves)

    def __len__(self) -> int:
        return len(self.tokens)

    def score(self, toks: list[str]) -> float:
        """Max ROUGE-L F1 against the index where it exceeds `best` (else a value <= best);
        returns early with the first score >= threshold."""
        import numpy as np
        from rouge_score.rouge_scorer import _score_lcs

        n = len(self.tokens)
        if n == 0 or not toks:  # rouge-score scores an empty text 0 against anything
            return 0.0
        overlap = np.zeros(n, dtype=np.float64)
        for tok, c in Counter(toks).items():
            tid = self.vocab.get(tok)
            if tid is None:
                continue
            docs, counts = self.postings[tid]
            d = np.frombuffer(docs, dtype=np.int32)
            overlap[d] += np.minimum(np.frombuffer(counts, dtype=np.int32), c)
        bound = 2.0 * overlap / (len(toks) + np.frombuffer(self.lengths, dtype=np.int32))
        floor = min(self.best, self.threshold)
        cand = np.flatnonzero(bound > floor - 1e-9)
        best = 0.0
        for i in cand[np.argsort(-bound[cand], kind="stable")].tolist():
            if bound[i] <= best:
                break
            self.scored += 1
            best = max(best, _score_lcs(self.tokens[i], toks).fmeasure)
            if best >= self.threshold:
                break
        return best

    def add(self, toks: list[str], score: float = 0.0) -> None:
        doc = len(self.tokens)
        self.tokens.append(toks)
        self.lengths.append(len(toks))
        self.best = max(self.best, score)
        for tok, c in Counter(toks).items():
            tid = self.vocab.setdefault(tok, len(self.postings))
            if tid == len(self.postings):
                self.postings.append((array("i"), array("i")))
            self.postings[tid][0].append(doc)
            self.postings[tid][1].append(c)


class NearIndex:
    """Incremental near-duplicate check with the filter's MinHash signatures and banding."""

    def __init__(self, threshold: float, num_perm: int = 64, shingle: int = 3):
        self.threshold, self.num_perm, self.shingle = threshold, num_perm, shingle
        self.b, self.r = lsh_bands(num_perm, threshold)
        self.buckets: list[dict[bytes, int]] = [{} for _ in range(self.b)]
        self.sigs: list[Any] = []

    def check(self, text: str) -> tuple[bool, Any]:
        import numpy as np

        sig = signature(text, self.shingle, self.num_perm)
        for k in range(self.b):
            j = self.buckets[k].get(sig[k * self.r : (k + 1) * self.r].tobytes())
            if j is not None and float(np.mean(self.sigs[j] == sig)) >= self.threshold:
                return True, sig
        return False, sig

    def add(self, sig: Any) -> None:
        i = len(self.sigs)
        self.sigs.append(sig)
        for k in range(self.b):
            self.buckets[k].setdefault(sig[k * self.r : (k + 1) * self.r].tobytes(), i)


class Filters:
    """Every filter, in order, with counts; `accept` also indexes what it keeps."""

    def __init__(self, cfg: InstructConfig):
        self.cfg = cfg
        self.keywords = _keyword_res(cfg.blacklist)
        self.rouge = RougeIndex(cfg.max_rouge)
        self.near = NearIndex(cfg.dedup_threshold) if cfg.dedup == "near" else None
        self.exact: set[bytes] = set()
        self.counts: Counter = Counter({k: 0 for k in FILTERS})
        self.rouge_seconds = 0.0
        rouge_tokens("")  # import rouge-score (and nltk) now, not inside the timed part

    def reason(self, task: dict[str, str]) -> tuple[str | None, float]:
        """Why `task` is dropped (None: kept), and its ROUGE-L against the index."""
        cfg, inst = self.cfg, task["instruction"]
        words = len(inst.split())
        if words < cfg.min_words:
            return "too_short", 0.0
        if words > cfg.max_words:
            return "too_long", 0.0
        if self.keywords and self.keywords.search(inst):
            return "keyword", 0.0
        if inst[0] in string.punctuation:
            return "punctuation", 0.0
        if cfg.language == "en" and not is_english(inst):
            return "non_english", 0.0
        text = normalize(inst + "\n" + task["input"])
        if cfg.dedup != "none" and exact_key(text, normalized=True) in self.exact:
            return "exact_duplicate", 0.0
        if self.near is not None:
            dup, task["_sig"] = self.near.check(text)
            if dup:
                return "near_duplicate", 0.0
        t0 = time.perf_counter()
        task["_toks"] = rouge_tokens(inst)
        score = self.rouge.score(task["_toks"])
        self.rouge_seconds += time.perf_counter() - t0
        if score >= cfg.max_rouge:
            return "rouge", score
        return None, score

    def accept(self, task: dict[str, Any], score: float = 0.0) -> None:
        text = normalize(task["instruction"] + "\n" + task["input"])
        self.exact.add(exact_key(text, normalized=True))
        if self.near is not None:
            sig = task.pop("_sig", None)
            self.near.add(sig if sig is not None else self.near.check(text)[1])
        toks = task.pop("_toks", None)
        self.rouge.add(toks if toks is not None else rouge_tokens(task["instruction"]), score)

    def apply(self, task: dict[str, Any]) -> bool:
        why, score = self.reason(task)
        if why:
            self.counts[why] += 1
            task.pop("_sig", None), task.pop("_toks", None)
            return False
        self.accept(task, score)
        return True


# =========================================================================== the stage


# the `kind` of a requests-file line that holds a failed request's spend, not a reply
FAILED = "failed"
# (TIMED_OUT, generate.stage's: the `kind` of a line for a request that got no reply within
# --request-timeout, no usage came: its cost unknown; counted over every run, as select's caches)


class _RequestSink:
    """Each finished teacher reply goes to the requests file at once, keyed by its id; so does
    the spend of a request that failed after its tokens were generated (`FAILED`)."""

    def __init__(self, writer: RecordWriter, teacher: TeacherConfig, replies: dict[str, dict]):
        self.writer, self.teacher, self.replies = writer, teacher, replies
        self.prices = teacher.prices()
        self.failures: list[str] = []
        self.cost = 0.0
        self.failed_tokens, self.failed_cost, self.estimated_tokens = 0, 0.0, 0
        self.timeouts = 0  # requests with no reply in time: their cost unknown

    def done(self, job: Job, sample: int, c: Completion) -> None:
        usage = {"prompt_tokens": c.prompt_tokens, "completion_tokens": c.completion_tokens}
        if c.reasoning_tokens is not None:
            usage["reasoning_tokens"] = c.reasoning_tokens
        # as generate's records: a prompt shared by a request's samples, the prompt tokens the
        # provider read from its cache (priced apart), tokens_estimated (the server gave no
        # usage: the teacher's estimate, which the report counts apart)
        keys = ("n_in_request", "cached_tokens", "tokens_estimated")
        usage.update({k: v for k, v in c.extra.items() if k in keys})
        cost = cost_of(usage, self.prices)
        self.cost += cost
        if usage.get("tokens_estimated"):
            self.estimated_tokens += spent_tokens(usage)
        rid, kind = job.payload
        rec = {
            "id": rid,
            "kind": kind,
            "prompt_id": job.prompt_id,
            "messages": job.messages,
            "text": c.text,
            "finish_reason": c.finish_reason,
            "usage": usage,
            "cost_usd": round(cost, 8),
            "teacher": {
                "backend": self.teacher.teacher,
                "model": self.teacher.model,
                "params": self.teacher.params,
            },
        }
        self.writer.write(rec)
        self.replies[rid] = rec

    def failed(self, job: Job, sample: int, why: str, usage: Any = None) -> None:
        self.failures.append(f"{job.payload[0]}: {why}")
        if usage:  # generated all the same (a choice the server ended 'abort'): this run paid
            cost, tokens = cost_of(usage, self.prices), spent_tokens(usage)
            self.cost += cost
            self.failed_tokens += tokens
            self.failed_cost += cost
            if usage.get("tokens_estimated"):
                self.estimated_tokens += tokens
            # No reply to keep, but paid: a line of its own in the requests file, so every
            # later run's report counts it (this run's raises before it writes one). Its id is
            # no request's: never read as a reply, and the rerun asks the request again.
            self._spend_line(job, FAILED, usage, cost, why)

    def timed_out(self, job: Job, samples: list[int]) -> None:
        """A request that got no reply in time (it `failed` too): counted, and a line of its
        own in the requests file (as a failed request's spend), so every later run's report
        counts it. No usage came: its tokens and $ are in no total."""
        self.timeouts += 1
        self._spend_line(job, TIMED_OUT, {"prompt_tokens": 0, "completion_tokens": 0}, 0.0)

    def _spend_line(
        self, job: Job, kind: str, usage: Any, cost: float, why: str | None = None
    ) -> None:
        """A line of its own in the requests file for a request with no reply to keep (FAILED:
        paid all the same; TIMED_OUT: no usage came), so every later run's report counts it.
        Its id is no request's: never read as a reply, and the rerun asks the request again."""
        rid, request_kind = job.payload
        rec = {
            "id": f"{rid}#{kind}-{time.time_ns()}",
            "kind": kind,
            "request_kind": request_kind,
            "prompt_id": job.prompt_id,
            "messages": job.messages,
            "text": "",
            "usage": usage,
            "cost_usd": round(cost, 8),
        }
        if why is not None:
            rec["why"] = why
        rec["teacher"] = {
            "backend": self.teacher.teacher,
            "model": self.teacher.model,
            "params": self.teacher.params,
        }
        self.writer.write(rec)
        self.replies[rec["id"]] = rec


class _Teacher:
    """Loads the teacher on first need (a full replay loads nothing) and sends jobs."""

    def __init__(self, cfg: InstructConfig, writer: RecordWriter, done: dict[str, dict]):
        self.cfg, self.writer, self.done = cfg, writer, done
        self.impl: Any = None
        self.cost = 0.0
        self.sent = 0
        self.failed_tokens, self.failed_cost, self.estimated_tokens = 0, 0.0, 0
        self.timed_out = 0
        # the requests file's timed-out requests of earlier runs (the report's are every run's)
        self.timed_out_before = timed_out_in(done.values())

    def send(self, jobs: list[Job], tcfg: TeacherConfig) -> None:
        jobs = [j for j in jobs if j.payload[0] not in self.done]
        if not jobs:
            return
        if self.impl is None:
            self.impl = TEACHERS[tcfg.teacher](tcfg)
        self.impl.cfg = tcfg  # same loaded model; per-pass sampling keys (magpie's two passes)
        sink = _RequestSink(self.writer, tcfg, self.done)
        self.sent += len(jobs)
        self.impl.run(jobs, sink)
        self.cost += sink.cost
        self.failed_tokens += sink.failed_tokens
        self.failed_cost += sink.failed_cost
        self.estimated_tokens += sink.estimated_tokens
        self.timed_out += sink.timeouts
        if sink.failures:
            for line in sink.failures[:5]:
                print(f"  failed {line}")
            print(f"instruct: ${self.cost:.4f} this run{self.spent_apart()}")
            raise DistillError(
                f"{len(sink.failures)} teacher requests failed: {_first_reason(sink.failures)}"
                + timed_out_words(self.timed_out, self.timed_out)
                + "; rerun the same command to retry only those"
            )

    def spent_apart(self) -> str:
        """What of this run's spend was on failed requests, or counted at an estimate."""
        return (
            (
                f"; {self.failed_tokens:,} tokens (${self.failed_cost:.4f}) spent on failed "
                "requests, in this run's $"
                if self.failed_tokens
                else ""
            )
            + (
                f"; {self.estimated_tokens:,} tokens this run estimated (the server reported no "
                "usage: ~4 characters a token)"
                if self.estimated_tokens
                else ""
            )
            + timed_out_words(self.timed_out_before + self.timed_out, self.timed_out)
        )


def _first_reason(failures: list[str]) -> str:
    """The first failure's reason, one line: the error line carries it (the others are on
    stdout)."""
    first = failures[0].split(": ", 1)[-1].strip().splitlines()
    return first[0] if first else "no reason given"


def _request_id(tcfg: TeacherConfig, messages: list[dict[str, str]], index: int) -> str:
    return sample_id(stable_hash(messages), tcfg.model, tcfg.params, index, messages)


def _self_instruct_round(
    cfg: InstructConfig,
    tcfg: TeacherConfig,
    rnd: int,
    size: int,
    seeds: list[dict],
    kept: list[dict],
    template: Any,
) -> list[tuple[Job, list[str]]]:
    jobs = []
    for j in range(size):
        rng = random.Random(f"{cfg.seed or 0}:{rnd}:{j}")
        n_gen = min(cfg.num_prompt_generated, len(kept))
        shown = rng.sample(seeds, min(len(seeds), cfg.num_prompt_tasks - n_gen))
        shown += rng.sample(kept, n_gen)
        rng.shuffle(shown)
        examples = "".join(format_task(i + 1, t) for i, t in enumerate(shown))
        content = template.render(
            {"num_tasks": cfg.num_tasks_per_request, "examples": examples, "next": len(shown) + 1}
        )
        messages = [{"role": "user", "content": content}]
        rid = _request_id(tcfg, messages, rnd * 1_000_000 + j)
        jobs.append((Job(rid, messages, [0], payload=(rid, "tasks")), [t["id"] for t in shown]))
    return jobs


def check_template(tcfg: TeacherConfig, asked: list[list[dict[str, str]]], what: str) -> None:
    """The requests a local teacher (hf, vllm) renders with its chat template, rendered with its
    tokenizer alone before the weights load (as generate's teachers.check_prompts): one the
    template refuses was a refusal minutes later, after the model had loaded. A tokenizer vLLM
    cannot load here, or without a template: the teacher's own load decides, as before."""
    if tcfg.teacher not in ("hf", "vllm") or not tcfg.chat_template:
        return
    from jinja2 import TemplateError

    from distill.teachers.hf import render_prompt

    try:
        tok = _tokenizer(tcfg.model)
    except DistillError:
        if tcfg.teacher == "vllm":
            return
        raise
    if not getattr(tok, "chat_template", None):
        return
    for messages in asked:
        try:
            render_prompt(tok, messages)
        except TemplateError as e:
            why = (str(e).strip().splitlines() or [type(e).__name__])[0]
            roles = ", ".join(str(m.get("role")) for m in messages)
            raise DistillError(
                f"--model {tcfg.model}: its chat template refuses {what} ({why}; roles: "
                f"{roles}); pick a teacher whose template takes it"
            ) from None


def magpie_prefix(model: str, system_prompt: str | None) -> str:
    """The chat template's text up to where the user's words start (Magpie's query template)."""
    from jinja2 import TemplateError

    tok = _tokenizer(model)
    if not getattr(tok, "chat_template", None):
        raise DistillError(
            f"--model {model}: its tokenizer has no chat template, and --method magpie writes "
            "instructions from a chat model's template: pick an instruct (chat) model"
        )
    mark = "\x00MAGPIE\x00"
    msgs = [{"role": "system", "content": system_prompt}] if system_prompt else []
    try:
        text = tok.apply_chat_template(
            [*msgs, {"role": "user", "content": mark}], tokenize=False, add_generation_prompt=False
        )
    except TemplateError as e:  # (Gemma's takes no system turn): a bare TemplateError before
        why = (str(e).strip().splitlines() or [type(e).__name__])[0]
        fix = "drop --system-prompt" if system_prompt else "pick an instruct (chat) model"
        raise DistillError(
            f"--model {model}: its chat template refuses magpie's "
            f"{'system and ' if system_prompt else ''}user turn ({why}); {fix}"
        ) from None
    if mark not in text:
        raise DistillError(f"{model}: its chat template does not show the user message")
    prefix = text[: text.index(mark)]
    # The raw-prompt path tokenizes with special tokens, so a BOS the tokenizer adds itself
    # must not also be in the text.
    bos = tok.bos_token
    if bos and prefix.startswith(bos) and tok("x")["input_ids"][:1] == [tok.bos_token_id]:
        prefix = prefix[len(bos) :]
    return prefix


def _tokenizer(model: str) -> Any:
    from distill.models import load_tokenizer

    return load_tokenizer(model)


def _record(task: dict, source: str, teacher: dict | None, lineage: dict) -> dict[str, Any]:
    return {
        "id": task.get("id") or stable_hash([normalize(task["instruction"]), task["input"]]),
        "instruction": task["instruction"],
        "input": task["input"],
        "output": task["output"],
        "source": source,
        "teacher": teacher,
        "lineage": lineage,
    }


def _own_records(out: Path) -> list[dict[str, Any]]:
    """The records in --out, each one this stage wrote: instruct appends to --out, so a user's
    own file there (an Alpaca dataset) is refused, not appended to."""
    recs = []
    for n, rec in enumerate(read_records(out), 1):
        missing = [k for k in ("id", "source", "lineage") if k not in rec]
        if missing:
            raise DistillError(
                f"{out}: record {n} is not an instruction distill instruct wrote (no "
                f"{missing[0]}), and instruct appends to --out: pick another --out"
            )
        recs.append(rec)
    return recs


def _shown(cfg: InstructConfig) -> InstructConfig:
    """cfg as <out>.instruct.yaml holds it: --base-url without a token in its query or userinfo
    (README: such a URL is written nowhere as given; nothing reads this file back to send)."""
    import copy

    from distill.urls import redact_url

    shown = copy.copy(cfg)
    if shown.base_url:
        shown.base_url = redact_url(shown.base_url)
    return shown


# The settings that decide which instructions a run keeps (with the replies on disk): a rerun
# with others keeps other instructions. --num-instructions only decides where it stops.
PLAN_KEYS = (
    "method", "model", "temperature", "top_p", "max_tokens", "seed", "chat_template",
    "num_prompt_tasks", "num_prompt_generated", "num_tasks_per_request", "max_rouge",
    "min_words", "max_words", "blacklist", "language", "dedup", "dedup_threshold",
    "system_prompt", "instruction_max_tokens",
)  # fmt: skip


def _round_size(saved: dict[str, Any]) -> Any:
    """The round size a saved .instruct.yaml ran with (InstructConfig.round_size)."""
    by_teacher = {"openai": saved.get("concurrency"), "hf": saved.get("batch_size")}
    return saved.get("request_batch_size") or by_teacher.get(saved.get("teacher"), 64)


def _check_prior(
    cfg: InstructConfig,
    out: Path,
    own: list[dict],
    done: dict[str, dict],
    yaml_path: Path,
    refs: dict[str, Any],
) -> InstructConfig:
    """Refuse a rerun on an --out whose instructions an earlier run made with other settings
    (its .instruct.yaml; the seed tasks' and template's hashes in the records' lineage): this
    run would keep other instructions beside them, never deduplicated against them, and the
    report would count only its own. Raising or lowering --num-instructions goes on.

    Returns cfg, with the earlier run's round size where --request-batch-size was not given
    (a rerun always goes on at the run's own; see below)."""
    import yaml

    from distill.urls import redact_urls

    gen = [r for r in own if r.get("source") != "seed"]
    if not gen and not done:
        return cfg
    try:
        saved = yaml.safe_load(yaml_path.read_text(encoding="utf-8")) if yaml_path.is_file() else {}
    except (yaml.YAMLError, UnicodeDecodeError):
        saved = {}
    saved = saved if isinstance(saved, dict) else {}
    changed = []

    def shown(v: Any) -> str:  # one line: a recipe's system prompt is often several
        text = " ".join(str(v).split())
        return text if len(text) <= 60 else text[:57] + "..."

    if gen:
        for k in PLAN_KEYS:
            if k in saved and saved[k] != getattr(cfg, k):
                old, new = shown(saved[k]), shown(getattr(cfg, k))
                changed.append(f"--{k.replace('_', '-')} {old} -> {new}")
    hint, note, keep = "", "", cfg
    rounds = {r["lineage"].get("round") for r in gen if isinstance(r["lineage"], dict)}
    size = _round_size(saved) if saved else None
    if isinstance(size, int) and size >= 1 and size != cfg.round_size():
        if cfg.request_batch_size is None:
            # The round size decides what is kept (later rounds show the kept pool of the
            # earlier ones), so a rerun goes on at the run's own: --concurrency (--batch-size)
            # is a throughput setting that sized the rounds only by default. Its rounds ask
            # the requests on disk again: nothing is paid twice, the file is an unbroken run's.
            flag = {"openai": "--concurrency", "hf": "--batch-size"}.get(cfg.teacher, "default")
            note = (
                f"instruct: rounds of {size} requests as the run in {out.name} was made "
                f"({yaml_path.name}), not {cfg.round_size()} ({flag}): the round size decides "
                "which instructions are kept"
            )
            keep = dataclasses.replace(cfg, request_batch_size=size)
        else:
            # Another round size given as such: from round 1 on it makes other prompts. A file
            # of one round goes on at a larger one (round 0 shows the seeds only, and a larger
            # round 0 asks the file's requests again), not at a smaller one: its later requests'
            # instructions would stay beside this run's. (Round 0 asked min(size, N) requests:
            # the last run's N, or at least the file's count.)
            n_saved = saved.get("num_instructions")
            n_old = max(n_saved, len(gen)) if isinstance(n_saved, int) else len(gen)
            smaller = min(cfg.round_size(), cfg.num_instructions) < min(size, n_old)
            if gen and (len(rounds) > 1 or smaller):
                changed.append(f"--request-batch-size {size} -> {cfg.request_batch_size}")
                hint = " (leave out --request-batch-size: a rerun goes on at the run's own)"
    for name, ref in refs.items():
        if ref is None:
            continue
        for r in gen:
            was = r["lineage"].get(name) if isinstance(r["lineage"], dict) else None
            if isinstance(was, dict) and was.get("sha256") not in (None, ref["sha256"]):
                changed.append(f"{name.replace('_', ' ')} file changed")
                break
    if changed:
        raise DistillError(
            f"{out} holds {len(gen)} instructions an earlier run made with other settings: "
            f"{redact_urls(', '.join(changed[:4]))}; this run would keep others beside them, "
            "never deduplicated against them: rerun with the earlier settings (saved in "
            f"{yaml_path.name}){hint}, or use another --out"
        )
    if note:
        print(note)
    return keep


def run(cfg: InstructConfig, progress: bool = True) -> Path:
    """Write cfg.num_instructions kept instructions into cfg.out (resuming); return its path."""
    from distill.paths import guard_instruct

    guard_instruct(cfg)  # --out (and its side files) is never the seed file: before any write
    out = Path(cfg.out)
    requests_path = out.with_name(out.stem + ".requests.jsonl")
    report_path = out.with_name(out.stem + ".report.json")
    seeds = load_seed_tasks(cfg.seed_tasks) if cfg.method == "self-instruct" else []
    seeds_ref = None
    if seeds:
        sp = seed_path(cfg.seed_tasks)
        seeds_ref = {"path": str(sp), "sha256": stable_hash(sp.read_text(encoding="utf-8"))}
    template = load_template(cfg.template) if cfg.method == "self-instruct" else None
    if template is not None:
        missing = {"num_tasks", "examples", "next"} - set(template.placeholders)
        if missing:
            raise DistillError(f"template {cfg.template}: needs {{{', '.join(sorted(missing))}}}")
    tcfg = cfg.teacher_config()
    teacher_ref = {"backend": tcfg.teacher, "model": tcfg.model, "params": tcfg.params}
    done = {r["id"]: r for r in read_records(requests_path)} if requests_path.exists() else {}
    own = _own_records(out) if out.exists() else []
    written = {r["id"] for r in own}
    yaml_path = out.with_name(out.stem + ".instruct.yaml")
    template_ref = {"sha256": template.sha256} if template is not None else None
    refs = {"seed_tasks": seeds_ref, "template": template_ref}
    cfg = _check_prior(cfg, out, own, done, yaml_path, refs)
    prior_ids = {r["id"] for r in own if r.get("source") != "seed"}
    asks = len(prior_ids) < cfg.num_instructions
    if asks:  # a refused key, URL or backend: nothing written
        check_teacher(tcfg.teacher, tcfg)
    # a model without a chat template: one line before anything is written (its tokenizer only)
    prefix = magpie_prefix(cfg.model, cfg.system_prompt) if cfg.method == "magpie" else ""
    if asks:  # a request its chat template refuses: before the weights load, nothing written
        if cfg.method == "self-instruct":
            size = min(cfg.round_size(), cfg.num_instructions)
            first = _self_instruct_round(cfg, tcfg, 0, size, seeds, [], template)
            check_template(tcfg, [job.messages for job, _ in first], "its self-instruct request")
        else:  # pass 2: each instruction the model wrote, answered as a user turn
            said = [{"role": "user", "content": "Write a haiku about rain."}]
            check_template(tcfg, [said], "magpie's answer request (the instruction as a user turn)")
    # after the files it resumes from are read: one that does not parse leaves nothing written
    save_config(_shown(cfg), yaml_path)
    started = time.monotonic()

    filters = Filters(cfg)
    for s in seeds:  # seeds are what new instructions must differ from, as in Alpaca
        filters.accept(dict(s))
    # items: candidates the filters looked at (kept + filtered); unused: parsed after the target
    # was reached, never looked at (paid for, not counted as dropped).
    parse_counts: Counter = Counter(
        {"requests": 0, "items": 0, "unused": 0, "malformed": 0, "truncated": 0}
    )
    if cfg.method == "magpie":  # kept instructions whose answer --max-tokens cut
        parse_counts["answers_cut"] = 0
    kept: list[dict] = []
    new_records: list[dict] = []
    if cfg.include_seeds:
        new_records += [_record(s, "seed", None, {"seed_tasks": seeds_ref}) for s in seeds]
    with RecordWriter(requests_path) as req_writer, RecordWriter(out) as writer:
        teacher = _Teacher(cfg, req_writer, done)

        def flush() -> None:
            for rec in new_records:
                if rec["id"] not in written:
                    writer.write(rec)
                    written.add(rec["id"])
            new_records.clear()

        rnd, stalled = 0, 0
        while len(kept) < cfg.num_instructions and stalled < cfg.stall_rounds:
            before = len(kept)
            size = min(cfg.round_size(), cfg.num_instructions - len(kept))
            if cfg.method == "self-instruct":
                _round_self_instruct(
                    cfg, tcfg, rnd, size, seeds, kept, template, teacher, done, filters,
                    parse_counts, new_records, teacher_ref, seeds_ref,
                )  # fmt: skip
            else:
                _round_magpie(
                    cfg, tcfg, rnd, size, prefix, kept, teacher, done, filters, parse_counts,
                    new_records, teacher_ref,
                )  # fmt: skip
            flush()
            stalled = stalled + 1 if len(kept) == before else 0
            rnd += 1
            print(
                f"instruct: round {rnd}: kept {len(kept)}/{cfg.num_instructions} "
                f"({parse_counts['items']} candidates so far)",
                flush=True,
            )
    paid = list(done.values())  # the replies, and the failed requests' spend (FAILED)
    estimated = [r for r in paid if r["usage"].get("tokens_estimated")]
    failed = [r for r in paid if r.get("kind") == FAILED]
    report = {
        "method": cfg.method,
        "num_instructions": cfg.num_instructions,
        "kept": len(kept),
        # generated instructions in --out: more than kept after a run with a larger N
        "in_file": len(prior_ids | {t["id"] for t in kept}),
        "reached": len(kept) >= cfg.num_instructions,
        "rounds": rnd,
        **dict(parse_counts),
        "filtered": {k: filters.counts[k] for k in FILTERS},
        "rouge_max": round(filters.rouge.best, 4),
        "rouge_lcs_computed": filters.rouge.scored,
        "rouge_seconds": round(filters.rouge_seconds, 3),
        "prompt_tokens": sum(r["usage"]["prompt_tokens"] for r in paid),
        "completion_tokens": sum(r["usage"]["completion_tokens"] for r in paid),
        "cost_usd": round(sum(r.get("cost_usd", 0.0) for r in paid), 6),
        # of those, spent on requests that failed (every run's, in the requests file)
        "failed_tokens": sum(spent_tokens(r["usage"]) for r in failed),
        "failed_cost_usd": round(sum(r.get("cost_usd", 0.0) for r in failed), 6),
        # the requests' tokens the server gave no count for (teacher's estimate): in the file's
        "estimated_tokens": sum(spent_tokens(r["usage"]) for r in estimated),
        # requests with no reply within --request-timeout (every run's): their cost is unknown,
        # in no $ or token count above
        "timed_out_requests": timed_out_in(paid),
        "this_run": {
            "requests_sent": teacher.sent,
            "cost_usd": round(teacher.cost, 6),
            "failed_tokens": teacher.failed_tokens,
            "failed_cost_usd": round(teacher.failed_cost, 6),
            "estimated_tokens": teacher.estimated_tokens,
            "timed_out_requests": teacher.timed_out,
            "seconds": round(time.monotonic() - started, 2),
        },
        "seed_tasks": seeds_ref,
    }
    write_atomic(report_path, json.dumps(report, indent=2) + "\n")
    dropped = ", ".join(f"{k} {v}" for k, v in report["filtered"].items() if v)
    print(
        f"instruct: kept {len(kept)} of {parse_counts['items']} candidates from "
        f"{parse_counts['requests']} requests ({parse_counts['malformed']} malformed, "
        f"{parse_counts['truncated']} truncated; dropped: {dropped or 'none'}; "
        f"{parse_counts['unused']} parsed after the target was reached, unused); "
        f"rouge_max={filters.rouge.best:.3f}; ${report['cost_usd']:.4f} in file, "
        f"${teacher.cost:.4f} this run{teacher.spent_apart()} -> {out}"
    )
    if parse_counts["answers_cut"]:
        print(
            f"instruct: {parse_counts['answers_cut']} of the kept instructions' answers were cut "
            f"by --max-tokens {cfg.max_tokens} (lineage.answer_finish_reason: length); raise it "
            "or answer them again with distill generate"
        )
    if report["in_file"] > len(kept):
        print(
            f"instruct: {out} holds {report['in_file']} instructions (an earlier run asked for "
            f"more); this run's {len(kept)} are its first"
        )
    if not report["reached"]:
        print(
            f"instruct: stopped after {cfg.stall_rounds} rounds in a row kept nothing; "
            f"{len(kept)} of {cfg.num_instructions} instructions (see {report_path})"
        )
    return out


def stopped_short(cfg: InstructConfig, own: int) -> bool:
    """--out is what a finished run at this --num-instructions and --stall-rounds left when it
    stopped short (stall_rounds rounds in a row kept nothing: a small teacher, a strict
    filter), `own` its generated instructions: a rerun replays the same rounds from its
    requests file and stops there again, adding nothing (`distill run` and a standalone
    instruct over a student's data both go on). Its report (written last) names the N and the
    count in the file; its .instruct.yaml, not newer than the report, the stall_rounds it ran
    with."""
    import yaml

    out = Path(cfg.out)
    report, saved = (out.with_name(f"{out.stem}.{s}") for s in ("report.json", "instruct.yaml"))
    try:
        rep = json.loads(report.read_text())
        was = yaml.safe_load(saved.read_text())
        finished = saved.stat().st_mtime <= report.stat().st_mtime
    except (OSError, ValueError, yaml.YAMLError):
        return False
    return (
        finished
        and isinstance(rep, dict)
        and isinstance(was, dict)
        and rep.get("reached") is False
        and rep.get("num_instructions") == cfg.num_instructions
        and rep.get("in_file") == own
        and was.get("stall_rounds") == cfg.stall_rounds
    )


def _keep_candidates(
    cfg: InstructConfig,
    filters: Filters,
    candidates: list[tuple[dict, str, dict]],
    kept: list[dict],
    new_records: list[dict],
    teacher_ref: dict,
    counts: Counter,
) -> list[dict]:
    """Filter candidates in order until N are kept; return the kept ones' records."""
    out = []
    for i, (task, source, lineage) in enumerate(candidates):
        if len(kept) >= cfg.num_instructions:
            counts["unused"] += len(candidates) - i
            break
        counts["items"] += 1
        if not filters.apply(task):
            continue
        rec = _record(task, source, teacher_ref, lineage)
        task["id"] = rec["id"]
        kept.append(task)
        out.append(rec)
    new_records += out
    return out


def _round_self_instruct(
    cfg, tcfg, rnd, size, seeds, kept, template, teacher, done, filters, counts, new_records,
    teacher_ref, seeds_ref,
) -> None:  # fmt: skip
    jobs = _self_instruct_round(cfg, tcfg, rnd, size, seeds, kept, template)
    i = 0
    while i < len(jobs) and len(kept) < cfg.num_instructions:
        job, shown = jobs[i]
        if job.payload[0] not in done:
            # The replies on disk are read before anything is asked: a rerun whose file already
            # reaches the target (at a larger --concurrency too) sends nothing. A wave asks at
            # most one request per instruction still wanted, as a fresh round does.
            wave = jobs[i : i + cfg.num_instructions - len(kept)]
            teacher.send([j for j, _ in wave], tcfg)
        rec = done[job.payload[0]]
        counts["requests"] += 1
        tasks, bad = parse_tasks(rec["text"], len(shown) + 1, rec["finish_reason"])
        counts.update(bad)
        candidates = []
        for t in tasks:
            lineage = {
                "method": "self-instruct",
                "request_id": rec["id"],
                "round": rnd,
                "in_context": shown,
                "seed_tasks": seeds_ref,
                "template": {"name": template.name, "sha256": template.sha256},
            }
            candidates.append((t, "generated", lineage))
        _keep_candidates(cfg, filters, candidates, kept, new_records, teacher_ref, counts)
        i += 1
    for job, shown in jobs[i:]:  # paid in the last wave (or an earlier run), past the target
        rec = done.get(job.payload[0])
        if rec is not None:
            tasks, bad = parse_tasks(rec["text"], len(shown) + 1, rec["finish_reason"])
            counts["requests"] += 1
            counts.update(bad)
            counts["unused"] += len(tasks)


def _round_magpie(
    cfg, tcfg, rnd, size, prefix, kept, teacher, done, filters, counts, new_records, teacher_ref,
) -> None:  # fmt: skip
    # Pass 1: the model writes user turns from the bare prefix (raw prompt, short cap).
    # Every request of a round is the same prompt, so a fixed --seed (the hf teacher reseeds each
    # call) would write the same instructions every round: each round gets its own seed.
    seed = None if tcfg.seed is None else tcfg.seed + rnd * 1_000_000
    ask = dataclasses.replace(
        tcfg, chat_template=False, max_tokens=cfg.instruction_max_tokens, seed=seed
    )
    messages = [{"role": "user", "content": prefix}]
    pid = stable_hash(messages)
    jobs = []
    for j in range(size):
        rid = _request_id(ask, messages, rnd * 1_000_000 + j)
        # Sample j of the one prompt: a seeded teacher seeds each request by its (prompt id,
        # sample), so a rerun that asks the rest of a killed round draws what the unbroken run
        # drew, not the round's first requests' numbers again (as sample 0 every time).
        jobs.append(Job(pid, messages, [j], payload=(rid, "magpie-instruction")))
    # Filter before answering, so nothing is paid to answer a dropped instruction. The replies
    # on disk are read before anything is asked (a finished run's rerun sends nothing); a wave
    # asks one request per instruction still wanted (each writes at most one).
    accepted = []
    i = 0
    while i < len(jobs) and len(kept) + len(accepted) < cfg.num_instructions:
        if jobs[i].payload[0] not in done:
            teacher.send(jobs[i : i + cfg.num_instructions - len(kept) - len(accepted)], ask)
        rec = done[jobs[i].payload[0]]
        counts["requests"] += 1
        i += 1
        text = rec["text"].strip()
        if rec["finish_reason"] == "length":
            counts["truncated"] += 1
            continue
        if not text:
            counts["malformed"] += 1
            continue
        counts["items"] += 1
        task = {"instruction": text, "input": "", "output": ""}
        if filters.apply(task):
            accepted.append((task, rec["id"]))
    rest = sum(job.payload[0] in done for job in jobs[i:])  # paid, past the target
    counts["requests"] += rest
    counts["unused"] += rest
    # Pass 2: the same model answers each kept instruction in its chat template.
    answers = []
    for task, qid in accepted:
        msgs = [{"role": "user", "content": task["instruction"]}]
        rid = _request_id(tcfg, msgs, 0)
        answers.append((Job(stable_hash(msgs), msgs, [0], payload=(rid, "magpie-answer")), qid))
    teacher.send([j for j, _ in answers], tcfg)
    for (task, qid), (job, _) in zip(accepted, answers):
        rec = done[job.payload[0]]
        task["output"] = rec["text"].strip()
        # an answer cut by --max-tokens is kept (as before) but counted and marked: it is the
        # record's output, which `train --format alpaca` learns as is
        counts["answers_cut"] += rec["finish_reason"] == "length"
        lineage = {
            "method": "magpie",
            "request_id": qid,
            "answer_request_id": rec["id"],
            "answer_finish_reason": rec["finish_reason"],
            "round": rnd,
            "system_prompt": cfg.system_prompt,
        }
        r = _record(task, "generated", teacher_ref, lineage)
        task["id"] = r["id"]
        kept.append(task)
        new_records.append(r)
