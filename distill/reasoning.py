"""Splitting a teacher's chain of thought from its final answer.

    python -c "from distill.reasoning import split; print(split('<think>2+2</think>4'))"

Cases, recorded in the trace's `think` field so the filter can judge them:
  api        the server returned reasoning separately (`reasoning_content` / `reasoning`)
  closed     `<think>...</think>answer`
  prefilled  `...</think>answer`: the chat template opened `<think>` itself (R1-distill models)
  unclosed   `<think>...` with no close: usually truncated; everything is reasoning
  markers    `<|begin_of_thought|>...<|end_of_thought|>` then `<|begin_of_solution|>...
             <|end_of_solution|>` (Bespoke-Stratos, OpenThoughts, Sky-T1): the thought is the
             reasoning, the solution the answer (no end of thought: `unclosed`)
  none       no tags: everything is the answer

A think block is `<think>...</think>`, Mistral's `[THINK]...[/THINK]` (Magistral, Ministral-3
Reasoning: two special tokens, which the local teachers keep: teachers.hf.decode_keeping_think) or
Gemma 4's thought channel, `<|channel>thought\nR<channel|>A` (Google's "Gemma 4 prompt
formatting": `<|think|>` in the system turn turns thinking on, `<|channel>`/`<channel|>` frame
the model's internal process; the tokenizer's response_schema reads `thinking` from
`<|channel>thought\n(.*?)<channel|>`; the larger models write the block empty when thinking is
off).
gpt-oss writes harmony messages instead (openai/harmony, the cookbook's "OpenAI harmony response
format"): `<|channel|>analysis<|message|>R<|end|><|start|>assistant<|channel|>final<|message|>A`
(then `<|return|>`, the stop token). Its analysis messages are the reasoning, its final ones the
answer ('closed'; 'unclosed' when it stops before a final message: cut off); a `commentary`
message (a tool call, or the preamble before one) is neither.
"""

from __future__ import annotations

import re

OPEN, CLOSE = "<think>", "</think>"
# <think> blocks, Mistral's, Gemma 4's thought channel (its label, "thought", read as part of the tag)
THINK_TAGS = ((OPEN, CLOSE), ("[THINK]", "[/THINK]"), ("<|channel>thought", "<channel|>"))
THOUGHT = ("<|begin_of_thought|>", "<|end_of_thought|>")
SOLUTION = ("<|begin_of_solution|>", "<|end_of_solution|>")


def has_markers(text: str) -> bool:
    """Whether text holds a thought/solution marker (what --keep-markers would train verbatim)."""
    return any(m in text for m in (*THOUGHT, *SOLUTION))


def _split_markers(text: str) -> tuple[str | None, str, str] | None:
    """(reasoning, answer, 'markers') for text in thought/solution markers, else None."""
    start = text.find(THOUGHT[0])
    if start < 0:
        return None
    body = text[start + len(THOUGHT[0]) :]
    end = body.find(THOUGHT[1])
    if end < 0:  # cut off inside the thought: all of it is reasoning
        return body.strip(), "", "unclosed"
    reasoning, rest = body[:end].strip(), body[end + len(THOUGHT[1]) :]
    s = rest.find(SOLUTION[0])
    if s >= 0:
        rest = rest[s + len(SOLUTION[0]) :]
        e = rest.find(SOLUTION[1])
        rest = rest[:e] if e >= 0 else rest
    return reasoning, rest.strip(), "markers"


# harmony: a reply (after the prompt's `<|start|>assistant`, or with that header) starts with a
# channel; a message's body runs to <|end|>, the stop tokens <|return|> / <|call|>, or the next
# message's <|start|> (one a decode dropped)
HARMONY_REPLY = re.compile(r"\s*(?:<\|start\|>[^<]*)?<\|channel\|>")
HARMONY_BODY_END = re.compile(r"<\|(?:end|return|call|start|channel)\|>")


def _split_harmony(text: str) -> tuple[str | None, str, str] | None:
    """(reasoning, answer, think) of a gpt-oss reply in harmony messages, else None. The channel
    is the header's first word (`commentary to=functions.f <|constrain|>json`: commentary)."""
    if not HARMONY_REPLY.match(text):
        return None
    analysis: list[str] = []
    final: list[str] = []
    other = False  # a commentary message: a tool call (the reply ended to call it) or preamble
    for part in text.split("<|channel|>")[1:]:
        header, said, body = part.partition("<|message|>")
        if not said:  # stopped inside a header: no message yet
            continue
        channel = re.match(r"\s*(\w*)", header).group(1)
        body = HARMONY_BODY_END.split(body, maxsplit=1)[0].strip()
        if channel == "analysis":
            analysis.append(body)
        elif channel == "final":
            final.append(body)
        else:
            other = True
    reasoning = "\n\n".join(analysis) if analysis else None
    if not final and not other:  # stopped before its final message: cut off, no answer
        return reasoning or "", "", "unclosed"
    return reasoning, "\n\n".join(final), "closed" if analysis else "none"


def _think_tags(text: str) -> tuple[str, str]:
    """The think block's (open, close) tags: of the pair whose tag comes first in the text."""
    first = [
        (min(i for i in (text.find(o), text.find(c)) if i >= 0), o, c)
        for o, c in THINK_TAGS
        if o in text or c in text
    ]
    return min(first)[1:] if first else THINK_TAGS[0]


def split(
    text: str, api_reasoning: str | None = None, in_think: bool = False
) -> tuple[str | None, str, str]:
    """-> (reasoning, answer, think). in_think: the prompt opened `<think>` itself (a local
    teacher's R1-Distill template, teachers.hf.opens_think): a text with no tag was cut off
    (or ended) before the block closed, all reasoning and no answer ('unclosed'); read as the
    answer, a \\boxed{} drafted in the thinking was verified."""
    text = text or ""
    if in_think and not api_reasoning:
        # the block the prompt opened closes with </think>: a [/THINK] or <channel|> before it
        # is the reasoning's own text (it talks about another family's tags)
        reasoning, answer, think = _split_text(text, (OPEN, CLOSE))
        if think == "none":
            return answer, "", "unclosed"
        return reasoning, answer, think
    if api_reasoning:
        # Some servers also echo tags into content; strip an empty or duplicated block: one the
        # content opens with, or the reasoning (or nothing) before a close tag. A content that
        # merely names a tag ('Use </think> to close.') is the answer, whole.
        reasoning, answer, think = split(text)
        opens = text.lstrip().startswith(tuple(o for o, _ in THINK_TAGS))
        echoed = reasoning is not None and (
            (think == "closed" and opens)
            or (think in ("closed", "prefilled") and reasoning in ("", api_reasoning.strip()))
        )
        if echoed:
            return api_reasoning.strip(), answer, "api"
        return api_reasoning.strip(), text.strip(), "api"
    return _split_text(text)


def _split_text(text: str, tags: tuple[str, str] | None = None) -> tuple[str | None, str, str]:
    """split of a text alone, its think block's tags `tags` (None: the pair whose tag comes
    first)."""
    marked = _split_markers(text) or _split_harmony(text)
    if marked is not None:
        return marked
    opening, closing = tags or _think_tags(text)
    start = text.find(opening)
    end = text.find(closing)
    if end >= 0 and (start < 0 or start > end):
        return text[:end].strip(), text[end + len(closing) :].strip(), "prefilled"
    if start >= 0 and end > start:
        return (
            text[start + len(opening) : end].strip(),
            text[end + len(closing) :].strip(),
            "closed",
        )
    if start >= 0:
        return text[start + len(opening) :].strip(), "", "unclosed"
    return None, text.strip(), "none"
