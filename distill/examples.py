"""Training examples: the one place that decides what the student sees and what it learns.

    distill export kept.jsonl --format r1 --out data.jsonl

Train, export and eval all go through here, so the prompt a student is trained on is
byte-for-byte the prompt it is evaluated and served with.

- r1: the prompt is the chat messages rendered with the student's own chat template and its
  generation prompt (including any `<think>` pre-fill); the completion is
  `<think>\\n{reasoning}\\n</think>\\n\\n{answer}` (minus what the pre-fill already holds)
  followed by the template's end-of-turn text, plus EOS if that text holds no stop token.
- alpaca: the Alpaca prompt (with or without input); the completion is the output plus EOS.

Loss is on the completion only: prompt tokens are masked (-100).
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from distill.errors import DistillError

FORMATS = ("r1", "alpaca")


@dataclass
class Example:
    prompt: list[dict[str, str]]  # chat messages up to the assistant turn
    completion: str  # the assistant's content (r1: with the think block)
    instruction: str = ""  # alpaca columns
    input: str = ""
    source: dict[str, Any] = field(default_factory=dict)

    @property
    def answer(self) -> str:
        """The completion after its think block: all an Alpaca-format student learns."""
        c = self.completion
        return c.split("</think>")[-1].strip() if "</think>" in c else c


def r1_content(reasoning: str | None, answer: str) -> str:
    if reasoning is None:
        return answer
    return f"<think>\n{reasoning}\n</think>\n\n{answer}"


# A distill trace record carries `answer` plus these; a dataset that merely has an `answer`
# column (OpenR1-Math-220k: `messages` = the whole R1 trace, `answer` = the gold) is not one.
RECORD_MARKERS = ("reasoning", "teacher")
# ShareGPT speakers (`from`) -> chat roles. OpenThoughts / Bespoke-Stratos write user/assistant.
SHAREGPT_ROLES = {
    "system": "system",
    "human": "user",
    "user": "user",
    "gpt": "assistant",
    "assistant": "assistant",
}
LAYOUTS = (
    "trace records (messages, reasoning, answer), a 'messages' column, ShareGPT 'conversations' "
    "(from/value, with an optional 'system' column), prompt/completion (text or messages), "
    "or Alpaca columns (instruction, input, output)"
)


def _text(value: Any) -> str:
    return "" if value is None else str(value)


def _user_text(prompt: list[dict[str, str]]) -> str:
    """The last user message: the instruction an Alpaca-format student sees."""
    return next((m["content"] for m in reversed(prompt) if m["role"] == "user"), "")


def _chat(msgs: Any, where: str, column: str) -> list[dict[str, str]]:
    """role/content messages from OpenAI-style ({role, content}) or ShareGPT-style ({from, value})."""
    if not isinstance(msgs, list):
        raise DistillError(
            f"{where}: '{column}' must be a list of messages, got {type(msgs).__name__}"
        )
    out = []
    for i, m in enumerate(msgs):
        if isinstance(m, dict) and "role" in m:
            role, content = m["role"], m.get("content")
        elif isinstance(m, dict) and "from" in m:
            role, content = SHAREGPT_ROLES.get(m["from"]), m.get("value")
            if role is None:
                raise DistillError(
                    f"{where}: {column}[{i}] is from '{m['from']}'; distill trains on "
                    f"{', '.join(SHAREGPT_ROLES)} turns"
                )
        else:
            keys = ", ".join(map(str, m)) if isinstance(m, dict) else type(m).__name__
            raise DistillError(
                f"{where}: {column}[{i}] needs role/content or from/value; found: {keys}"
            )
        if not isinstance(content, str):
            raise DistillError(f"{where}: {column}[{i}] ({role}) has no text content")
        out.append({"role": role, "content": content})
    return out


def with_system(msgs: list[dict[str, str]], system: Any) -> list[dict[str, str]]:
    """The chat with a system message first, unless it has one already (or none is given)."""
    if system and not (msgs and msgs[0]["role"] == "system"):
        return [{"role": "system", "content": str(system)}, *msgs]
    return msgs


def _last_assistant(
    msgs: list[dict[str, str]], where: str, column: str, system: Any = None
) -> Example:
    """A conversation -> the last assistant message is the completion, the rest the prompt."""
    msgs = with_system(msgs, system)
    if not msgs or msgs[-1]["role"] != "assistant":
        raise DistillError(f"{where}: '{column}' must end with an assistant message")
    prompt = msgs[:-1]
    return Example(prompt=prompt, completion=msgs[-1]["content"], instruction=_user_text(prompt))


def _from_row(row: dict[str, Any], where: str) -> Example:
    if "answer" in row and any(k in row for k in RECORD_MARKERS):  # a distill trace record
        prompt = [
            m for m in _chat(row.get("messages"), where, "messages") if m["role"] != "assistant"
        ]
        meta = row.get("meta") or {}
        user = _user_text(prompt)
        return Example(
            prompt=prompt,
            completion=r1_content(row.get("reasoning"), _text(row["answer"])),
            instruction=user if meta.get("instruction") is None else str(meta["instruction"]),
            input=_text(meta.get("input")),
            source={"id": row.get("id")},
        )
    if "messages" in row:
        return _last_assistant(
            _chat(row["messages"], where, "messages"), where, "messages", row.get("system")
        )
    if "conversations" in row:
        return _last_assistant(
            _chat(row["conversations"], where, "conversations"),
            where,
            "conversations",
            row.get("system"),
        )
    if "instruction" in row and "output" in row:
        inst, inp = _text(row["instruction"]), _text(row.get("input"))
        return Example(
            prompt=[{"role": "user", "content": inst + (f"\n\n{inp}" if inp else "")}],
            completion=_text(row["output"]),
            instruction=inst,
            input=inp,
        )
    if "prompt" in row and "completion" in row:
        p, c = row["prompt"], row["completion"]
        prompt = (
            _chat(p, where, "prompt")
            if isinstance(p, list)
            else [{"role": "user", "content": _text(p)}]
        )
        if isinstance(c, list):
            turns = _chat(c, where, "completion")
            if [m["role"] for m in turns] != ["assistant"]:
                raise DistillError(
                    f"{where}: 'completion' must be one assistant message; found roles: "
                    f"{', '.join(m['role'] for m in turns) or 'none'}"
                )
            c = turns[0]["content"]
        return Example(prompt=prompt, completion=_text(c), instruction=_user_text(prompt))
    fields = ", ".join(map(str, row)) or "none"
    from distill.data import PROMPT_FIELDS

    prompts = any(k in row for k in PROMPT_FIELDS)
    hint = "; prompts alone train only --method onpolicy (lmbda 1)" if prompts else ""
    raise DistillError(f"{where}: need {LAYOUTS}; found columns: {fields}{hint}")


def has_completion(row: dict[str, Any]) -> bool:
    """Whether a row carries a completion in a layout training reads; a prompt source (a
    problem/question/prompt field alone, or `messages` ending with a user turn) does not."""
    if "answer" in row and any(k in row for k in RECORD_MARKERS):
        return True
    for column in ("messages", "conversations"):
        if column in row:
            msgs = row[column]
            if not (isinstance(msgs, list) and msgs and isinstance(msgs[-1], dict)):
                return True  # not a prompt either: _from_row names the problem
            last = msgs[-1]
            return (last.get("role") or SHAREGPT_ROLES.get(last.get("from", ""))) == "assistant"
    return ("instruction" in row and "output" in row) or ("prompt" in row and "completion" in row)


def chat_prompt(row: dict[str, Any], where: str) -> list[dict[str, str]] | None:
    """A prompt source row's chat (`messages`, `conversations` or a `prompt` list of messages,
    ending with a user turn), or None when the row has a prompt field instead."""
    if isinstance(row.get("prompt"), list):
        return _chat(row["prompt"], where, "prompt")
    for column in ("messages", "conversations"):
        if column in row:
            return with_system(_chat(row[column], where, column), row.get("system"))
    return None


def load_examples(src: str, split: str = "train", limit: int | None = None) -> Iterator[Example]:
    from distill.data import iter_source

    rows = iter_source(src, split)
    if limit is not None:
        rows = itertools.islice(rows, limit)
    for i, row in enumerate(rows):
        yield _from_row(row, f"{src} row {i + 1}")


# =========================================================================== rendering


def _chat_parts(tok: Any) -> tuple[str, str]:
    """(end-of-turn text after an assistant message, generation-prompt pre-fill such as '<think>\\n')."""
    if not getattr(tok, "chat_template", None):
        raise DistillError(
            "the student's tokenizer has no chat template; use --format alpaca or pick an instruct model"
        )
    mark = "XQ7ZK"
    msgs = [{"role": "user", "content": "U"}, {"role": "assistant", "content": mark}]
    full = tok.apply_chat_template(msgs, tokenize=False)
    suffix = full[full.rindex(mark) + len(mark) :]
    bare = tok.apply_chat_template(msgs[:1], tokenize=False)
    gen = tok.apply_chat_template(msgs[:1], tokenize=False, add_generation_prompt=True)
    head = full[: full.rindex(mark)]
    # Whatever the generation prompt adds beyond the assistant header the template writes for a
    # finished turn (e.g. '<think>\n') is a pre-fill the model never generates itself.
    prefill = (
        gen[len(head) :]
        if gen.startswith(head)
        else gen[len(bare) :]
        if not head.startswith(gen)
        else ""
    )
    return suffix, prefill


def strips_reasoning(tok: Any) -> bool:
    """True when the chat template drops an assistant message's text before `</think>`
    (DeepSeek-R1-Distill does): a `messages` export would lose the reasoning there."""
    msgs = [
        {"role": "user", "content": "U"},
        {"role": "assistant", "content": "<think>\nRZQ8\n</think>\n\nA"},
    ]
    return "RZQ8" not in tok.apply_chat_template(msgs, tokenize=False)


def stop_token_ids(tok: Any, model_eos: int | list[int] | None = None) -> set[int]:
    ids = {tok.eos_token_id} if tok.eos_token_id is not None else set()
    if isinstance(model_eos, int):
        ids.add(model_eos)
    elif model_eos:
        ids.update(model_eos)
    return ids


class Renderer:
    """Example -> (prompt text, completion text) -> token ids with a completion mask."""

    def __init__(self, tok: Any, fmt: str, model_eos: int | list[int] | None = None):
        if fmt not in FORMATS:
            raise DistillError(f"unknown format '{fmt}' (have: {', '.join(FORMATS)})")
        self.tok, self.fmt = tok, fmt
        self.stops = stop_token_ids(tok, model_eos)
        if fmt == "r1":
            self.suffix, self.prefill = _chat_parts(tok)
            suffix_ids = tok(self.suffix, add_special_tokens=False)["input_ids"]
            if not self.stops & set(suffix_ids) and tok.eos_token is not None:
                # The template's end of turn holds no stop token: without EOS in the labels the
                # student would never learn to stop. (No EOS at all: distill.preflight refuses.)
                self.suffix += tok.eos_token
        else:
            from distill.templates import load_template

            self.with_input, self.no_input = (
                load_template("alpaca"),
                load_template("alpaca-no-input"),
            )

    def prompt_text(self, ex: Example) -> str:
        if self.fmt == "r1":
            return self.tok.apply_chat_template(
                ex.prompt, tokenize=False, add_generation_prompt=True
            )
        if ex.input:
            return self.with_input.render({"instruction": ex.instruction, "input": ex.input})
        return self.no_input.render({"instruction": ex.instruction})

    def completion_text(self, ex: Example) -> str:
        if self.fmt == "r1":
            body = ex.completion
            if self.prefill and body.startswith(self.prefill):
                body = body[len(self.prefill) :]  # the prompt already ends with it
            elif self.prefill.strip() and body.startswith(self.prefill.strip()):
                body = body[len(self.prefill.strip()) :].lstrip("\n")
            elif self.prefill.strip().endswith("<think>") and "</think>" not in body:
                # The prompt opened a think block: an example without reasoning closes it empty
                # rather than teaching the student to answer inside a block it never closes.
                body = "\n</think>\n\n" + body
            return body + self.suffix
        return ex.answer + (self.tok.eos_token or "")

    def prompt_ids(self, ex: Example) -> list[int]:
        # alpaca has no chat template to write BOS, so the tokenizer adds its own, as at inference.
        special = self.fmt == "alpaca"
        return self.tok(self.prompt_text(ex), add_special_tokens=special)["input_ids"]

    def encode(self, ex: Example) -> tuple[list[int], list[int]]:
        """Prompt and completion tokenized apart: inference tokenizes the prompt alone."""
        return self.prompt_ids(ex), self.tok(self.completion_text(ex), add_special_tokens=False)[
            "input_ids"
        ]


@dataclass
class TokenStats:
    examples: int = 0
    kept: int = 0
    dropped_overlong: int = 0
    truncated: int = 0
    dropped_all_masked: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0


def tokenize_examples(
    examples, renderer: Renderer, max_length: int, overlong: str = "drop"
) -> tuple[dict[str, list], TokenStats]:
    """-> ({"input_ids": [...], "completion_mask": [...]}, stats). Over-long examples are
    dropped (default: a cut-off completion teaches the student not to stop) or truncated
    (`overlong="truncate"`); either way they are counted."""
    ids_col, mask_col = [], []
    st = TokenStats()
    for ex in examples:
        st.examples += 1
        p, c = renderer.encode(ex)
        if len(p) + len(c) > max_length:
            if overlong == "drop":
                st.dropped_overlong += 1
                continue
            c = c[: max(0, max_length - len(p))]
            if not c:
                st.dropped_all_masked += 1
                continue
            st.truncated += 1
        ids_col.append(p + c)
        mask_col.append([0] * len(p) + [1] * len(c))
        st.kept += 1
        st.prompt_tokens += len(p)
        st.completion_tokens += len(c)
    return {"input_ids": ids_col, "completion_mask": mask_col}, st
