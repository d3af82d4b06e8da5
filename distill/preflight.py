"""Pre-flight: real training examples printed with their loss tokens marked, and the checks an ML
engineer otherwise does by hand before a long run.

    distill train --recipe recipes/smoke.yaml --show-example 2

Works on the token ids and completion mask `distill.examples.tokenize_examples` made, the very
rows handed to the trainer: the text between `[[` and `]]` is exactly what carries the loss.
A failed check stops the run with one line before any step is trained:

- the loss mask is empty (nothing would be learned from the example);
- the end of turn is not trained: the last loss token (trailing whitespace aside) is no stop
  token, so the student never learns to stop (what TRL's `is_chat_template_stop_token_trained`
  looks for in a template);
- `<think>` is opened twice: the template's pre-fill and the completion's own (a wrong
  template / pre-fill combination teaches the student to write a second `<think>`), or a block
  wrapped twice; a reasoning that mentions the tag further in is not refused;
- the think block is empty while the answer holds `<|begin_of_thought|>` markers (the reasoning
  would be trained as the visible answer);
- the prompt ends with the empty think block of a no-thinking mode (SmolLM3's /no_think) and the
  completion reasons after it anyway.

A chat with several trained assistant turns is checked turn by turn.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any

from distill.errors import DistillError
from distill.examples import spans

OPEN, CLOSE = "[[", "]]"
WIDTH = 400  # characters kept of a long prompt or completion: both ends, "…" between


def _clip(text: str, width: int) -> str:
    if len(text) <= width:
        return text
    half = width // 2
    return text[:half] + " … " + text[-half:]


def marked_text(tok: Any, ids: list[int], mask: list[int], width: int = WIDTH) -> str:
    """The example as text, loss tokens between `[[` and `]]`; a long run keeps its two ends."""
    parts, start = [], 0
    for i in range(1, len(ids) + 1):
        if i == len(ids) or mask[i] != mask[start]:
            text = _clip(tok.decode(ids[start:i]), width)
            parts.append(f"{OPEN}{text}{CLOSE}" if mask[start] else text)
            start = i
    return "".join(parts)


def _opens(text: str) -> bool:
    """Whether `text` opens a think block: `<think>` where it starts (whitespace aside). A
    `<think>` further in is the text's own (a reasoning that talks about the tag)."""
    return text.lstrip().startswith("<think>")


def problems(
    tok: Any, ids: list[int], mask: list[int], stops: set[int], truncated: bool = False
) -> list[str]:
    """What is wrong with one tokenized example (empty when it trains as it should). Each trained
    span (each assistant turn of a chat) is checked on its own."""
    from distill.reasoning import has_markers

    runs = spans(mask)
    if not runs:
        return ["the loss mask is empty: nothing in it is trained"]
    found: list[str] = []
    for n, (start, end) in enumerate(runs):
        loss = ids[start:end]
        which = f"turn {n + 1} of {len(runs)}: " if len(runs) > 1 else ""
        last = next((t for t in reversed(loss) if tok.decode([t]).strip() or t in stops), loss[-1])
        if not (truncated and n == len(runs) - 1) and last not in stops:
            names = ", ".join(sorted(tok.convert_ids_to_tokens(sorted(stops)))) or "none"
            found.append(
                f"{which}the end of turn is not trained: the loss tokens end with "
                f"{tok.decode([last])!r}, not a stop token ({names}), so the student would not "
                "learn to stop"
            )
        prompt = tok.decode(ids[:start])
        reply = tok.decode(loss)
        turn = ("<think>" if prompt.rstrip().endswith("<think>") else "") + reply
        # opened again where it opened: the pre-fill's and the completion's own, or a block
        # wrapped twice
        if _opens(turn) and _opens(turn.lstrip()[len("<think>") :]):
            found.append(
                f"{which}<think> is opened twice (the template's pre-fill and the completion's "
                "own): the completion should start after the pre-fill, or pick the student's template"
            )
        if re.search(r"<think>\s*</think>\s*$", prompt) and _opens(reply):
            found.append(
                f"{which}the prompt ends with the empty think block of the template's no-thinking "
                "mode (SmolLM3's /no_think system prompt) and the completion reasons after it: "
                "the student would learn to think where it was told not to; drop /no_think from "
                "the system prompt, or train replies without reasoning"
            )
        if re.search(r"<think>\s*</think>", turn) and has_markers(turn):
            found.append(
                f"{which}the think block is empty while the answer holds thought/solution markers: "
                "the reasoning would be trained as the visible answer (--keep-markers keeps the "
                "markers verbatim: use it with a template that does not open <think> itself)"
            )
        if found:
            break
    return found


def preflight(
    tok: Any,
    rows: Iterable[tuple[list[int], list[int]]],
    stops: set[int],
    show: int = 1,
    max_length: int | None = None,
    stage: str = "train",
    emit: Any = print,
) -> None:
    """Print the first `show` examples with their loss tokens marked (emit=None: print nothing)
    and check them (at least the first, also with show=0); raise DistillError on a problem.
    An example exactly max_length long that ends on no stop token was truncated
    (--overlong truncate): its end of turn is cut off by request, not by the template."""
    for i, (ids, mask) in enumerate(rows):
        if i >= max(show, 1):
            break
        ids, mask = list(ids), list(mask)
        truncated = max_length is not None and len(ids) >= max_length and ids[-1] not in stops
        found = problems(tok, ids, mask, stops, truncated)
        if show and emit is not None:
            n = sum(mask)
            emit(
                f"{stage}: example {i + 1}: {len(ids) - n} prompt tokens, {n} trained "
                + (f"in {len(spans(mask))} assistant turns " if len(spans(mask)) > 1 else "")
                + f"(between {OPEN} {CLOSE}):"
            )
            emit(marked_text(tok, ids, mask))
            if not found:
                emit(
                    f"{stage}: checks: loss mask not empty; "
                    + ("end of turn cut off (truncated)" if truncated else "end of turn trained")
                    + "; <think> opened once at most, never empty before thought markers"
                )
        if found:
            raise DistillError(f"{stage}: pre-flight, example {i + 1}: {'; '.join(found)}")
