"""The generate stage: prompts -> teacher samples -> traces.jsonl (append-only, resumable).

    distill generate --data builtin:arithmetic --limit 100 --teacher openai \
        --base-url http://127.0.0.1:8000/v1 --model M --n 2 --concurrency 16 --out t.jsonl

Pending work = every (prompt, teacher, sample) id minus the ids already in --out, so a killed
run reruns with the same arguments and pays only for what is missing. Each record is on disk
the moment its sample exists.
"""

from __future__ import annotations

import dataclasses
import json
import os
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from distill.config import save_config
from distill.data import BUILTIN_TEMPLATES, PROMPT_FIELDS, Row, load_rows, parse_builtin
from distill.errors import DistillError
from distill.examples import (
    CONTEXT_KEY,
    asked_chat,
    dolphin_refusal,
    no_tools,
    orca_system,
    with_context,
)
from distill.generate.config import (
    PRICES,
    BatchConfig,
    GenerateConfig,
    TeacherConfig,
    cost_of,
)
from distill.logprobs import ShardBuffer, check_resume, recover
from distill.reasoning import split
from distill.records import (
    RecordWriter,
    jsonable,
    read_records,
    sample_id,
    stable_hash,
    teacher_key,
    teacher_labels,
    write_atomic,
)
from distill.teachers import TEACHERS, Completion, Job, check_prompts, check_teacher
from distill.teachers.batch import BatchTeacher, batch_prices
from distill.templates import load_template

# =========================================================================== the stage


class _Progress:
    """Rich progress bar with samples, tokens/s and $; quiet when not a terminal."""

    def __init__(self, total: int, enabled: bool):
        from rich.progress import (
            BarColumn,
            MofNCompleteColumn,
            Progress,
            TextColumn,
            TimeRemainingColumn,
        )

        self.start = time.monotonic()
        self.tokens = 0
        self.cost = 0.0
        self.failed = 0
        # this run's spend on samples that failed (no record: only this run's summary has it),
        # part of `cost`, and its tokens that are estimates (a server that gave no usage)
        self.failed_tokens = 0
        self.failed_cost = 0.0
        self.estimated_tokens = 0
        # this run's requests with no reply within the client's timeout: no usage came, so their
        # spend (the server may have generated and billed them) is unknown, in no $ above
        self.timed_out = 0
        self.bar = Progress(
            TextColumn("[bold]generate"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("{task.fields[stats]}", markup=False),  # batch states come from a server
            TimeRemainingColumn(),
            disable=not enabled,
            transient=False,
        )
        self.task = self.bar.add_task("generate", total=total, stats="")

    def advance(self, tokens: int, cost: float, failed: bool = False) -> None:
        self.tokens += tokens
        self.cost += cost
        self.failed += failed
        # The numbers of every sample (rich limits the redraws itself): the hf teacher hands
        # over a whole batch at once, and a bar updated at most every 0.1 s kept its first.
        rate = self.tokens / max(1e-9, time.monotonic() - self.start)
        stats = f"{rate:,.0f} tok/s  ${self.cost:.4f}" + (
            f"  failed {self.failed}" if self.failed else ""
        )
        self.bar.update(self.task, advance=1, stats=stats)


class _Sink:
    """Turns teacher completions into records on disk, counting tokens and dollars."""

    def __init__(
        self,
        writer: RecordWriter,
        teacher: TeacherConfig,
        progress: _Progress,
        template: Any,
        context_field: str | None = None,
        on_failed_spend: Any = None,
        counted: set[str] | None = None,
    ):
        self.writer, self.teacher, self.progress, self.template = (
            writer,
            teacher,
            progress,
            template,
        )
        self.context_field = context_field
        # called once a failed sample's spend is counted: no record holds it, so the summary
        # is written at once (a run killed later still leaves it for the rerun to carry)
        self.on_failed_spend = on_failed_spend
        # the batch samples whose failed spend the totals hold (Totals.failed_in_batches)
        self.counted = counted if counted is not None else set()
        self.prices = teacher.prices()
        self.failures: list[str] = []
        # A local folder's place, relative to the traces file's folder: a rerun that names it
        # another way, or from another working directory, finds these samples (build_jobs)
        folder = local_folder(teacher)
        self.folder = (
            os.path.relpath(folder, writer.path.resolve().parent) if folder is not None else None
        )
        self.hub = hub_name(teacher)  # loaded from the Hub: never a local folder's samples
        # With --logprobs, records wait for their log-prob shard to be durable (distill.logprobs).
        self.buffer = (
            ShardBuffer(writer.path, max_records=teacher.logprobs_shard)
            if teacher.logprobs
            else None
        )

    def done(self, job: Job, sample: int, c: Completion) -> None:
        row, ids = job.payload
        reasoning, answer, think = split(c.text, c.reasoning, c.extra.get("in_think", False))
        usage = {"prompt_tokens": c.prompt_tokens, "completion_tokens": c.completion_tokens}
        if c.reasoning_tokens is not None:
            usage["reasoning_tokens"] = c.reasoning_tokens
        # tokens_estimated: the server gave no usage, the counts are the teacher's estimate
        # (the summary says how many tokens are)
        usage.update(
            {
                k: v
                for k, v in c.extra.items()
                if k in ("n_in_request", "cached_tokens", "tokens_estimated")
            }
        )
        cost = cost_of(usage, self.prices)
        if self.prices:  # what this sample was bought at: custom or list price, batch discount
            usage["cost_usd"] = round(cost, 8)
        if usage.get("tokens_estimated"):
            self.progress.estimated_tokens += spent_tokens(usage)
        record = {
            "id": ids[sample],
            "prompt_id": job.prompt_id,
            "sample": sample,
            "messages": job.messages,
            "reasoning": reasoning,
            "answer": answer,
            "gold": row.gold,
            "teacher": {
                "backend": self.teacher.teacher,
                "model": self.teacher.model,
                "params": self.teacher.params,
                # sent without the chat template: another input, another id (sample_id)
                **({"raw_prompt": True} if self.teacher.raw_prompt else {}),
                **({"folder": self.folder} if self.folder is not None else {}),
                **({"hub": True} if self.hub else {}),
            },
            "finish_reason": c.finish_reason,
            "usage": usage,
            "meta": record_meta(row.fields, self.context_field),
            "think": think,
            "template": {"name": self.template.name, "sha256": self.template.sha256}
            if self.template
            else None,
        }
        if "batch" in c.extra:  # the provider's batch id (--batch)
            record["batch"] = c.extra["batch"]
        if self.buffer is None:
            self.writer.write(record)
        elif c.token_logprobs is None:  # never a record without the log-probs asked for
            raise DistillError(
                f"--logprobs: the {self.teacher.teacher} teacher returned no log-probs for "
                f"{job.prompt_id}#{sample}"
            )
        elif self.buffer.add(
            record,
            c.token_logprobs,
            tokenizer=c.tokenizer[0] if c.tokenizer else self.teacher.model,
            vocab=c.tokenizer[1] if c.tokenizer else None,
            stop_token=c.stop_token,
        ):
            self.buffer.flush(self.writer.write)
        self.progress.advance(c.prompt_tokens + c.completion_tokens, cost)

    def close(self) -> None:
        """Write what the log-prob buffer still holds (shard first, then records)."""
        if self.buffer is not None:
            self.buffer.flush(self.writer.write)

    def timed_out(self, job: Job, samples: list[int]) -> None:
        """A request that got no reply in time (its samples `failed` too): counted, and the
        summary written at once, as a failed sample's spend is (a run killed later keeps it)."""
        self.progress.timed_out += 1
        if self.on_failed_spend is not None:
            self.on_failed_spend()

    def failed(self, job: Job, sample: int, why: str, usage: dict[str, Any] | None = None) -> None:
        self.failures.append(f"{job.prompt_id}#{sample}: {why}")
        if not usage:
            self.progress.advance(0, 0.0, failed=True)
            return
        # A batch's choice (--batch: `usage` names its batch): an earlier run that read this
        # batch's results and was stopped before marking it collected counted it already; this
        # run reads the same result file again, and the provider billed it once.
        key = f"{usage['batch']} {job.payload[1][sample]}" if usage.get("batch") else None
        if key is not None and key in self.counted:
            self.progress.advance(0, 0.0, failed=True)
            return
        # generated all the same (a choice the server ended unfinished): no record, but this
        # run's spend counts it, at the price a record of it would have been bought at
        cost, tokens = cost_of(usage, self.prices), spent_tokens(usage)
        self.progress.failed_tokens += tokens
        self.progress.failed_cost += cost
        if usage.get("tokens_estimated"):
            self.progress.estimated_tokens += tokens
        self.progress.advance(tokens, cost, failed=True)
        if key is not None:
            self.counted.add(key)
        if self.on_failed_spend is not None:
            self.on_failed_spend()


def spent_tokens(usage: dict[str, Any]) -> int:
    """A sample's tokens: its completion and its share of the request's prompt."""
    prompt = usage.get("prompt_tokens", 0) / usage.get("n_in_request", 1)
    return round(prompt) + usage.get("completion_tokens", 0)


def record_meta(fields: dict[str, Any], context_field: str | None = None) -> dict[str, Any]:
    """A record's `meta`: the source row's fields (lineage), and under --context-field the
    column's name (`context_field`), which train's --format alpaca reads the row's Alpaca input
    from (examples.alpaca_parts), as eval asks it."""
    meta = {k: v for k, v in fields.items() if jsonable(v)}
    if context_field:
        meta[CONTEXT_KEY] = context_field
    return meta


def source_template(data: str, template: str | None) -> Any:
    """The template a source's prompts are rendered with: the given one, else the built-in
    set's own, else none (the raw prompt)."""
    if template is None and data.startswith("builtin:"):
        template = BUILTIN_TEMPLATES[parse_builtin(data)[0]]
    return load_template(template) if template else None


def _choice_question(row: Row, tmpl: Any, where: str) -> str:
    """What a template's placeholder of a multiple-choice row's question column ({question},
    GPQA's {Question}) renders: the question with its lettered options and the instruction
    naming their letters, as {prompt} does. A template is written to word the request; the
    bare question would ask it without its options, the gold a letter of none shown. A
    template that would show the options twice is refused (choices.Layout.check_template)."""
    row.choices.check_template(tmpl.name, tmpl.placeholders, where)
    return row.prompt


def _alpaca_input(row: Row, prompt_field: str | None) -> str | None:
    """An Alpaca row's input, which follows its instruction as `distill train` renders the row
    in a chat turn (examples.with_context); without a template the instruction alone would ask
    the teacher to "summarize the text below" with no text below."""
    picked = prompt_field or next((f for f in PROMPT_FIELDS if f in row.fields), None)
    inp = row.fields.get("input")
    return inp if picked == "instruction" and isinstance(inp, str) else None


def _sends_instruction(row: Row, prompt_field: str | None, tmpl: Any) -> bool:
    """Whether the prompt sent holds a dolphin row's instruction, one of Orca's system prompts
    (examples.orca_system), with its input: the Alpaca row's instruction picked as the prompt, in
    no template or one that shows it ({prompt} or {instruction})."""
    picked = prompt_field or next((f for f in PROMPT_FIELDS if f in row.fields), None)
    if picked != "instruction" or not orca_system(row.prompt, row.fields.get("input")):
        return False
    return tmpl is None or bool({"prompt", "instruction"} & set(tmpl.placeholders))


def context_text(row: Row, column: str, where: str) -> str:
    """A row's --context-field column, read as train reads it (examples.Columns): text, a null
    (Parquet's missing value) none; a row without the column is refused by name."""
    if column not in row.fields:
        found = ", ".join(map(str, row.fields)) or "none"
        raise DistillError(
            f"{where}: no column '{column}' (--context-field); found columns: {found}"
        )
    value = row.fields[column]
    if value is not None and not isinstance(value, str):
        raise DistillError(
            f"{where}: column '{column}' (--context-field) must be text, got {type(value).__name__}"
        )
    return value or ""


def no_input_twin(tmpl: Any) -> Any:
    """Alpaca's prompt_no_input of a template that is its prompt_input (the `alpaca` template's
    text) around some wording of the instruction: eval's --format alpaca around a --template's
    wording (eval.alpaca_template) asks a row whose context is empty without the Input
    section, as train renders it. None for any other template."""
    from distill.templates import Template

    head, tail = load_template("alpaca").text.split("{instruction}")
    bare_head, bare_tail = load_template("alpaca-no-input").text.split("{instruction}")
    text = tmpl.text
    if not (text.startswith(head) and text.endswith(tail)) or len(text) < len(head + tail):
        return None
    return Template(tmpl.name, bare_head + text[len(head) : len(text) - len(tail)] + bare_tail)


def source_messages(
    cfg: Any, template: str | None = None
) -> Iterator[tuple[Row, list[dict[str, str]]]]:
    """`prompt_messages` of a config's prompt source (generate's or eval's: data, split, prompt,
    answer, id and context fields, limit, system prompt), in `template` where given, else the
    config's own."""
    return prompt_messages(
        cfg.data,
        cfg.split,
        cfg.prompt_field,
        template or cfg.template,
        cfg.system_prompt,
        cfg.answer_field,
        cfg.id_field,
        cfg.limit,
        cfg.context_field,
    )


def prompt_messages(
    data: str,
    split: str = "train",
    prompt_field: str | None = None,
    template: str | None = None,
    system_prompt: str | None = None,
    answer_field: str | None = None,
    id_field: str | None = None,
    limit: int | None = None,
    context_field: str | None = None,
) -> Iterator[tuple[Row, list[dict[str, str]]]]:
    """Each row of a prompt source with the chat messages the teacher is sent: the row's prompt
    field rendered with the template, as a user turn (after the system prompt, if any); a prompt
    field holding a chat (TRL's conversational prompt) is sent as that chat (asked_chat). On-policy
    training (`train --method onpolicy` on a prompt source) renders its prompts here too.

    `context_field` (train's --context-field: Alpaca's input, dolly's context): that column
    after the prompt (the template's wording, or the field) and a blank line, as train renders
    the row (examples.with_context); a template with an `{input}` (alpaca's Input section) shows
    it there instead, and leaves the section out where it is empty (Alpaca's prompt_no_input)."""
    tmpl = source_template(data, template)
    if context_field not in (None, "input") and tmpl and context_field in tmpl.placeholders:
        raise DistillError(
            f"--template {tmpl.name} shows column '{context_field}' itself and "
            f"--context-field {context_field} adds it after the prompt: drop one of them"
        )
    # Alpaca's own rule: rows with an empty input get the prompt without the Input section.
    no_input = load_template("alpaca-no-input") if tmpl and tmpl.name == "alpaca" else None
    if context_field and tmpl is not None and no_input is None:
        no_input = no_input_twin(tmpl)
    # under --context-field the context is the template's {input}, which it shows itself
    shows_input = tmpl is not None and "input" in tmpl.placeholders
    rows = load_rows(data, split, prompt_field, answer_field, id_field, limit)
    shown = {prompt_field, context_field, *(tmpl.placeholders if tmpl else ())}  # a {tools}
    for i, row in enumerate(rows):
        where = f"{data} row {i + 1}"
        # the teacher (eval: the student) would answer without the tools the row is about
        no_tools(row.fields, where, shown=shown)
        if context_field is None and _sends_instruction(row, prompt_field, tmpl):
            # train refuses the row read so (examples.from_row): the teacher would answer the
            # system prompt as the user's request, and the traces train that
            raise dolphin_refusal(
                where,
                row.prompt,
                "the teacher would be sent",
                "send the request alone with --prompt-field input (a system prompt for all rows "
                "with --system-prompt), or Alpaca's instruction and input with --context-field "
                "input (train's --prompt-field instruction --context-field input)",
            )
        if row.chat is not None:
            column = prompt_field or next(f for f in PROMPT_FIELDS if f in row.fields)
            if context_field:
                raise DistillError(
                    f"{where}: field '{column}' is a chat, sent as it is: --context-field "
                    f"{context_field} has no place in it; drop --context-field, or give the "
                    "prompt as text"
                )
            if tmpl is not None:
                # a template words a text field; a chat is its own wording (TRL applies none),
                # and the last user turn reworded would be a prompt the row never asked
                raise DistillError(
                    f"{where}: field '{column}' is a chat, sent as it is: --template "
                    f"{tmpl.name} has no text to render; drop --template, or give the prompt "
                    "as text"
                )
            yield row, asked_chat(row.chat, where, column, system_prompt)
            continue
        fields = row.fields
        if row.choices is not None:  # RACE's article: its prompt shows it before the question
            row.choices.check_context(context_field, where)
        ctx = context_text(row, context_field, where) if context_field else None
        if ctx is not None:
            fields = {**fields, "input": ctx}
        context = {**fields, "prompt": row.prompt}
        if row.choices is not None and tmpl is not None:
            context[row.choices.question] = _choice_question(row, tmpl, where)
        row_template = no_input if no_input and not fields.get("input") else tmpl
        if row_template is None:
            content = with_context(
                row.prompt, _alpaca_input(row, prompt_field) if ctx is None else ctx
            )
        else:
            content = row_template.render(context, where=where)
            if ctx is not None and not shows_input:
                content = with_context(content, ctx)
        messages = [{"role": "system", "content": system_prompt}] if system_prompt else []
        messages.append({"role": "user", "content": content})
        yield row, messages


def local_folder(teacher: TeacherConfig) -> Path | None:
    """The folder an hf/vllm teacher's model names (resolved: ./, a trailing slash, symlinks),
    or None: a hub name or builtin: (a name, looked up as such) or a served model (openai)."""
    if teacher.teacher not in ("hf", "vllm") or teacher.model.startswith("builtin:"):
        return None
    p = Path(teacher.model).expanduser()
    return p.resolve() if p.is_dir() else None


def hub_name(teacher: TeacherConfig) -> bool:
    """An hf/vllm teacher's model that is no local folder here: loaded from the Hub by name."""
    return (
        teacher.teacher in ("hf", "vllm")
        and not teacher.model.startswith("builtin:")
        and local_folder(teacher) is None
    )


# A recorded (model, folder) of a sample an hf/vllm teacher loaded from the Hub (`hub` in its
# record): never a local folder's, whatever folder its name names here.
_HUB = "\0hub"
_FROM_HUB = Path("\0hub")


class _Spellings:
    """Which recorded samples are a local teacher folder's, whatever name it was typed under.

    A sample's id hashes the model as typed (sample_id), so `runs/x/teacher/merged`,
    `./runs/x/teacher/merged/` and its absolute path were three teachers and a rerun bought
    every sample again; and a relative `ckpt` typed in two working directories (two models) was
    one, the second run's samples taken for the first's. The ids stay as they were (files already
    on disk keep resuming): the folder a record names (its `folder`, kept relative to the traces
    file, else its model resolved here, for records written before that key) decides whose a
    sample is, and a folder whose typed name another folder's records hold already writes its
    new samples under its absolute path (`names`).

    A Hub id and a local folder of the same name (`Qwen/Qwen2.5-0.5B` and ./Qwen/Qwen2.5-0.5B)
    are two models: a record of a Hub load says so (`hub`), one of a folder names it (`folder`).
    Neither is taken for the other's; a Hub teacher whose name a folder's records hold writes
    its new samples under ids of `NAME@hub` (its record keeps the name it loads)."""

    def __init__(self, out: str):
        self.base = Path(out).resolve().parent  # as the writer names it (_Sink.folder)
        self.seen: dict[tuple[str, str | None], tuple[str, str | None]] = {}  # (model, folder)
        self.by_id: dict[str, tuple[str, str | None]] = {}  # a local teacher's sample: its key
        self.places: dict[tuple[str, str | None], Path | None] = {}

    def add(self, rec: dict[str, Any]) -> None:
        t = rec.get("teacher")
        if isinstance(t, dict) and t.get("backend") in ("hf", "vllm"):
            model, folder = t.get("model"), t.get("folder")
            if isinstance(model, str) and not model.startswith("builtin:"):
                if t.get("hub") is True:
                    folder = _HUB
                key = (model, folder if isinstance(folder, str) else None)
                self.by_id[rec["id"]] = self.seen.setdefault(key, key)

    def place(self, key: tuple[str, str | None]) -> Path | None:
        """The folder a recorded (model, folder) names, resolved; None: no folder here."""
        if key not in self.places:
            model, folder = key
            if folder == _HUB:
                return _FROM_HUB
            p = self.base / folder if folder is not None else Path(model).expanduser()
            self.places[key] = p.resolve() if p.is_dir() else None
        return self.places[key]

    def names(self, teacher: TeacherConfig) -> tuple[list[str], str, Path | None]:
        """(the names this teacher's folder may have been recorded under, the one typed first;
        the name its new samples are written under: the typed one, or the absolute folder where
        another folder's records hold the typed name; the folder, None if not local)."""
        here = local_folder(teacher)
        if hub_name(teacher):
            # a folder's samples hold the name: this model's new ones take ids of NAME@hub
            alt = f"{teacher.model}@hub"
            if any(m == teacher.model and f not in (None, _HUB) for m, f in self.seen):
                return [teacher.model, alt], alt, None
        if here is None:
            return [teacher.model], teacher.model, None
        names, taken = [teacher.model], False
        for key in self.seen:
            at = self.place(key)
            if key[0] == teacher.model and at not in (None, here):  # None: cannot tell
                taken = True
            elif at == here and key[0] not in names:
                names.append(key[0])
        if taken and str(here) not in names:
            names.append(str(here))
        return names, str(here) if taken else teacher.model, here

    def mine(self, sample: str, here: Path | None, hub: bool = False) -> bool | None:
        """Whether a sample on disk is that of the teacher in folder `here` (`hub`: of the one
        loaded from the Hub): True, its recorded folder is `here` (a Hub load's); None, cannot
        tell (not local, or its folder gone, or a record from before `hub`: its name decides,
        as before); False, another folder's (a Hub load's, or a folder's for a Hub teacher)."""
        key = self.by_id.get(sample)
        if hub:
            return None if key is None or key[1] is None else key[1] == _HUB
        at = None if key is None or here is None else self.place(key)
        return None if at is None else at == here


def build_jobs(
    cfg: GenerateConfig,
) -> tuple[list[tuple[TeacherConfig, list[Job]]], set[str], Any, Totals]:
    """Every (teacher, prompt) with the sample indices not yet on disk, every planned id, the
    template, and the totals of the records already on disk."""
    template = source_template(cfg.data, cfg.template)
    teachers = cfg.resolved_teachers()
    totals = Totals(cfg.batch_discount)
    done: set[str] = set()
    spellings = _Spellings(cfg.out)
    if Path(cfg.out).exists():
        for n, rec in enumerate(read_records(cfg.out, required=("id",)), 1):
            if "prompt_id" not in rec:  # a user's own rows (a dataset with ids): not ours
                raise DistillError(
                    f"{cfg.out}: record {n} is not a trace record (no prompt_id), and generate "
                    "appends to --out: pick another --out"
                )
            done.add(rec["id"])
            totals.add(rec)
            spellings.add(rec)
    # each teacher as its new samples are recorded (a local folder: under its absolute path
    # where another folder's samples hold the name typed), and its names on disk
    spelled = [spellings.names(t) for t in teachers]
    hubs = [hub_name(t) for t in teachers]
    plan: list[tuple[TeacherConfig, list[Job]]] = [
        (t if write == t.model or here is None else dataclasses.replace(t, model=write), [])
        for t, (_, write, here) in zip(teachers, spelled)
    ]
    planned: set[str] = set()
    need_k: dict[str, int] = {}  # done samples whose top-K log-probs must already be on disk
    rows = source_messages(cfg)
    raw = next((t for t in teachers if t.raw_prompt), None)
    for n, (row, messages) in enumerate(rows, 1):
        if cfg.context_field and CONTEXT_KEY in row.fields:
            # meta keeps the row's columns (lineage) and, under --context-field, the context
            # column's name at this key, which train reads: the row's own column of that name
            # was replaced in every trace by a name
            raise DistillError(
                f"{cfg.data} row {n}: the source has a column named '{CONTEXT_KEY}', and "
                "--context-field records the context column's name under that key of each "
                "trace's meta (train --format alpaca reads it there): rename that column"
            )
        if raw is not None and len(messages) > 1:  # (a system prompt is refused by the config)
            raise DistillError(
                f"{cfg.data} row {n}: the prompt is a chat of {len(messages)} turns, and "
                "--raw-prompt sends the last user turn alone, without the chat template: drop "
                "--raw-prompt, or give the prompt as text"
            )
        messages_hash = stable_hash(messages)  # hashed once per prompt, not once per sample
        prompt_id = row.row_id or messages_hash
        for (teacher, jobs), (names, write, here), hub in zip(plan, spelled, hubs):
            ids = []
            for s in range(cfg.n):
                # done under a name of this folder: planned as the id on disk (eval, run pick it);
                # one recorded in this folder first, then one whose folder cannot tell (its own
                # is gone: a renamed project's samples are not taken over another's)
                found: dict[bool | None, str] = {}  # (names holds `write`: its id, if none)
                for name in names:
                    i = sample_id(
                        prompt_id,
                        name,
                        teacher.params,
                        s,
                        messages,
                        messages_hash,
                        raw_prompt=teacher.raw_prompt,
                    )
                    whose = spellings.mine(i, here, hub) if i in done else False
                    if whose is not False:
                        found.setdefault(whose, i)
                        if whose:
                            break
                    if name == write:
                        found.setdefault(False, i)
                ids.append(found.get(True) or found.get(None) or found[False])
            # `planned` too: a row repeated in the file (same id and content) is one prompt,
            # sampled and paid for once, not once per copy under the same sample ids
            missing = [s for s in range(cfg.n) if ids[s] not in done and ids[s] not in planned]
            if teacher.logprobs:
                need_k.update((i, teacher.logprobs) for i in ids if i in done)
            planned.update(ids)
            if missing:
                where = f"{cfg.data} row {n}"  # as a refusal of the prompt names it
                jobs.append(Job(prompt_id, messages, missing, payload=(row, ids), where=where))
    if need_k:
        check_resume(cfg.out, need_k)
    return plan, planned, template, totals


class Totals:
    """Running totals of a traces file, one record at a time (`summarize`): generate counts the
    records already on disk while it reads their ids and adds each one it writes, so the
    summary never reads the file a second time."""

    def __init__(self, batch_discount: float = BatchConfig.batch_discount):
        self.batch_discount = batch_discount
        self.stats: dict[str, Any] = {
            "samples": 0,
            "prompts": 0,
            "prompt_tokens": 0,
            "completion_tokens": 0,
            "truncated": 0,
            "cost_usd": 0.0,
            # tokens (prompt share + completion) of records whose usage is the teacher's
            # estimate (`usage.tokens_estimated`: the server reported none), in those above
            "estimated_tokens": 0,
            "by_teacher": {},
        }
        self.prompts: set[Any] = set()
        # (tokens, $) spent on samples that failed, over every run on the file: no record holds
        # them (the summary carries them from run to run: _earlier_failed)
        self.failed: tuple[int, float] = (0, 0.0)
        # '<batch id> <sample id>' of each --batch sample whose failed spend is in `failed`: a
        # batch's results read again (a run stopped before it marked the batch collected) are
        # not counted twice
        self.failed_in_batches: set[str] = set()
        # requests that got no reply in time, over every run on the file (carried as `failed`):
        # their spend is unknown, in no $ total
        self.timed_out = 0
        # A request's prompt tokens shared by its n samples: summed unrounded, rounded once
        # (25 tokens over 3 samples rounded per sample summed to 24).
        self._prompt_tokens = 0.0
        self._estimated = 0.0

    def add(self, rec: dict[str, Any]) -> None:
        """Each record's cost is the one it was bought at (`usage.cost_usd`: its run's prices
        and batch discount); records written before that field existed are priced at the list
        price (`batch_discount` off for a batch's)."""
        stats = self.stats
        stats["samples"] += 1
        self.prompts.add(rec.get("prompt_id"))
        usage = rec.get("usage") or {}
        prompt = usage.get("prompt_tokens", 0) / usage.get("n_in_request", 1)
        self._prompt_tokens += prompt
        stats["prompt_tokens"] = round(self._prompt_tokens)
        stats["completion_tokens"] += usage.get("completion_tokens", 0)
        if usage.get("tokens_estimated"):
            self._estimated += prompt + usage.get("completion_tokens", 0)
            stats["estimated_tokens"] = round(self._estimated)
        stats["truncated"] += rec.get("finish_reason") == "length"
        t = rec.get("teacher") or {}
        key = teacher_key(t)  # a Hub load and a same-named folder: two teachers
        stats["by_teacher"][key] = stats["by_teacher"].get(key, 0) + 1
        if "cost_usd" in usage:
            stats["cost_usd"] += usage["cost_usd"]
            return
        model = t.get("model", "")
        cost = cost_of(usage, PRICES.get(model.split("/")[-1]))
        stats["cost_usd"] += cost * (1 - self.batch_discount if rec.get("batch") else 1)

    def result(self) -> dict[str, Any]:
        return {
            **self.stats,
            "prompts": len(self.prompts),
            "cost_usd": round(self.stats["cost_usd"], 6),
            "by_teacher": teacher_labels(self.stats["by_teacher"]),
            # cost_usd is the records'; failed samples' spend apart; both are what was paid
            "failed_tokens": self.failed[0],
            "failed_cost_usd": round(self.failed[1], 6),
            "spent_usd": round(self.stats["cost_usd"] + self.failed[1], 6),
            # requests with no reply within the timeout: what they cost is in no total above
            "timed_out_requests": self.timed_out,
            **(
                {"failed_in_batches": sorted(self.failed_in_batches)}
                if self.failed_in_batches
                else {}
            ),
        }


def summarize(
    path: str | Path, batch_discount: float = BatchConfig.batch_discount
) -> dict[str, Any]:
    """Totals over everything in the traces file, earlier runs included (`Totals`), and the
    spend on failed samples its summary carries (`_earlier_failed`)."""
    totals = Totals(batch_discount)
    for rec in read_records(path):
        totals.add(rec)
    tokens, cost, totals.failed_in_batches, totals.timed_out = _earlier_failed(Path(path))
    totals.failed = (tokens, cost)
    return totals.result()


def run(cfg: GenerateConfig, progress: bool = True) -> Path:
    """Generate every missing sample into cfg.out; return its path."""
    from distill.paths import guard_generate

    # --out (and its side files) is never an input, --split one --data has: before any write
    guard_generate(cfg)
    generate_planned(cfg, progress)
    return Path(cfg.out)


def generate_planned(cfg: GenerateConfig, progress: bool = True) -> set[str]:
    """`run`, returning the ids of every sample this configuration plans (those already on disk
    and those written now), so a caller can pick its own records out of a shared file."""
    from rich.console import Console

    # stdout: a failed run's stderr is its one error line. Lines whole in a log (not cut at 80
    # columns), and paths and server messages printed as they are, never read as rich markup.
    console = Console(soft_wrap=True, markup=False, emoji=False)
    out = Path(cfg.out)
    # --logprobs samples a stopped run bought and held for their shard: written, not bought again
    recovered = recover(out)
    if recovered:
        console.print(f"generate: {recovered} samples a stopped run paid for written to {out}")
    plan, planned, template, totals = build_jobs(cfg)
    # before this run writes the summary anew
    tokens, cost, totals.failed_in_batches, timed_out = _earlier_failed(out)
    earlier = (tokens, cost, timed_out)
    total = len(planned)
    pending = sum(len(j.samples) for _, jobs in plan for j in jobs)
    if not cfg.batch:
        _refuse_batches_in_flight(out, plan)
    for teacher_cfg, jobs in plan:  # a refused key, URL or backend: one line, nothing written
        if jobs:
            check_teacher(teacher_cfg.teacher, teacher_cfg)
    for teacher_cfg, jobs in plan:  # a prompt the chat template refuses: before the weights load
        check_prompts(teacher_cfg.teacher, teacher_cfg, jobs, cfg.system_prompt)
    save_config(cfg, out.with_name(out.stem + ".generate.yaml"))
    console.print(
        f"generate: {total} samples planned, {total - pending} already in {out}, {pending} to do"
    )
    failures: list[str] = []
    started = time.monotonic()
    writer: RecordWriter | None = None
    bar: _Progress | None = None

    def summary_now() -> dict[str, Any]:
        assert writer is not None
        return _write_summary(out, totals, writer.written, started, bar, earlier)

    try:
        with RecordWriter(out, on_write=totals.add) as writer:
            bar = _Progress(pending, enabled=progress and pending > 0)
            with bar.bar:
                for teacher_cfg, jobs in plan:
                    if not jobs:
                        continue
                    sink = _Sink(
                        writer,
                        teacher_cfg,
                        bar,
                        template,
                        cfg.context_field,
                        summary_now,
                        totals.failed_in_batches,
                    )
                    if cfg.batch:
                        teacher = BatchTeacher(teacher_cfg, cfg, out, bar)
                        sink.prices = batch_prices(sink.prices, cfg.batch_discount)
                    else:
                        teacher = TEACHERS[teacher_cfg.teacher](teacher_cfg)
                    try:
                        teacher.run(jobs, sink)
                    finally:
                        sink.close()
                    failures += sink.failures
    except BaseException:
        # A run stopped (Ctrl-C, an account out of credit, a server gone) still leaves the
        # summary of what the file holds now, not the one of the run before it.
        if writer is not None:
            try:
                summary_now()
            except OSError:
                pass  # a full disk: the error that stopped the run says more
        raise
    summary = summary_now()
    elapsed, spent = summary["this_run"]["seconds"], summary["this_run"]["cost_usd"]
    this_run = summary["this_run"]
    console.print(
        f"generate: wrote {writer.written} samples in {elapsed:.1f}s "
        f"({summary['completion_tokens']:,} completion tokens in file, ${summary['cost_usd']:.4f} in file, "
        f"${spent:.4f} this run); {summary['truncated']} truncated"
        + (
            f"; {summary['estimated_tokens']:,} tokens in file estimated (the server reported "
            "no usage: ~4 characters a token)"
            if summary["estimated_tokens"]
            else ""
        )
        + (
            f"; {this_run['failed_tokens']:,} tokens (${this_run['failed_cost_usd']:.4f}) spent "
            "on failed samples, in this run's $"
            if this_run["failed_tokens"]
            else ""
        )
        + (
            f"; {summary['failed_tokens']:,} tokens (${summary['failed_cost_usd']:.4f}) spent on "
            f"failed samples over this file's runs, ${summary['spent_usd']:.4f} spent in all"
            if summary["failed_tokens"] > this_run["failed_tokens"]
            else ""
        )
        + timed_out_words(summary["timed_out_requests"], this_run["timed_out_requests"])
    )
    if failures:
        for line in failures[:5]:
            console.print(f"  failed {line}")
        reason = failures[0].split(": ", 1)[-1].strip().splitlines() or ["no reason given"]
        raise DistillError(
            f"{len(failures)} samples failed: {reason[0]}"
            + timed_out_words(this_run["timed_out_requests"], this_run["timed_out_requests"])
            + "; rerun the same command to retry only those"
        )
    return planned


def timed_out_words(in_file: int, this_run: int) -> str:
    """The run's lines' words for the requests that got no reply in time (`in_file`: over
    every run on the file): no usage came, so what the server generated and billed for them is
    in no $ figure. (Generate's lines; instruct's and select's too.)"""
    if not in_file:
        return ""
    over = f" over this file's runs ({this_run} in this run)" if in_file > this_run else ""
    return f"; {in_file} requests timed out{over}: their cost is unknown"


# A line of select's caches (the judge's replies, the student's samples) for a request that
# got no reply within --request-timeout: no usage came, so what it cost is unknown (a paid
# judge or student API may have generated and billed it). No reply's id: never read as one;
# select's report counts them (timed_out_requests) over the cache's runs, as generate's
# summary does over its file's.
TIMED_OUT = "timed_out"


def timed_out_line(of: str, ids: list[str]) -> dict[str, Any]:
    return {"id": f"{TIMED_OUT} {of} {time.time_ns()}", "kind": TIMED_OUT, "of": of, "ids": ids}


def timed_out_in(lines: Any) -> int:
    """The cache's requests that timed out (timed_out_line), every run's."""
    return sum(isinstance(r, dict) and r.get("kind") == TIMED_OUT for r in lines)


def _refuse_batches_in_flight(out: Path, plan: list[tuple[TeacherConfig, list[Job]]]) -> None:
    """An online run does not buy the samples that batches of an earlier `--batch` run (stopped
    before it collected them) still hold: those are paid for, and only --batch collects them."""
    from distill.teachers.batch import BatchState, state_path

    path = state_path(out)
    if not path.exists():
        return
    held = {
        cid
        for e in BatchState(path).entries
        if not e.get("collected")
        for cid in e.get("custom_ids") or ()
    }
    todo = {job.payload[1][s] for _, jobs in plan for job in jobs for s in job.samples}
    if held & todo:
        raise DistillError(
            f"{path}: {len(held & todo)} of the {len(todo)} samples to do are in batches still "
            "listed in flight (a --batch run stopped before collecting them); rerun with "
            f"--batch to collect them, or move {path.name} away to buy them again online"
        )


def _earlier_failed(out: Path) -> tuple[int, float, set[str], int]:
    """(tokens, $) that earlier runs on `out` spent on samples that failed (a choice the server
    ended unfinished: generated and billed, no record). No record holds them, only the summary
    those runs wrote: a rerun carries them on, or its summary would show less than was paid.
    A summary written before the file's totals held them (no top-level `failed_tokens`) has its
    last run's. Nothing where --out is gone: a summary left beside a deleted traces file. And
    the --batch samples those runs counted (`Totals.failed_in_batches`), and their requests
    that got no reply in time (`timed_out_requests`: what they cost is unknown)."""
    path = out.with_name(out.stem + ".summary.json")
    try:
        summary = json.loads(path.read_text(encoding="utf-8")) if out.exists() else None
    except (OSError, ValueError):  # none, or empty (a crash right after its rename)
        summary = None
    if not isinstance(summary, dict):
        return 0, 0.0, set(), 0
    timed_out = summary.get("timed_out_requests")  # none before summaries held it
    timed_out = timed_out if type(timed_out) is int and timed_out > 0 else 0
    held = summary if "failed_tokens" in summary else summary.get("this_run")
    if not isinstance(held, dict):
        return 0, 0.0, set(), timed_out
    tokens, cost = held.get("failed_tokens"), held.get("failed_cost_usd")
    if type(tokens) is not int or type(cost) not in (int, float) or min(tokens, cost) < 0:
        return 0, 0.0, set(), timed_out  # a summary someone edited: nothing to carry
    keys = summary.get("failed_in_batches")
    keys = {k for k in keys if isinstance(k, str)} if isinstance(keys, list) else set()
    return tokens, float(cost), keys, timed_out


def _write_summary(
    out: Path,
    totals: Totals,
    written: int,
    started: float,
    bar: _Progress | None,
    earlier: tuple[int, float, int] = (0, 0.0, 0),
) -> dict[str, Any]:
    """<out>.summary.json: the file's totals (the records read at the start and those written),
    the spend on failed samples and the requests that timed out over every run on the file
    (`earlier`: the runs before this one, `_earlier_failed`) and this run's own numbers."""
    totals.failed = (
        earlier[0] + (bar.failed_tokens if bar is not None else 0),
        earlier[1] + (bar.failed_cost if bar is not None else 0.0),
    )
    totals.timed_out = earlier[2] + (bar.timed_out if bar is not None else 0)
    summary = totals.result()
    summary["this_run"] = {
        "written": written,
        "failed": bar.failed if bar is not None else 0,
        "seconds": round(time.monotonic() - started, 2),
        # failed samples' spend included (failed_cost_usd of it): their tokens were generated
        "cost_usd": round(bar.cost if bar is not None else 0.0, 6),
        "failed_tokens": bar.failed_tokens if bar is not None else 0,
        "failed_cost_usd": round(bar.failed_cost if bar is not None else 0.0, 6),
        # this run's tokens (written or failed) counted at an estimate (no usage reported)
        "estimated_tokens": bar.estimated_tokens if bar is not None else 0,
        # this run's requests with no reply in time: their cost unknown, in no $ above
        "timed_out_requests": bar.timed_out if bar is not None else 0,
    }
    write_atomic(out.with_name(out.stem + ".summary.json"), json.dumps(summary, indent=2) + "\n")
    return summary
