"""Which tokens carry the loss, token by token, for ChatML (Qwen) and Llama-3 templates."""

import json
from pathlib import Path

import pytest

from distill.errors import DistillError
from distill.examples import (
    Example,
    Renderer,
    load_examples,
    spans,
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
            r"row 1: conversations\[1\] \(from 'function_call'\): a tool call needs the "
            r"function's name",
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


# =========================================================================== issue 25: what the
# dataset's authors meant (reasoning beside content, markers, mapping, every turn)

S1K_ROW = {
    "question": "What is 12 + 34?",
    "thinking_trajectories": ["12 plus 34.", "That is 46."],
    "attempt": "The answer is \\boxed{46}.",
    "solution": "46",
}


def trained(tok, rows):
    """The decoded loss text of every trained span, row by row."""
    from distill.examples import spans

    return [
        [tok.decode(ids[a:b]) for a, b in spans(mask)]
        for ids, mask in zip(rows["input_ids"], rows["completion_mask"])
    ]


@pytest.mark.parametrize("key", ["reasoning_content", "reasoning", "thinking"])
@pytest.mark.parametrize("name", ["qwen2.5-instruct", "deepseek-r1-distill-qwen"])
def test_reasoning_kept_beside_the_content_is_trained_in_the_think_block(tmp_path, key, name):
    row = {
        "messages": [
            {"role": "user", "content": "What is 12 + 34?"},
            {"role": "assistant", key: "12 plus 34 is 46.", "content": "The answer is 46."},
        ]
    }
    tok = real_template_tokenizer(name)
    cols, _ = tokenize_examples(
        load_examples(write_rows(tmp_path, [row])), Renderer(tok, "r1"), 512
    )
    [[text]] = trained(tok, cols)
    # R1-Distill's prompt pre-fills "<think>\n": the block it opened is closed after the
    # reasoning, never left empty
    head = "" if name.startswith("deepseek") else "<think>\n"
    assert text.startswith(head + "12 plus 34 is 46.\n</think>\n\nThe answer is 46.")
    assert "<think>\n\n</think>" not in text


@pytest.mark.parametrize("name", ["qwen2.5-instruct", "deepseek-r1-distill-qwen"])
def test_thought_and_solution_markers_train_as_reasoning_and_answer(tmp_path, name):
    content = (
        "<|begin_of_thought|>\n\n12 plus 34 is 46.\n\n<|end_of_thought|>\n\n"
        "<|begin_of_solution|>\n\nThe answer is \\boxed{46}.\n\n<|end_of_solution|>"
    )
    row = {
        "system": "Your role as an assistant involves thoroughly exploring questions ...",
        "conversations": [
            {"from": "user", "value": "What is 12 + 34?"},
            {"from": "assistant", "value": content},
        ],
    }
    tok = real_template_tokenizer(name)
    data = write_rows(tmp_path, [row])
    cols, _ = tokenize_examples(load_examples(data), Renderer(tok, "r1"), 512)
    [[text]] = trained(tok, cols)
    assert "<|begin_of_thought|>" not in text and "<|begin_of_solution|>" not in text
    assert "12 plus 34 is 46.\n</think>\n\nThe answer is \\boxed{46}." in text
    # --keep-markers trains them verbatim
    [ex] = load_examples(data, keep_markers=True)
    assert ex.completion == content


def test_preflight_stops_on_an_empty_think_block_before_thought_markers(tmp_path):
    from distill.preflight import preflight

    tok = real_template_tokenizer("deepseek-r1-distill-qwen")
    row = {
        "messages": [
            {"role": "user", "content": "What is 12 + 34?"},
            {"role": "assistant", "content": "<|begin_of_thought|>12 plus 34<|end_of_thought|>"},
        ]
    }
    r = Renderer(tok, "r1")
    cols, _ = tokenize_examples(
        load_examples(write_rows(tmp_path, [row]), keep_markers=True), r, 512
    )
    with pytest.raises(DistillError, match="think block is empty while the answer holds thought"):
        preflight(tok, zip(cols["input_ids"], cols["completion_mask"]), r.stops, 0, emit=None)


def test_generate_splits_thought_markers_from_a_teacher():
    from distill.reasoning import split

    text = "<|begin_of_thought|>a\n<|end_of_thought|>\n<|begin_of_solution|>B<|end_of_solution|>"
    assert split(text) == ("a", "B", "markers")
    assert split("<|begin_of_thought|>cut off") == ("cut off", "", "unclosed")


def test_s1k_columns_mapped_train_question_reasoning_list_and_attempt(tmp_path):
    from distill.examples import Columns

    tok = real_template_tokenizer("qwen2.5-instruct")
    cols = Columns(
        prompt_field="question", reasoning_field="thinking_trajectories", answer_field="attempt"
    )
    [ex] = load_examples(write_rows(tmp_path, [S1K_ROW]), columns=cols)
    rows, _ = tokenize_examples([ex], Renderer(tok, "r1"), 512)
    [[text]] = trained(tok, rows)
    assert text == (
        "<think>\n12 plus 34.\n\nThat is 46.\n</think>\n\nThe answer is \\boxed{46}.<|im_end|>\n"
    )
    assert ex.prompt[-1] == {"role": "user", "content": "What is 12 + 34?"}


def test_an_unmapped_s1k_row_names_the_flags_to_try(tmp_path):
    with pytest.raises(DistillError) as e:
        list(load_examples(write_rows(tmp_path, [S1K_ROW])))
    assert str(e.value).endswith(
        "try: --prompt-field question --reasoning-field thinking_trajectories --answer-field attempt"
    )
    assert "onpolicy" not in str(e.value)


def test_dolly_context_is_appended_to_the_prompt_as_alpacas_input(tmp_path):
    from distill.examples import Columns

    row = {"instruction": "Sum them.", "context": "12 and 34", "response": "46", "category": "qa"}
    cols = Columns(prompt_field="instruction", context_field="context", answer_field="response")
    [ex] = load_examples(write_rows(tmp_path, [row]), columns=cols)
    assert ex.prompt == [{"role": "user", "content": "Sum them.\n\n12 and 34"}]
    assert (ex.instruction, ex.input, ex.completion) == ("Sum them.", "12 and 34", "46")


@pytest.mark.parametrize(
    "cols, row, message",
    [
        (
            {"prompt_field": "query", "answer_field": "attempt"},
            S1K_ROW,
            r"row 1: no column 'query' \(--prompt-field\); found columns: question, ",
        ),
        (
            {"prompt_field": "question", "reasoning_field": "r", "answer_field": "attempt"},
            {**S1K_ROW, "r": {"a": 1}},
            r"row 1: column 'r' \(--reasoning-field\) must be text or a list of texts, got dict",
        ),
        (
            {"prompt_field": "question", "reasoning_field": "r", "answer_field": "attempt"},
            {**S1K_ROW, "r": ["a", 3]},
            r"row 1: column 'r' \(--reasoning-field\) must be text or a list of texts; found a "
            r"list holding int, str",
        ),
        (
            {"prompt_field": "question", "answer_field": "attempt"},
            {**S1K_ROW, "attempt": "  "},
            r"row 1: column 'attempt' \(--answer-field\) is empty",
        ),
        (
            {"reasoning_field": "thinking_trajectories"},
            S1K_ROW,
            r"row 1: --reasoning-field need --prompt-field and --answer-field",
        ),
    ],
)
def test_bad_column_mappings_are_one_line_naming_row_and_column(tmp_path, cols, row, message):
    from distill.examples import Columns

    with pytest.raises(DistillError, match=message) as e:
        list(load_examples(write_rows(tmp_path, [row]), columns=Columns(**cols)))
    assert "\n" not in str(e.value)


def test_two_chat_columns_are_refused_naming_both_and_the_flag(tmp_path):
    row = {
        "messages": [{"role": "user", "content": "q"}, {"role": "assistant", "content": "short"}],
        "conversations": [{"from": "user", "value": "q"}, {"from": "assistant", "value": "R1"}],
    }
    data = write_rows(tmp_path, [row])
    with pytest.raises(
        DistillError,
        match="two chat columns, 'messages' and 'conversations'.*--messages-field conversations",
    ):
        list(load_examples(data))
    from distill.examples import Columns

    [ex] = load_examples(data, columns=Columns(messages_field="conversations"))
    assert ex.completion == "R1"


MULTI = {
    "messages": [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": "What is 1 + 1?"},
        {"role": "assistant", "content": "2"},
        {"role": "user", "content": "And 2 + 2?"},
        {"role": "assistant", "content": "4"},
    ]
}


def test_every_assistant_turn_is_trained_with_its_own_end_of_turn(tmp_path):
    tok = real_template_tokenizer("qwen2.5-instruct")
    exs = list(load_examples(write_rows(tmp_path, [MULTI])))
    cols, st = tokenize_examples(exs, Renderer(tok, "r1"), 512)
    assert trained(tok, cols) == [["2<|im_end|>\n", "4<|im_end|>\n"]]  # one sequence
    assert (st.kept, st.sequences, st.turns) == (1, 1, 2)
    # the text is the whole chat as the template renders it: inference sees the same history
    ids = cols["input_ids"][0]
    assert tok.decode(ids) == tok.apply_chat_template(MULTI["messages"], tokenize=False)
    cols, st = tokenize_examples(exs, Renderer(tok, "r1", train_on="last"), 512)
    assert trained(tok, cols) == [["4<|im_end|>\n"]] and st.turns == 1


def test_a_template_that_drops_earlier_reasoning_trains_one_row_per_turn(tmp_path):
    tok = real_template_tokenizer("deepseek-r1-distill-qwen")
    row = {"messages": [dict(m) for m in MULTI["messages"]]}
    row["messages"][2]["reasoning_content"] = "one and one"
    exs = list(load_examples(write_rows(tmp_path, [row])))
    cols, st = tokenize_examples(exs, Renderer(tok, "r1"), 512)
    assert (st.sequences, st.turns) == (2, 2)
    first, second = trained(tok, cols)
    assert first == ["one and one\n</think>\n\n2<｜end▁of▁sentence｜>"]
    assert second == ["\n</think>\n\n4<｜end▁of▁sentence｜>"]
    # the second row's history is what the template renders at inference (reasoning dropped)
    history = tok.decode(cols["input_ids"][1])
    assert "one and one" not in history and "And 2 + 2?" in history


def test_alpaca_format_refuses_a_system_message_or_earlier_turns(tmp_path):
    tok = make_tokenizer("qwen2")
    exs = list(load_examples(write_rows(tmp_path, [MULTI])))
    with pytest.raises(DistillError, match=r"row 1: --format alpaca .* a system message"):
        tokenize_examples(exs, Renderer(tok, "alpaca"), 512)


def test_text_prompt_completion_trains_as_a_raw_continuation_unless_chat(tmp_path):
    tok = make_tokenizer("llama")
    row = {"prompt": "The sum of 12 and 34 is", "completion": " 46."}
    exs = list(load_examples(write_rows(tmp_path, [row])))
    cols, _ = tokenize_examples(exs, Renderer(tok, "r1"), 512)
    ids, mask = cols["input_ids"][0], cols["completion_mask"][0]
    assert loss_text(tok, ids, mask) == (
        " 46." + tok.eos_token,
        "<|begin_of_text|>The sum of 12 and 34 is",
    )
    cols, _ = tokenize_examples(exs, Renderer(tok, "r1", chat=True), 512)
    assert "<|start_header_id|>user" in tok.decode(cols["input_ids"][0])


def test_train_says_when_text_rows_train_as_a_raw_continuation(tmp_path, capsys):
    from distill.train import TrainConfig, build_dataset
    from tests.tiny import make_tiny_model

    path = str(make_tiny_model(tmp_path / "m", "llama"))
    data = write_rows(tmp_path, [{"prompt": "The sum of 12 and 34 is", "completion": " 46."}])
    cfg = TrainConfig(data=data, model=path, output_dir=str(tmp_path / "o"), max_length=128)
    build_dataset(cfg, make_tokenizer("llama"))
    assert (
        "1 text prompt/completion examples train as a raw continuation" in capsys.readouterr().out
    )


def test_max_length_defaults_to_the_students_context(tmp_path, capsys):
    from distill.train import TrainConfig, student_config
    from tests.tiny import make_tiny_model

    path = make_tiny_model(tmp_path / "m")  # 512 positions
    cfg = TrainConfig(data="x.jsonl", model=str(path), output_dir=str(tmp_path / "o"))
    student_config(cfg, str(path))
    assert cfg.max_length == 512 and "max_length 512, the context of" in capsys.readouterr().out
    asked = TrainConfig(data="x.jsonl", model=str(path), output_dir="o", max_length=1024)
    with pytest.raises(DistillError, match="max_length 1024 is longer than the context"):
        student_config(asked, str(path))


# ---- second read of issue 25: what a user would hit


@pytest.mark.parametrize(
    "echoed", ["<think>\n12 plus 34 is 46.\n</think>\n\n", "<think>\n\n</think>\n\n"]
)
def test_reasoning_beside_content_that_also_holds_its_think_block_is_trained_once(tmp_path, echoed):
    # Some servers echo the think block into content beside reasoning_content (distill.reasoning
    # strips it for a teacher's reply); a dataset row written that way trains it once.
    row = {
        "messages": [
            {"role": "user", "content": "What is 12 + 34?"},
            {
                "role": "assistant",
                "reasoning_content": "12 plus 34 is 46.",
                "content": echoed + "The answer is 46.",
            },
        ]
    }
    [ex] = load_examples(write_rows(tmp_path, [row]))
    assert ex.completion == "<think>\n12 plus 34 is 46.\n</think>\n\nThe answer is 46."


def test_blank_reasoning_beside_the_content_is_no_reasoning(tmp_path):
    # "" already trains no think block; a reasoning of whitespace alone is no different
    row = {
        "messages": [
            {"role": "user", "content": "Hi"},
            {"role": "assistant", "reasoning_content": " \n", "content": "Hello."},
        ]
    }
    [ex] = load_examples(write_rows(tmp_path, [row]))
    assert ex.completion == "Hello."


@pytest.mark.parametrize(
    "chat",
    [
        {"messages": [{"role": "user", "content": "Q"}, {"role": "assistant", "content": "A"}]},
        {"conversations": [{"from": "human", "value": "Q"}, {"from": "gpt", "value": "A"}]},
    ],
)
def test_system_field_is_applied_to_a_chat_found_by_its_column_name(tmp_path, chat):
    from distill.examples import Columns

    row = {"system_prompt": "Be brief.", **chat}
    [ex] = load_examples(write_rows(tmp_path, [row]), columns=Columns(system_field="system_prompt"))
    assert ex.prompt == [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": "Q"},
    ]


@pytest.mark.parametrize("name", ["qwen2.5-instruct", "deepseek-r1-distill-qwen"])
def test_a_chat_that_opens_with_an_assistant_turn_trains_the_turns_that_answer(tmp_path, name):
    # ShareGPT dumps may open with the bot's greeting: no request before it, nothing to render
    # as its prompt (apply_chat_template refuses an empty chat); it is context, not trained.
    row = {
        "conversations": [
            {"from": "gpt", "value": "Hello! How can I help?"},
            {"from": "human", "value": "What is 1 + 1?"},
            {"from": "gpt", "value": "2"},
        ]
    }
    tok = real_template_tokenizer(name)
    exs = list(load_examples(write_rows(tmp_path, [row])))
    cols, st = tokenize_examples(exs, Renderer(tok, "r1"), 512)
    assert st.turns == 1 and all("Hello" not in t for t in trained(tok, cols)[0])
    end = {"qwen2.5-instruct": "<|im_end|>", "deepseek-r1-distill-qwen": "<｜end▁of▁sentence｜>"}
    assert trained(tok, cols)[0][-1].rstrip().endswith("2" + end[name])


def test_export_of_a_chat_that_opens_with_an_assistant_turn_writes_a_pair_per_answer(tmp_path):
    from distill.train import ExportConfig, export

    row = {
        "conversations": [
            {"from": "gpt", "value": "Hello! How can I help?"},
            {"from": "human", "value": "What is 1 + 1?"},
            {"from": "gpt", "value": "2"},
        ]
    }
    student = tmp_path / "student"
    real_template_tokenizer("qwen2.5-instruct").save_pretrained(student)
    out = tmp_path / "pairs.jsonl"
    export(ExportConfig(data=write_rows(tmp_path, [row]), out=str(out), model=str(student)))
    [pair] = [json.loads(x) for x in out.read_text().splitlines()]
    assert "Hello!" in pair["prompt"] and pair["completion"] == "2<|im_end|>\n"


def test_onpolicy_prompt_source_reads_the_chat_named_by_messages_field(tmp_path):
    # lmsys-style prompts under another column name, with a system column: --messages-field and
    # --system-field say so for onpolicy as for sft (they were ignored: "no prompt field found")
    from distill.train import TrainConfig
    from distill.train.kd.data import prompt_dataset, prompt_source

    row = {"conversation": [{"role": "user", "content": "What is 2 + 2?"}], "sys": "Be brief."}
    cfg = TrainConfig(
        data=write_rows(tmp_path, [row]),
        model="m",
        output_dir=str(tmp_path / "o"),
        method="onpolicy",
        teacher_model="t",
        messages_field="conversation",
        system_field="sys",
        max_length=512,
    )
    assert prompt_source(cfg)
    tok = real_template_tokenizer("qwen2.5-instruct")
    ds, st = prompt_dataset(cfg, tok, None)
    text = tok.decode(ds[0]["input_ids"])
    assert "Be brief.<|im_end|>" in text and text.endswith(
        "What is 2 + 2?<|im_end|>\n<|im_start|>assistant\n"
    )


def test_messages_field_with_text_columns_is_refused_not_silently_one_of_them(tmp_path):
    from distill.examples import Columns

    row = {**MULTI, "question": "q", "attempt": "a"}
    cols = Columns(messages_field="messages", prompt_field="question", answer_field="attempt")
    with pytest.raises(
        DistillError,
        match=r"--messages-field messages and --prompt-field, "
        r"--answer-field name two sources",
    ):
        list(load_examples(write_rows(tmp_path, [row]), columns=cols))


def test_resuming_a_run_saved_before_train_on_existed_names_the_changed_behaviour(tmp_path):
    from distill.train import TrainConfig, changed_run_keys
    from tests.tiny import make_tiny_model

    path = str(make_tiny_model(tmp_path / "m"))
    saved = {"data": "x.jsonl", "model": path, "output_dir": "o", "max_length": 512}
    now = TrainConfig(data="x.jsonl", model=path, output_dir="o", max_length=512)
    # it trained the last turn, markers verbatim, text prompt/completion in a chat turn
    assert sorted(c.split(":")[0] for c in changed_run_keys(now, saved)) == [
        "chat",
        "keep_markers",
        "train_on",
    ]
    same = TrainConfig(
        data="x.jsonl",
        model=path,
        output_dir="o",
        max_length=512,
        train_on="last",
        keep_markers=True,
        chat=True,
    )
    assert changed_run_keys(same, saved) == []


def test_onpolicy_on_a_multi_turn_chat_samples_the_last_turn(tmp_path):
    from distill.train import TrainConfig, build_dataset
    from tests.tiny import make_tiny_model

    path = str(make_tiny_model(tmp_path / "m"))
    tok = make_tokenizer("qwen2")
    cfg = TrainConfig(
        data=write_rows(tmp_path, [MULTI]),
        model=path,
        output_dir=str(tmp_path / "o"),
        method="onpolicy",
        teacher_model=path,
        max_length=512,
    )
    ds, _ = build_dataset(cfg, tok)
    [(ids, mask)] = zip(ds["input_ids"], ds["completion_mask"])
    # the prompt the student answers (before the first trained token) holds the whole history
    assert "And 2 + 2?" in tok.decode(ids[: mask.index(1)]) and sum(1 for _ in spans(mask)) == 1


def test_export_alpaca_says_when_it_leaves_reasoning_out(tmp_path, capsys):
    from distill.train import ExportConfig, export

    row = {
        "instruction": "Add 1 and 1.",
        "input": "",
        "output": "<|begin_of_thought|>one and one<|end_of_thought|>"
        "<|begin_of_solution|>2<|end_of_solution|>",
    }
    out = tmp_path / "a.jsonl"
    export(ExportConfig(data=write_rows(tmp_path, [row]), format="alpaca", out=str(out)))
    assert json.loads(out.read_text())["output"] == "2"
    assert "the reasoning of 1 of 1 examples is left out" in capsys.readouterr().out


def test_a_torn_last_line_of_the_training_data_is_named_not_dropped(tmp_path):
    rows = [{"instruction": "Add 1 and 1.", "input": "", "output": "2"}] * 2
    data = tmp_path / "data.jsonl"
    data.write_text("".join(json.dumps(r) + "\n" for r in rows) + '{"instruction": "Add')
    with pytest.raises(DistillError, match=r"data.jsonl:3: not valid JSON .*last line is cut"):
        list(load_examples(str(data)))
