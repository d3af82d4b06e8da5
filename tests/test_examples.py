"""Which tokens carry the loss, token by token, for ChatML (Qwen) and Llama-3 templates."""

import pytest

from distill.errors import DistillError
from distill.examples import Example, Renderer, tokenize_examples
from tests.tiny import make_tokenizer

EX = Example(
    prompt=[{"role": "user", "content": "What is 2 + 2?"}],
    completion="<think>\n2 plus 2 is 4.\n</think>\n\nThe answer is \\boxed{4}.",
    instruction="What is 2 + 2?",
)


def loss_text(tok, ids, mask):
    return tok.decode([t for t, m in zip(ids, mask) if m]), tok.decode(
        [t for t, m in zip(ids, mask) if not m]
    )


@pytest.mark.parametrize(
    "family, prompt, completion",
    [
        (
            "qwen2",
            "<|im_start|>user\nWhat is 2 + 2?<|im_end|>\n<|im_start|>assistant\n",
            "<think>\n2 plus 2 is 4.\n</think>\n\nThe answer is \\boxed{4}.<|im_end|>\n",
        ),
        (
            "llama",
            "<|begin_of_text|><|start_header_id|>user<|end_header_id|>\n\nWhat is 2 + 2?<|eot_id|><|start_header_id|>assistant<|end_header_id|>\n\n",
            "<think>\n2 plus 2 is 4.\n</think>\n\nThe answer is \\boxed{4}.<|eot_id|>",
        ),
    ],
)
def test_r1_format_loss_is_exactly_the_assistant_turn_with_its_end_token(
    family, prompt, completion
):
    tok = make_tokenizer(family)
    cols, st = tokenize_examples([EX], Renderer(tok, "r1"), max_length=512)
    ids, mask = cols["input_ids"][0], cols["completion_mask"][0]
    with_loss, without = loss_text(tok, ids, mask)
    assert without == prompt and with_loss == completion
    # The end-of-turn token, which stops generation, is a labelled token.
    assert tok.eos_token_id in [t for t, m in zip(ids, mask) if m]
    # The prompt part is token for token what inference feeds the model.
    gen_prompt = tok.apply_chat_template(EX.prompt, tokenize=False, add_generation_prompt=True)
    assert ids[: mask.index(1)] == tok(gen_prompt, add_special_tokens=False)["input_ids"]
    assert st.kept == 1 and st.completion_tokens == sum(mask)


@pytest.mark.parametrize("family, bos", [("qwen2", ""), ("llama", "<|begin_of_text|>")])
def test_alpaca_format_loss_is_the_response_and_eos(family, bos):
    tok = make_tokenizer(family)
    for ex, has_input in [
        (Example(prompt=[], completion="4", instruction="Add 2 and 2.", input=""), False),
        (Example(prompt=[], completion="4", instruction="Add the numbers.", input="2, 2"), True),
    ]:
        cols, _ = tokenize_examples([ex], Renderer(tok, "alpaca"), max_length=512)
        with_loss, without = loss_text(tok, cols["input_ids"][0], cols["completion_mask"][0])
        assert with_loss == "4" + tok.eos_token
        assert without.startswith(bos + "Below is an instruction") and without.endswith(
            "### Response:"
        )  # Stanford Alpaca's prompt, verbatim
        assert ("### Input:\n2, 2" in without) == has_input


def test_alpaca_from_a_reasoning_trace_keeps_only_the_answer():
    tok = make_tokenizer("qwen2")
    cols, _ = tokenize_examples([EX], Renderer(tok, "alpaca"), max_length=512)
    with_loss, _ = loss_text(tok, cols["input_ids"][0], cols["completion_mask"][0])
    assert with_loss == "The answer is \\boxed{4}." + tok.eos_token


def test_prefilled_think_template_is_not_learned_twice():
    tok = make_tokenizer("qwen2")
    # An R1-distill-style template: the generation prompt opens <think> for the model.
    tok.chat_template = (
        "{% for m in messages %}{% if m['role'] == 'user' %}<|im_start|>{{ m['content'] }}{% else %}"
        "{% set c = m['content'] %}{% if '</think>' in c %}{% set c = c.split('</think>')[-1] %}{% endif %}"
        "<|endoftext|>{{ c }}<|im_end|>{% endif %}{% endfor %}"
        "{% if add_generation_prompt %}<|endoftext|><think>\n{% endif %}"
    )
    cols, _ = tokenize_examples([EX], Renderer(tok, "r1"), max_length=512)
    with_loss, without = loss_text(tok, cols["input_ids"][0], cols["completion_mask"][0])
    assert without.endswith("<think>\n")
    assert with_loss == "2 plus 2 is 4.\n</think>\n\nThe answer is \\boxed{4}.<|im_end|>"


def test_eos_is_added_when_the_template_end_of_turn_is_not_a_stop_token():
    tok = make_tokenizer("qwen2")
    tok.chat_template = (
        "{% for m in messages %}{{ m['role'] }}: {{ m['content'] }}\n\n{% endfor %}"
        "{% if add_generation_prompt %}assistant: {% endif %}"
    )
    cols, _ = tokenize_examples([EX], Renderer(tok, "r1"), max_length=512)
    with_loss, _ = loss_text(tok, cols["input_ids"][0], cols["completion_mask"][0])
    assert with_loss.endswith("\n\n" + tok.eos_token)


def test_overlong_examples_are_dropped_or_truncated_and_counted():
    tok = make_tokenizer("qwen2")
    long = Example(prompt=EX.prompt, completion="4 " * 300)
    cols, st = tokenize_examples([EX, long], Renderer(tok, "r1"), max_length=100)
    assert st.kept == 1 and st.dropped_overlong == 1 and len(cols["input_ids"]) == 1
    cols, st = tokenize_examples(
        [EX, long], Renderer(tok, "r1"), max_length=100, overlong="truncate"
    )
    assert st.kept == 2 and st.truncated == 1 and len(cols["input_ids"][1]) == 100
    cols, st = tokenize_examples([EX], Renderer(tok, "r1"), max_length=10, overlong="truncate")
    assert st.kept == 0 and st.dropped_all_masked == 1  # the prompt alone fills max_length


def test_no_chat_template_is_a_clear_error():
    tok = make_tokenizer("qwen2")
    tok.chat_template = None
    with pytest.raises(DistillError, match="no chat template; use --format alpaca"):
        Renderer(tok, "r1")
