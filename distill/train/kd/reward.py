"""The verifier in the loop of `distill train --method onpolicy`: rewards, advantages, the gate.

    distill train --method onpolicy --data builtin:arithmetic --model S --teacher-model T \\
        --output-dir out --reward math --rollouts-per-prompt 4 \\
        --gate-teacher --gate-traces runs/x/traces.jsonl

The student's samples of prompts with a gold answer are verified with the filter's own entry
point (distill.filter.verify.judge: math-verify for math, the sandbox for code); a verified
sample scores 1, a wrong or answerless one 0, an unverifiable one (no gold, no tests) nothing.
The trainer adds `reward_weight` x a policy-gradient term to the teacher's reverse KL:

    pg = -(sum over samples of advantage x the sum of its sampled tokens' log-probs) / tokens

advantage = reward - the mean reward of that prompt's `rollouts_per_prompt` samples (GRPO's
group baseline, without its std division, as Dr. GRPO); with one sample per prompt there is no
group, so the baseline is the mean over the batch's verified samples (a REINFORCE baseline).

The gate (`--gate-teacher`): a prompt whose teacher samples all failed verification is left out
of the teacher's term (its distribution there is a bad target); the reward term still applies.
kept.jsonl holds passing samples only, so the verdicts come from generate's traces (verified
here with --reward's verifier) or from the filter's kept + rejects (their `checks.verify`).
"""

from __future__ import annotations

import itertools
import json
from pathlib import Path
from typing import Any

from distill.data import ANSWER_FIELDS
from distill.errors import DistillError

REWARDS = ("none", "math", "code")
# keys of a row's fields `judge` reads for code (code.code_tests: the tests, in each
# dataset's layout), carried to the trainer
_META_KEYS = (
    "tests",
    *("test_list", "test_imports", "test_setup_code"),  # MBPP
    "input_output",  # APPS, TACO
    *("public_test_cases", "private_test_cases", "metadata"),  # LiveCodeBench
    *(
        "public_tests",
        "private_tests",
        "generated_tests",
        "input_file",
        "output_file",
    ),  # code_contests
    "verification_info",  # open-r1/verifiable-coding-problems
    *("official_tests", "generated_checker", "input_mode", "interaction_format"),  # codeforces
    *("test", "entry_point", "prompt"),  # HumanEval (its prompt goes before the solution)
    "test_code",  # KodCode (and its `test`)
)


# =========================================================================== references


def gold_of(row: dict[str, Any]) -> str | None:
    """A row's gold answer: a trace record's `gold` (its `answer` is the teacher's), else a
    dataset's answer column, the one generate auto-detects (data.ANSWER_FIELDS, in its order:
    OpenMathReasoning's expected_answer included)."""
    from distill.data import gold_text

    if "teacher" in row or "reasoning" in row:  # a trace record (examples.RECORD_MARKERS)
        gold = row.get("gold")
    else:
        gold = next((row[c] for c in ANSWER_FIELDS if row.get(c) is not None), None)
    # as generate and eval read a gold (42.0 from pandas is "42", NaN or a list of answers none)
    return gold_text(gold)


def _meta_of(row: dict[str, Any]) -> str:
    meta = row.get("meta") if isinstance(row.get("meta"), dict) else row
    return json.dumps({k: meta[k] for k in _META_KEYS if k in meta}, default=str)


def _references(cfg: Any, tok: Any, model_eos: Any) -> dict[tuple[int, ...], dict[str, Any]]:
    """rendered prompt ids -> {gold, prompt_id, verify_meta}, rendered as the training
    examples are (a prompt source as kd.data.prompt_dataset renders it, traces as SFT's
    Renderer with train_on last): the first row of a repeated prompt wins."""
    from distill.choices import read_ahead
    from distill.data import gold_text, iter_source
    from distill.examples import Example, Renderer, load_examples, train_choices
    from distill.filter.verify import problem_text
    from distill.records import stable_hash
    from distill.train.kd.data import prompt_example, prompt_source, source_prompts

    refs: dict[tuple[int, ...], dict[str, Any]] = {}

    def add(key: list[int], row: dict[str, Any], gold: str | None, pid: Any, msgs: Any) -> None:
        # the problem as the filter reads it from the trace record of these prompt messages (its
        # user turns; verify_math's `problem`: whether two boxes are the ordered pair it asks for)
        problem = problem_text({"messages": msgs})
        refs.setdefault(
            tuple(key),
            {"gold": gold, "prompt_id": str(pid), "verify_meta": _meta_of(row), "problem": problem},
        )

    if cfg.method == "onpolicy" and prompt_source(cfg):
        renderer = Renderer(tok, cfg.format, model_eos)
        for msgs, fields, row in source_prompts(cfg):  # as prompt_dataset's prompts
            if row is None:  # a chat row: its own id, else the hash of its messages
                ex = Example(prompt=msgs, completion="", instruction=msgs[-1]["content"])
                given = (fields.get(k) for k in ("prompt_id", "id"))  # an id of 0 is an id
                pid = next((v for v in given if v is not None), None)
                pid = stable_hash(msgs) if pid is None else pid
                add(renderer.prompt_ids(ex), fields, gold_of(fields), pid, msgs)
                continue
            ex = prompt_example(msgs, fields, cfg)  # as train and eval
            # generate's prompt_id: the row's id, else the hash of the messages it sent
            pid = row.row_id or stable_hash(msgs)
            add(renderer.prompt_ids(ex), fields, row.gold, pid, msgs)
        return refs
    renderer = Renderer(tok, cfg.format, model_eos, "last", cfg.chat)
    # the set's multiple-choice layout as load_examples reads it: the first row's, its count
    # settled by the rows read ahead (MedMCQA's cop: from 0 or from 1, past a --limit too);
    # the first row's alone refused every row whose cop 1-3 reads either way
    choices, rows = read_ahead(
        iter_source(cfg.data, cfg.split, strict=True),
        lambda row: row,
        lambda row: train_choices(row, cfg),
    )
    rows = itertools.islice(rows, cfg.limit)
    exs = load_examples(cfg.data, cfg.split, cfg.limit, cfg, cfg.keep_markers)
    for i, (row, ex) in enumerate(zip(rows, exs, strict=True)):  # one example per row
        # a multiple-choice row (--prompt-field question --answer-field answer on MMLU) is
        # trained asking for a letter: its gold is that letter, as generate, filter and eval
        # read the row (MMLU's `answer` is an index, "1" against "Answer: B"; ARC's answerKey
        # and GPQA's 'Correct Answer' no answer column of ANSWER_FIELDS: no gold at all)
        asked = choices.read(row, f"{cfg.data} row {i + 1}") if choices is not None else None
        if asked is not None:
            gold = asked[1]
        elif choices is not None:
            # a free-form row of such a set, its answer column as load_rows reads it (SQuAD's
            # `answers` {"text": [...], ...}: the span's text, which train trains)
            gold = gold_text(choices.free_answer(row))
        else:
            gold = gold_of(row)
        pid = row.get("prompt_id") or stable_hash(ex.prompt)
        add(renderer.prompt_ids(ex), row, gold, pid, ex.prompt)
    return refs


def attach_references(cfg: Any, tok: Any, model_eos: Any, dataset: Any) -> Any:
    """The training examples + the columns the verifier and the gate read: gold, prompt_id,
    verify_meta (the row's code tests, JSON), problem (its user turns' text, as the filter
    reads it). Refuses a --reward run with nothing to verify."""
    refs = _references(cfg, tok, model_eos)
    cols: dict[str, list[Any]] = {k: [] for k in REF_KEYS}
    for ids, m in zip(dataset["input_ids"], dataset["completion_mask"], strict=True):
        ref = refs.get(tuple(ids[: m.index(1)] if 1 in m else ids))
        ref = ref or {"gold": None, "prompt_id": "", "verify_meta": "{}", "problem": None}
        for k in cols:
            cols[k].append(ref[k])
    if cfg.reward == "math" and not any(g is not None for g in cols["gold"]):
        raise DistillError(
            f"--reward math: no example of {cfg.data} has a gold answer to verify against; add "
            f"a `gold` field (trace records) or an {'/'.join(ANSWER_FIELDS)} column (a dataset)"
        )
    from distill.filter.code import runnable_tests

    if cfg.reward == "code" and not any(
        m != "{}" and runnable_tests(json.loads(m)) for m in cols["verify_meta"]
    ):
        raise DistillError(
            f"--reward code: no example of {cfg.data} has tests to run; add a `tests` field (or "
            "one of the layouts filter --verify code reads: test_list, input_output, "
            "public_test_cases, public_tests, test + entry_point, ...) to the rows, or to the "
            "trace records' meta"
        )
    for k, v in cols.items():
        dataset = dataset.add_column(k, v)
    return dataset


# =========================================================================== rewards


def reward_of(
    text: str,
    gold: str | None,
    meta: str | dict[str, Any],
    mode: str,
    sandbox: str | None = None,
    problem: str | None = None,
    in_think: bool = False,
    timeout: int = 5,
    code_memory_mb: int = 512,
) -> float | None:
    """1.0 when the sample's final answer (after its reasoning, as generate splits it) verifies,
    0.0 when wrong or without an answer, None when it cannot be verified (no gold, no tests).
    `problem`: the prompt's text, judged as the filter judges its trace record (a user turn);
    `in_think`: the prompt opened `<think>` (a sample with no tag never closed it: no answer);
    `timeout`, `code_memory_mb`: train's --verify-timeout and code_memory_mb, the filter's limits."""
    from distill.filter.verify import CORRECT, UNVERIFIABLE, judge
    from distill.reasoning import split

    meta = json.loads(meta) if isinstance(meta, str) else meta
    if mode == "math" and gold is None:
        return None
    if mode == "code" and not _tests_of(meta):  # judge says no_answer before it looks at tests
        return None
    _, answer, _ = split(text, in_think=in_think)
    rec = {"answer": answer, "gold": gold, "meta": meta}
    if problem:
        rec["messages"] = [{"role": "user", "content": problem}]
    verdict, _ = judge(rec, mode, timeout, code_memory_mb, sandbox=sandbox)
    return None if verdict == UNVERIFIABLE else float(verdict == CORRECT)


def _tests_of(meta: dict[str, Any]) -> Any:
    """The tests `judge` runs for code (code.code_tests: every layout it reads), None when
    there are none."""
    from distill.filter.code import code_tests

    return code_tests(meta)


def advantages(rewards: list[float | None], k: int) -> list[float]:
    """reward - the mean of its prompt's group (k consecutive samples of one prompt), or of the
    whole batch when k == 1. Unverifiable samples get 0 and stay out of the means."""
    out = [0.0] * len(rewards)
    groups = (
        [range(len(rewards))] if k == 1 else [range(i, i + k) for i in range(0, len(rewards), k)]
    )
    for g in groups:
        seen = [rewards[i] for i in g if rewards[i] is not None]
        if not seen:
            continue
        mean = sum(seen) / len(seen)
        for i in g:
            if rewards[i] is not None:
                out[i] = rewards[i] - mean
    return out


def score_rollouts(
    tok: Any,
    labels: Any,
    gold: list[Any],
    meta: list[Any],
    k: int,
    mode: str,
    sandbox: Any,
    problems: list[str | None] | None = None,
    prompts: Any = None,
    limits: tuple[int, int] = (5, 512),
) -> tuple[list[float], list[float | None]]:
    """(advantages, rewards) of a batch of sampled completions (labels: -100 outside them);
    `problems`: each row's prompt text (attach_references' `problem`); `prompts`: each row's
    prompt ids, to read a sample after a prompt that opened `<think>` as generate reads it;
    `limits`: (verify_timeout, code_memory_mb), train's."""
    from distill.teachers.hf import decode_keeping_think, prompt_opens_think

    # decoded as the hf teacher decodes a sample: a `</think>` the tokenizer marks special kept
    # (skipped, the reasoning's drafted \boxed{} was read as the answer)
    texts = [decode_keeping_think(tok, row[row != -100].tolist()) for row in labels]
    opened = [False] * len(texts)
    if prompts is not None:
        opened = [prompt_opens_think(decode_keeping_think(tok, row.tolist())) for row in prompts]
    problems = problems if problems is not None else [None] * len(texts)
    rewards = [
        reward_of(t, g, m, mode, sandbox, p, o, *limits)
        for t, g, m, p, o in zip(texts, gold, meta, problems, opened, strict=True)
    ]
    # a row with no sampled token (a stale rollout --rollout vllm dropped) is no sample: no
    # reward, out of its prompt's mean (its '' would score 0, no answer)
    rewards = [None if not (row != -100).any() else r for row, r in zip(labels, rewards)]
    return advantages(rewards, k), rewards


# =========================================================================== the gate


def failed_prompts(
    paths: list[str], mode: str, sandbox: Any = None, limits: tuple[int, int] = (5, 512)
) -> tuple[set[str], int]:
    """(prompt ids whose teacher samples all failed verification, prompts with a verdict) over
    the given files: a record's `checks.verify` (the filter's), else --reward's verifier on its
    answer and gold (generate's traces), under `limits` (train's verify_timeout and
    code_memory_mb). Unverifiable samples give no verdict."""
    from distill.filter.verify import CORRECT, UNVERIFIABLE, judge
    from distill.records import read_records

    passed: dict[str, bool] = {}
    for path in paths:
        if not Path(path).is_file():
            raise DistillError(f"--gate-traces: file not found: {path}")
        for i, rec in enumerate(read_records(path, required=("prompt_id",))):
            checked = (rec.get("checks") or {}).get("verify")
            if checked is not None:
                verdict = str(checked).split(" ")[0]
            elif mode == "none":
                raise DistillError(
                    f"--gate-traces {path} record {i + 1}: no verdict (checks.verify); give the "
                    "filter's kept and rejects files, or --reward math|code to verify generate's "
                    "traces here"
                )
            elif mode == "code" and not _tests_of(rec.get("meta") or {}):
                continue  # no tests: no verdict (judge would say no_answer without a code block)
            else:
                verdict = judge(rec, mode, *limits, sandbox=sandbox)[0]
            if verdict in (None, UNVERIFIABLE):
                continue
            pid = str(rec["prompt_id"])
            passed[pid] = passed.get(pid, False) or verdict == CORRECT
    return {p for p, ok in passed.items() if not ok}, len(passed)


# =========================================================================== the trainer's side

REF_KEYS = ("gold", "prompt_id", "verify_meta", "problem")


class WithReferences:
    """A collator + the verifier's references of each row, as lists (never tensors)."""

    def __init__(self, inner: Any):
        self.inner = inner

    def __call__(self, feats: list[dict[str, Any]]) -> dict[str, Any]:
        batch = self.inner([{k: v for k, v in f.items() if k not in REF_KEYS} for f in feats])
        for k in REF_KEYS:
            batch[k] = [f[k] for f in feats]
        return batch


def repeat_rows(inputs: dict[str, Any], k: int) -> None:
    """Each row of the batch k times in a row (GRPO's num_generations): the k samples of one
    prompt are consecutive, which is how `advantages` groups them."""
    import torch

    b = inputs["prompts"].shape[0]
    for key, v in list(inputs.items()):
        if isinstance(v, torch.Tensor) and v.dim() and v.shape[0] == b:
            inputs[key] = v.repeat_interleave(k, dim=0)
        elif isinstance(v, list) and len(v) == b:
            inputs[key] = [x for x in v for _ in range(k)]


def verifier_in_the_loop(trainer: Any, cfg: Any, dataset: Any) -> None:
    """Set up --reward (code: the sandbox, refused in one line without isolation) and
    --gate-teacher (the prompt ids left out of the teacher term, counted for kd.json)."""
    if cfg.reward == "code":
        from distill.filter.sandbox import require_isolation

        trainer.sandbox = require_isolation(False)
    if not cfg.gate_teacher:
        return
    from distill.train.kd.xtok import XTokTeacher

    if isinstance(trainer.teacher, XTokTeacher):
        raise DistillError(
            "--gate-teacher with a teacher of another tokenizer is not built (its loss is not "
            "per position); drop --gate-teacher"
        )
    # (getattr: tests/test_review_followups.py hands a stand-in config without them)
    limits = (getattr(cfg, "verify_timeout", 5), getattr(cfg, "code_memory_mb", 512))
    failed, verified = failed_prompts(cfg.gate_traces, cfg.reward, trainer.sandbox, limits)
    mine = set(dataset["prompt_id"]) - {""}  # "": a row without a reference (attach_references)
    trainer.gated = failed & mine
    trainer.gated_count, trainer.gate_verified = len(trainer.gated), verified
    print(
        f"gate: {len(trainer.gated)} of {len(mine)} training prompts left out of the teacher's "
        f"term (its samples in {', '.join(cfg.gate_traces)} all failed verification; "
        f"{verified} prompts there have a verdict)"
    )
