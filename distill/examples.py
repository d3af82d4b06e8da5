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

import hashlib
import itertools
import json
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field, replace
from functools import partial
from typing import Any

from distill.choices import Layout as ChoiceLayout
from distill.choices import answer_line, multiple_choice, read_ahead
from distill.config import setting
from distill.data import (
    SHAREGPT_ROLES,
    asks_nothing,
    chat_json,
    is_chat,
    json_chat,
    left_out,
    pairs_chat,
)
from distill.errors import DistillError
from distill.reasoning import has_markers
from distill.reasoning import split as split_reasoning

FORMATS = ("r1", "alpaca")
TRAIN_ON = ("all", "last")  # which assistant turns of a chat carry the loss


@dataclass
class Example:
    # chat messages up to the last assistant turn (earlier ones too): role and content, and an
    # assistant turn's `tool_calls` (OpenAI's shape) where it calls a tool
    prompt: list[dict[str, Any]]
    completion: str  # the assistant's content (r1: with the think block)
    instruction: str = ""  # alpaca columns
    input: str = ""
    source: dict[str, Any] = field(default_factory=dict)
    # A TRL text prompt/completion row: trained as a raw continuation (prompt + completion + EOS),
    # no chat template, as TRL trains it.
    raw: bool = False
    # Whether the earlier assistant turns of `prompt` carry a loss of their own (a dataset's chat);
    # a trace record's are the history its teacher was sent, context to the answer it wrote.
    trains_history: bool = True
    # Indices in `prompt` of the assistant turns the dataset gives weight 0: context, no loss.
    context_turns: frozenset[int] = frozenset()
    # False when every assistant turn has weight 0: nothing to train (tokenize_examples counts
    # the example as all-masked; never a row without a loss).
    trains: bool = True
    # A tool-calling row (OpenAI's fine-tuning format, TRL's, xLAM, LLaMA-Factory's sharegpt):
    # the tool definitions of its `tools` column, handed to the chat template (`tools=`) on every
    # render of the row, and the completion turn's tool calls (OpenAI's shape, as `tool_calls`).
    tools: list[dict[str, Any]] | None = None
    calls: list[dict[str, Any]] | None = None

    @property
    def answer(self) -> str:
        """The completion after its think block: all an Alpaca-format student learns. The block
        closes at its first `</think>` (think_block's reading), so an answer that names the tag
        ('Use the `</think>` tag to end.') is kept whole, as r1 trains it; a completion without
        `<think>` before it is read as reasoning.split reads one (its 'prefilled': the template
        opened the block), the answer after the first `</think>`."""
        c = self.completion
        block = think_block(c)
        if block is not None:
            return block[1].strip()
        return c.partition("</think>")[2].strip() if "</think>" in c else c


def r1_content(reasoning: str | None, answer: str) -> str:
    if reasoning is None:
        return answer
    return f"<think>\n{reasoning}\n</think>\n\n{answer}"


@dataclass
class Columns:
    """Which column is what, for layouts training cannot tell by their column names (as
    LLaMA-Factory's dataset_info.json `columns`). All None: the layouts of LAYOUTS."""

    messages_field: str | None = setting(
        None, "The chat column (needed when a row has both messages and conversations)."
    )
    # the user's request (train --method onpolicy with no answer column: the prompt source's
    # field, rendered as `distill generate` renders it)
    prompt_field: str | None = setting(
        None,
        "Column holding the prompt: with --answer-field, which column is what (any method); alone, onpolicy on a prompt source (the field, rendered as generate's).",
    )
    system_field: str | None = setting(None, "Column holding a system message, put first.")
    context_field: str | None = setting(
        None, "Column appended to the prompt after a blank line (Alpaca's input, dolly's context)."
    )
    # a string, or a list of strings (s1K) joined by blank lines
    reasoning_field: str | None = setting(
        None,
        "Column holding the reasoning (text, or a list of texts joined by blank lines, as s1K's thinking_trajectories); trained in a think block before the answer.",
    )
    # the visible answer (or the whole completion)
    answer_field: str | None = setting(
        None,
        "Column holding the completion's visible answer (with --prompt-field: any dataset layout, e.g. s1K: --prompt-field question --reasoning-field thinking_trajectories --answer-field attempt).",
        flags=("--answer-field", "--completion-field"),
    )

    def named(self) -> dict[str, str]:
        """{flag: column} of the columns given."""
        import dataclasses

        return {
            "--" + f.name.replace("_", "-"): getattr(self, f.name)
            for f in dataclasses.fields(Columns)
            if getattr(self, f.name) is not None
        }


@dataclass
class Layout(Columns):
    """How a dataset's rows become training text: the column mapping and the choices a dataset
    leaves open. The settings of train and export (their configs extend it)."""

    completion_field: str | None = setting(
        None, "another name for answer_field (TRL's word)", cli=False
    )
    train_on: str = setting(
        "all", "all (default): every assistant turn of a chat carries the loss | last."
    )
    # train thought/solution markers verbatim instead of as reasoning
    keep_markers: bool = setting(
        False,
        "Train <|begin_of_thought|>/<|begin_of_solution|> markers verbatim (default: the thought is the reasoning, the solution the answer).",
        flags=("--keep-markers",),
    )
    chat: bool = setting(
        False,
        "Text prompt/completion rows in a chat turn (default: a raw continuation, as TRL).",
        flags=("--chat",),
    )

    def check_layout(self) -> None:
        if self.completion_field is not None:
            if self.answer_field not in (None, self.completion_field):
                raise DistillError(
                    f"--answer-field {self.answer_field} and --completion-field "
                    f"{self.completion_field} name one column: give one"
                )
            self.answer_field, self.completion_field = self.completion_field, None
        if self.train_on not in TRAIN_ON:
            raise DistillError(f"--train-on {self.train_on}: must be one of {', '.join(TRAIN_ON)}")


# A distill trace record carries `answer` plus these; a dataset that merely has an `answer`
# column (OpenR1-Math-220k: `messages` = the whole R1 trace, `answer` = the gold) is not one.
RECORD_MARKERS = ("reasoning", "teacher")
CHAT_COLUMNS = ("messages", "conversations")
# Where an assistant message keeps its reasoning beside `content`: DeepSeek's API and vLLM's
# reasoning parser (`reasoning_content`, `reasoning`), gpt-oss / Multilingual-Thinking (`thinking`).
REASONING_KEYS = ("reasoning_content", "reasoning", "thinking")
# Where an assistant message keeps a structured tool call beside its content (OpenAI's API;
# `function_call` its older form, one call); `function_call` is also LLaMA-Factory's ShareGPT
# speaker for a tool call. The chat template writes them in its own syntax (Qwen2.5's
# <tool_call>{...}</tool_call>, Llama-3.1's JSON), as TRL's SFTTrainer renders them.
TOOL_KEYS = ("tool_calls", "function_call")
# xLAM's function-calling layout (Salesforce/xlam-function-calling-60k, APIGen and the sets
# converted to it): the user's request, the function specs it may call (JSON text) and the
# calls that answer it (JSON text of [{"name", "arguments"}]). All three columns name it: a
# question-answering set's `query` + `answers` (MS MARCO's) has no `tools` beside them.
XLAM_COLUMNS = ("query", "tools", "answers")
LAYOUTS = (
    "trace records (messages, reasoning, answer), a 'messages' column, ShareGPT 'conversations' "
    "(from/value, with an optional 'system' column), prompt/completion (text or messages), "
    "Alpaca columns (instruction, input, output), xLAM tool calls (query, tools, answers), or "
    "glaive's function-calling text (system, chat)"
)
# Column names that suggest a mapping, most specific first (s1K, OpenThoughts' metadata, LIMO,
# OpenMathReasoning, dolly, the Chinese R1-distill sets): for the hint of a refusal only.
GUESS = {
    "--prompt-field": ("problem", "question", "instruction", "query", "prompt", "input"),
    "--system-field": ("system_prompt", "system"),
    "--context-field": ("context",),
    "--reasoning-field": (
        "thinking_trajectories",
        "deepseek_thinking_trajectory",
        "deepseek_reasoning",
        "reasoning_content",
        "reasoning",
        "thinking",
    ),
    "--answer-field": (
        "attempt",
        "deepseek_attempt",
        "deepseek_solution",
        "generated_solution",
        "solution",
        "response",
        "output",
        "content",
        "completion",
        "answer",  # GSM8K's worked solution; a short gold answer is no completion (below)
        "chosen",  # a text preference set's preferred reply (Intel/orca_dpo_pairs)
    ),
}
# The openings of the system messages of the Orca paper, which cognitivecomputations/dolphin keeps
# in an Alpaca `instruction` column, the request in `input` (Open-Orca/OpenOrca: `system_prompt`
# beside `question`, and SlimOrca's system turn, hold the same).
ORCA_SYSTEMS = (
    "You are an AI assistant",
    "You are a helpful assistant, who always provide",
    "You are a teacher. Given a task",
    "User will you give you a task",
    "You should describe the task and explain your answer",
    "Explain how you used the definition to come up with the answer",
    "Given a definition of a task and a sample input",
)


def orca_system(instruction: Any, input_: Any) -> bool:
    """Whether an Alpaca row's instruction is one of Orca's system prompts and its input the
    request (cognitivecomputations/dolphin's layout)."""
    return (
        isinstance(instruction, str)
        and instruction.lstrip().startswith(ORCA_SYSTEMS)
        and isinstance(input_, str)
        and bool(input_.strip())
    )


def dolphin_refusal(where: str, instruction: str, reads: str, how: str) -> DistillError:
    """The refusal of a dolphin row read as Alpaca's (train's, generate's, eval's): `reads`
    says who would read it so, `how` the flags of that command that read it as asked."""
    return DistillError(
        f"{where}: column 'instruction' holds a system prompt ({instruction.strip()[:40]!r}..., "
        "one of Orca's) and 'input' the request (cognitivecomputations/dolphin's layout), which "
        f"{reads} as one request with the system prompt in it: {how}"
    )


# A preference set's dispreferred replies: never suggested as what to train.
REJECTED = ("rejected",)


def _text(value: Any) -> str:
    return "" if value is None else str(value)


def _user_text(prompt: list[dict[str, str]]) -> str:
    """The last user message: the instruction an Alpaca-format student sees."""
    return next((m["content"] for m in reversed(prompt) if m["role"] == "user"), "")


def instruction_asked(instruction: Any, user: str) -> bool:
    """A trace's prompt (its user turn) was built from the source row's `instruction`: it holds
    that text whole, as every wording generate sends it in does (the instruction bare, with its
    input after a blank line, in the alpaca templates, in a --template's {prompt} or
    {instruction}); eval then asks the Alpaca prompt around the instruction (+ input). A prompt
    that does not hold it asked another column (a question beside the instruction): the
    instruction is a text the teacher never answered. Containment, not equality: a --template
    on Alpaca rows words the instruction, and eval asks those rows in the Alpaca prompt around
    the instruction itself, whatever the template."""
    return instruction is not None and str(instruction).strip() in user


# The meta key of a trace generated with --context-field: the column's name (its text is that
# column of meta), which --format alpaca trains as the row's Alpaca input (alpaca_parts).
CONTEXT_KEY = "context_field"


def alpaca_parts(
    user: str, instruction: Any, fields: dict[str, Any], context_field: Any
) -> tuple[str, str]:
    """The Alpaca prompt's (instruction, input) of a prompt sent as `user` under
    --context-field (generate, eval and on-policy alike: generate.prompt_messages): the
    context column is the input, as train renders a row of that mapping (Columns: instruction
    = the prompt field, input = the context), Alpaca's recipe. `instruction`: the row's
    instruction where it is the prompt asked (instruction_asked, eval.asks_instruction), else
    None: the prompt sent (a template's wording) before the blank line and the context. A
    prompt that does not end with the context (a template that shows it as its {input}) is
    trained as sent, with no Input section."""
    context = fields.get(context_field) if isinstance(context_field, str) else None
    context = context if isinstance(context, str) else ""
    if instruction is not None:
        return str(instruction), context
    if context and user.endswith("\n\n" + context):
        return user[: len(user) - len(context) - 2], context
    return user, ""


def with_markers_split(reasoning: str | None, answer: str, keep_markers: bool) -> str:
    """The assistant's content as r1 trains it: reasoning (given, or in thought/solution
    markers unless kept verbatim) in a think block before the answer."""
    if reasoning is not None:
        # a reasoning column that holds its own think block: wrapped once, not twice
        inner = reasoning.strip()
        if inner.startswith("<think>") and inner.endswith("</think>"):
            reasoning = inner[len("<think>") : -len("</think>")].strip()
    if reasoning is None and not keep_markers and has_markers(answer):
        reasoning, answer, _ = split_reasoning(answer)
    elif reasoning is not None and _echoes_block(reasoning, answer):
        # the block echoed into the content beside its reasoning (as some servers do): once
        answer = split_reasoning(answer)[1]
    elif reasoning is not None:
        # vLLM's reasoning parser leaves the text after </think> as it was: "\n\nanswer".
        # r1_content writes the separator itself (Qwen3's template lstrips it too).
        answer = answer.lstrip("\n")
    return r1_content(reasoning, answer)


def _echoes_block(reasoning: str, answer: str) -> bool:
    """Whether an answer kept beside its reasoning opens with that reasoning's block echoed
    into it: a think block (empty or not), or the reasoning (or nothing) before a `</think>`
    whose `<think>` the prompt opened. An answer that merely names the tag ('Use </think> to
    close') is an answer, whole (think_block's reading): the text before the tag is no
    reasoning."""
    if think_block(answer) is not None:
        return True
    head, closed, _ = answer.partition("</think>")
    return bool(closed) and head.strip() in ("", reasoning.strip())


def _reasoning_of(m: dict[str, Any], where: str) -> str | None:
    for key in REASONING_KEYS:
        value = m.get(key)
        if value is None or (isinstance(value, str) and not value.strip()):
            continue
        if not isinstance(value, str):
            raise DistillError(f"{where}: '{key}' must be text, got {type(value).__name__}")
        return value.strip()
    return None


def _context(m: dict[str, Any], role: Any, where: str) -> bool:
    """Whether a message's `weight` makes it context without a loss. OpenHermes-2.5 / SlimOrca's
    ShareGPT turns and OpenAI's fine-tuning format give an assistant turn 0 (context, as axolotl's
    message_field_training and OpenAI train it) or 1; null or absent trains it as its role says.
    Another weight distill cannot give (a scaled loss, a loss on a user's turn): refused."""
    w = m.get("weight")
    if w is None:
        return False
    number = isinstance(w, (int, float))
    if role == "assistant" and number and w in (0, 1):
        return w == 0
    if role != "assistant" and number and w == 0:
        return False  # never trained anyway
    if role == "assistant":
        raise DistillError(
            f"{where} (assistant) has weight {w!r}: distill trains a turn (1) or keeps it as "
            "context (0), it cannot scale a turn's loss; set the weight to 0 or 1"
        )
    raise DistillError(
        f"{where} ({role}) has weight {w!r}: distill trains assistant turns only; set it to 0 or "
        "null"
    )


def _chat(msgs: Any, where: str, column: str) -> list[dict[str, Any]]:
    """A prompt's chat (a prompt source's, a trace record's, a prompt/completion row's `prompt`):
    none of its turns carries a loss, so a turn's `weight` (0.5 refused where a turn trains) is
    not read."""
    return _weighted_chat(msgs, where, column, weights=False)[0]


def _weighted_chat(
    msgs: Any, where: str, column: str, keep_markers: bool = False, weights: bool = True
) -> tuple[list[dict[str, Any]], set[int]]:
    """role/content messages from OpenAI-style ({role, content}) or ShareGPT-style ({from, value}),
    and the indices of the assistant turns whose `weight` is 0. An assistant message's reasoning
    (kept beside its content, or in thought/solution markers) goes into its content as a think
    block; its tool calls (`tool_calls`, `function_call`, LLaMA-Factory's `function_call` turn)
    are kept beside it as `tool_calls`, in OpenAI's shape. weights=False: a prompt's chat, where
    no turn carries a loss: `weight` is not read."""
    msgs = pairs_chat(chat_json(msgs))
    if not isinstance(msgs, list):
        got = "text that is no JSON list" if isinstance(msgs, str) else type(msgs).__name__
        if _pandas_repr(msgs):
            got = f"{PANDAS_REPR}: json.dumps it"
        raise DistillError(f"{where}: '{column}' must be a list of messages, got {got}")
    out = []
    context: set[int] = set()
    for i, m in enumerate(msgs):
        at = f"{where}: {column}[{i}]"
        calls = None
        if isinstance(m, dict) and "role" in m:
            role, content = m["role"], m.get("content")
            # OpenAI's legacy function result (beside `function_call`, `functions`): the tool
            # message it was renamed to, which the templates write (Qwen2.5's leaves `function`
            # out, Llama-3.1's writes it under a header the student is never served)
            role = "tool" if role == "function" else role
        elif isinstance(m, dict) and "from" in m:
            role, content = SHAREGPT_ROLES.get(str(m["from"])), m.get("value")
            if m["from"] == "function_call":  # LLaMA-Factory: the value is the call's JSON
                role, content = "assistant", ""
                calls = tool_calls(m.get("value"), f"{at} (from 'function_call')")
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
        key = next((k for k in TOOL_KEYS if m.get(k)), None)
        if key is not None and calls is None:
            if role != "assistant":
                raise DistillError(
                    f"{at} ({role}) carries '{key}': only an assistant turn calls a tool; give "
                    "the turn the assistant role, or drop the row"
                )
            # (OpenAI's legacy `function_call` is one call: {name, arguments})
            calls = tool_calls(m[key], f"{at} ('{key}')")
        if content is None and role == "assistant" and (calls or _reasoning_of(m, where)):
            content = ""  # a call alone, or reasoning only (cut off before its answer)
        if isinstance(content, list):
            content = _text_parts(content, f"{where}: {column}[{i}] ({role})")
        if not isinstance(content, str):
            raise DistillError(f"{where}: {column}[{i}] ({role}) has no text content")
        if role == "assistant":
            content = with_markers_split(
                _reasoning_of(m, f"{where}: {column}[{i}]"), content, keep_markers
            )
        if weights and _context(m, role, f"{where}: {column}[{i}]"):
            context.add(i)
        msg: dict[str, Any] = {"role": role, "content": content}
        if calls:
            msg["tool_calls"] = calls
        if role == "tool":  # the call a result answers, for the templates that write it (Mistral)
            msg.update({k: m[k] for k in ("name", "tool_call_id") if isinstance(m.get(k), str)})
        out.append(msg)
    return out, context


# what pandas' to_csv writes for a column of lists (of dicts): Python's repr, no JSON
PANDAS_REPR = "a Python repr (pandas' to_csv writes one for a list), no JSON"


def _pandas_repr(value: Any) -> bool:
    return isinstance(value, str) and value.lstrip().startswith(("[{'", "{'"))


def tool_calls(value: Any, where: str) -> list[dict[str, Any]]:
    """An assistant turn's tool calls in OpenAI's shape, [{"type": "function", "function": {"name",
    "arguments"}}], which the templates read (Qwen2.5's and Llama-3.1's `tool_call.function`), from
    that shape, a flat {name, arguments} (LLaMA-Factory's function_call, xLAM's answers; Llama's
    `parameters`), one call or a list, or the JSON text of either. `arguments` stay as given (a
    dict or a JSON string): which the template needs is the Renderer's to say; the keys Arrow's
    schema merging gave an object as None are left out (without_nones)."""
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except ValueError:
            raise DistillError(
                f"{where} is not a tool call's JSON ({value[:60]!r}): give "
                '{"name": ..., "arguments": {...}}, or drop the row'
            ) from None
    calls = [value] if isinstance(value, dict) else value
    if not isinstance(calls, list) or not calls:
        raise DistillError(f"{where} holds no tool call (got {type(value).__name__}): drop the row")
    out = []
    for call in calls:
        fn = call.get("function", call) if isinstance(call, dict) else None
        name = fn.get("name") if isinstance(fn, dict) else None
        if not isinstance(name, str) or not name.strip():
            raise DistillError(
                f"{where}: a tool call needs the function's name ({{'type': 'function', "
                f"'function': {{'name': ..., 'arguments': ...}}}}); found {str(call)[:80]}"
            )
        args = fn.get("arguments", fn.get("parameters"))
        args = {} if args is None else args
        if not isinstance(args, (dict, str)):
            raise DistillError(
                f"{where}: tool call '{name}' has arguments of type {type(args).__name__}; give "
                "an object or its JSON text"
            )
        if isinstance(args, str):
            # a call's arguments are an object (OpenAI's API writes its JSON text): other text
            # (a Python repr, "city=Paris", a JSON list) trains a call no tool parser reads
            try:
                parsed = json.loads(args) if args.strip() else {}
            except ValueError:
                parsed = None
            if not isinstance(parsed, dict):
                raise DistillError(
                    f"{where}: tool call '{name}' has arguments {args[:60]!r}, which is no JSON "
                    "object: give an object or its JSON text, or drop the row"
                )
            args = args if parsed else {}
        args = without_nones(args) if isinstance(args, dict) else args
        one = {"type": "function", "function": {"name": name, "arguments": args}}
        if isinstance(call.get("id"), str):
            one["id"] = call["id"]
        out.append(one)
    return out


def object_args(m: dict[str, Any]) -> dict[str, Any]:
    """Message `m` with each tool call's `arguments` an object where they are the JSON text of
    one (OpenAI's API writes text): what a template that writes `arguments | tojson` (Qwen2.5,
    Llama-3.1, Mistral) needs, else it writes a quoted string no tool parser reads; text that is
    no JSON object stays as it is."""
    if not m.get("tool_calls"):
        return m
    calls = []
    for call in m["tool_calls"]:
        args = call["function"]["arguments"]
        if isinstance(args, str):
            try:
                parsed = json.loads(args)
            except ValueError:
                parsed = None
            args = parsed if isinstance(parsed, dict) else args
        calls.append({**call, "function": {**call["function"], "arguments": args}})
    return {**m, "tool_calls": calls}


def without_nones(value: Any) -> Any:
    """`value` without the keys whose value is None, at every depth (TRL's remove_none_values,
    which SFTTrainer applies to every row): a Parquet file or a Hub dataset stores a column of
    objects as one struct type, so each tool spec, each call's arguments, holds every key any
    row's has, None where its own has none; rendered, the student would be shown `"query": null`
    in get_weather's parameters and trained to call get_weather(city="Paris", query=null)."""
    if isinstance(value, dict):
        return {k: without_nones(v) for k, v in value.items() if v is not None}
    if isinstance(value, list):
        return [without_nones(v) for v in value]
    return value


def _text_parts(parts: list[Any], where: str) -> str:
    """The text of a message whose content is a list of parts (OpenAI's format, TRL's
    conversational rows: [{"type": "text", "text": ...}]), joined as the templates that read parts
    write them (one after another). A part of another type (an image) is refused: distill trains
    text."""
    texts = []
    for part in parts:
        kind = part.get("type", "text") if isinstance(part, dict) else type(part).__name__
        if kind == "text" and not isinstance(part.get("text"), str):
            got = part.get("text")
            raise DistillError(
                f"{where} has a text part whose 'text' is "
                f"{'null' if got is None else type(got).__name__}: give it text, or drop the part"
            )
        if kind != "text":
            raise DistillError(
                f"{where} has a content part of type '{kind}'; distill trains text only: drop the "
                "row, or keep its text parts"
            )
        texts.append(part["text"])
    return "".join(texts)


def _sharegpt_system(row: dict[str, Any], column: str) -> Any:
    """A `system` column belongs to ShareGPT's `conversations` (LLaMA-Factory's sharegpt layout;
    OpenThoughts); a `messages` chat holds its own (open-r1's OpenThoughts-114k-math mirror has
    both: its `system` asks R1 for thought markers, never NuminaMath's `messages`)."""
    return row.get("system") if column == "conversations" else None


def with_system(msgs: list[dict[str, str]], system: Any) -> list[dict[str, str]]:
    """The chat with a system message first, unless it has one already (or none is given)."""
    if system and not (msgs and msgs[0]["role"] == "system"):
        return [{"role": "system", "content": str(system)}, *msgs]
    return msgs


def with_system_prompt(
    msgs: list[dict[str, Any]], system_prompt: str | None, where: str, what: str = "the chat"
) -> list[dict[str, Any]]:
    """A prompt chat after --system-prompt (generate's, eval's, on-policy's). A chat with a
    system turn of its own and another --system-prompt is refused naming both: one of the two
    would not be sent (with_system kept the chat's and dropped the flag without a word). The
    same text twice is one system turn."""
    own = next((m for m in msgs if m["role"] == "system"), None)
    if own is None:
        return with_system(msgs, system_prompt)
    if system_prompt and own["content"] != system_prompt:
        raise DistillError(
            f"{where}: {what} has a system turn of its own ({own['content'][:40]!r}) and "
            "--system-prompt gives another: drop --system-prompt, or the chat's system turn"
        )
    return msgs


def asked_chat(
    value: Any, where: str, column: str, system_prompt: str | None = None
) -> list[dict[str, Any]]:
    """A prompt field holding a chat (TRL's conversational prompt: role/content messages, or
    ShareGPT's from/value, or its JSON text) as the messages the model is asked: role/content,
    after --system-prompt (with_system_prompt). Several turns are a prompt (the model answers the
    last user turn); a chat ending with any other turn is no prompt and is refused."""
    msgs = _chat(value, where, column)
    last = msgs[-1]["role"] if msgs else None
    if last != "user":
        raise DistillError(
            f"{where}: field '{column}' is a chat ending with a{'n' if last == 'assistant' else ''}"
            f" {last} turn, not a prompt (a prompt chat ends with the user's turn the model "
            "answers): drop the turns after the last user turn, or drop the row"
        )
    return with_system_prompt(msgs, system_prompt, where, f"field '{column}'")


def _last_assistant(
    raw: Any, where: str, column: str, system: Any = None, keep_markers: bool = False
) -> Example:
    """A conversation -> the last assistant message is the completion, the rest the prompt
    (earlier assistant turns included: the Renderer trains them too unless train_on='last').
    Turns of weight 0 are context; the chat ends at the last turn that trains (what follows it
    changes no loss), so --train-on last trains the last turn the dataset trains."""
    msgs, context = _weighted_chat(raw, where, column, keep_markers)
    # The second answers no request: at inference the student never writes right after its own
    # turn (LLaMA-Factory drops such a row; Gemma's and Mistral's templates refuse it).
    roles = [m["role"] for m in msgs]
    twice = next((i for i in range(1, len(msgs)) if roles[i - 1] == roles[i] == "assistant"), None)
    bare = len(msgs)
    msgs = with_system(msgs, system)
    if not msgs or msgs[-1]["role"] != "assistant":
        raise DistillError(f"{where}: '{column}' must end with an assistant message")
    if twice is not None:
        raise DistillError(
            f"{where}: {column}[{twice - 1}] and {column}[{twice}] are two assistant turns in a "
            "row (the second answers no request): merge them into one turn, or drop the row"
        )
    context = {i + len(msgs) - bare for i in context}
    trains = True
    if context:
        asked = [i for i, m in enumerate(msgs) if m["role"] == "user"]
        trained = [
            i
            for i, m in enumerate(msgs)
            if m["role"] == "assistant" and i not in context and asked and i > asked[0]
        ]
        trains = bool(trained)
        if trained:
            msgs = msgs[: trained[-1] + 1]
    prompt = msgs[:-1]
    return Example(
        prompt=prompt,
        completion=msgs[-1]["content"],
        instruction=_user_text(prompt),
        source={"where": where},
        context_turns=frozenset(i for i in context if i < len(prompt)),
        trains=trains,
        calls=msgs[-1].get("tool_calls"),
    )


def _role(m: dict[str, Any]) -> Any:
    return m.get("role") or SHAREGPT_ROLES.get(str(m.get("from")))


def guess_columns(row: dict[str, Any]) -> dict[str, str]:
    """{flag: column} a refusal suggests from the column names it saw (a hint only, never
    applied): a chat under another name (lmsys' `conversation`), or prompt + answer columns."""
    # never a preference set's rejected replies (trl-lib's chosen / rejected chats)
    chats = {k: m for k, v in row.items() if is_chat(m := chat_json(v)) and k not in REJECTED}
    # a chat of {input, output} exchanges under a chat's name (Capybara's `conversation`; a code
    # set's list of {input, output} test cases is none)
    chats |= {
        k: m
        for k in ("conversation", *CHAT_COLUMNS)
        if k in row and is_chat(m := pairs_chat(chat_json(row[k])))
    }
    if chats:
        # a chat that ends with the reply to train before a prompt's chat (TRL's `prompt`)
        return {"--messages-field": min(chats, key=lambda k: _role(chats[k][-1]) != "assistant")}
    guess: dict[str, str] = {}
    for flag, names in GUESS.items():
        if flag == "--answer-field":
            # the whole reply, its think block in it (OpenCodeReasoning's `output`), before a
            # column of its answer alone (`solution`: the code without R1's reasoning)
            names = sorted(names, key=lambda n: "</think>" not in str(row.get(n, "")))
        for name in names:
            value = row.get(name)
            if name in guess.values() or not isinstance(value, (str, list)):
                continue
            if name == "answer" and "\n" not in str(value) and len(str(value)) < 40:
                continue  # a gold answer ("72"), not a completion to train on
            guess[flag] = name
            break
    if "--answer-field" not in guess or "--prompt-field" not in guess:
        return {}
    return guess


def no_request(row: dict[str, Any], where: str, column: str, what: str, value: str) -> DistillError:
    """The refusal of a row whose prompt column `column` asks nothing (asks_nothing): trained, the
    student would learn its reply as the answer to '-' (or to nothing)."""
    if value.strip() == "-":
        return DistillError(
            f"{where}: column '{column}' ({what}) is '-', {left_out(row)}: the student would "
            "learn to answer '-'; fill the column with the question first, as the set's card "
            "shows, or drop the row"
        )
    return DistillError(
        f"{where}: column '{column}' ({what}) is empty: the student would learn a reply to no "
        "request; fill the column, or drop the row"
    )


def _mapped_text(row: dict[str, Any], column: str, flag: str, where: str) -> str:
    value = row[column]
    if flag == "--reasoning-field" and isinstance(value, list):
        if not all(isinstance(v, str) for v in value):
            raise DistillError(
                f"{where}: column '{column}' ({flag}) must be text or a list of texts; found a "
                "list holding " + ", ".join(sorted({type(v).__name__ for v in value}))
            )
        return "\n\n".join(v.strip() for v in value)
    if not isinstance(value, str):
        what = "text or a list of texts" if flag == "--reasoning-field" else "text"
        raise DistillError(
            f"{where}: column '{column}' ({flag}) must be {what}, got {type(value).__name__}"
        )
    return value


def _from_columns(
    row: dict[str, Any],
    where: str,
    c: Columns,
    keep_markers: bool,
    choices: ChoiceLayout | None = None,
) -> Example:
    """--prompt-field / --answer-field (+ system, context, reasoning) -> one user turn and its
    answer, the reasoning in a think block. A multiple-choice set's question and answer columns
    (`choices`: --prompt-field question --answer-field answerKey on ARC) train the question
    with its lettered options, as generate and eval ask it, answered "Answer: C"; the question
    alone trained the student to answer a letter of options it was never shown."""
    if c.prompt_field is None or c.answer_field is None:
        given = ", ".join(c.named())
        raise DistillError(
            f"{where}: {given} need --prompt-field and --answer-field (the completion's column) "
            "too, or --messages-field for a chat column"
        )
    asked = choices.read(row, where) if choices is not None else None
    if asked is not None:  # (None: a free-form row, its question and answer as they are)
        choices.check_context(c.context_field, where)  # (RACE's article: shown already)
        prompt, letter = asked
        if letter is None:
            raise DistillError(f"{where}: column '{c.answer_field}' (--answer-field) is empty")
        row = {**row, c.prompt_field: prompt, c.answer_field: answer_line(letter)}
    elif choices is not None:
        # a free-form row of a multiple-choice set: its question after the passage it is about
        # (bigbio's QA schema: BioASQ's snippets in `context`), as generate and eval ask it; its
        # answer the one text of bigbio's `answer` list
        free = choices.free_prompt(row, where)
        if free is not None:
            choices.check_context(c.context_field, where)
            row = {**row, c.prompt_field: free}
        # (SQuAD's `answers` {"text": [...], ...}: its spans' texts, ChoiceLayout.free_answer)
        one = _one_answer(choices.free_answer(row), c.answer_field, where)
        row = {**row, c.answer_field: one}
    # a null system or context (Parquet's missing value) is none; a null reasoning is refused by
    # its row: a --reasoning-field null in every row (s1K's `cot`) names the wrong column
    optional = ("--system-field", "--context-field")
    get = {
        f: _mapped_text(row, col, f, where)
        for f, col in c.named().items()
        if not (f in optional and row[col] is None)
    }
    prompt, answer = get["--prompt-field"], get["--answer-field"]
    if asks_nothing(prompt):
        raise no_request(row, where, c.prompt_field, "--prompt-field", prompt)
    if not answer.strip():
        raise DistillError(f"{where}: column '{c.answer_field}' (--answer-field) is empty")
    context = get.get("--context-field", "")
    reasoning = get.get("--reasoning-field")
    if reasoning is not None and not reasoning.strip():
        reasoning = None
    msgs = with_system(
        [{"role": "user", "content": with_context(prompt, context)}],
        get.get("--system-field"),
    )
    return Example(
        prompt=msgs,
        completion=with_markers_split(
            reasoning.strip() if reasoning else None, answer.strip(), keep_markers
        ),
        instruction=prompt,
        input=context,
        source={"where": where},
    )


def _one_answer(value: Any, column: str, where: str) -> Any:
    """A free-form row's answer as a list of one (bigbio's QA schema: [text]): that text; a
    list of several accepted answers has no one reply to train, refused by name."""
    if isinstance(value, list) and len(value) == 1:
        return value[0]
    if isinstance(value, list) and len(value) > 1:
        raise DistillError(
            f"{where}: column '{column}' (--answer-field) holds {len(value)} answers, no one "
            "reply to train: keep one answer in the row, or drop the row"
        )
    if isinstance(value, list):  # (SQuAD 2.0's unanswerable question: no span)
        raise DistillError(
            f"{where}: column '{column}' (--answer-field) holds no answer, no reply to train: "
            "drop the row"
        )
    return value


def no_tools(row: dict[str, Any], where: str, shown: Iterable[Any] = ()) -> None:
    """Refuse a prompt source's row (generate's, eval's, on-policy's) whose `tools` column lists
    tool definitions (OpenAI's format, TRL's `tools`, xLAM), or OpenAI's legacy `functions`
    column its function specs (functions_of, which training reads as tools): the prompt is sent
    without them, so the model would answer without the tools the row is about. Training rows
    hand them to the chat template instead (tools_of). `shown`: the columns the prompt holds (a
    --system-field or --context-field, a template's placeholders): one among them is shown, as
    the refusal asks."""
    shown = set(shown)
    if tools_of(row, where, shown, text_ok=True) is not None:
        column = "tools"
    elif "functions" not in shown and functions_of(row) is not None:
        column = "functions"
    else:
        return
    raise DistillError(
        f"{where}: column '{column}' lists tool definitions, which distill does not send with "
        "the prompt (the model would answer without the tools the row is about): write "
        "them into the prompt as the model should see them and drop the column, or drop "
        "the row"
    )


def tools_of(
    row: dict[str, Any], where: str, shown: Iterable[Any] = (), text_ok: bool = False
) -> list[dict[str, Any]] | None:
    """The tool definitions of a row's `tools` column (OpenAI's fine-tuning format, TRL's `tools`,
    xLAM, LLaMA-Factory's sharegpt): a list of function specs, or its JSON text (as Arrow keeps a
    column of mixed schemas), which the chat template renders (`tools=`, as TRL's SFTTrainer hands
    them). None for a row without tools: an empty list, null or '' (the rows of such a set
    without tools), a value that lists nothing (a flag, a count, pandas' NaN for a missing cell),
    or a column the prompt shows already (`shown`: --system-field tools, --context-field tools,
    a template's {tools}). Text that is no JSON (a description) is refused, unless `text_ok`
    (then it is returned as a one-item list: a prompt source refuses it all the same)."""
    if "tools" in shown:
        return None
    tools = row.get("tools")
    if isinstance(tools, str):
        try:
            tools = json.loads(tools) if tools.strip() else None
        except ValueError:
            pass  # text describing tools
    if isinstance(tools, str) and tools.strip():
        if text_ok:
            return [{"description": tools}]
        if _pandas_repr(tools):
            raise DistillError(f"{where}: column 'tools' is {PANDAS_REPR}: json.dumps the column")
        raise DistillError(
            f"{where}: column 'tools' is text, not tool definitions (a list of function specs, or "
            "its JSON), which the chat template cannot render: map it into the prompt "
            "(--system-field tools), or drop the column"
        )
    if isinstance(tools, dict):  # one definition
        tools = [tools]
    if not tools or not isinstance(tools, list):
        return None
    if not all(isinstance(t, dict) for t in tools):
        kinds = ", ".join(sorted({type(t).__name__ for t in tools if not isinstance(t, dict)}))
        raise DistillError(
            f"{where}: column 'tools' must list function specs (objects), found {kinds}: fix the "
            "column, or drop the row"
        )
    return [as_tool(t) for t in without_nones(tools)]


def as_tool(spec: dict[str, Any]) -> dict[str, Any]:
    """A function spec in the shape the student is served with: {"type": "function", "function":
    {name, description, parameters}}, what an OpenAI-compatible server (vLLM, SGLang) hands the
    chat template for a request's `tools`, what transformers makes of a Python function
    (get_json_schema) and what Qwen's and Meta's docs show. xLAM's, LLaMA-Factory's and OpenAI's
    legacy `functions` give the bare spec; Qwen2.5's and Llama-3.1's templates write each tool
    `| tojson` as given, so trained bare, the student would be served a tools block it never saw.
    Wrapped as LLaMA-Factory wraps them for these templates (TRL hands them over as given);
    Mistral's template wraps either itself. A spec without a name is left as it is."""
    if "function" in spec or not isinstance(spec.get("name"), str):
        return spec
    inner = {k: v for k, v in spec.items() if not (k == "type" and v == "function")}
    return {"type": "function", "function": inner}


def functions_of(row: dict[str, Any]) -> list[dict[str, Any]] | None:
    """The tool definitions of OpenAI's legacy fine-tuning rows: a `functions` column of function
    specs ({name, description, parameters}, or its JSON text) beside the assistant's
    `function_call`, in the `tools` shape the templates read ({"type": "function", "function":
    spec}). Without them the call is trained to a function the student was never shown. None
    where the column lists no named functions (a column of that name in another dataset)."""
    value = row.get("functions")
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except ValueError:
            return None
    if not value or not isinstance(value, list):
        return None
    if not all(isinstance(f, dict) and isinstance(f.get("name"), str) for f in value):
        return None
    return [as_tool(without_nones(f)) for f in value]


def _says_nothing(text: str) -> bool:
    """A reply with no text beyond an empty think block ('<think>\\n\\n</think>\\n\\n', Qwen3's
    non-thinking turn with no answer): only its end of turn would carry the loss."""
    return not text.replace("<think>", "").replace("</think>", "").strip()


def from_row(
    row: dict[str, Any],
    where: str,
    columns: Columns | None = None,
    keep_markers: bool = False,
    choices: ChoiceLayout | None = None,
) -> Example:
    """One dataset row -> the Example training renders (see LAYOUTS; `columns` maps others;
    `choices`: the multiple-choice layout of the set, `train_choices`)."""
    c = columns or Columns()
    tools = tools_of(row, where, c.named().values())
    legacy = None if tools or "functions" in c.named().values() else functions_of(row)
    ex = _from_row(row, where, c, keep_markers, choices)
    ex.tools = tools or legacy or ex.tools  # (glaive's: the functions its system text lists)
    if legacy:
        ex.source["tools_column"] = "functions"  # as the refusals name it
    if c.system_field is not None:  # a trace record, Alpaca or prompt/completion row too
        ex.prompt = with_system(ex.prompt, row[c.system_field])
    # --train-on last trains the last reply alone: the earlier turns are context, so only what
    # that reply answers is checked (an empty earlier turn changes no loss)
    last = isinstance(c, Layout) and c.train_on == "last"
    # An empty reply would be trained as "stop at once" (its end of turn alone carries the loss);
    # a turn that calls a tool says what it calls.
    replies = [
        m.get("tool_calls") or m["content"]
        for i, m in enumerate(ex.prompt)
        if m["role"] == "assistant" and i not in ex.context_turns and not last
    ] + [ex.calls or ex.completion] * ex.trains
    empty = [
        n for n, text in enumerate(replies, 1) if isinstance(text, str) and _says_nothing(text)
    ]
    if empty:
        which = "its reply" if len(replies) == 1 else f"assistant turn {empty[0]} of {len(replies)}"
        raise DistillError(
            f"{where}: {which} is empty: it would teach the student to answer with nothing; "
            "drop the row or fill the turn"
        )
    unasked(ex, where, last)
    return ex


def unasked(ex: Example, where: str, last: bool = False) -> None:
    """Refuse a chat with a trained reply that answers no request: the user turn before it empty,
    or '-' (asks_nothing), or no turn at all before it (a chat of one assistant message). Trained,
    the student learns the reply as the answer to nothing. A reply after a tool's result answers
    that result; after a system message alone, that system message. `last` (--train-on last):
    the last reply alone is trained, so only the turn before it counts."""
    if not ex.trains:
        return
    msgs = [*ex.prompt, reply_of(ex)]
    users = [i for i, m in enumerate(msgs) if m["role"] == "user"]
    for i in [*([] if last else trained_turns(ex)), len(ex.prompt)]:
        if i == 0:
            raise DistillError(
                f"{where}: its chat is one assistant message with no request before it: the "
                "student would learn it as the answer to nothing; give the row its user turn, or "
                "drop the row"
            )
        asked = msgs[i - 1]
        if asked["role"] == "user" and asks_nothing(asked["content"]):
            what = "'-'" if asked["content"].strip() == "-" else "empty"
            raise DistillError(
                f"{where}: its user turn {users.index(i - 1) + 1} of {len(users)} is {what}, so "
                "the reply after it answers no request: fill the turn, or drop the row"
            )


def _from_row(
    row: dict[str, Any],
    where: str,
    c: Columns,
    keep_markers: bool,
    choices: ChoiceLayout | None = None,
) -> Example:
    for flag, col in c.named().items():
        if col not in row:
            raise DistillError(
                f"{where}: no column '{col}' ({flag}); found columns: {', '.join(map(str, row))}"
            )
    text_columns = [f for f in c.named() if f not in ("--messages-field", "--system-field")]
    if c.messages_field is not None and text_columns:
        raise DistillError(
            f"{where}: --messages-field {c.messages_field} and {', '.join(text_columns)} name two "
            "sources of the completion: give the chat column, or the text columns"
        )
    if c.messages_field is not None:
        return _last_assistant(
            row[c.messages_field],
            where,
            c.messages_field,
            row[c.system_field] if c.system_field else _sharegpt_system(row, c.messages_field),
            keep_markers,
        )
    if c.prompt_field or c.answer_field or c.reasoning_field or c.context_field:
        return _from_columns(row, where, c, keep_markers, choices)
    # a distill trace record (its `messages`: the prompt); question/reasoning/answer columns
    # without them are some dataset's, for the mapping hint below
    if "answer" in row and "messages" in row and any(k in row for k in RECORD_MARKERS):
        # The chat the teacher was sent, its earlier assistant turns included (left out, the
        # student saw two requests in a row, not the reply the teacher answered after); an
        # assistant message after the last request is the answer's own (a record that holds it).
        msgs = _chat(row.get("messages"), where, "messages")
        asked = max((i for i, m in enumerate(msgs) if m["role"] != "assistant"), default=-1)
        prompt = msgs[: asked + 1]
        meta = row.get("meta") or {}
        user = _user_text(prompt)
        # A source row's `input` is Alpaca's input beside its `instruction` alone (Alpaca's
        # prompt_input, generate's _alpaca_input): beside another prompt field (question +
        # input, --prompt-field question) the teacher was never shown it, and eval asks that
        # row without it; trained in an Input section, the student was asked another prompt.
        # meta.instruction is the Alpaca prompt's source only where the teacher was asked it
        # (instruction_asked); a row's other prompt column asked instead (instruction +
        # question: --prompt-field question, or question picked before instruction) is the
        # prompt sent, as eval asks it.
        inst = meta.get("instruction")
        if not instruction_asked(inst, user):
            inst = None
        column = meta.get(CONTEXT_KEY)  # generate --context-field: that column is the input
        if isinstance(column, str) and column in meta:
            instruction, inp = alpaca_parts(user, inst, meta, column)
        elif inst is None:
            instruction, inp = user, ""
        else:
            instruction, inp = str(inst), _text(meta.get("input"))
        return Example(
            prompt=prompt,
            completion=with_markers_split(row.get("reasoning"), _text(row["answer"]), keep_markers),
            instruction=instruction,
            input=inp,
            source={"id": row.get("id"), "where": where},
            trains_history=False,
        )
    chats = [k for k in CHAT_COLUMNS if k in row]
    if len(chats) > 1:
        raise DistillError(
            f"{where}: two chat columns, '{chats[0]}' and '{chats[1]}': say which one to train "
            f"with --messages-field {chats[0]} or --messages-field {chats[1]}"
        )
    if chats:
        return _last_assistant(
            row[chats[0]],
            where,
            chats[0],
            row[c.system_field] if c.system_field else _sharegpt_system(row, chats[0]),
            keep_markers,
        )
    if "instruction" in row and "output" in row:
        inst, inp = _text(row["instruction"]), _text(row.get("input"))
        if asks_nothing(inst):
            refusal = no_request(row, where, "instruction", "Alpaca layout", inst)
            if inp.strip() and inst.strip() != "-":
                # the request in the input alone: trained, its prompt would open with a blank line
                refusal = DistillError(
                    f"{refusal}; or, where 'input' holds the request, train it so with "
                    "--prompt-field input --answer-field output"
                )
            raise refusal
        if orca_system(inst, inp):
            raise dolphin_refusal(
                where,
                inst,
                "the Alpaca layout would train",
                "train it with --system-field instruction --prompt-field input --answer-field "
                "output (or, as Alpaca's instruction and input, --prompt-field instruction "
                "--context-field input --answer-field output)",
            )
        return Example(
            prompt=[{"role": "user", "content": with_context(inst, inp)}],
            completion=with_markers_split(None, _text(row["output"]), keep_markers),
            instruction=inst,
            input=inp,
            source={"where": where},
        )
    if "prompt" in row and "completion" in row:
        p, comp = json_chat(row["prompt"]), row["completion"]
        if isinstance(p, list):  # after a text prompt, it may be the JSON a task asks for
            comp = json_chat(comp)
        if not isinstance(p, list) and asks_nothing(_text(p)):
            raise no_request(row, where, "prompt", "prompt/completion layout", _text(p))
        prompt = (
            _chat(p, where, "prompt")
            if isinstance(p, list)
            else [{"role": "user", "content": _text(p)}]
        )
        if prompt and prompt[-1]["role"] == "assistant":
            # distill renders the completion as a turn of its own after it (TRL continues that
            # turn instead): the reply to its own reply refused in a chat (_last_assistant)
            raise DistillError(
                f"{where}: prompt[{len(prompt) - 1}] and the completion are two assistant turns "
                "in a row (the completion answers no request): merge them into one turn, or "
                "drop the row"
            )
        # TRL's text prompt/completion ("standard", not conversational): no chat template
        raw = not isinstance(p, list) and not isinstance(comp, list)
        context: set[int] = set()
        calls = None
        if isinstance(comp, list):
            turns, context = _weighted_chat(comp, where, "completion", keep_markers)
            if [m["role"] for m in turns] != ["assistant"]:
                raise DistillError(
                    f"{where}: 'completion' must be one assistant message; found roles: "
                    f"{', '.join(m['role'] for m in turns) or 'none'}"
                )
            # a completion that calls a tool (TRL's conversational prompt/completion, export's
            # rows of a chat with context turns) trains the call, as a chat's last turn does
            comp, calls = turns[0]["content"], turns[0].get("tool_calls")
        return Example(
            prompt=prompt,
            completion=_text(comp),
            instruction=_user_text(prompt),
            source={"where": where},
            raw=raw,
            # TRL trains a prompt/completion row's completion alone (completion_only_loss; with
            # assistant_only_loss too): assistant turns in its prompt are context, as a trace
            # record's history is (what export writes for one)
            trains_history=False,
            trains=not context,  # a completion of weight 0: nothing to train
            calls=calls,
        )
    if all(k in row for k in XLAM_COLUMNS):
        return _xlam(row, where)
    chosen = chat_json(row.get("chosen"))
    if "prompt" in row and is_chat(chosen) and "user" not in map(_role, chosen):
        # no flag trains it: --messages-field chosen would train the reply without its prompt
        raise DistillError(
            f"{where}: a preference row (prompt, chosen, rejected: TRL's conversational "
            "preference format) trains as its prompt and chosen reply, as TRL's docs convert one "
            "for SFT: rename column 'chosen' to 'completion' and drop 'rejected' "
            "(ds.remove_columns('rejected').rename_column('chosen', 'completion'))"
        )
    if is_glaive(row):
        return _glaive(row, where, keep_markers)
    fields = ", ".join(map(str, row)) or "none"
    guess = guess_columns(row)
    if guess:
        flags = " ".join(f"{f} {col}" for f, col in guess.items())
        raise DistillError(
            f"{where}: no chat, trace or Alpaca layout (found columns: {fields}); say which column "
            f"is what with --prompt-field/--answer-field (+ --reasoning-field, --context-field, "
            f"--system-field, --messages-field); from these names, try: {flags}"
        )
    from distill.data import PROMPT_FIELDS

    prompts = any(k in row for k in PROMPT_FIELDS)
    hint = (
        "; prompts alone train only --method onpolicy (lmbda 1); or map the columns with "
        "--prompt-field/--answer-field"
        if prompts
        else "; or map the columns with --prompt-field/--answer-field/--messages-field"
    )
    raise DistillError(f"{where}: need {LAYOUTS}; found columns: {fields}{hint}")


def _xlam(row: dict[str, Any], where: str) -> Example:
    """An xLAM row -> the user's `query`, answered by one assistant turn that makes the calls of
    `answers` (parallel calls in that one turn, in order), under the row's `tools`: the student
    learns the calls in its template's own syntax (Qwen2.5's <tool_call>{...}</tool_call>), which
    a tool parser reads: the calls the set's authors verified by running them. (Mapped with
    --prompt-field query --answer-field answers, _from_columns trains the JSON list as text.)"""
    hint = "fix or drop the row, or train its text with --prompt-field query --answer-field answers"
    query = row["query"]
    if not isinstance(query, str) or not query.strip():
        got = "empty" if isinstance(query, str) else f"{type(query).__name__}, not text"
        got = "null" if query is None else got
        raise DistillError(f"{where}: column 'query' (xLAM layout) is {got}: fix or drop the row")
    calls = row["answers"]
    if isinstance(calls, str):
        try:
            calls = json.loads(calls)
        except ValueError:
            raise DistillError(
                f"{where}: column 'answers' (xLAM layout: a JSON list of tool calls) is no JSON "
                f"({row['answers'][:60]!r}): {hint}"
            ) from None
    if not isinstance(calls, list) or not all(isinstance(c, dict) for c in calls):
        raise DistillError(
            f"{where}: column 'answers' (xLAM layout) must be a list of tool calls "
            f'[{{"name": ..., "arguments": {{...}}}}], got {str(calls)[:80]!r}: {hint}'
        )
    if not calls:  # xlam-irrelevance's rows: the reply is no call, and the set gives no text
        raise DistillError(
            f"{where}: column 'answers' (xLAM layout) is an empty list: a reply with no call and "
            "no text would teach the student to answer with nothing; drop the row, or write the "
            "reply it should give as a chat ('messages')"
        )
    if tools_of(row, where) is None:
        raise DistillError(
            f"{where}: column 'tools' (xLAM layout) lists no tools: the calls in 'answers' would be "
            "trained to functions the student was never shown; fix or drop the row"
        )
    prompt = [{"role": "user", "content": query}]
    return Example(
        prompt=prompt,
        completion="",
        instruction=query,
        source={"where": where},
        calls=tool_calls(calls, f"{where}: column 'answers'"),
    )


# glaiveai/glaive-function-calling-v2: a `system` text (the function specs it may call, JSON
# objects after "Use them if required -") and the whole `chat` as one text, its turns opened by
# these labels; a call is "<functioncall> {"name": ..., "arguments": '<JSON text>'}", every
# assistant turn closed by the generator's <|endoftext|>.
GLAIVE_ROLES = {"USER": "user", "ASSISTANT": "assistant", "FUNCTION RESPONSE": "tool"}
GLAIVE_TURN = re.compile(r"(?:^|\n)(USER|ASSISTANT|FUNCTION RESPONSE):[ \t]*")
GLAIVE_EOS = "<|endoftext|>"
# the arguments single-quoted around their JSON (no JSON at all, so json.loads refuses the call)
GLAIVE_CALL = re.compile(
    r'\{\s*"name"\s*:\s*("(?:[^"\\]|\\.)*")\s*,\s*"arguments"\s*:\s*\'(.*)\'\s*\}', re.S
)


def is_glaive(row: dict[str, Any]) -> bool:
    chat = row.get("chat")
    return isinstance(chat, str) and "USER:" in chat and "ASSISTANT:" in chat


def _glaive(row: dict[str, Any], where: str, keep_markers: bool) -> Example:
    """A glaive-function-calling-v2 row -> its chat under the functions its `system` text lists
    (the chat template's `tools=`, as LLaMA-Factory's glaive_toolcall conversion gives them), the
    system message its sentence before them; each <functioncall> an assistant turn's tool call
    (its arguments parsed), each FUNCTION RESPONSE a tool turn, <|endoftext|> left out. A row
    without functions ("with no access to external functions") is a plain chat."""
    system, tools = _glaive_system(row.get("system"), where)
    parts = GLAIVE_TURN.split(row["chat"])
    if parts[0].strip():
        raise DistillError(
            f"{where}: column 'chat' (glaive's layout) opens with text before its first USER: "
            f"turn ({parts[0].strip()[:40]!r}); fix or drop the row"
        )
    msgs: list[dict[str, Any]] = []
    for n, (label, text) in enumerate(zip(parts[1::2], parts[2::2]), 1):
        content = text.strip()
        content = content.removesuffix(GLAIVE_EOS).rstrip()
        if GLAIVE_EOS in content:
            raise DistillError(
                f"{where}: turn {n} of column 'chat' (glaive's layout) holds {GLAIVE_EOS} inside "
                "its text, where glaive closes a turn: the turns cannot be told apart; fix or "
                "drop the row"
            )
        msg: dict[str, Any] = {"role": GLAIVE_ROLES[label], "content": content}
        if label == "ASSISTANT" and "<functioncall>" in content:
            before, _, call = content.partition("<functioncall>")
            calls = _glaive_call(call, f"{where}: turn {n} of column 'chat'")
            # "Sure, let me check. ASSISTANT: <functioncall> ...": the generator's label again
            # inside the turn, no text of the reply
            before = before.strip().removesuffix("ASSISTANT:").strip()
            msg = {"role": "assistant", "content": before, "tool_calls": calls}
        elif label == "FUNCTION RESPONSE":
            # the result of the call just made; after a turn that called nothing (glaive's
            # generator sometimes wrote the call in another syntax, 'AI to= f: {...}') the student
            # would learn that text as a call, answered by a result that answers no call
            if not (msgs and msgs[-1].get("tool_calls")):
                raise DistillError(
                    f"{where}: turn {n} of column 'chat' (glaive's layout) is a FUNCTION RESPONSE "
                    "after a turn with no <functioncall>: the result answers no call; fix or drop "
                    "the row"
                )
            msg["name"] = msgs[-1]["tool_calls"][0]["function"]["name"]
        msgs.append(msg)
    listed = [t["function"]["name"] for t in tools or () if isinstance(t.get("function"), dict)]
    for n, msg in enumerate(msgs, 1):
        for call in msg.get("tool_calls", ()):
            if call["function"]["name"] not in listed:  # (a name glaive spelled otherwise too)
                raise DistillError(
                    f"{where}: turn {n} of column 'chat' (glaive's layout) calls a function its "
                    f"'system' text does not list ({call['function']['name']!r}; listed: "
                    f"{', '.join(map(repr, listed)) or 'none'}): the call would be trained to a "
                    "function the student was never shown; fix or drop the row"
                )
    ex = _last_assistant(msgs, where, "chat", system, keep_markers)
    ex.tools = tools
    ex.source["tools_column"] = "system"  # as the refusals name it
    return ex


def _glaive_system(value: Any, where: str) -> tuple[str | None, list[dict[str, Any]] | None]:
    """glaive's `system` text -> (the system message: its sentence without 'SYSTEM:' and the
    ' -' that led to the specs, the function specs it lists as tools, or None)."""
    if not isinstance(value, str) or not value.strip():
        return None, None
    text = value.strip().removeprefix("SYSTEM:").strip()
    head, brace, rest = text.partition("{")
    system = head.strip().removesuffix("-").strip() or None
    if not brace:
        return system, None
    body, at, specs = brace + rest, 0, []
    decoder = json.JSONDecoder()
    while (at := len(body) - len(body[at:].lstrip())) < len(body):
        try:
            spec, at = decoder.raw_decode(body, at)
        except (ValueError, RecursionError):  # (json's: a value nested too deep)
            spec = None
        if not isinstance(spec, dict) or not isinstance(spec.get("name"), str):
            raise DistillError(
                f"{where}: column 'system' (glaive's layout) lists a function that is no JSON "
                f"object with a name ({body[at : at + 60]!r}); fix or drop the row"
            )
        specs.append(spec)
    # glaive's generator lists a function twice in some rows: once is what the student is
    # shown; two different definitions of one name leave no one spec its calls were written to
    tools: dict[str, dict[str, Any]] = {}
    for spec in without_nones(specs):
        seen = tools.setdefault(spec["name"], spec)
        if seen != spec:
            raise DistillError(
                f"{where}: column 'system' (glaive's layout) defines function {spec['name']!r} "
                "twice, differently: the student would be shown two functions of one name and "
                "its calls trained to either; keep one definition, or drop the row"
            )
    return system, [as_tool(s) for s in tools.values()]


def _no_json_constant(name: str) -> Any:
    raise ValueError(f"{name} is no JSON")


# a quote escaped with a backslash inside glaive's single-quoted arguments (\', never the quote
# after an escaped backslash, \\')
ESCAPED_QUOTE = re.compile(r"(?<!\\)((?:\\\\)*)\\'")


def _glaive_args(text: str) -> Any:
    """The arguments glaive wrote in single quotes, as their authors meant them: their JSON; or,
    the quotes inside escaped as in a Python string ('{"q": "it\\'s"}', '{\\'a\\': 1}'), that
    text unescaped: its JSON, or the Python dict it spells ({'a': 1}), read as a literal (never
    run) and kept only where it is JSON's kind of value. Raises ValueError for anything else."""
    loads = partial(json.loads, parse_constant=_no_json_constant)
    try:
        return loads(text)
    except ValueError:
        if "'" not in text:
            raise
    text = ESCAPED_QUOTE.sub(r"\1'", text)
    try:
        return loads(text)
    except ValueError:
        pass
    import ast

    try:
        value = ast.literal_eval(text.strip())
    except (ValueError, SyntaxError, MemoryError, RecursionError):
        raise ValueError("no JSON, no Python literal") from None
    if not _json_kind(value):
        raise ValueError("a Python literal of no JSON kind")
    return value


def _json_kind(value: Any) -> bool:
    """Whether a Python literal is one JSON writes back as it is (no tuple, set, bytes, complex,
    non-text key, NaN or infinity)."""
    if isinstance(value, dict):
        return all(isinstance(k, str) and _json_kind(v) for k, v in value.items())
    if isinstance(value, list):
        return all(_json_kind(v) for v in value)
    if isinstance(value, float):
        return value == value and value not in (float("inf"), float("-inf"))
    return value is None or isinstance(value, (str, int, bool))


def _glaive_call(text: str, where: str) -> list[dict[str, Any]]:
    """A <functioncall>'s text -> its call in OpenAI's shape: glaive writes the arguments as their
    JSON text in single quotes ({"name": "f", "arguments": '{"a": 1}'}), which is no JSON, at
    times with the quotes inside escaped (_glaive_args); a call written as JSON (its arguments an
    object, or their JSON text) is read as it is."""
    text = text.strip()
    match = GLAIVE_CALL.fullmatch(text)
    # Infinity / NaN: Python's json reads them, but they are no JSON, and the template would
    # write them back as such: the student would learn calls no tool parser reads
    loads = partial(json.loads, parse_constant=_no_json_constant)
    try:
        if match:
            name, args = loads(match.group(1)), _glaive_args(match.group(2))
        else:
            call = loads(text)
            name, args = call.get("name"), call.get("arguments")
            args = _glaive_args(args) if isinstance(args, str) else args
    except (ValueError, AttributeError, RecursionError):  # (json's: a value nested too deep)
        name = args = None
    if not isinstance(name, str) or not isinstance(args, dict):
        raise DistillError(
            f"{where} (glaive's layout): its <functioncall> is no call distill can read "
            f'({text[:60]!r}; glaive\'s: {{"name": ..., "arguments": \'{{...}}\'}}); fix or '
            "drop the row"
        )
    return tool_calls({"name": name, "arguments": args}, where)


def has_completion(row: dict[str, Any], columns: Columns | None = None) -> bool:
    """Whether a row carries a completion in a layout training reads; a prompt source (a
    problem/question/prompt field alone, or `messages` ending with a user turn) does not."""
    c = columns or Columns()
    if c.answer_field is not None:
        return True
    if "answer" in row and any(k in row for k in RECORD_MARKERS):
        return True
    for column in (c.messages_field,) if c.messages_field else CHAT_COLUMNS:
        if column in row:
            msgs = pairs_chat(chat_json(row[column]))
            if not (isinstance(msgs, list) and msgs and isinstance(msgs[-1], dict)):
                return True  # not a prompt either: from_row names the problem
            last = msgs[-1]
            return (last.get("role") or SHAREGPT_ROLES.get(last.get("from", ""))) == "assistant"
    return (
        ("instruction" in row and "output" in row)
        or ("prompt" in row and "completion" in row)
        or all(k in row for k in XLAM_COLUMNS)
        or is_glaive(row)
    )


def chat_prompt(
    row: dict[str, Any], where: str, columns: Columns | None = None
) -> list[dict[str, str]] | None:
    """A prompt source row's chat (`messages`, `conversations`, the --messages-field column or a
    `prompt` list of messages, ending with a user turn), or None when the row has a prompt field
    instead."""
    c = columns or Columns()
    no_tools(row, where, shown=c.named().values())  # on-policy samples the reply without them
    if c.messages_field is None and isinstance(json_chat(row.get("prompt")), list):
        system = row.get(c.system_field) if c.system_field else None
        return with_system(_chat(json_chat(row["prompt"]), where, "prompt"), system)
    for column in (c.messages_field,) if c.messages_field else CHAT_COLUMNS:
        if column in row:
            system = row.get(c.system_field) if c.system_field else _sharegpt_system(row, column)
            return with_system(_chat(row[column], where, column), system)
    return None


def load_examples(
    src: str,
    split: str = "train",
    limit: int | None = None,
    columns: Columns | None = None,
    keep_markers: bool = False,
) -> Iterator[Example]:
    from distill.data import iter_source

    # strict: a torn last line is named, never dropped (the file is the user's training data,
    # or a kept file filter wrote whole; a killed generate's tail is repaired by its rerun)
    rows = iter_source(src, split, strict=True)
    # the first row's multiple-choice layout (train_choices), the rows that settle how the set
    # counts its answer read ahead (MedMCQA's copies: from 0 or from 1), as generate reads them
    choices, rows = read_ahead(rows, lambda row: row, lambda row: train_choices(row, columns))
    if limit is not None:
        rows = itertools.islice(rows, limit)
    for i, row in enumerate(rows):
        yield from_row(row, f"{src} row {i + 1}", columns, keep_markers, choices)


def train_choices(row: dict[str, Any], columns: Columns | None) -> ChoiceLayout | None:
    """The multiple-choice layout a set's first row names, where --prompt-field and
    --answer-field are its question and answer columns (MMLU: question, answer; ARC:
    question, answerKey; GPQA: Question, 'Correct Answer'), as data.load_rows reads it for
    generate and eval; None for any other set."""
    c = columns or Columns()
    if c.prompt_field is None or c.answer_field is None or c.messages_field is not None:
        return None
    return multiple_choice(row, c.prompt_field, c.answer_field)


# =========================================================================== rendering


def _chat_parts(tok: Any, who: str = "student") -> tuple[str, str, str, str]:
    """(end-of-turn text after an assistant message, generation-prompt pre-fill such as
    '<think>\\n', the empty think block a finished turn without reasoning opens with, the
    whitespace a finished turn writes before its content after the generation prompt: Mistral's
    and Llama-2's `[/INST]` + ' ' + content)."""
    if not getattr(tok, "chat_template", None):
        raise DistillError(
            f"the {who}'s tokenizer has no chat template; use --format alpaca or pick an instruct model"
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
    # What a finished turn writes before its content beyond the generation prompt, where that is
    # an empty think block (Qwen3 renders a last turn without reasoning as
    # '<think>\n\n</think>\n\n' + answer: its non-thinking format, which enable_thinking=False
    # pre-fills and TRL's SFTTrainer trains): the model writes it itself.
    opened = head[len(gen) :] if head.startswith(gen) else ""
    empty_think = opened if re.fullmatch(r"\s*<think>\s*</think>\s*", opened) else ""
    # Whitespace the template writes between the generation prompt and the content (Mistral's
    # and Llama-2's '[/INST]' + ' ' + content) is the model's to write: it is the first
    # character of the reply (byte-level BPE merges it into the first word, 'Ġthe'; a
    # SentencePiece tokenizer reads it as the '▁' of '▁the' where the reply follows the prompt).
    lead = opened if opened and not opened.strip() else ""
    # A generation prompt that opens the think block a finished turn writes too (Qwen3-*-Thinking-
    # 2507: '<|im_start|>assistant\n<think>\n', the finished turn '...<think>\n\n</think>\n\n'):
    # the '<think>\n' is pre-filled all the same, never the model's to write a second time.
    opens = re.search(r"<think>\s*$", gen)
    if head.startswith(gen) and opens:
        prefill = opens.group()
    return suffix, prefill, empty_think, lead


def content_trims(tok: Any) -> tuple[str | None, str | None]:
    """The characters the chat template strips from the start / end of an assistant message's
    content, as str.lstrip / str.rstrip take them: None for all whitespace (Llama-3.x, Gemma and
    Mistral write `content | trim`), '\\n' for newlines alone (SmolLM3's `content.lstrip("\\n")`),
    '' for none."""
    mark = "XQ7ZK"

    def around(content: str) -> tuple[str, str] | None:
        msgs = [{"role": "user", "content": "U"}, {"role": "assistant", "content": content}]
        try:
            full = tok.apply_chat_template(msgs, tokenize=False)
        except Exception:  # noqa: BLE001 - a template that needs more than text content
            return None
        at = full.find(mark)
        return None if at < 0 else (full[:at], full[at + len(mark) :])

    bare = around(mark)
    head = tail = ""
    for c in " \n\t":
        # each character alone: the template's own text beside the content ('assistant\n')
        # must not read as a character the content kept
        padded = around(c + mark + c)
        if bare is None or padded is None:
            return "", ""
        head += c if padded[0] == bare[0] else ""
        tail += c if padded[1] == bare[1] else ""
    return (None if head == " \n\t" else head), (None if tail == " \n\t" else tail)


def strips_reasoning(tok: Any) -> bool:
    """True when the chat template drops an assistant message's text before `</think>`
    (DeepSeek-R1-Distill does): a `messages` export would lose the reasoning there."""
    msgs = [
        {"role": "user", "content": "U"},
        {"role": "assistant", "content": "<think>\nRZQ8\n</think>\n\nA"},
    ]
    return "RZQ8" not in tok.apply_chat_template(msgs, tokenize=False)


# Where a chat template reads an assistant message's reasoning other than a think block in its
# content: a message key (Qwen3's and GLM-4.5's `reasoning_content`, gpt-oss's `thinking`, which
# its harmony template writes in the analysis channel) or a `thinking` chunk of a content list
# (Mistral's [THINK]...[/THINK]: Magistral, Ministral-3 Reasoning).
REASONING_CHUNKS = "chunks"


def reasoning_key(tok: Any) -> str | None:
    """The key under which the chat template reads an assistant message's reasoning (or
    REASONING_CHUNKS), found by rendering a finished turn with a marker there, as TRL and
    transformers probe a template for `reasoning_content`; None where it reads none (the
    reasoning is trained as a think block in the content, as the template writes it)."""
    mark, answer = "RZQ8", "AQ9X"
    user = {"role": "user", "content": "U"}
    probes: list[tuple[str, dict[str, Any]]] = [
        (key, {"role": "assistant", "content": answer, key: mark}) for key in REASONING_KEYS
    ]
    chunks = [{"type": "thinking", "thinking": mark}, {"type": "text", "text": answer}]
    probes.append((REASONING_CHUNKS, {"role": "assistant", "content": chunks}))
    for key, reply in probes:
        try:
            text = tok.apply_chat_template([user, reply], tokenize=False)
        except Exception:  # noqa: BLE001 - a template that refuses the shape reads no such key
            continue
        # (a template that prints a content list whole writes its repr: no reading of chunks)
        if mark in text and answer in text and "'thinking'" not in text:
            return key
    return None


def think_block(content: str) -> tuple[str, str] | None:
    """(reasoning, answer) of a content that opens with a think block (`<think>` after whitespace,
    closed by its first `</think>`), None for any other: a reply without reasoning whose answer
    names the tag (explains it) is an answer, whole. What train (Renderer) and export
    --reasoning-key move under a template's reasoning key."""
    if not content.lstrip().startswith("<think>") or "</think>" not in content:
        return None
    # The block is the first '<think>' ... '</think>': a reasoning that mentions '<think>', an
    # answer that mentions '</think>', are theirs whole (the templates' own split, on the last
    # '</think>' and '<think>', cut the head of either off)
    head, _, answer = content.partition("</think>")
    return head.split("<think>", 1)[-1].rstrip("\n").lstrip("\n"), answer.lstrip("\n")


def prefilled_block(content: str) -> tuple[str, str] | None:
    """(reasoning, answer) of a content whose think block a generation prompt opened and the
    content closes: DeepSeek-R1's template writes `<think>\\n` after the assistant header, and
    a trace stored as the model wrote after it reads `R\\n</think>\\n\\nA` (reasoning.split's
    'prefilled'). Its first `</think>` has no `<think>` before it and is alone on its line, as
    R1 writes it (up to 3 spaces before it; LF, or CRLF: 'R\\r\\n</think>\\r\\n\\r\\nA' reads as
    its LF twin), outside a code block; None for any other content: an answer that names the tag
    in its text ('close it with </think>.', 'R1 then writes </think>\\n'), quoted ('>
    </think>'), in a list, in a code block (a fence open before it, an indent of 4)."""
    head, tag, answer = content.partition("</think>")
    if not tag or "<think>" in head or not re.match(r"[ \t]*(\r?\n|$)", answer):
        return None
    if not re.fullmatch(r" {0,3}", head[head.rfind("\n") + 1 :]) or _in_fence(head):
        return None
    return head.strip("\r\n"), answer.lstrip("\r\n")


def lone_close(content: str) -> str | None:
    """`content` as a whole think block ('<think>\\nR\\n</think>\\n\\nA', as a record's
    `reasoning` renders: r1_content) where it is a DeepSeek-R1 trace stored without the
    `<think>` R1's generation prompt writes ('R\\n</think>\\n\\nA': one `</think>`, alone on its
    line as R1 writes it, outside a code block (prefilled_block), text before it, no `<think>`);
    None for any other content (an answer that names the tag, inline, at the end of a line of its
    text, quoted, in code, is an answer, whole)."""
    if content.count("</think>") != 1 or "<think>" in content:
        return None
    block = prefilled_block(content)
    if block is None or not block[0].strip():
        return None
    return r1_content(*block)


def opened(m: dict[str, Any]) -> dict[str, Any]:
    """An assistant message whose content is a DeepSeek-R1 trace stored without its `<think>`
    (lone_close) with that content as the whole think block; any other message as it is."""
    content = m.get("content")
    if m.get("role") != "assistant" or not isinstance(content, str):
        return m
    whole = lone_close(content)
    return m if whole is None else {**m, "content": whole}


def _in_fence(text: str) -> bool:
    """Whether `text` ends inside a Markdown code block: a fence (3+ backticks or tildes, up to 3
    spaces in) opened on one of its lines and not closed by a later one of the same kind."""
    fence = None
    for line in text.split("\n"):
        m = re.match(r" {0,3}(`{3,}|~{3,})", line)
        if m is None:
            continue
        mark = m.group(1)
        if fence is None:
            fence = mark
        elif mark[0] == fence[0] and len(mark) >= len(fence) and not line.strip()[len(mark) :]:
            fence = None  # a closing fence: as long at least, nothing after it
    return fence is not None


def as_template_reads_reasoning(
    m: dict[str, Any], key: str | None, empty_keeps_whole: bool = False
) -> dict[str, Any]:
    """An assistant message whose content opens with a think block, its reasoning moved under
    `key` (reasoning_key) and the answer left as its content: split as Qwen3's and GLM's
    templates split such a content themselves. empty_keeps_whole: the template splits any
    content at `</think>` itself unless the key holds a text (Qwen3's and GLM's
    `reasoning_content is string`), so an answer that names the tag, without reasoning, gets an
    empty reasoning there, which those templates write as they write no reasoning; a block the
    generation prompt opened (prefilled_block: an R1 trace stored without its `<think>`) is
    the reasoning, as the template reads it."""
    content = m.get("content")
    if key is None or m.get("role") != "assistant" or not isinstance(content, str):
        return m
    block = think_block(content)
    if block is None and empty_keeps_whole and "</think>" in content and key != REASONING_CHUNKS:
        # the template splits the content at `</think>` itself: a block the prompt opened (an
        # R1 trace) is its reasoning, as the template writes it; an answer that names the tag
        # is kept whole
        block = prefilled_block(content)
        if block is None:
            return {**m, key: ""}
    if block is None:
        return m
    reasoning, answer = block
    if not reasoning.strip():  # an empty think block (Qwen3's non-thinking turn): no reasoning
        if empty_keeps_whole and "</think>" in answer and key != REASONING_CHUNKS:
            return {**m, "content": answer, key: ""}  # (the template would cut it at the tag)
        return {**m, "content": answer}
    if key == REASONING_CHUNKS:
        parts = [{"type": "thinking", "thinking": reasoning}, {"type": "text", "text": answer}]
        return {**m, "content": parts}
    return {**m, "content": answer, key: reasoning}


def stop_token_ids(tok: Any, model_eos: int | list[int] | None = None) -> set[int]:
    ids = {tok.eos_token_id} if tok.eos_token_id is not None else set()
    if isinstance(model_eos, int):
        ids.add(model_eos)
    elif model_eos:
        ids.update(model_eos)
    return ids


def with_context(prompt: str, context: str | None) -> str:
    """A request in a chat turn with its context after a blank line (Alpaca's input, dolly's
    context): how train renders such a row, and generate sends it without a template."""
    return prompt + (f"\n\n{context}" if context else "")


def trained_turns(ex: Example) -> list[int]:
    """Indices of the earlier assistant turns in ex.prompt that carry a loss of their own. A
    chat's opening assistant message (a ShareGPT greeting, after a system message or not)
    answers no request: it is context (and without a system message there is no prompt to
    render before it)."""
    if not ex.trains_history:
        return []
    asked = False
    turns = []
    for i, m in enumerate(ex.prompt):
        asked = asked or m["role"] == "user"
        if m["role"] == "assistant" and asked and i not in ex.context_turns:
            turns.append(i)
    return turns


def raw_prompt(ex: Example) -> str:
    """A text prompt/completion row's prompt, continued as it is (no chat template): it has no
    place for a system message (--system-field), which --chat puts in the chat turn."""
    if len(ex.prompt) > 1 or ex.tools:
        where = ex.source.get("where") or "an example"
        what = "its tools (column 'tools')" if ex.tools else "its system message (--system-field)"
        raise DistillError(
            f"{where}: a text prompt/completion row trains as a raw continuation, which has no "
            f"place for {what}: add --chat to train it in the student's chat template"
        )
    return ex.prompt[-1]["content"]


def alpaca_only(ex: Any) -> None:
    """Refuse a row whose system message or earlier turns the Alpaca prompt cannot hold (train's
    --format alpaca, and export's rows of it): left out of the instruction, they would be dropped
    without a word."""
    other = [m["role"] for m in ex.prompt if m["role"] != "user"]
    if other or len(ex.prompt) > 1 or ex.tools or ex.calls:
        where = ex.source.get("where") or "an example"
        what = (
            "tools (column 'tools')"
            if ex.tools
            else "a tool call"
            if ex.calls
            else "a system message"
            if "system" in other
            else "earlier turns"
        )
        raise DistillError(
            f"{where}: --format alpaca has one instruction (+ input) and its response; this "
            f"row has {what}, which the Alpaca prompt cannot hold: train it with --format r1"
        )


def alpaca_output(ex: Any) -> str:
    """The Alpaca response of `ex`: its answer, the think block left out (train's --format
    alpaca, and export's rows of it). A reply that is reasoning alone is refused, as an empty
    reply is (`from_row`): its response would be empty, and the student trained on its EOS alone
    to answer with nothing (under r1 the same row trains its reasoning)."""
    if ex.answer.strip():
        return ex.answer
    where = ex.source.get("where") or "an example"
    raise DistillError(
        f"{where}: its reply is reasoning with no answer after </think>, and --format alpaca "
        "trains the answer alone: it would teach the student to answer with nothing; drop the "
        "row, or train it with --format r1 (which trains the reasoning)"
    )


# Mistral's templates (v0.3, Nemo, Small) write each call's id and refuse one that is not nine
# letters or digits; xLAM, LLaMA-Factory's and glaive's calls have none, OpenAI's are longer.
CALL_ID = re.compile(r"[A-Za-z0-9]{9}")
ID_LETTERS = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"


def call_ids(tok: Any) -> Any:
    """What the chat template asks of a tool call's id, found by rendering a call and its result:
    None where it renders them without one (Qwen2.5's, Llama-3.1's: nothing to give), else a
    test of the ids it renders (Mistral's: nine letters or digits, as mistral-common makes
    them; any text where it asks only for one)."""

    def renders(id_: str | None) -> bool:
        call: dict[str, Any] = {"type": "function", "function": {"name": "f", "arguments": {}}}
        result: dict[str, Any] = {"role": "tool", "content": "R"}
        if id_ is not None:
            call["id"] = result["tool_call_id"] = id_
        msgs = [
            {"role": "user", "content": "U"},
            {"role": "assistant", "content": "", "tool_calls": [call]},
            result,
            {"role": "assistant", "content": "A"},
        ]
        try:
            tok.apply_chat_template(msgs, tokenize=False)
        except Exception:  # noqa: BLE001 - a template that refuses the call so
            return False
        return True

    if renders(None) or not renders("a1B2c3D4e"):
        return None
    if renders("call_1"):
        return lambda id_: isinstance(id_, str) and bool(id_)
    return lambda id_: isinstance(id_, str) and CALL_ID.fullmatch(id_) is not None


def new_call_id(msgs: list[dict[str, Any]], k: int, j: int, taken: set[str]) -> str:
    """A call's id where the template needs one and the row gives none it renders: nine letters
    and digits of a hash of the chat up to the turn (`msgs[k]`) and the call's place in it (j),
    so every render of the row, and of each turn's prefix, gives the call the same id."""
    turns = [
        [
            m.get("role"),
            m.get("content"),
            [
                [c["function"]["name"], c["function"]["arguments"]]
                for c in m.get("tool_calls") or ()
            ],
        ]
        for m in map(object_args, msgs[: k + 1])
    ]
    for salt in itertools.count():
        text = json.dumps([turns, j, salt], sort_keys=True, ensure_ascii=False, default=str)
        n = int.from_bytes(hashlib.sha256(text.encode()).digest()[:8], "big")
        id_ = "".join(ID_LETTERS[(n // 62**i) % 62] for i in range(9))
        if id_ not in taken:
            return id_
    raise AssertionError("unreachable")


def with_call_ids(
    msgs: list[dict[str, Any]], usable: Any, where: str, template: str
) -> list[dict[str, Any]]:
    """`msgs` with an id on each tool call the template cannot render as given (new_call_id),
    and on each tool result the id of the call it answers: the results after a turn's calls
    answer them by their `tool_call_id`, else by the function's `name` where the names tell the
    calls apart, else one result to each call in order (OpenAI's, LLaMA-Factory's). A result that
    names a call the turn did not make, or results that cannot be matched one to one with the
    calls, are refused: an id would pair a result with a call it does not answer."""
    if not any(m.get("tool_calls") for m in msgs):
        return msgs
    taken = {c["id"] for m in msgs for c in m.get("tool_calls") or () if usable(c.get("id"))}
    out = list(msgs)
    for k, m in enumerate(msgs):
        if not m.get("tool_calls"):
            continue
        calls = []
        for j, c in enumerate(m["tool_calls"]):
            id_ = c.get("id") if usable(c.get("id")) else new_call_id(msgs, k, j, taken)
            taken.add(id_)
            calls.append({**c, "id": id_})
        out[k] = {**m, "tool_calls": calls}
        after = list(
            itertools.takewhile(lambda i: msgs[i]["role"] == "tool", range(k + 1, len(msgs)))
        )
        if not after:
            continue
        old = [c.get("id") for c in m["tool_calls"]]
        names = [c["function"]["name"] for c in m["tool_calls"]]
        answers: dict[int, int] = {}  # result index -> call index
        for i in after:
            rid = msgs[i].get("tool_call_id")
            if rid is None or rid == "":
                continue
            hit = [j for j, o in enumerate(old) if o == rid] or [
                j for j, c in enumerate(calls) if c["id"] == rid
            ]
            if not hit:
                raise DistillError(
                    f"{where}: its tool result (message {i + 1}) answers call id {rid!r}, which "
                    f"the turn before it (message {k + 1}) does not make, and {template} writes "
                    "each result with its call's id: fix the row's ids, or drop the row"
                )
            answers[i] = hit[0]
        free = [j for j in range(len(calls)) if j not in answers.values()]
        loose = [i for i in after if i not in answers]
        if loose and len(loose) != len(free):
            raise DistillError(
                f"{where}: {len(loose)} tool result(s) without a call id after message {k + 1}, "
                f"which makes {len(free)} call(s) they could answer: which result answers which "
                f"call is unsaid, and {template} writes each result with its call's id; give "
                "each call an 'id' and its result that 'tool_call_id', or drop the row"
            )
        said = [msgs[i].get("name") for i in loose]
        if loose and all(isinstance(n, str) for n in said):
            if sorted(said) != sorted(names[j] for j in free):
                raise DistillError(
                    f"{where}: the tool results after message {k + 1} name "
                    f"{', '.join(map(repr, said))}, and it calls "
                    f"{', '.join(repr(names[j]) for j in free)}: which result answers which call "
                    f"is unsaid, and {template} writes each result with its call's id; fix the "
                    "row, or drop it"
                )
            for i in loose:  # by name, in order among the calls of one name
                j = next(j for j in free if names[j] == msgs[i]["name"])
                free.remove(j)
                answers[i] = j
        else:
            answers.update(zip(loose, free))
        for i, j in answers.items():
            out[i] = {**msgs[i], "tool_call_id": calls[j]["id"]}
    return out


def added_around(tok: Any) -> tuple[int, list[int]]:
    """(how many ids `tok` adds before a text (its BOS), the special ids it adds after a text:
    EOS where it is built so (add_eos_token, a post-processor '$A EOS', ByT5's); [] for none)."""
    plain = tok("a", add_special_tokens=False)["input_ids"]
    added = tok("a", add_special_tokens=True)["input_ids"]
    n = len(plain)
    at = next((k for k in range(len(added) - n + 1) if added[k : k + n] == plain), None)
    return (0 if at is None else at), ([] if at is None or not plain else added[at + n :])


def text_ids(tok: Any, text: str, around: tuple[int, list[int]] | None = None) -> list[int]:
    """`text`'s ids with the special tokens `tok` adds before it (BOS), not those it adds after
    it (EOS): an alpaca / raw text prompt, or such a prompt and its reply, goes on with a reply
    whose own EOS ends it. `around`: added_around(tok), where the caller has it."""
    ids = tok(text, add_special_tokens=True)["input_ids"]
    before, after = around if around is not None else added_around(tok)
    if not after or ids[-len(after) :] != after:
        return ids
    # what it added after this text (ByT5's adds no EOS after a text that ends with one)
    plain = tok(text, add_special_tokens=False)["input_ids"]
    added = len(ids) - len(plain) - before
    return ids[: len(ids) - len(after)] if added >= len(after) else ids


def ids_after(
    tok: Any,
    ids: list[int],
    text: str,
    completion: str,
    special: bool | None = False,
    whole: list[int] | None = None,
) -> list[int]:
    """The token ids of `completion` where it follows `text` (tokenized as `ids`): as the
    tokenizer reads the whole text, which is what the model sees once the turn is history and
    what TRL trains (Mistral's and Llama-2's ' ' before a reply is byte-level BPE's 'Ġthe', not
    'the'; SentencePiece adds no dummy '▁' where the template writes no space). The completion
    tokenized alone where the whole text reads the prompt otherwise (a merge across the
    boundary: the prompt inference tokenizes alone comes first). The one reading of a reply's
    ids: train's (Renderer.encode), select's likelihood judge's, cross-tokenizer kd's.

    `special`: whether `ids` hold the tokenizer's special tokens (BOS: an alpaca or raw text
    prompt, which no template writes BOS into), the whole text read so too; None where the
    caller cannot tell (kd's sampled replies): the reading of the two whose ids start with
    `ids`. `whole`: the ids of `text` + `completion`, where the caller has them."""
    if whole is None:
        for s in (False, True) if special is None else (special,):
            # with the special tokens: those the tokenizer adds before the text (its BOS), not
            # an EOS it adds after it (text_ids), which `ids` (a prompt) end without too
            whole = (
                text_ids(tok, text + completion)
                if s
                else tok(text + completion, add_special_tokens=False)["input_ids"]
            )
            if whole[: len(ids)] == ids:
                break
    if whole[: len(ids)] == ids:
        return whole[len(ids) :]
    return tok(completion, add_special_tokens=False)["input_ids"]


class Renderer:
    """Example -> (prompt text, completion text) -> token ids with a completion mask. `who`: whose
    chat template it renders with, as its refusals name it (kd's xtok renders the teacher's too)."""

    def __init__(
        self,
        tok: Any,
        fmt: str,
        model_eos: int | list[int] | None = None,
        train_on: str = "all",
        chat: bool = False,
        who: str = "student",
    ):
        if fmt not in FORMATS:
            raise DistillError(f"unknown format '{fmt}' (have: {', '.join(FORMATS)})")
        if train_on not in TRAIN_ON:
            raise DistillError(f"unknown --train-on '{train_on}' (have: {', '.join(TRAIN_ON)})")
        self.tok, self.fmt, self.train_on, self.chat, self.who = tok, fmt, train_on, chat, who
        self.reasoning_dropped = 0  # alpaca: examples whose think block the format leaves out
        self.raw_seen = 0  # text prompt/completion examples trained as a raw continuation
        # rows whose text held a lone surrogate (valid JSON, which filter keeps: half an emoji
        # another tool cut), rendered with U+FFFD: a tokenizer refuses the string (a TypeError)
        self.halves: set[Any] = set()
        # roles of a chat (and whether it has tools) -> the index of a message its template
        # leaves out (None: all rendered)
        self._left_out: dict[tuple[Any, ...], int | None] = {}
        # whether the template reads a tool call's arguments as a dict (None: not looked yet)
        self._dict_args: bool | None = None
        # what the template asks of a call's id (call_ids; False: not looked yet)
        self._call_ids: Any = False
        self.stops = stop_token_ids(tok, model_eos)
        self.key: str | None = None  # where the template reads a reply's reasoning (r1)
        self._keeps_whole: bool | None = None  # _empty_keeps_whole (None: not looked yet)
        self._cuts: dict[int, str] | None = None  # _cut_tokens() (None: not looked yet)
        self._after: list[int] | None = None  # _added_after() (None: not looked yet)
        self._before = 0  # how many ids the tokenizer adds before a text (_added_after finds it)
        # line_prefix(tok) (False: not looked yet): how alpaca / raw text read on from a line
        self._lines: list[int] | None | bool = False
        if fmt == "r1":
            self.suffix, self.prefill, self.empty_think, self.lead = _chat_parts(tok, who)
            self.key = reasoning_key(tok)
            self.eot = self.suffix  # the template's own end of turn (before any EOS added below)
            self.trims = content_trims(tok)
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

    def _raw(self, ex: Example) -> bool:
        return ex.raw and self.fmt == "r1" and not self.chat

    def _whole(self, ex: Example) -> Example:
        """`ex` with each lone surrogate of its text as U+FFFD (the row counted in `halves`)."""
        from distill.data import without_surrogates

        names = ("prompt", "completion", "instruction", "input")
        texts = [getattr(ex, name) for name in names]
        clean = [without_surrogates(t) for t in texts]
        if all(a is b for a, b in zip(clean, texts)):
            return ex
        self.halves.add(ex.source.get("where") or id(ex.source))
        return replace(ex, **dict(zip(names, clean)))

    def _with_ids(self, ex: Example) -> Example:
        """`ex` with the call ids its template needs (with_call_ids): none where it needs none."""
        if self.fmt != "r1" or not (ex.calls or any(m.get("tool_calls") for m in ex.prompt)):
            return ex
        if self._call_ids is False:
            self._call_ids = call_ids(self.tok)
        if self._call_ids is None:
            return ex
        where = ex.source.get("where") or "an example"
        msgs = with_call_ids(
            [*ex.prompt, reply_of(ex)], self._call_ids, where, self._template_name()
        )
        return replace(ex, prompt=msgs[:-1], calls=msgs[-1].get("tool_calls"))

    def prompt_text(self, ex: Example) -> str:
        ex = self._with_ids(self._whole(ex))
        if self._raw(ex):
            return raw_prompt(ex)
        if self.fmt == "r1":
            ex = self._opened(ex)
            from jinja2 import TemplateError

            roles = ", ".join(m["role"] for m in ex.prompt)
            try:
                text = self._render(ex.tools, ex.prompt, add_generation_prompt=True)
            except TemplateError as e:  # Gemma's, Mistral's: roles must alternate user/assistant
                where = ex.source.get("where") or "an example"
                raise DistillError(
                    f"{where}: the {self.who}'s chat template refuses this chat ({e}); drop or fix "
                    f"the row (roles: {roles})"
                ) from None
            self._shows_tools(ex, ex.prompt, text, add_generation_prompt=True)
            i = self._left_out_of(ex.prompt, ex.tools)
            if i is not None:
                where = ex.source.get("where") or "an example"
                raise DistillError(
                    f"{where}: the {self.who}'s chat template leaves message {i + 1} "
                    f"({ex.prompt[i]['role']}) out of the text it renders, so the reply would be "
                    f"trained without it; drop the row or give that message a role the template "
                    f"renders (roles: {roles})"
                )
            return text
        alpaca_only(ex)
        if ex.input:
            return self.with_input.render({"instruction": ex.instruction, "input": ex.input})
        return self.no_input.render({"instruction": ex.instruction})

    def _opened(self, ex: Example, prompt: str | None = None) -> Example:
        """`ex` with each DeepSeek-R1 trace stored without its `<think>` (lone_close:
        'R\\n</think>\\n\\nA', as the model writes after R1's generation prompt, which opens the
        block) as a whole think block, as its record's `reasoning` renders, under a template
        whose generation prompt opens no think block (Llama-3.1's, Qwen2.5's, Mistral's, Gemma's,
        gpt-oss's...): trained as written, the student learnt to close a block it never opened.
        Its earlier assistant turns so; its reply where `prompt` (its prompt text) is given and
        does not end with a pre-fill that opens the block (R1-Distill's after a tool result ends
        without it: the model writes the whole block there)."""
        opens = self.prefill.strip().endswith("<think>")
        msgs = ex.prompt if opens else [opened(m) for m in ex.prompt]
        completion = ex.completion
        if prompt is not None and not (opens and prompt.endswith(self.prefill)):
            completion = lone_close(completion) or completion
        if completion == ex.completion and all(a is b for a, b in zip(msgs, ex.prompt)):
            return ex
        return replace(ex, prompt=msgs, completion=completion)

    def _left_out_of(self, prompt: list[dict[str, Any]], tools: Any = None) -> int | None:
        """The index of a message of `prompt` the chat template leaves out of its text (Qwen2.5's
        and R1-Distill's render no role they do not know, such as Llama-3.1's `ipython` tool
        result; R1-Distill only the last system message), or None. Found once per sequence of
        roles, each message's content a marker."""
        roles = tuple(m["role"] for m in prompt)
        key = (*roles, bool(tools))
        if key not in self._left_out:
            marks = [{"role": r, "content": f"XQ7ZK{i}Z"} for i, r in enumerate(roles)]
            try:
                text = self.tok.apply_chat_template(
                    marks, tokenize=False, add_generation_prompt=True, **_tools_kw(tools)
                )
            except Exception:  # noqa: BLE001 - a template that needs more than text content
                text = None
            self._left_out[key] = (
                None
                if text is None
                else next((i for i in range(len(roles)) if f"XQ7ZK{i}Z" not in text), None)
            )
        return self._left_out[key]

    # ----------------------------------------------------------------------- tool calls

    def _render(self, tools: Any, msgs: list[dict[str, Any]], **kw: Any) -> str:
        """`msgs` as the chat template writes them: with the row's `tools` (on every render of
        the row, so the prompt is a prefix of the whole chat) and its calls' arguments as the
        template reads them."""
        if any(m.get("tool_calls") for m in msgs):
            msgs = [self._as_template_reads(m) for m in msgs]
        if self.key is not None:
            whole = self._empty_keeps_whole()
            msgs = [as_template_reads_reasoning(m, self.key, whole) for m in msgs]
        return self.tok.apply_chat_template(msgs, tokenize=False, **_tools_kw(tools), **kw)

    def _empty_keeps_whole(self) -> bool:
        """Whether the template cuts a reply that names `</think>` without a think block at the
        tag itself (Qwen3's and GLM's take the text before it as the reasoning: an answer
        explaining the tag would train its head as reasoning) and an empty reasoning under the
        key keeps it whole, written as a reply without reasoning is (found once)."""
        if self._keeps_whole is None:
            user, plain, named = {"role": "user", "content": "U"}, "AQ9X BZQ8", "AQ9X </think> BZQ8"

            def text(content: str, **extra: Any) -> str:
                reply = {"role": "assistant", "content": content, **extra}
                return self.tok.apply_chat_template([user, reply], tokenize=False)

            try:
                self._keeps_whole = named not in text(named) and text(
                    named, **{str(self.key): ""}
                ) == text(plain).replace(plain, named)
            except Exception:  # noqa: BLE001 - a template that needs more than text content
                self._keeps_whole = False
        return self._keeps_whole

    def _as_template_reads(self, m: dict[str, Any]) -> dict[str, Any]:
        """An assistant message whose calls' `arguments` are what the template reads: a dict where
        it writes them `| tojson` (Qwen2.5, Llama-3.1, Mistral: a JSON string would be written as
        a quoted string, which no tool parser reads), the JSON text where it writes them as they
        are (R1's; a dict would be written as Python's repr)."""
        if not m.get("tool_calls"):
            return m
        if self._dict_args is None:
            probe = [
                {"role": "user", "content": "U"},
                {
                    "role": "assistant",
                    "content": "",
                    "tool_calls": [
                        {"type": "function", "function": {"name": "f", "arguments": '{"q": 1}'}}
                    ],
                },
            ]
            try:  # the JSON text quoted: written | tojson
                self._dict_args = '\\"q\\"' in self.tok.apply_chat_template(probe, tokenize=False)
            except Exception:  # noqa: BLE001 - a template that writes no calls: the common shape
                self._dict_args = True
        if self._dict_args:
            return object_args(m)
        calls = []
        for call in m["tool_calls"]:
            fn = call["function"]
            args = fn["arguments"]
            if isinstance(args, dict):
                args = json.dumps(args, ensure_ascii=False)
            calls.append({**call, "function": {**fn, "arguments": args}})
        return {**m, "tool_calls": calls}

    def _template_name(self) -> str:
        name = getattr(self.tok, "name_or_path", "") or ""
        return f"the {self.who}'s chat template" + (f" ({name})" if name else "")

    def _shown_none(self) -> str:
        if self.who == "teacher":  # kd: the teacher scores the student's text, tools unseen
            return (
                "the teacher would score calls to tools it was never shown; "
                "use a teacher whose template renders"
            )
        return (
            "the student would learn to call tools it was never shown; "
            "train a student whose template renders"
        )

    def _called_none(self) -> str:
        if self.who == "teacher":
            return (
                "the teacher would score a call it cannot see; use a teacher whose template renders"
            )
        return (
            "the student would learn to end its turn where the call belongs; "
            "train a student whose template renders"
        )

    def _shows_tools(self, ex: Example, msgs: list[dict[str, Any]], text: str, **kw: Any) -> None:
        """Refuse a row whose tools or tool calls the chat template leaves out of `text` (SmolLM2's
        and plain ChatML templates render neither): the student would learn to call tools it was
        never shown, or to end its turn where the call belongs."""
        where = ex.source.get("where") or "an example"
        if ex.tools and text == self._rendered_or_none(None, msgs, **kw):
            column = ex.source.get("tools_column", "tools")
            raise DistillError(
                f"{where}: column '{column}' lists tool definitions, which {self._template_name()} "
                f"does not render (its text is the same without them): {self._shown_none()} "
                "tools (Qwen2.5's, Llama-3.1's), write them into the system message and drop the "
                "column, or drop the row"
            )
        called = [i for i, m in enumerate(msgs) if m.get("tool_calls")]
        if not called:
            return
        bare = [{k: v for k, v in m.items() if k != "tool_calls"} for m in msgs]
        if text == self._rendered_or_none(ex.tools, bare, **kw):
            raise DistillError(
                f"{where}: its assistant turn {called[0] + 1} calls a tool ('tool_calls'), which "
                f"{self._template_name()} does not render: {self._called_none()} tool calls "
                "(Qwen2.5's, Llama-3.1's), write the call into the turn's content as the student "
                "should emit it, or drop the row"
            )

    def _rendered_or_none(self, tools: Any, msgs: list[dict[str, Any]], **kw: Any) -> str | None:
        """_render, or None where the template refuses the chat so (Mistral's: a `tool` message
        after an assistant turn without its calls breaks its user/assistant alternation): it
        reads what was taken out."""
        from jinja2 import TemplateError

        try:
            return self._render(tools, msgs, **kw)
        except TemplateError:
            return None

    def _call_turn(self, ex: Example, prompt: str) -> str:
        """The completion of a turn that calls a tool: what the chat template writes for the
        finished turn (its content and calls in the template's own syntax, its end of turn) after
        the generation prompt, as the student will write it."""
        where = ex.source.get("where") or "an example"
        msgs = [*ex.prompt, {"role": "assistant", "content": ex.completion, "tool_calls": ex.calls}]
        from jinja2 import TemplateError

        try:
            full = self._render(ex.tools, msgs)
        except TemplateError as e:  # Llama-3.1's: one call per turn
            raise DistillError(
                f"{where}: {self._template_name()} refuses its turn that calls a tool ({e}); drop "
                "or fix the row"
            ) from None
        self._shows_tools(ex, msgs, full)
        body = (
            full[len(prompt) :] if full.startswith(prompt) else self._turn_after(ex, full, prompt)
        )
        if body is None:
            raise DistillError(
                f"{where}: {self._template_name()} writes its turn that calls a tool after "
                "another text than its generation prompt, so the call cannot be trained as the "
                "student writes it; drop the row"
            )
        if self.suffix != self.eot and not body.endswith(self.suffix):
            body += self.tok.eos_token  # as every turn of this template is trained: with EOS
        return body

    def _turn_after(self, ex: Example, full: str, prompt: str) -> str | None:
        """The finished last turn of `full` (the chat of `ex` with its reply), where the template
        writes the history otherwise once a reply follows it: Mistral v0.3's writes the system
        message into the last turn of the chat alone, so it is in the prompt the student is
        served and gone from the history before a reply. The turn is what `full` writes after
        the text it shares with the chat ended by any other reply (the history as written, up to
        the generation prompt, which the prompt ends with too); None where not found so."""
        import os

        bare = self._rendered_or_none(ex.tools, ex.prompt)
        if bare is None or not prompt.startswith(bare):
            return None
        gen = prompt[len(bare) :]  # the generation prompt ('' in Mistral's)
        mark = "XQ7ZK"
        other = self._rendered_or_none(
            ex.tools, [*ex.prompt, {"role": "assistant", "content": mark}]
        )
        if other is None or mark not in other:
            return None
        head = os.path.commonprefix([full, other])
        if mark in head or not head.endswith(gen) or len(head) == len(full):
            return None
        return full[len(head) :]

    def _keyed_turn(self, ex: Example, prompt: str) -> str | None:
        """The completion of a turn where the template reads the reasoning beside the content
        (reasoning_key): what it writes for the finished turn after the generation prompt, the
        reasoning where the model writes it (gpt-oss: its analysis channel, then the final
        channel's header; Mistral's [THINK] tokens; GLM's `\\n<think>...</think>\\n`), as TRL
        trains a prompt/completion chat. None where the content is trained as it is: a template
        that reads no such key, a reply in thought/solution markers kept verbatim (never behind
        the empty think block the template writes before an answer alone), a finished turn
        written after another text than the generation prompt."""
        body = ex.completion
        if self.key is None or (self.empty_think and has_markers(body) and "</think>" not in body):
            return None
        full = self._rendered_or_none(ex.tools, [*ex.prompt, reply_of(ex)])
        if full is None:
            return None
        head = prompt if full.startswith(prompt) else self._history_before(ex, prompt)
        if head is None or not full.startswith(head):
            return None
        turn = full[len(head) :]
        if self.suffix != self.eot and not turn.endswith(self.suffix):
            turn += self.tok.eos_token  # the end of turn holds no stop token: EOS, as every turn
        return turn

    def _history_before(self, ex: Example, prompt: str) -> str | None:
        """The text a template writes before the finished turn of `ex` (its history, then the
        generation prompt), where it writes the history otherwise once the turn follows:
        gpt-oss keeps a tool-calling turn's analysis while the model is still in the tool loop
        (the prompt) and drops it once a final answer follows. The model writes the turn after
        the prompt as it is: that turn is trained after it. None where not found so."""
        bare = self._rendered_or_none(ex.tools, ex.prompt)
        if bare is None or not prompt.startswith(bare) or prompt == bare:
            return None
        gen = prompt[len(bare) :]  # the generation prompt ('<|start|>assistant')
        mark = "RZQ8"
        reply = {"role": "assistant", "content": f"<think>\n{mark}\n</think>\n\nAQ9X"}
        marked = self._rendered_or_none(ex.tools, [*ex.prompt, reply])
        if marked is None or mark not in marked:
            return None
        at = marked.rfind(gen, 0, marked.index(mark))
        return None if at < 0 else marked[: at + len(gen)]

    def completion_text(self, ex: Example, prompt: str | None = None) -> str:
        """`prompt`: the example's prompt_text, where the caller has it."""
        if not ex.trains:  # sequences() leaves it out; a caller of the last turn alone refuses it
            where = ex.source.get("where") or "an example"
            raise DistillError(
                f"{where}: every assistant turn has weight 0, nothing to train: drop the row"
            )
        ex = self._with_ids(self._whole(ex))
        if self._raw(ex):  # as TRL: the completion, then EOS unless it ends with it
            eos = self.tok.eos_token or ""
            return ex.completion if ex.completion.endswith(eos) else ex.completion + eos
        if self.fmt == "r1":
            # as the template writes the finished turn (Llama-3.x's and Gemma's `| trim`): a
            # dataset's " answer\n" trained as is taught a space and a newline the student never
            # sees in its history, and split every chat into a row per turn
            prompt = prompt if prompt is not None else self.prompt_text(ex)
            ex = self._opened(ex, prompt)
            if ex.calls:
                return self._call_turn(ex, prompt)
            keyed = self._keyed_turn(ex, prompt)
            if keyed is not None:
                return keyed
            body = ex.completion.lstrip(self.trims[0]).rstrip(self.trims[1])
            prefill = self.prefill
            if prefill and not prompt.endswith(prefill):
                # a prompt the template ends without its pre-fill (R1-Distill after a tool
                # result: '<｜tool▁outputs▁end｜>' alone): the model writes its whole reply, <think>
                # and all, as the template writes the finished turn
                prefill = ""
            if prefill and body.startswith(prefill):
                body = body[len(prefill) :]  # the prompt already ends with it
            elif prefill.strip() and body.startswith(prefill.strip()):
                body = body[len(prefill.strip()) :].lstrip("\n")
            elif prefill.strip().endswith("<think>") and "</think>" not in body:
                # The prompt opened a think block: an example without reasoning closes it empty
                # rather than teaching the student to answer inside a block it never closes.
                body = "\n</think>\n\n" + body
            elif self.empty_think and "</think>" not in body and not has_markers(body):
                # as the template writes an answer alone; never before thought/solution markers
                # (--keep-markers trains them verbatim: behind an empty block they would be the
                # visible answer, which the pre-flight stops)
                body = self.empty_think + body
            return self.lead + body + self.suffix
        answer = alpaca_output(ex)
        if "</think>" in ex.completion:
            self.reasoning_dropped += 1
        return answer + (self.tok.eos_token or "")

    def _added_after(self) -> list[int]:
        """The special ids the tokenizer adds after a text (EOS where it is built so:
        add_eos_token, a post-processor '$A EOS'); [] for none (found once: added_around)."""
        if self._after is None:
            self._before, self._after = added_around(self.tok)
        return self._after

    def _special_ids(self, text: str) -> list[int]:
        """`text`'s ids with the special tokens the tokenizer adds before it (its BOS), not those
        it adds after it: an alpaca / raw text prompt goes on with its completion, whose own EOS
        ends the row (TRL's SFTTrainer: the completion, then EOS once), not 'prompt EOS
        completion EOS' (text_ids)."""
        self._added_after()
        return text_ids(self.tok, text, (self._before, self._after or []))

    def prompt_ids(self, ex: Example, text: str | None = None) -> list[int]:
        # alpaca and raw text have no chat template to write BOS, so the tokenizer adds its own,
        # as at inference (and as TRL tokenizes a text prompt); never the EOS some add after a
        # text (add_eos_token): the completion goes on after the prompt.
        raw = self._raw(ex)
        self.raw_seen += raw
        special = self.fmt == "alpaca" or raw
        text = self.prompt_text(ex) if text is None else text
        if special:
            return self._special_ids(text)
        return self.tok(text, add_special_tokens=False)["input_ids"]

    def ids_after(
        self,
        ids: list[int],
        text: str,
        completion: str,
        special: bool = False,
        whole: list[int] | None = None,
    ) -> list[int]:
        """ids_after with this Renderer's tokenizer."""
        return ids_after(self.tok, ids, text, completion, special, whole)

    def encode(self, ex: Example) -> tuple[list[int], list[int]]:
        """The prompt tokenized alone, as inference does; the completion as it reads after it."""
        prompt = self.prompt_text(ex)
        completion = self.completion_text(ex, prompt)
        special = self.fmt == "alpaca" or self._raw(ex)
        if special:  # the tokenizer's BOS (and whatever else it adds before) on the prompt and
            # the whole; what it adds after a text (EOS) on neither: the completion ends with EOS
            ids, read = self._read_on_line(ex, prompt, completion)
            if read is None:
                read = self._special_ids(prompt + completion)
            return ids, self.ids_after(ids, prompt, completion, special, read)
        ids, whole = self._read_on([prompt, prompt + completion])
        return ids, self.ids_after(ids, prompt, completion, whole=whole)

    def _read_on_line(
        self, ex: Example, prompt: str, completion: str
    ) -> tuple[list[int], list[int] | None]:
        """An alpaca or raw text example's prompt ids (prompt_ids': with the tokenizer's special
        tokens) and the ids of the whole text, prompt + completion, read on from the start of the
        prompt's last line (line_prefix: where the tokenizer reads that line alone as it reads
        it after the rest): the prompt read once, where the whole text read it again (a long
        Alpaca input, twice). None for the whole where it is not read so (ids_after reads it)."""
        if self._lines is False:
            self._lines = line_prefix(self.tok)
        at = line_start(prompt) if self._lines is not None else None
        if at is None or not isinstance(self._lines, list):
            return self.prompt_ids(ex, prompt), None
        self.raw_seen += self._raw(ex)
        enc = self.tok(prompt, add_special_tokens=True, return_offsets_mapping=True)
        ids, spans = enc["input_ids"], enc["offset_mapping"]
        n = len(self._lines)
        # the first token of the line: the first one after the added BOS that ends past `at`
        k = next((j for j in range(n, len(ids)) if spans[j][1] > at), None)
        if ids[:n] != self._lines or k is None or spans[k][0] != at:
            return ids, None
        tail = self.tok(prompt[at:] + completion, add_special_tokens=False)["input_ids"]
        return ids, ids[:k] + tail

    # ------------------------------------------------------------------ reading long texts

    def _cut_tokens(self) -> dict[int, str]:
        """The added tokens (id -> text) a text is cut at before any of it is read: the ids of a
        text up to such a token are the same whatever text follows it, and the text after it is
        read as it is at that place (tokenizers splits a text at its added tokens first, then
        normalizes and pre-tokenizes each piece alone; Metaspace's prepend_scheme 'first' asks
        for the piece's place, not its neighbours). Not a token matched by what is around it
        (lstrip, single_word, normalized), nor one that is part of another added token (the
        longer one could match across the cut). Empty for a tokenizer that reads its text in
        Python (a slow one, CodeLlama's infilling): nothing is read on there (found once)."""
        if self._cuts is None:
            self._cuts = {}
            try:
                from transformers.tokenization_utils_tokenizers import TokenizersBackend
            except ImportError:  # pragma: no cover - transformers>=5.0 has it
                return self._cuts
            tok = self.tok
            if (
                not isinstance(tok, TokenizersBackend)
                or type(tok)._encode_plus is not TokenizersBackend._encode_plus
                or getattr(tok, "split_special_tokens", False)
            ):
                return self._cuts
            added = tok.added_tokens_decoder
            inside = _inside_another({t.content for t in added.values()})
            for i, t in added.items():
                if t.lstrip or t.single_word or t.normalized or not t.content:
                    continue
                if t.content in inside:
                    continue
                self._cuts[i] = t.content
        return self._cuts

    def _read(self, text: str) -> tuple[list[int], list[tuple[int, int]]]:
        enc = self.tok(text, add_special_tokens=False, return_offsets_mapping=True)
        return enc["input_ids"], enc["offset_mapping"]

    def _read_on(self, chain: list[str]) -> list[list[int]]:
        """The ids of each text of `chain` as the tokenizer reads it alone (no special tokens
        added). A text that goes on from the one before (a turn's prompt, the chat up to the end
        of the turn, the next turn's prompt) keeps that one's ids up to its last added token the
        tokenizer cuts at (_cut_tokens), and only the rest is read: a turn's prompt once, not
        again in the whole text of the turn; a 50-turn chat in O(n), where each text read alone
        was O(n^2). Each text read whole where the tokenizer cuts at no token."""
        cuts = self._cut_tokens()
        if not cuts:  # one call: its threads
            return self.tok(chain, add_special_tokens=False)["input_ids"]

        def last_cut(ids: list[int], start: int = 0) -> int | None:
            return next((k for k in range(len(ids) - 1, start - 1, -1) if ids[k] in cuts), None)

        read: list[list[int]] = []
        before, ids, spans, j = None, [], [], None  # j: the index of the last cut in ids
        for text in chain:
            got = None
            if j is not None and before is not None and text.startswith(before):
                # the text before cut at its token j: its ids up to there are this text's too
                at = spans[j][0]
                if text.startswith(cuts[ids[j]], at):
                    tail, after = self._read(text[at:])
                    if tail[:1] == ids[j : j + 1] and after[0][0] == 0:
                        got = ids[:j] + tail, spans[:j] + [(a + at, b + at) for a, b in after]
            if got is None:
                ids, spans = self._read(text)
                j = last_cut(ids)
            else:
                ids, spans = got
                j = last_cut(ids, j)
            before = text
            read.append(ids)
        return read

    def sequences(self, ex: Example) -> list[tuple[list[int], list[int]]]:
        """(token ids, loss mask) rows of one example. A chat with earlier assistant turns trains
        every one of them (train_on='all', as TRL's assistant_only_loss and LLaMA-Factory do): one
        sequence where the template renders a finished turn exactly as it is trained and the
        tokenizer reads it so (the history the model sees at inference is the trained tokens,
        each turn's context the tokens of its prompt read alone), else one row per assistant
        turn, each under the history as the template renders it (R1-Distill and Qwen3 drop the
        reasoning of earlier turns). None where every assistant turn has weight 0."""
        if not ex.trains:
            return []
        ex = self._with_ids(ex)
        turns = trained_turns(ex)
        if self.fmt != "r1" or self._raw(ex) or self.train_on == "last" or not turns:
            p, c = self.encode(ex)
            return [(p + c, [0] * len(p) + [1] * len(c))]
        msgs = [*ex.prompt, reply_of(ex)]
        heads = [head_of(ex, msgs, i) for i in [*turns, len(ex.prompt)]]
        texts: list[str] = []  # each turn's prompt, then the chat up to the end of the turn
        parts: list[str] = []  # the new text of each turn's prompt, then its completion
        done = ""
        for head in heads:
            prompt = self.prompt_text(head)
            completion = self.completion_text(head, prompt)
            if not prompt.startswith(done):
                break
            parts += [prompt[len(done) :], completion]
            done = prompt + completion
            texts += [prompt, done]
        else:
            ids: list[int] = []
            mask: list[int] = []
            *pieces, whole = self.tok([*parts, done], add_special_tokens=False)["input_ids"]
            if [i for piece in pieces for i in piece] == whole:
                # the chat reads as its parts read alone (turns bounded by special tokens): as
                # each turn's prompt reads too
                for k, piece in enumerate(pieces):
                    ids += piece
                    mask += [k % 2] * len(piece)
                return [(ids, mask)]
            enc = self._read_on(texts)
            for p, whole, text, completion in zip(
                enc[::2], enc[1::2], texts[::2], parts[1::2], strict=True
            ):
                # one row where each turn's context is, token for token, the prompt inference
                # tokenizes for it (SentencePiece may read a history's '[INST]' after '</s>'
                # otherwise than alone) and each turn the tokens its own row trains (ids_after:
                # the reply alone where a token crosses the boundary, a last reply that opens
                # with '\n' after Qwen's 'assistant\n': no later prompt reads it otherwise)
                if p[: len(ids)] != ids:
                    break
                c = self.ids_after(p, text, completion, whole=whole)
                mask += [0] * (len(p) - len(ids)) + [1] * len(c)
                ids = p + c
            else:
                return [(ids, mask)]
        rows = []
        for h in heads:
            p, c = self.encode(h)
            rows.append((p + c, [0] * len(p) + [1] * len(c)))
        return rows


# The pre-tokenizer regexes (tokenizers' ByteLevel's own, GPT-2's; the Split of Llama-3's and of
# Qwen2's tokenizer.json) that cut a text just after a newline followed by a character that is
# not whitespace, whatever comes before the newline and after that character: no alternative
# matches a newline together with what follows it unless that is whitespace, and none looks
# behind. A text's pieces up to that cut are the same in any text that goes on from it, and the
# pieces after it are those of the rest read alone.
LINE_REGEXES = (
    r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*"
    r"|\s*[\r\n]+|\s+(?!\S)|\s+",
    r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*"
    r"|\s*[\r\n]+|\s+(?!\S)|\s+",
)


def line_start(text: str) -> int | None:
    """Where `text`'s last line that opens with a character other than whitespace starts (just
    after its newline), None for a text without one."""
    i = len(text)
    while (i := text.rfind("\n", 0, i)) >= 0:
        if i + 1 < len(text) and not text[i + 1].isspace():
            return i + 1
    return None


def line_prefix(tok: Any) -> list[int] | None:
    """The special token ids `tok` adds before a text (its BOS; [] for none) where it reads a
    text from a line_start on alone as it reads it after what comes before: a fast tokenizer
    whose normalizer changes nothing across a newline (none, NFC), whose pre-tokenizer cuts
    there (its regex one of GPT-2's, Llama-3's, Qwen2's: LINE_REGEXES; digits split alone, bytes
    mapped alone), a BPE model (each piece merged alone), added tokens matched as written (none
    that takes the whitespace beside it or holds a newline), and special tokens added only before
    the text. None for any other: it may read a line otherwise (SentencePiece's '▁' before a
    text's first piece), and the whole text is read."""
    import json

    try:
        from transformers.tokenization_utils_tokenizers import TokenizersBackend
    except ImportError:  # pragma: no cover - transformers>=5.0 has it
        return None
    if (
        not isinstance(tok, TokenizersBackend)
        or type(tok)._encode_plus is not TokenizersBackend._encode_plus
        or getattr(tok, "split_special_tokens", False)
    ):
        return None
    backend = tok.backend_tokenizer
    if backend.normalizer is not None and type(backend.normalizer).__name__ != "NFC":
        return None
    if type(backend.model).__name__ != "BPE" or backend.pre_tokenizer is None:
        return None
    pre = json.loads(backend.pre_tokenizer.__getstate__())
    steps = pre.get("pretokenizers", []) if pre.get("type") == "Sequence" else [pre]
    cuts = False
    for step in steps:
        kind = step.get("type")
        if kind == "ByteLevel" and not step.get("add_prefix_space"):
            cuts = cuts or bool(step.get("use_regex", True))
        elif kind == "Split" and step.get("pattern", {}).get("Regex") in LINE_REGEXES:
            if step.get("behavior") != "Isolated" or step.get("invert"):
                return None
            cuts = True
        elif kind != "Digits":
            return None
    added = tok.added_tokens_decoder.values()
    if not cuts or any(t.lstrip or t.rstrip or t.single_word or "\n" in t.content for t in added):
        return None
    before = tok("", add_special_tokens=True)["input_ids"]
    probe = "a\nb"
    read = tok(probe, add_special_tokens=True)["input_ids"]
    if read != before + tok(probe, add_special_tokens=False)["input_ids"]:
        return None
    return list(before)


def _inside_another(texts: set[str]) -> set[str]:
    """The texts of `texts` that are part of a longer one. Each text's pieces of the lengths the
    set holds, looked up: comparing every pair was ~8 s for Gemma-3's 6,384 added tokens, on the
    first row of every run."""
    lengths = sorted({len(t) for t in texts})
    inside: set[str] = set()
    for other in texts:
        for n in lengths:
            if n >= len(other):
                break
            inside.update(p for k in range(len(other) - n + 1) if (p := other[k : k + n]) in texts)
    return inside


def _tools_kw(tools: Any) -> dict[str, Any]:
    """apply_chat_template's `tools=` where a row has tools (none: as the template was always
    called, so a template that tests `tools is defined` renders as before)."""
    return {"tools": tools} if tools else {}


def reply_of(ex: Example) -> dict[str, Any]:
    """The completion as the chat's last assistant message (its tool calls beside its content)."""
    reply: dict[str, Any] = {"role": "assistant", "content": ex.completion}
    if ex.calls:
        reply["tool_calls"] = ex.calls
    return reply


def head_of(ex: Example, msgs: list[dict[str, Any]], i: int) -> Example:
    """The example that trains assistant turn `i` of `msgs` (ex's chat with its reply): the turns
    before it its prompt, under the row's tools."""
    return Example(
        prompt=msgs[:i],
        completion=msgs[i]["content"],
        source=ex.source,
        tools=ex.tools,
        calls=msgs[i].get("tool_calls"),
    )


def say_halves(renderer: Renderer) -> None:
    """The train line for the rows a Renderer read with U+FFFD for a lone surrogate."""
    n = len(renderer.halves)
    if n:
        print(
            f"train: {n} row{'s' if n > 1 else ''} held a lone surrogate (half an emoji), trained "
            "as U+FFFD"
        )


@dataclass
class TokenStats:
    # Examples: examples = kept + dropped_overlong + dropped_all_masked (a chat trained one row
    # per turn is one example however many of its rows are left).
    examples: int = 0
    kept: int = 0  # examples with at least one row trained
    dropped_overlong: int = 0  # no row kept: each longer than max_length (--overlong drop)
    truncated: int = 0  # kept examples with a row cut at max_length
    # no row kept: truncated, none had a completion token left; or no row at all (every
    # assistant turn of weight 0)
    dropped_all_masked: int = 0
    # of dropped_all_masked, those with no row at all (every assistant turn of weight 0): kd's
    # recount (train/sft.py) tells them from the rows max_length left out
    all_masked_weight_0: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    sequences: int = 0  # rows handed to the trainer (one per assistant turn where split)
    turns: int = 0  # assistant turns that carry the loss
    # turns of kept chats (one row per turn) left out: their row was longer than max_length
    turns_left_out: int = 0


def spans(mask: list[int]) -> list[tuple[int, int]]:
    """[start, end) of each run of loss tokens."""
    out, start = [], None
    for i, m in enumerate([*mask, 0]):
        if m and start is None:
            start = i
        elif not m and start is not None:
            out.append((start, i))
            start = None
    return out


def tokenize_examples(
    examples,
    renderer: Renderer,
    max_length: int,
    overlong: str = "drop",
    origins: list[int] | None = None,
) -> tuple[dict[str, list], TokenStats]:
    """-> ({"input_ids": [...], "completion_mask": [...]}, stats). Over-long rows are
    dropped (default: a cut-off completion teaches the student not to stop) or truncated
    (`overlong="truncate"`); either way they are counted. `origins`, if given, gets the index
    of the example each sequence came from."""
    ids_col, mask_col = [], []
    st = TokenStats()
    for i, ex in enumerate(examples):
        st.examples += 1
        kept = cut = False
        lost = 0  # rows of this example left out
        rows = renderer.sequences(ex)
        for ids, mask in rows:
            if len(ids) > max_length:
                if overlong == "drop":
                    lost += 1
                    continue
                ids, mask = ids[:max_length], mask[:max_length]
                if not any(mask):
                    lost += 1
                    continue
                cut = True
            ids_col.append(ids)
            mask_col.append(mask)
            if origins is not None:
                origins.append(i)
            kept = True
            st.sequences += 1
            st.turns += len(spans(mask))
            st.prompt_tokens += len(mask) - sum(mask)
            st.completion_tokens += sum(mask)
        st.kept += kept
        st.truncated += cut
        if kept:
            st.turns_left_out += lost
        elif rows and overlong == "drop":
            st.dropped_overlong += 1
        else:
            st.dropped_all_masked += 1
            st.all_masked_weight_0 += not rows
    return {"input_ids": ids_col, "completion_mask": mask_col}, st
