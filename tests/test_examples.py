"""Which tokens carry the loss, token by token, for ChatML (Qwen) and Llama-3 templates."""

import json
from pathlib import Path

import pytest

from distill.errors import DistillError
from distill.examples import (
    Example,
    Renderer,
    load_examples,
    strips_reasoning,
    tokenize_examples,
)
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


# =========================================================================== dataset layouts

FIXTURES = Path(__file__).parent / "fixtures" / "chat_templates"
REASONED = "<think>\n12 plus 34 is 46.\n</think>\n\nThe answer is \\boxed{46}."


def real_template_tokenizer(name: str):
    """A tiny tokenizer wearing a real checkpoint's chat template (tests/fixtures/chat_templates)."""
    tok = make_tokenizer("llama" if name.startswith("llama") else "qwen2")
    if name.startswith("deepseek"):  # R1-Distill-Qwen's own special tokens, BOS and EOS
        tok.add_special_tokens(
            {
                "bos_token": "<｜begin▁of▁sentence｜>",
                "eos_token": "<｜end▁of▁sentence｜>",
                "additional_special_tokens": ["<｜User｜>", "<｜Assistant｜>"],
            }
        )
    tok.chat_template = (FIXTURES / f"{name}.jinja").read_text()
    return tok


def write_rows(tmp_path, rows):
    p = tmp_path / "data.jsonl"
    p.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return str(p)


def test_openr1_math_rows_train_the_whole_trace_not_the_gold_answer(tmp_path):
    # open-r1/OpenR1-Math-220k: `messages` holds the R1 trace, `answer` the gold; no `reasoning`.
    row = {
        "problem": "What is 12 + 34?",
        "solution": "12 + 34 = 46",
        "answer": "46",
        "problem_type": "Algebra",
        "question_type": "math-word-problem",
        "source": "olympiads",
        "uuid": "u1",
        "is_reasoning_complete": [True],
        "generations": [REASONED],
        "correctness_math_verify": [True],
        "correctness_llama": None,
        "finish_reasons": None,
        "correctness_count": 1,
        "messages": [
            {"role": "user", "content": "What is 12 + 34?"},
            {"role": "assistant", "content": REASONED},
        ],
    }
    [ex] = load_examples(write_rows(tmp_path, [row]))
    assert ex.prompt == [{"role": "user", "content": "What is 12 + 34?"}]
    assert ex.completion == REASONED
    tok = make_tokenizer("qwen2")
    cols, _ = tokenize_examples([ex], Renderer(tok, "r1"), max_length=512)
    with_loss, _ = loss_text(tok, cols["input_ids"][0], cols["completion_mask"][0])
    assert with_loss == REASONED + "<|im_end|>\n"


USER = {"role": "user", "content": "What is 12 + 34?"}
SYSTEM = "Think first, then answer."


@pytest.mark.parametrize(
    "row, prompt",
    [
        (  # ShareGPT
            {
                "conversations": [
                    {"from": "human", "value": USER["content"]},
                    {"from": "gpt", "value": REASONED},
                ]
            },
            [USER],
        ),
        (  # OpenThoughts-114k / Bespoke-Stratos-17k: a `system` column beside user/assistant turns
            {
                "system": SYSTEM,
                "conversations": [
                    {"from": "user", "value": USER["content"]},
                    {"from": "assistant", "value": REASONED},
                ],
            },
            [{"role": "system", "content": SYSTEM}, USER],
        ),
        ({"prompt": USER["content"], "completion": REASONED}, [USER]),  # TRL standard
        (  # TRL conversational prompt/completion
            {
                "prompt": [{"role": "system", "content": SYSTEM}, USER],
                "completion": [{"role": "assistant", "content": REASONED}],
            },
            [{"role": "system", "content": SYSTEM}, USER],
        ),
        (  # a multi-turn `messages` row: earlier turns are context, the last assistant is learned
            {
                "messages": [
                    USER,
                    {"role": "assistant", "content": "46"},
                    USER,
                    {"role": "assistant", "content": REASONED},
                ]
            },
            [USER, {"role": "assistant", "content": "46"}, USER],
        ),
    ],
)
def test_each_dataset_layout_trains_its_last_assistant_turn(tmp_path, row, prompt):
    [ex] = load_examples(write_rows(tmp_path, [row]))
    assert ex.prompt == prompt and ex.completion == REASONED
    assert ex.instruction == USER["content"]


def test_alpaca_columns_train_the_output_and_keep_instruction_and_input(tmp_path):
    row = {"instruction": "Add the numbers.", "input": "12, 34", "output": "46", "text": "..."}
    [ex] = load_examples(write_rows(tmp_path, [row]))
    assert (ex.instruction, ex.input, ex.completion) == ("Add the numbers.", "12, 34", "46")
    assert ex.prompt == [{"role": "user", "content": "Add the numbers.\n\n12, 34"}]


@pytest.mark.parametrize(
    "row, message",
    [
        (
            {"problem": "p", "answer": "4"},
            r"row 1: need trace records .*; found columns: problem, answer; prompts "
            r"alone train only --method onpolicy \(lmbda 1\); or map the columns with "
            r"--prompt-field/--answer-field$",
        ),
        (  # a completion in a column of another name: the refusal names the flags to try
            {"problem": "p", "solution": "s", "answer": "4"},
            r"row 1: no chat, trace or Alpaca layout \(found columns: problem, solution, answer\);"
            r" .* try: --prompt-field problem --answer-field solution$",
        ),
        (
            {
                "conversations": [
                    {"from": "human", "value": "q"},
                    {"from": "function_call", "value": "{}"},
                ]
            },
            r"row 1: conversations\[1\] is from 'function_call'; distill trains on system, human",
        ),
        ({"messages": [USER]}, r"row 1: 'messages' must end with an assistant message"),
        (
            {"messages": [{"speaker": "a", "text": "b"}]},
            r"row 1: messages\[0\] needs role/content or from/value; found: speaker, text",
        ),
        (
            {"prompt": [USER], "completion": [{"role": "assistant", "content": "a"}, USER]},
            r"row 1: 'completion' must be one assistant message; found roles: assistant, user",
        ),
    ],
)
def test_layouts_distill_cannot_train_are_refused_in_one_line(tmp_path, row, message):
    with pytest.raises(DistillError, match=message) as e:
        list(load_examples(write_rows(tmp_path, [row])))
    assert "\n" not in str(e.value)


def test_alpaca_format_never_renders_a_python_repr_or_none(tmp_path):
    tok = make_tokenizer("qwen2")
    rows = [
        {"prompt": [USER], "completion": [{"role": "assistant", "content": "46"}]},
        {  # a trace record whose source row had `instruction: null`
            "id": "t1",
            "messages": [USER],
            "reasoning": None,
            "answer": "46",
            "teacher": {"backend": "hf", "model": "m", "params": {}},
            "meta": {"instruction": None, "input": None},
        },
    ]
    r = Renderer(tok, "alpaca")
    for ex in load_examples(write_rows(tmp_path, rows)):
        prompt = r.prompt_text(ex)
        assert "### Instruction:\nWhat is 12 + 34?\n\n### Response:" in prompt
        assert "{'role'" not in prompt and "None" not in prompt and "### Input" not in prompt


PREFILL_TEMPLATE = (  # R1-distill style: the generation prompt opens <think> for the model
    "{% for m in messages %}{% if m['role'] == 'user' %}<|im_start|>{{ m['content'] }}{% else %}"
    "<|endoftext|>{{ m['content'] }}<|im_end|>{% endif %}{% endfor %}"
    "{% if add_generation_prompt %}<|endoftext|><think>\n{% endif %}"
)


def test_prefill_template_closes_an_empty_think_block_for_an_answer_without_reasoning():
    tok = make_tokenizer("qwen2")
    tok.chat_template = PREFILL_TEMPLATE
    ex = Example(prompt=EX.prompt, completion="The answer is 4.")
    cols, _ = tokenize_examples([ex], Renderer(tok, "r1"), max_length=512)
    with_loss, without = loss_text(tok, cols["input_ids"][0], cols["completion_mask"][0])
    assert without.endswith("<think>\n")
    assert with_loss == "\n</think>\n\nThe answer is 4.<|im_end|>"
    # A completion that already holds its (pre-filled) reasoning is left as it is.
    ex = Example(prompt=EX.prompt, completion="2 plus 2 is 4.\n</think>\n\nThe answer is 4.")
    cols, _ = tokenize_examples([ex], Renderer(tok, "r1"), max_length=512)
    assert loss_text(tok, cols["input_ids"][0], cols["completion_mask"][0])[0] == (
        "2 plus 2 is 4.\n</think>\n\nThe answer is 4.<|im_end|>"
    )


@pytest.mark.parametrize(
    "name, completion, end",
    [
        ("qwen2.5-instruct", EX.completion, "<|im_end|>\n"),
        ("llama-3.1-instruct", EX.completion, "<|eot_id|>"),
        # The pre-filled `<think>\n` belongs to the prompt, as at inference.
        (
            "deepseek-r1-distill-qwen",
            EX.completion.removeprefix("<think>\n"),
            "<｜end▁of▁sentence｜>",
        ),
    ],
)
def test_real_chat_templates_put_the_loss_on_the_assistant_turn_only(name, completion, end):
    tok = real_template_tokenizer(name)
    cols, _ = tokenize_examples([EX], Renderer(tok, "r1"), max_length=1024)
    ids, mask = cols["input_ids"][0], cols["completion_mask"][0]
    with_loss, _ = loss_text(tok, ids, mask)
    assert with_loss == completion + end
    gen_prompt = tok.apply_chat_template(EX.prompt, tokenize=False, add_generation_prompt=True)
    assert ids[: mask.index(1)] == tok(gen_prompt, add_special_tokens=False)["input_ids"]
    assert strips_reasoning(tok) == name.startswith("deepseek")
