"""The eval stage: pass@1, maj@k, length and truncation for a student, side by side with its base.

    distill eval --model runs/smoke/student --baseline builtin:smollm2 \
        --data 'builtin:arithmetic?start=1000&n=100' --verify math --out runs/smoke/eval.json

Generation is the generate stage itself (same teachers: hf for local dirs and LoRA adapters,
vllm, or openai for a served student), so eval samples are records on disk and a killed eval
resumes. Prompts are rendered exactly as training rendered them: the student's chat template
with its generation prompt (format r1), or the Alpaca prompt (format alpaca). Answers are
judged by the filter's verifiers.
"""

from __future__ import annotations

import dataclasses
import json
from collections import Counter, defaultdict
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from distill.config import like, setting
from distill.errors import DistillError
from distill.generate.config import PromptSource, Sampling
from distill.records import stable_hash

EVAL_VERIFY = ("math", "choice", "exact", "countdown", "code", "majority")


@dataclass
class EvalConfig(PromptSource, Sampling):
    model: str = setting(
        "",
        "Student: LoRA adapter dir, merged weights, HF name, builtin:smollm2 (or a served name with --backend openai).",
    )
    baseline: str | None = setting(
        None, "A model to compare with (e.g. the base), evaluated the same way."
    )
    # eval.json; samples go beside it (<stem>.<which>.traces.jsonl)
    out: str = setting("", "eval.json (samples are kept beside it; a rerun resumes).")
    format: str = setting("r1", "r1 (chat template, as trained) | alpaca.")
    # the student trained with the system message its traces hold (generate --system-prompt):
    # without it here, every problem was asked without the message it learned to answer after
    system_prompt: str | None = setting(
        None, "r1: the system message generate sent (--system-prompt), as the student trained."
    )
    verify: str = setting("math", "math | choice | exact | countdown | code | majority.")
    verify_timeout: int = setting(5, cli=False)
    code_memory_mb: int = setting(512, cli=False)  # (distill run: both the filter's)
    unsafe_sandbox: bool = setting(
        False,
        "code: run model-written code without OS isolation where bwrap/unshare do not work.",
        flags=("--unsafe-sandbox",),
    )
    # the prompt source's keys (PromptSource: data, prompt_field, ...) and the student's sampling
    split: str = like(PromptSource, "split", "test")
    temperature: float = like(Sampling, "temperature", 0.0, "Sampling temperature; 0 = greedy.")
    top_p: float = like(Sampling, "top_p", 1.0, "Nucleus sampling when temperature > 0.")
    max_tokens: int = like(Sampling, "max_tokens", 512)
    # `distill run` sets it where the baseline's context is shorter than the student's: each
    # model asked the most its own context leaves (the baseline's cap made the student's too)
    baseline_max_tokens: int | None = setting(
        None,
        "The baseline's max new tokens (default: --max-tokens); eval.json names both when they differ.",
    )
    seed: int | None = like(Sampling, "seed", 0)
    n: int = setting(1, "Samples per problem (pass@1 = mean; maj@k = vote).")
    backend: str = setting("hf", "hf | vllm | openai.")
    base_url: str | None = setting(None, "openai backend: the server's URL.")
    api_key_env: str = setting("OPENAI_API_KEY", "openai backend: env var with the key.")
    concurrency: int = setting(32, "openai backend: requests in flight.")
    request_timeout: float = setting(
        600.0, "openai backend: seconds a reply may pause; past that it fails, not asked again."
    )
    batch_size: int = setting(16, "hf backend: batch size.")
    device: str = setting("auto", "hf backend: auto | cpu | cuda.")

    def __post_init__(self) -> None:
        if not self.model:
            raise DistillError("missing --model (the student to evaluate)")
        if not self.data:
            raise DistillError("missing --data (held-out problems)")
        if not self.out:
            raise DistillError("missing --out (eval.json)")
        from distill.data import check_source_split

        check_source_split(self)  # --split validation of a lone file: refused, not all of it
        if self.verify not in EVAL_VERIFY:
            raise DistillError(f"unknown --verify '{self.verify}' (have: {', '.join(EVAL_VERIFY)})")
        if self.format not in ("r1", "alpaca"):
            raise DistillError("format must be r1 or alpaca")
        if self.system_prompt and self.format == "alpaca":
            raise DistillError(
                "--system-prompt has no place in the Alpaca prompt (--format alpaca trains "
                "without one): drop it, or evaluate a --format r1 student"
            )
        from distill.config import check_values

        check_values(
            self,
            [
                ("n", self.n >= 1, ">= 1"),
                ("temperature", self.temperature >= 0, ">= 0 (0 = greedy)"),
                ("top_p", 0 < self.top_p <= 1, "in (0, 1]"),
                ("max_tokens", self.max_tokens >= 1, ">= 1"),
                (
                    "baseline_max_tokens",
                    self.baseline_max_tokens is None or self.baseline_max_tokens >= 1,
                    ">= 1",
                ),
                ("limit", self.limit is None or self.limit >= 1, ">= 1"),
                ("verify_timeout", self.verify_timeout >= 1, ">= 1 (seconds)"),
                ("code_memory_mb", self.code_memory_mb >= 1, ">= 1"),
                ("concurrency", self.concurrency >= 1, ">= 1"),
                ("request_timeout", self.request_timeout > 0, "> 0 (seconds)"),
                ("batch_size", self.batch_size >= 1, ">= 1"),
            ],
        )
        if self.n > 1 and self.temperature == 0:
            raise DistillError(
                f"--n {self.n} at --temperature 0: greedy decoding draws the same answer "
                f"{self.n} times (maj@{self.n} would be pass@1, at {self.n}x the cost); set "
                "--temperature > 0 (e.g. 0.6) to sample, or --n 1"
            )
        if self.backend != "openai":  # a served model is named by the server, not a path
            from distill.models import check_model_path

            check_model_path(self.model, "--model")
            if self.baseline:
                check_model_path(self.baseline, "--baseline")


def score(
    records: list[dict[str, Any]],
    verify: str,
    timeout: int = 5,
    sandbox: str | None = None,
    code_memory_mb: int = 512,
) -> dict[str, Any]:
    """pass@1 (mean over problems of the share of correct samples), maj@k (the majority answer
    is correct), mean completion tokens, truncation rate. `sandbox`, `code_memory_mb`: as in
    `judge`."""
    return _scored(records, verify, timeout, sandbox, code_memory_mb)[0]


def _scored(
    records: list[dict[str, Any]],
    verify: str,
    timeout: int = 5,
    sandbox: str | None = None,
    code_memory_mb: int = 512,
) -> tuple[dict[str, Any], dict[str, float]]:
    """score's numbers, and each scored problem's pass@1 by prompt id (the problems left out as
    unverifiable are not there): what the student and its baseline are compared on."""
    from distill.filter.verify import (
        CORRECT,
        UNVERIFIABLE,
        choice_key,
        judge,
        math_answer_key,
        options_of,
    )

    by_prompt: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for r in records:
        by_prompt[r["prompt_id"]].append(r)
    pass1, maj, lengths, truncated, unverifiable = [], [], [], 0, 0
    per_problem: dict[str, float] = {}
    for prompt_id, group in by_prompt.items():
        # In sample order, not file order (a resumed or concurrent run writes samples as they
        # finish): a tied vote goes to the lowest sample's answer, the same on every rerun.
        group = sorted(group, key=lambda r: r.get("sample", 0))
        for r in group:
            lengths.append((r.get("usage") or {}).get("completion_tokens", 0))
            truncated += r.get("finish_reason") == "length"
        # The vote is on the answer the verifier reads: the letter under choice (math_answer_key
        # made "The answer is (B)." and "Answer: B" two different votes), a hedge's letters
        # together (it is judged wrong: no vote for the letter it stated first).
        answers = [r.get("answer") or "" for r in group]
        options = options_of(group[0])  # MMLU-Pro's ten: "Answer: I" is a vote for I
        if verify == "choice":
            keys = [choice_key(a, options) for a in answers]
        elif verify == "countdown":  # math_answer_key gave a boxed "(3+4)*5" no vote
            keys = [countdown_key(a) for a in answers]
        elif verify == "exact":  # math_answer_key read \boxed{Paris} as a*i*p*r*s
            keys = [exact_key(a) for a in answers]
        elif verify == "code":  # math_answer_key gave the last number in the program
            keys = [code_key(a) for a in answers]
        else:
            keys = [math_answer_key(a, timeout, options) for a in answers]
        votes = Counter(k for k in keys if k is not None)
        top = votes.most_common(1)[0][0] if votes else None
        if verify == "majority":
            verdicts = [top is not None and k == top for k in keys]
            maj.append(float(top is not None))
            pass1.append(sum(verdicts) / len(verdicts))
            per_problem[prompt_id] = pass1[-1]
            continue
        judged = [
            (k, judge(r, verify, timeout, code_memory_mb, sandbox=sandbox)[0])
            for k, r in zip(keys, group)
        ]
        # A sample that cannot be verified (its problem has no gold or no tests, a gold that
        # does not parse) says nothing about the model, as in the filter's pass rate: a problem
        # none of whose samples could be verified is left out of pass@1 and maj@k, not scored 0.
        judged = [(k, v) for k, v in judged if v != UNVERIFIABLE]
        if not verifiable([v for _, v in judged], group[0], verify, timeout, sandbox):
            unverifiable += 1
            continue
        pass1.append(sum(v == CORRECT for _, v in judged) / len(judged))
        per_problem[prompt_id] = pass1[-1]
        maj.append(float(top is not None and any(v == CORRECT for k, v in judged if k == top)))
    n = len(pass1)
    k = max((len(g) for g in by_prompt.values()), default=0)
    return {
        "problems": len(by_prompt),
        **({"unverifiable": unverifiable} if unverifiable else {}),
        "samples": len(records),
        "pass@1": round(sum(pass1) / n, 4) if n else None,
        f"maj@{k}": round(sum(maj) / n, 4) if n else None,
        "mean_completion_tokens": round(sum(lengths) / len(lengths), 1) if lengths else None,
        "truncation_rate": round(truncated / len(records), 4) if records else None,
    }, per_problem


# An answer each verifier reads (a code block, a box): judged only to ask whether a problem whose
# samples gave no answer could have been checked at all (its gold or tests).
PROBE = "```python\npass\n```\n\\boxed{0}"


def verifiable(
    verdicts: list[str | None],
    rec: dict[str, Any],
    verify: str,
    timeout: int = 5,
    sandbox: str | None = None,
) -> bool:
    """Whether a problem whose samples got `verdicts` says anything about the model (eval's
    pass@1 and select's pass rate leave it out when not). One sample judged correct or wrong
    does; all unverifiable (no gold, no tests, a gold that does not parse) do not. math and code
    say no_answer (an empty or cut-off answer, no code block) before they look at the gold or
    tests: such samples of a problem that has none are no more verified than the others (its
    cut-off samples scored 0 while its answered ones were left out), so the problem itself is
    asked, `rec` (one of its samples) with an answer every verifier reads: under code its tests
    run (`sandbox`, as in `judge`)."""
    from distill.filter.verify import CORRECT, UNVERIFIABLE, WRONG, judge

    if any(v in (CORRECT, WRONG) for v in verdicts):
        return True
    if all(v == UNVERIFIABLE for v in verdicts):
        return False
    if verify == "code":  # read, not run: no code (nor sandbox) for a question the tests answer
        from distill.filter.code import has_tests

        return has_tests(rec.get("meta") or {})
    return judge({**rec, "answer": PROBE}, verify, timeout, sandbox=sandbox)[0] != UNVERIFIABLE


def countdown_key(answer: str) -> str | None:
    """The expression verify_countdown reads, without its spaces: countdown's vote."""
    from distill.filter.verify import countdown_expression

    expr = countdown_expression(answer)
    return "".join(expr.split()) or None if expr is not None else None


def exact_key(answer: str) -> str | None:
    """The text verify_exact compares (the last \\boxed{}, else the answer, normalised)."""
    from distill.filter.verify import last_boxed, normalize_text

    boxed = last_boxed(answer)
    text = boxed if boxed is not None else answer
    return normalize_text(text) if text and text.strip() else None


def code_key(answer: str) -> str | None:
    """The program verify_code runs (the last fenced block), each line's runs of whitespace as
    one and blank lines dropped; its indentation kept (a line indented otherwise is another
    program in Python)."""
    from distill.filter.code import extract_code

    code = extract_code(answer)
    if code is None:
        return None
    lines = [
        line[: len(line) - len(line.lstrip())] + " ".join(line.split())
        for line in code.splitlines()
        if line.strip()
    ]
    return "\n".join(lines) or None


def weights_stamp(model: str) -> str:
    """Which weights a local model folder holds now (its model files' names, sizes and mtimes):
    a folder that train rewrote gets another stamp. A hub name or builtin: the name. A folder
    given as `~/student` (a recipe value, `--model=~/x`) is that folder, as it loads."""
    from distill.models import MODEL_FILES, RUN_FILES

    path = Path(model).expanduser()
    if not path.is_dir():
        return model
    seen = []
    # and the shards a large model is saved in (model-00001-of-00002.safetensors): the index
    # alone may stay as it was (a copy that keeps mtimes)
    shards = {p.name for p in path.glob("model-*-of-*.safetensors")}
    for name in sorted({*MODEL_FILES, *RUN_FILES, *shards}):
        f = path / name
        if f.is_file():
            st = f.stat()
            seen.append(f"{name}:{st.st_size}:{st.st_mtime_ns}")
    return stable_hash(seen)


def served_cards(c: Any) -> dict[Any, Any] | None:
    """The models c's server lists (GET /models at c.base_url, c.api_key_env's key), by id;
    None where it answers no list."""
    import os
    import urllib.request

    if not c.base_url:
        return None
    key = os.environ.get(c.api_key_env)
    headers = {"Authorization": f"Bearer {key}"} if key else {}
    request = urllib.request.Request(c.base_url.rstrip("/") + "/models", headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=10) as r:
            body = json.loads(r.read())
    except Exception:  # noqa: BLE001 - no such endpoint, no server yet: not known
        return None
    # A reply of another shape (another server's, a proxy's page) lists nothing known
    listed = body.get("data") if isinstance(body, dict) else None
    if not isinstance(listed, list):
        return None
    return {m["id"]: m for m in listed if isinstance(m, dict) and isinstance(m.get("id"), str)}


def served_weights(cfg: EvalConfig, model: str) -> dict[str, str] | None:
    """What --backend openai's server says it serves as `model` (GET /models, vLLM's card): the
    folder or Hub id it loaded (`root`; a LoRA adapter's base, `parent`), and where that is a
    folder here (a trained student served with --lora-modules student=DIR), its weights'
    stamp. None where the server lists none of it (OpenAI's API, a server not up)."""
    if cfg.backend != "openai":
        return None
    card = (served_cards(cfg) or {}).get(model)
    if not isinstance(card, dict):
        return None
    out = {}
    for key in ("root", "parent"):
        name = card.get(key)
        if isinstance(name, str) and name:
            out[key] = name
            if Path(name).expanduser().is_dir():
                out[f"{key}_weights"] = weights_stamp(name)
    return out or None


def set_aside_if_retrained(traces: Path, model: str, served: dict[str, str] | None = None) -> None:
    """Sample ids hash the model's name, not its weights: a student folder retrained in place
    would have its old samples reused and scored as the new student's. A stamp beside the
    samples says which weights wrote them; other weights set the old samples aside (renamed
    with their stamp, never deleted) and sample afresh. `served`: a served model's weights as
    its server lists them (`served_weights`): the student retrained and served again under
    the same name had its old samples scored as the new one's (compared where both stamps
    hold it)."""
    from distill.records import write_atomic

    stamp_file = traces.with_name(traces.stem + ".weights.json")
    now = weights_stamp(model)
    was = None  # the served weights the samples kept in `traces` were drawn from
    if traces.exists() and stamp_file.is_file():
        saved = json.loads(stamp_file.read_text())
        old, was = saved.get("weights"), saved.get("served")
        other = old != now or (served is not None and was is not None and was != served)
        if other and traces.stat().st_size == 0:  # a failed eval's empty file: no samples
            traces.unlink()
        elif other:
            # the old stamp may be a model path or hub name (org/name): a hash of it names the
            # file ('/' in a file name raised ValueError on this and every later eval)
            tag = stable_hash(old if was is None else [old, was], 12)
            aside = traces.with_name(f"{traces.stem}.{tag}.jsonl")
            n = 1  # the same weights set aside before (--model org/a, org/b, org/a, org/b)
            while aside.exists() or aside.is_symlink():
                n += 1
                aside = traces.with_name(f"{traces.stem}.{tag}-{n}.jsonl")
            traces.replace(aside)
            print(
                f"eval: {model} holds other weights than {traces.name} was sampled from; "
                f"those samples moved to {aside.name}, sampling afresh"
            )
        if other:
            was = None
    # an eval whose server listed no card this time (GET /models timed out, or answered no
    # list) keeps the card its samples were drawn under: dropped, the next eval (the student
    # retrained, the card listed again) had nothing to compare and scored the old samples
    served = served or was
    stamp = {"model": model, "weights": now, **({"served": served} if served else {})}
    write_atomic(stamp_file, json.dumps(stamp) + "\n")


def budget(cfg: EvalConfig, which: str) -> int:
    """The max new tokens `which` (student | baseline) is asked with."""
    if which == "baseline" and cfg.baseline_max_tokens is not None:
        return cfg.baseline_max_tokens
    return cfg.max_tokens


def _generate_config(cfg: EvalConfig, model: str, which: str) -> Any:
    """The generate config that samples `model` on the eval set into its samples file beside
    --out (<stem>.<which>.traces.jsonl)."""
    from distill.generate import GenerateConfig

    out = Path(cfg.out)
    return GenerateConfig(
        **{f.name: getattr(cfg, f.name) for f in dataclasses.fields(PromptSource)},
        n=cfg.n,
        teacher=cfg.backend,
        model=model,
        base_url=cfg.base_url,
        api_key_env=cfg.api_key_env,
        concurrency=cfg.concurrency,
        request_timeout=cfg.request_timeout,
        batch_size=cfg.batch_size,
        device=cfg.device,
        temperature=cfg.temperature,
        top_p=cfg.top_p if cfg.temperature > 0 else 1.0,
        max_tokens=budget(cfg, which),
        seed=cfg.seed,
        out=str(out.with_name(f"{out.stem}.{which}.traces.jsonl")),
        chat_template=cfg.format == "r1",
        system_prompt=cfg.system_prompt,
    )


def check_templates(cfg: EvalConfig, models: list[tuple[str, str]] | None = None) -> None:
    """Every problem's prompt rendered with the tokenizer of each model eval asks (the student and
    the --baseline, each its own chat template; hf, vllm) before either loads or samples: one a
    template refuses (a system turn Gemma takes none of) is one line naming the row. Each
    model's generate checks its own prompts before its weights load, but the baseline's turn
    came after the student's whole eval had run (and been paid for); `distill run` checks them
    before its first stage. `models`: the (student|baseline, name) to check (default: both)."""
    if cfg.format != "r1" or cfg.backend not in ("hf", "vllm"):
        return  # (the Alpaca prompt is sent as text; a served model renders on its server)
    if models is None:
        models = [("student", cfg.model), ("baseline", cfg.baseline or "")]
    models = [(which, m) for which, m in models if m]
    if not models:
        return
    from distill.generate import source_messages
    from distill.teachers import Job, check_prompts

    rows = source_messages(cfg)
    jobs = [Job(str(n), m, [0], where=f"{cfg.data} row {n}") for n, (_, m) in enumerate(rows, 1)]
    for which, model in models:
        check_prompts(cfg.backend, _generate_config(cfg, model, which), jobs, cfg.system_prompt)


def _generate(cfg: EvalConfig, model: str, which: str) -> list[dict[str, Any]]:
    """Sample `model` on the eval set through the generate stage; return this run's records."""
    from distill.data import load_rows
    from distill.generate import generate_planned
    from distill.records import read_records

    gcfg = _generate_config(cfg, model, which)
    traces = Path(gcfg.out)
    out = Path(cfg.out)
    rows = iter(
        load_rows(cfg.data, cfg.split, cfg.prompt_field, cfg.answer_field, cfg.id_field, cfg.limit)
    )
    first = next(rows, None)
    if first is None:
        raise DistillError(f"{cfg.data}: no problems to evaluate")
    no_alpaca_chat(cfg, first, 1)
    if cfg.format == "alpaca":  # the question in its wording (cfg.template), as train wraps it
        gcfg.template = alpaca_template(
            cfg.data, first, out, cfg.template, cfg.prompt_field, cfg.context_field
        )
    # refused only when no problem has one (a null gold in the first row alone is that
    # problem's, unverifiable, as the filter reads a file whose first trace has none);
    # --verify code judges by a row's tests (HumanEval, LiveCodeBench have no answer field),
    # countdown by its target when the row holds one, as judge reads them
    if cfg.verify != "majority" and not _judgeable(first, cfg.verify):
        if not any(_judgeable(r, cfg.verify) for r in rows):
            raise _nothing_to_judge(cfg)
    set_aside_if_retrained(traces, model, served_weights(cfg, model))
    # This run's samples only: the file may also hold samples from other settings or problems.
    planned = generate_planned(gcfg, progress=False)
    records = [r for r in read_records(traces) if r["id"] in planned]
    records = with_current_gold(gcfg, records)
    if records and cfg.format == "r1":
        from distill.teachers.hf import opens_think

        # a served model's template is the server's: its samples say whether it opened <think>
        # (a reply that closes the block it never opened); a reasoning parser's are 'api'
        if (
            any(r.get("think") == "prefilled" for r in records)
            if cfg.backend == "openai"
            else opens_think(model, records[0]["messages"], cfg.backend)
        ):
            records = [in_think(r) for r in records]
    return records


def _nothing_to_judge(cfg: EvalConfig) -> DistillError:
    what = "tests it can run" if cfg.verify == "code" else "gold answer (--answer-field)"
    return DistillError(
        f"{cfg.data}: problems have no {what} for --verify {cfg.verify}; use --verify "
        "majority to score self-consistency instead"
    )


def local_data(src: str) -> bool:
    """--data names no hub dataset: builtin:, a local file or folder, or a file path not found
    (.jsonl, ./x: refused as such by its reader, no download tried)."""
    from distill.data import COMPRESSED, DATA_SUFFIXES

    path = Path(src)
    return (
        src.startswith(("builtin:", ".", "/"))
        or path.exists()
        or path.suffix.lower() in (*DATA_SUFFIXES, *COMPRESSED)
    )


def check_data(cfg: EvalConfig) -> None:
    """What eval refuses of its problems before sampling, read in one pass with no model: a
    row without the prompt field (or a null one), a `tools` column listing tools, a template
    placeholder a row has no value for, no gold answer (or tests) in any row for --verify, a
    chat prompt under --format alpaca (a first pass, before the composed template's refusal).
    `distill run` checks its set so before its first stage (a hub dataset too, but not under
    --dry-run): eval found them only when it started, after generate had bought its samples
    and train had run."""
    from distill.data import load_rows
    from distill.generate.stage import source_messages

    template = cfg.template
    if cfg.format == "alpaca" and instruction_rows(cfg):  # as alpaca_template picks it (the
        template = "alpaca"  # composed one reads as cfg.template)
    judged = cfg.verify == "majority"
    if cfg.format == "alpaca":
        for i, row in enumerate(load_rows(cfg.data, cfg.split, cfg.prompt_field, limit=cfg.limit)):
            no_alpaca_chat(cfg, row, i + 1)
    for row, _ in source_messages(cfg, template):
        judged = judged or _judgeable(row, cfg.verify)
    if not judged:
        raise _nothing_to_judge(cfg)


def no_alpaca_chat(cfg: EvalConfig, row: Any, n: int) -> None:
    """--format alpaca asks a problem as text in the Alpaca prompt; a row whose prompt is a chat
    (TRL's conversational prompt) is asked as that chat, through the chat template (r1)."""
    if cfg.format == "alpaca" and row.chat is not None:
        raise DistillError(
            f"{cfg.data} row {n}: the prompt is a chat, and --format alpaca asks a problem as "
            "text in the Alpaca prompt: evaluate with --format r1 (the chat, through the "
            "student's chat template), or give the prompt as text"
        )


def instruction_rows(cfg: EvalConfig) -> bool:
    """The set's rows are asked their `instruction` field (asks_instruction): --format alpaca
    asks each in the `alpaca` template, its instruction (+ input) as train renders such a row,
    whatever --template says (alpaca_template)."""
    from distill.data import load_rows

    first = next(iter(load_rows(cfg.data, cfg.split, cfg.prompt_field, limit=1)), None)
    return first is not None and asks_instruction(first.fields, cfg.prompt_field)


def asks_instruction(fields: dict[str, Any], prompt_field: str | None) -> bool:
    """The prompt field (--prompt-field, else the first of data.PROMPT_FIELDS a row has, as
    load_rows picks it) is the row's `instruction`. Beside another prompt column (instruction +
    question, --prompt-field question; `question` is picked before `instruction`) generate asked
    the teacher that column, and train's --format alpaca takes the prompt it sent
    (examples.instruction_asked): the Alpaca template around the instruction asked the student
    a text the teacher never answered."""
    from distill.data import PROMPT_FIELDS

    picked = prompt_field or next((f for f in PROMPT_FIELDS if f in fields), None)
    return picked == "instruction" and "instruction" in fields


def alpaca_template(
    data: str,
    first: Any,
    out: Path,
    template: str | None = None,
    prompt_field: str | None = None,
    context_field: str | None = None,
) -> str:
    """The template that writes each problem as the Alpaca prompt train put before its answer
    (examples.Renderer, --format alpaca), from the trace generate wrote for the problem: rows
    asked their `instruction` field (asks_instruction) as instruction (+ input, where the row
    has one: the `alpaca` template's per-row rule); others (an instruction beside the question
    asked) with the prompt generate sent as the instruction:
    `template` rendered (the wording generate asked in, `distill run`'s eval taking
    generate's), else the source's own (builtin:arithmetic's r1-math). `alpaca-no-input` alone
    read `{instruction}` from rows that have none (eval refused builtin:arithmetic) and left a
    row's input out; a --template was sent bare, without the Alpaca prompt train wrapped it
    in. Such a composed template is written beside --out (<stem>.alpaca.txt). Under
    --context-field it is Alpaca's prompt_input, the context its Input section (left out where
    it is empty: generate.no_input_twin), as train renders such a row or its trace."""
    from distill.generate.stage import source_template
    from distill.records import write_atomic
    from distill.templates import load_template

    if asks_instruction(first.fields, prompt_field):
        return "alpaca"
    inner = source_template(data, template)
    heads = [load_template(n).text.split("{instruction}")[0] for n in ("alpaca-no-input", "alpaca")]
    # a wording that shows the context as its own {input} is trained as sent, with no Input
    # section (examples.alpaca_parts): prompt_input would show the context twice
    shown = inner is not None and "input" in inner.placeholders
    alpaca = load_template("alpaca" if context_field and not shown else "alpaca-no-input").text
    text = alpaca.replace("{instruction}", inner.text if inner is not None else "{prompt}")
    path = out.with_name(f"{out.stem}.alpaca.txt")
    was = path.read_text(encoding="utf-8", errors="replace") if path.is_file() else None
    if was is not None and not was.startswith(tuple(heads)):
        # a file of the user's at that name is theirs: not replaced
        raise DistillError(
            f"{path} exists and distill did not write it (not an Alpaca prompt template): "
            "move it, or pick another --out"
        )
    if was != text:
        write_atomic(path, text)
    return str(path)


def _judgeable(row: Any, verify: str) -> bool:
    """The row holds what judge compares a sample with under `verify`."""
    if verify == "code":
        from distill.filter.code import runnable_tests

        # tests judge refuses to run (C++ verification_info, a checker): every sample scored 0
        return runnable_tests(row.fields)
    if verify == "countdown" and row.fields.get("target") is not None:
        return True
    return row.gold is not None


def with_current_gold(gcfg: Any, records: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Each sample judged against its problem's gold answer and fields (countdown's numbers, a
    code task's tests) as the eval set holds them now: a sample's id hashes its prompt, not
    its gold, so a rerun after a wrong gold was fixed resumes the samples (rightly) and scored
    them against the gold they were sampled with."""
    from distill.generate.stage import record_meta, source_messages

    rows = source_messages(gcfg)
    # the prompt id generate gives a row (build_jobs)
    now = {row.row_id or stable_hash(messages): row for row, messages in rows}
    out = []
    for r in records:
        row = now.get(r["prompt_id"])
        if row is not None:
            meta = record_meta(row.fields, gcfg.context_field)
            r = {**r, "gold": row.gold, "meta": meta}
        out.append(r)
    return out


def in_think(rec: dict[str, Any]) -> dict[str, Any]:
    """A sample read after a prompt that opened `<think>`: with no tag of its own ('none'), it
    never closed the block (cut off by max_tokens, or an end inside it) and gave no answer,
    as distill.reasoning reads an unclosed block and a served model's reasoning parser does.
    Its text was the answer, and a \\boxed{} drafted in the thinking was scored."""
    if rec.get("think") != "none":
        return rec
    return {**rec, "reasoning": rec.get("answer") or "", "answer": "", "think": "unclosed"}


def run(cfg: EvalConfig) -> Path:
    from distill.config import save_config
    from distill.paths import guard_eval

    guard_eval(cfg)  # --out and the samples beside it are never an input: before any write
    from distill.teachers import check_teacher

    # A refused key, URL, backend or model (a missing folder, a hub name not in the offline
    # cache; the baseline's too: it was refused only after the student's whole eval ran) is
    # refused here, before the samples' files, not by the config: a recipe's eval may name the
    # folder its train writes, and `distill run` checks every section before running any.
    models = [(f, m) for f, m in (("--model", cfg.model), ("--baseline", cfg.baseline)) if m]
    check_teacher(cfg.backend, cfg, models)
    out = Path(cfg.out)
    sandbox = None
    if cfg.verify == "code":  # model-written code: refuse before sampling if it cannot be isolated
        from distill.filter.sandbox import require_isolation

        sandbox = require_isolation(cfg.unsafe_sandbox)
    result: dict[str, Any] = {
        "data": cfg.data,
        "verify": cfg.verify,
        "n": cfg.n,
        "temperature": cfg.temperature,
        "max_tokens": cfg.max_tokens,
        "format": cfg.format,
    }
    if cfg.system_prompt:  # what each problem was asked after (a run's eval: generate's)
        result["system_prompt"] = cfg.system_prompt
    if cfg.context_field:  # the column asked after each problem (Alpaca's Input section)
        result["context_field"] = cfg.context_field
    template = cfg.template
    if template not in (None, "alpaca") and cfg.format == "alpaca" and instruction_rows(cfg):
        # asked in the Alpaca prompt around the row's own instruction, as train renders it:
        # eval.json and the card named a template whose wording no problem was asked in
        print(
            f"note: --template {template} is not used: --format alpaca asks {cfg.data}'s rows "
            "(they have an `instruction` field) in the Alpaca prompt around their instruction "
            "and input, as train renders them"
        )
        template = None
    if template:  # the wording each problem was asked in (a run's eval: generate's, on its set)
        result["template"] = template
    # Which weights were evaluated (as the samples' stamp): publish leaves out of a card the
    # numbers of a student folder retrained since.
    result["weights"] = {"student": weights_stamp(cfg.model)}
    if cfg.baseline:
        result["weights"]["baseline"] = weights_stamp(cfg.baseline)
    if sandbox:
        from distill.filter.sandbox import describe

        result["sandbox"] = describe(sandbox)
    if cfg.baseline:  # the baseline's prompts too, before the student samples
        check_templates(cfg)
    limits = (cfg.verify_timeout, sandbox, cfg.code_memory_mb)
    numbers, student = _scored(_generate(cfg, cfg.model, "student"), cfg.verify, *limits)
    result["student"] = {"model": cfg.model, **numbers}
    if cfg.baseline:
        numbers, base = _scored(_generate(cfg, cfg.baseline, "baseline"), cfg.verify, *limits)
        result["baseline"] = {"model": cfg.baseline, **numbers}
        # Paired, on the problems both were scored on: each pass@1 leaves out the problems it
        # could not verify (math-verify raising on one model's answer, its code's tests not
        # run), and the two left out different ones, so their difference compared two sets.
        # (Each side's mean rounded as its pass@1 is: on the same problems the delta is the
        # difference of the two numbers shown.)
        ours = [v for p, v in student.items() if p in base]
        theirs = [v for p, v in base.items() if p in student]
        result["delta_pass@1"] = (
            round(round(sum(ours) / len(ours), 4) - round(sum(theirs) / len(theirs), 4), 4)
            if ours
            else None
        )
        result["delta_problems"] = len(ours)
        if budget(cfg, "baseline") != cfg.max_tokens:
            # Not the same budget: each column names its own, and the delta says it compares
            # two budgets (a reader of pass@1 alone took them for the same terms).
            result["student"]["max_tokens"] = cfg.max_tokens
            result["baseline"]["max_tokens"] = budget(cfg, "baseline")
    # eval.json and eval.yaml as one set with eval.json.manifest.json last (distill/manifest.py): a
    # kill between the two never leaves new numbers beside the old run's settings unmarked.
    from distill.manifest import OutputSet, config_hash, manifest_path

    # (a with block: an error or Ctrl-C before the renames leaves no .eval.json.tmp behind)
    with OutputSet("eval", manifest_path(out), config_hash(cfg)) as outputs:
        outputs.tmp(out).write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
        save_config(cfg, outputs.tmp(out.with_name(out.stem + ".eval.yaml")))
        outputs.commit()
    _print(result)
    return out


def _print(result: dict[str, Any]) -> None:
    from rich.console import Console
    from rich.table import Table

    cols = [k for k in ("baseline", "student") if k in result]
    t = Table(title=f"eval on {result['data']} ({result['verify']}, n={result['n']})")
    t.add_column("metric")
    for c in cols:
        t.add_column(f"{c}\n{result[c]['model']}", justify="right")
    # every metric of either column, as the card shows them (`unverifiable` is named only where
    # it is > 0: a baseline's alone went unshown)
    metrics = dict.fromkeys(m for c in cols for m in result[c] if m != "model")
    for metric in metrics:
        t.add_row(
            metric,
            *[str(result[c].get(metric, 0 if metric == "unverifiable" else None)) for c in cols],
        )
    if "delta_pass@1" in result:
        t.caption = (
            f"delta pass@1 (student - baseline) {result['delta_pass@1']}, "
            f"on the {result['delta_problems']} problems both were scored on"
            + budgets_differ(result)
        )
    Console(stderr=True).print(t)


def budgets_differ(result: dict[str, Any]) -> str:
    """', at different max_tokens (...)' where eval.json's two columns were asked with different
    budgets (each model's own context: `distill run`, --baseline-max-tokens); '' where not."""
    student, base = (result.get(c) or {} for c in ("student", "baseline"))
    if "max_tokens" not in base or base.get("max_tokens") == student.get("max_tokens"):
        return ""
    return (
        f", at different max_tokens (student {student.get('max_tokens')}, baseline "
        f"{base['max_tokens']}): not the same budget"
    )
