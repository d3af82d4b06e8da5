"""Difficulty: how often a prompt is solved, by the student (sampled now) or by the teacher
(its stored samples), verified as the filter verifies.

    distill select kept.jsonl --out sel.jsonl --student M --student-base-url URL --samples 8 --pass-rate 0.1:0.6

open-r1's pass-rate filtering keeps the prompts its student solves 10-60% of the time; s1 kept
the questions its models failed. The student's samples go through generate's teachers (openai,
vllm, hf) and are appended to a cache file as trace records with generate's ids (prompt,
model, sampling params, sample index, messages), so a rerun samples only what is missing.
A prompt the student refuses (longer than its context: HTTP 400/413/422, vLLM's refusal) is
left unrated, counted in `refused`, with a note; other failures stop the run for a rerun. A prompt
that cannot be verified (its gold does not parse, its code has no tests) is left unrated too,
counted in `unverifiable`, as eval leaves such a problem out of pass@1 (`distill.eval.verifiable`).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from distill.errors import DistillError

# Verdicts that count: a sample that gave no answer failed (where the prompt can be checked at
# all: `prompt_rate`); an unverifiable one (the gold does not parse) says nothing about the prompt.
_COUNTED = ("correct", "wrong", "no_answer")
LOCAL_BACKENDS = ("hf", "vllm")  # the student's backends that load its model here


class PromptInfo:
    """What the student needs of one prompt: its messages, gold and source fields, and where it
    was read (`traces.jsonl:12`, as a refusal names it)."""

    __slots__ = ("messages", "gold", "meta", "where")

    def __init__(
        self, messages: list[dict[str, Any]], gold: Any, meta: dict[str, Any], where: str = ""
    ):
        self.messages, self.gold, self.meta, self.where = messages, gold, meta, where


def _stored(rec: dict[str, Any]) -> str | None:
    """The filter's own verdict on a record (`checks.verify`), or None."""
    stored = (rec.get("checks") or {}).get("verify")
    return stored if isinstance(stored, str) and stored else None


def runs_code(path: str | Path) -> bool:
    """Whether rating the teacher's traces in `path` verifies any of them now (one without the
    filter's verdict): under --verify code, model-written code runs. (A prompt whose samples all
    gave no answer is asked whether it has tests by reading them: `distill.filter.code.has_tests`.)"""
    from distill.manifest import check_input
    from distill.records import read_records

    if not Path(path).is_file():
        return True
    check_input(path)
    return any(_stored(rec) is None for rec in read_records(path, required=("prompt_id",)))


def verdict(
    rec: dict[str, Any],
    mode: str,
    sandbox: str | None = None,
    timeout: int = 5,
    code_memory_mb: int = 512,
) -> str | None:
    """A record's verdict: the filter's own (`checks.verify`) when it has one, else verified now
    (code: under `sandbox`, the isolation select's run checked before any sampling), under
    select's --verify-timeout and code_memory_mb (distill run: the filter's)."""
    stored = _stored(rec)
    if stored is not None:
        return stored.split(" (", 1)[0]  # "wrong (2/3 tests)" -> "wrong"
    from distill.filter.verify import judge

    return judge(rec, mode, timeout, code_memory_mb, sandbox=sandbox)[0]


def rate(verdicts: list[str | None]) -> float | None:
    counted = [v for v in verdicts if v in _COUNTED]
    return sum(v == "correct" for v in counted) / len(counted) if counted else None


def prompt_rate(
    verdicts: list[str | None],
    rec: dict[str, Any],
    mode: str,
    sandbox: str | None = None,
    timeout: int = 5,
) -> float | None:
    """A prompt's pass rate over its samples' verdicts; None where the prompt cannot be verified,
    by eval's rule: math and code say no_answer for a cut-off sample before they read the gold or
    tests, and counted as a failure it made a prompt with no gold that parses (or no tests) the
    hardest there is, first for --prefer-failed and inside a low band. `rec`: one of its samples,
    its gold and fields as checked now."""
    from distill.eval import verifiable

    counted = [v for v in verdicts if v in _COUNTED]
    if not verifiable(counted, rec, mode, timeout, sandbox=sandbox):  # none counted: not verifiable
        return None
    return rate(counted)


def teacher_rates(
    path: str | Path,
    mode: str,
    sandbox: str | None = None,
    timeout: int = 5,
    code_memory_mb: int = 512,
) -> tuple[dict[str, float], dict[str, Any]]:
    """Each prompt's pass rate over the teacher's samples stored in `path` (limits: `verdict`)."""
    from distill.manifest import check_input
    from distill.records import read_records

    check_input(path)
    by_prompt: dict[str, list[str | None]] = {}
    first: dict[str, dict[str, Any]] = {}
    for rec in read_records(path, required=("prompt_id",)):
        pid = str(rec["prompt_id"])
        first.setdefault(pid, rec)
        by_prompt.setdefault(pid, []).append(verdict(rec, mode, sandbox, timeout, code_memory_mb))
    rates = {
        pid: r
        for pid, vs in by_prompt.items()
        if (r := prompt_rate(vs, first[pid], mode, sandbox, timeout)) is not None
    }
    samples = sum(len(v) for v in by_prompt.values())
    stats: dict[str, Any] = {"from": "teacher", "traces": str(path), "samples": samples}
    if len(by_prompt) > len(rates):  # every prompt here has samples: no rate, none verifiable
        stats["unverifiable"] = len(by_prompt) - len(rates)
    return rates, stats


def _adapter_base_dir(path: Path) -> Path | None:
    """The local base folder a LoRA adapter names (as the loader finds it: ~ expanded); None
    for a hub name or no adapter."""
    import json

    from distill.models import is_adapter

    if not is_adapter(str(path)):
        return None
    try:
        base = json.loads((path / "adapter_config.json").read_text()).get("base_model_name_or_path")
    except (OSError, ValueError):
        return None
    if isinstance(base, str) and Path(base).expanduser().is_dir():
        return Path(base).expanduser()
    return None


def student_weights(model: str) -> str | None:
    """What identifies a local student folder's weights (eval's stamp of its model files, and
    of the local base folder a LoRA adapter names); None for a served name, a hub name or a
    builtin (the name alone keys its samples)."""
    from distill.eval import weights_stamp
    from distill.records import stable_hash
    from distill.select.reward import other_weights

    path = Path(model).expanduser()  # `~/student`: the folder it loads (no stamp: old samples)
    if not path.is_dir():
        return None
    stamps: list[Any] = [weights_stamp(str(path))]
    base = _adapter_base_dir(path)
    if base is not None:
        stamps.append(weights_stamp(str(base)))
    other = other_weights(path)
    if other:  # only then: a safetensors student's samples keep the ids they were cached under
        stamps.append(other)
    return stable_hash(stamps, 16)


def _base_changed_since(model: str, cache: Path) -> bool:
    """Whether a LoRA adapter's local base has a file written after the cache was last: the
    ids before did not hold the base, so samples cached under them may be another base's."""
    path = Path(model).expanduser()
    base = _adapter_base_dir(path) if path.is_dir() else None
    if base is None or not cache.exists():
        return False
    last = cache.stat().st_mtime_ns
    return any(p.is_file() and p.stat().st_mtime_ns > last for p in base.iterdir())


class _Sink:
    """Teacher sink: each student sample on disk at once, as a trace record."""

    def __init__(self, writer: Any, tcfg: Any):
        self.writer, self.tcfg = writer, tcfg
        self.failures: list[str] = []
        self.refused: list[str] = []  # the prompt itself refused: not cached, not a stop
        self.timeouts = 0  # requests with no reply in time: their cost unknown

    def done(self, job: Any, sample: int, c: Any) -> None:
        from distill.reasoning import split

        info, ids = job.payload
        reasoning, answer, _think = split(c.text, c.reasoning, c.extra.get("in_think", False))
        self.writer.write(
            {
                "id": ids[sample],
                "prompt_id": job.prompt_id,
                "sample": sample,
                "messages": job.messages,
                "reasoning": reasoning,
                "answer": answer,
                "gold": info.gold,
                "teacher": {
                    "backend": self.tcfg.teacher,
                    "model": self.tcfg.model,
                    "params": self.tcfg.params,
                },
                "finish_reason": c.finish_reason,
                "usage": {
                    "prompt_tokens": c.prompt_tokens,
                    "completion_tokens": c.completion_tokens,
                },
                "meta": info.meta,
            }
        )
        from distill.manifest import kill_point

        kill_point(f"select:sampled:{self.writer.written}")  # tests kill a run here

    def failed(self, job: Any, sample: int, why: str, usage: Any = None) -> None:
        from distill.select.judge import REFUSED

        # A prompt longer than the student's context: a served student's HTTP 400 (vLLM's
        # prompt + max_tokens > max_model_len), or vLLM's own refusal of that one prompt. Every
        # rerun would get the same: the prompt is left unrated instead of stopping the run.
        refused = why.startswith(REFUSED) or why.startswith("vllm: ")
        (self.refused if refused else self.failures).append(f"{job.prompt_id}#{sample}: {why}")

    def timed_out(self, job: Any, samples: list[int]) -> None:
        """A request that got no reply in time (its samples `failed` too): counted, and a line
        of its own in the cache, so the report of the run that samples them again says it."""
        from distill.generate.stage import timed_out_line

        self.timeouts += 1
        self.writer.write(timed_out_line(job.prompt_id, [job.payload[1][s] for s in samples]))


def student_rates(
    cfg: Any, prompts: dict[str, PromptInfo], cache: Path, sandbox: str | None = None
) -> tuple[dict[str, float], dict[str, Any]]:
    """Sample the student `cfg.samples` times on each prompt (what the cache lacks), verify,
    and return each prompt's pass rate."""
    from distill.generate import TeacherConfig
    from distill.generate.stage import timed_out_in, timed_out_words
    from distill.records import RecordWriter, read_records, sample_id, stable_hash
    from distill.teachers import TEACHERS, Job, check_prompts

    tcfg = TeacherConfig(
        teacher=cfg.student_backend,
        model=cfg.student,
        base_url=cfg.student_base_url,
        api_key_env=cfg.api_key_env,
        temperature=cfg.student_temperature,
        top_p=1.0,
        max_tokens=cfg.student_max_tokens,
        seed=cfg.student_seed,
        concurrency=cfg.concurrency,
        max_retries=cfg.max_retries,
        request_timeout=cfg.request_timeout,
    )
    from distill.models import is_adapter

    if tcfg.teacher == "vllm" and is_adapter(str(cfg.student)):
        raise DistillError(
            f"--student {cfg.student} is a LoRA adapter (adapter_config.json), which vLLM does "
            "not load as a model: use --student-backend hf, or serve it (vllm serve BASE "
            "--enable-lora --lora-modules NAME=PATH) with --student-backend openai --student NAME"
        )
    have: dict[str, dict[str, Any]] = {}
    if cache.exists():
        # A served student (openai) and a local load (hf, vllm) of one name are two models:
        # `--student Qwen/Qwen2.5-0.5B` served, then the folder ./Qwen/Qwen2.5-0.5B loaded, took
        # the same ids. A sample is the current student's only when drawn the same way.
        local = tcfg.teacher in LOCAL_BACKENDS
        for rec in read_records(cache, required=("id",)):
            t = rec.get("teacher")
            drawn = t.get("backend") if isinstance(t, dict) else None
            if not isinstance(drawn, str) or (drawn in LOCAL_BACKENDS) == local:
                have[rec["id"]] = rec
    from distill.select.reward import fingerprint

    # A local student folder's weights (its model files' names, sizes and times, as eval stamps
    # them; an adapter's local base folder's too) are part of each sample's id: a student trained
    # again in place is another student, sampled again. Only its model files: an eval.json (or
    # any other file) written into the folder since leaves its samples as they were.
    weights = student_weights(str(cfg.student))
    model_key = f"{tcfg.model}@{weights}" if weights else tcfg.model
    # The ids before (every .json/.bin/.pt/.safetensors in the folder): samples cached under
    # them are this student's while the folder holds the same files, and not paid for again.
    # Not when an adapter's local base was written since those samples: they did not key it.
    legacy = (
        fingerprint(str(cfg.student))
        if weights and not _base_changed_since(str(cfg.student), cache)
        else None
    )
    legacy_key = f"{tcfg.model}@{legacy}" if legacy else None
    plan: dict[str, list[str]] = {}
    jobs = []
    for pid, info in prompts.items():
        mh = stable_hash(info.messages)
        ids = []
        for s in range(cfg.samples):
            i = sample_id(pid, model_key, tcfg.params, s, info.messages, mh)
            if i not in have and legacy_key is not None:
                old = sample_id(pid, legacy_key, tcfg.params, s, info.messages, mh)
                i = old if old in have else i
            ids.append(i)
        plan[pid] = ids
        missing = [s for s, i in enumerate(ids) if i not in have]
        if missing:
            jobs.append(Job(pid, info.messages, missing, payload=(info, ids), where=info.where))
    pending = sum(len(j.samples) for j in jobs)
    refused: list[str] = []
    if jobs:
        # a prompt the student's chat template refuses: one line, before its weights load
        check_prompts(tcfg.teacher, tcfg, jobs)
        teacher = TEACHERS[tcfg.teacher](tcfg)
        with RecordWriter(cache, on_write=lambda r: have.__setitem__(r["id"], r)) as writer:
            sink = _Sink(writer, tcfg)
            teacher.run(jobs, sink)
        refused = sink.refused
        if sink.failures:
            why = sink.failures[0].split(": ", 1)[-1].strip().splitlines() or ["no reason given"]
            raise DistillError(
                f"{len(sink.failures)} student samples failed: {why[0]}"
                + timed_out_words(sink.timeouts, sink.timeouts)
                + f"; the others are kept in {cache}: rerun the same command to sample only those"
            )
    rates: dict[str, float] = {}
    unverifiable = 0
    for pid, ids in plan.items():
        # Checked against the prompt's gold and fields as they are now: a gold fixed in the data
        # (the same messages, so the same sample ids) is not judged by the one cached with them.
        now = {"gold": prompts[pid].gold, "meta": prompts[pid].meta}
        recs = [{**have[i], **now} for i in ids if i in have]
        if not recs:  # every sample refused: counted there
            continue
        limits = (cfg.verify_timeout, cfg.code_memory_mb)
        r = prompt_rate(
            [verdict(x, cfg.verify, sandbox, *limits) for x in recs],
            recs[0],
            cfg.verify,
            sandbox,
            cfg.verify_timeout,
        )
        if r is None:
            unverifiable += 1
        else:
            rates[pid] = r
    if refused and len(refused) == pending and not rates:
        # every sample refused: the request itself (--student-max-tokens over the student's
        # context, a parameter it does not take), not a prompt; no pass rate to select by
        why = refused[0].split(": ", 1)[-1]
        raise DistillError(
            f"the student's backend refused all {len(refused)} student samples (first: "
            f"{why[:160]}), so no prompt has a pass rate: fix the request (--student-max-tokens "
            f"{cfg.student_max_tokens} over {cfg.student}'s context, a parameter it does not take)"
        )
    stats = {
        "from": "student",
        "student": f"{tcfg.teacher}:{tcfg.model}",
        "samples_per_prompt": cfg.samples,
        "sampled_this_run": pending,
        "cached": sum(len(ids) for ids in plan.values()) - pending,
        "cache": str(cache),
        "refused": len(refused),
        **({"unverifiable": unverifiable} if unverifiable else {}),
        # requests with no reply in time over the cache's runs (each run that had one stopped,
        # and a later one sampled them again): their cost is unknown
        "timed_out_requests": timed_out_in(have.values()),
    }
    if refused:  # the stage prints it with its notes
        stats["note"] = (
            f"the student's backend refused {len(refused)} student sample(s) (first: {refused[0][:160]}): "
            "their prompts have no pass rate unless other samples are cached"
        )
    return rates, stats
