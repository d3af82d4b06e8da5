"""GLM-4.5/4.6 with --keep-markers: its template writes '\\n<think></think>\\n' before a bare
answer; that leading newline kept Renderer from reading the block as the template's own empty
think block, so the thought/solution markers were trained behind it and the pre-flight stopped
every such run ("the think block is empty while the answer holds thought/solution markers")."""

from __future__ import annotations

from distill.examples import Example, Renderer, spans, tokenize_examples
from distill.preflight import problems
from tests.test_reasoning_templates_s15 import tokenizer

USER = {"role": "user", "content": "What is 1 + 1?"}
MARKED = (
    "<|begin_of_thought|>\n\none and one\n\n<|end_of_thought|>\n\n"
    "<|begin_of_solution|>\n\n2\n\n<|end_of_solution|>"
)


def _trained(tok, completion):
    renderer = Renderer(tok, "r1")
    cols, _ = tokenize_examples([Example(prompt=[USER], completion=completion)], renderer, 1024)
    ids, mask = cols["input_ids"][0], cols["completion_mask"][0]
    [(a, b)] = spans(mask)
    return tok.decode(ids[a:b]), problems(tok, ids, mask, renderer.stops)


def test_glm_keep_markers_trains_the_markers_verbatim_and_passes_the_preflight():
    tok = tokenizer("glm-4.6")
    trained, found = _trained(tok, MARKED)
    # the markers in place of the template's think block, as Qwen3's (tests/test_second_read_train.py)
    assert trained == MARKED + "<|endoftext|>"
    assert found == []


def test_glm_answer_without_markers_still_trains_its_empty_think_block():
    tok = tokenizer("glm-4.6")
    trained, found = _trained(tok, "2")
    assert trained == "\n<think></think>\n2<|endoftext|>"
    assert found == []
