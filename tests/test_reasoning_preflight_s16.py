"""The pre-flight refused a reasoning that merely talks about the `<think>` tag as "<think> is
opened twice" (it counted every `<think>` before the first `</think>`), and the no-thinking
check refused an answer that names the tag as "reasons after the empty think block". Only the
structure counts now: a block opened again where it opened (the template's pre-fill and the
completion's own, or a block wrapped twice), a completion that opens a block after the
no-thinking mode's empty one."""

from __future__ import annotations

import pytest

from distill.errors import DistillError
from distill.examples import Example
from tests.test_examples import EX, real_template_tokenizer
from tests.test_preflight import shown

TALKS = (
    "<think>\nThe user asks what the <think> tag does. A reply opens <think>, reasons, then "
    "closes it.\n</think>\n\nIt marks where the model reasons."
)


@pytest.mark.parametrize("name", ["deepseek-r1-distill-qwen", "qwen2.5-instruct"])
def test_a_reasoning_that_mentions_think_is_trained(name):
    # R1-Distill pre-fills '<think>\n' (the completion is trained after it), Qwen2.5 does not
    tok = real_template_tokenizer(name)
    lines, [(ids, mask)] = shown(tok, [Example(prompt=EX.prompt, completion=TALKS)])
    trained = tok.decode([t for t, m in zip(ids, mask) if m])
    assert "what the <think> tag does" in trained
    assert "opened once at most" in lines[-1]


def test_a_block_opened_twice_is_still_refused():
    prefilled = real_template_tokenizer("deepseek-r1-distill-qwen")
    stray = Example(prompt=EX.prompt, completion="\n" + TALKS)  # after the pre-fill's <think>
    with pytest.raises(DistillError, match="<think> is opened twice"):
        shown(prefilled, [stray], show=0)
    wrapped = Example(prompt=EX.prompt, completion="<think>\n" + TALKS)  # a block wrapped twice
    with pytest.raises(DistillError, match="<think> is opened twice"):
        shown(real_template_tokenizer("qwen2.5-instruct"), [wrapped], show=0)


def test_a_no_thinking_answer_that_names_the_tag_is_trained(tmp_path):
    from tests.test_reasoning_templates_s15 import USER, record, tokenizer, train_rows

    tok = tokenizer("smollm3")  # /no_think: the prompt ends with an empty think block
    system = {"role": "system", "content": "Be brief. /no_think"}
    answer = "Wrap the reasoning in <think> and </think>."
    [(_, _, trained)] = train_rows(tmp_path, tok, [record(None, answer, (system, USER))])
    assert trained == [answer + "<|im_end|>\n"]
    with pytest.raises(DistillError, match="no-thinking mode"):  # reasoning there: refused
        train_rows(tmp_path, tok, [record("one and one", answer, (system, USER))])
