"""Splitting a teacher's chain of thought from its final answer.

    python -c "from distill.reasoning import split; print(split('<think>2+2</think>4'))"

Cases, recorded in the trace's `think` field so the filter can judge them:
  api        the server returned reasoning separately (`reasoning_content` / `reasoning`)
  closed     `<think>...</think>answer`
  prefilled  `...</think>answer`: the chat template opened `<think>` itself (R1-distill models)
  unclosed   `<think>...` with no close: usually truncated; everything is reasoning
  none       no tags: everything is the answer
"""

from __future__ import annotations

OPEN, CLOSE = "<think>", "</think>"


def split(text: str, api_reasoning: str | None = None) -> tuple[str | None, str, str]:
    """-> (reasoning, answer, think)."""
    text = text or ""
    if api_reasoning:
        # Some servers also echo tags into content; strip an empty or duplicated block.
        reasoning, answer, _ = split(text)
        if reasoning and CLOSE in text:
            return api_reasoning.strip(), answer, "api"
        return api_reasoning.strip(), text.strip(), "api"
    start = text.find(OPEN)
    end = text.find(CLOSE)
    if end >= 0 and (start < 0 or start > end):
        return text[:end].strip(), text[end + len(CLOSE) :].strip(), "prefilled"
    if start >= 0 and end > start:
        return text[start + len(OPEN) : end].strip(), text[end + len(CLOSE) :].strip(), "closed"
    if start >= 0:
        return text[start + len(OPEN) :].strip(), "", "unclosed"
    return None, text.strip(), "none"
