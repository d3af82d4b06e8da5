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
"""

from __future__ import annotations

OPEN, CLOSE = "<think>", "</think>"
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


def split(
    text: str, api_reasoning: str | None = None, in_think: bool = False
) -> tuple[str | None, str, str]:
    """-> (reasoning, answer, think). in_think: the prompt opened `<think>` itself (a local
    teacher's R1-Distill template, teachers.hf.opens_think): a text with no tag was cut off
    (or ended) before the block closed, all reasoning and no answer ('unclosed'); read as the
    answer, a \\boxed{} drafted in the thinking was verified."""
    text = text or ""
    if in_think and not api_reasoning:
        reasoning, answer, think = split(text)
        if think == "none":
            return answer, "", "unclosed"
        return reasoning, answer, think
    if api_reasoning:
        # Some servers also echo tags into content; strip an empty or duplicated block.
        reasoning, answer, _ = split(text)
        if reasoning is not None and CLOSE in text:
            return api_reasoning.strip(), answer, "api"
        return api_reasoning.strip(), text.strip(), "api"
    marked = _split_markers(text)
    if marked is not None:
        return marked
    start = text.find(OPEN)
    end = text.find(CLOSE)
    if end >= 0 and (start < 0 or start > end):
        return text[:end].strip(), text[end + len(CLOSE) :].strip(), "prefilled"
    if start >= 0 and end > start:
        return text[start + len(OPEN) : end].strip(), text[end + len(CLOSE) :].strip(), "closed"
    if start >= 0:
        return text[start + len(OPEN) :].strip(), "", "unclosed"
    return None, text.strip(), "none"
