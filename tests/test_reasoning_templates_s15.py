"""What `distill train --format r1` trains for a trace's reasoning under the real chat templates of
reasoning students that keep it somewhere other than a `<think>` block in the content, and under
those that do (tests/fixtures/reasoning_templates, README.md there says where each is from, and
qwen3.jinja of tests/fixtures/chat_templates; each put on a tiny tokenizer with the family's
special tokens):

- openai/gpt-oss-20b (harmony, `gpt-oss.jinja`): reads the assistant's `thinking` and writes it in
  the analysis channel of the last turn only, the answer in the final channel, `<|return|>` at the
  end of the last turn and `<|end|>` in the history. The think block in the content was trained
  after `<|start|>assistant` with no channel at all;
- zai-org/GLM-4.5 / 4.6 (`glm-4.6.jinja`): `reasoning_content` written `\\n<think>R</think>\\n`
  (earlier turns `\\n<think></think>\\n`); the content was trained as `<think>\\nR\\n</think>\\n\\n`;
- Mistral's reasoning templates (Ministral-3-*-Reasoning-2512, `ministral-3-reasoning.jinja`): a
  `thinking` chunk written `[THINK]R[/THINK]` (two special tokens); `<think>` text was trained;
- HuggingFaceTB/SmolLM3-3B (`smollm3.jinja`), microsoft/Phi-4-reasoning (`phi-4-reasoning.jinja`),
  OLMo-3 Think (open-instruct's `olmo_thinker`, `olmo-3-think.jinja`: pre-fills `<think>`) and
  Qwen3 (`qwen3.jinja`): the reasoning in the content's think block, as their templates take it.

Each row goes through `distill train`'s path (build_dataset, then its pre-flight); the expected
text is what the template writes when given the reasoning the way it reads it. Magistral-Small
itself ships no jinja template (mistral-common's tekken.json only): distill refuses it as a
student ("has no chat template")."""

from __future__ import annotations

import json

import pytest

from distill.errors import DistillError
from distill.examples import REASONING_CHUNKS, Renderer, reasoning_key, spans
from tests.test_examples import FIXTURES
from tests.tiny import make_tokenizer

REASONING_TEMPLATES = FIXTURES.parent / "reasoning_templates"  # (README.md: where each is from)
SPECIALS = {  # the special tokens each family's template writes, and its EOS (and BOS)
    "gpt-oss": (
        ["<|start|>", "<|end|>", "<|message|>", "<|channel|>", "<|return|>", "<|call|>"],
        "<|return|>",
    ),
    "glm-4.6": (["[gMASK]", "<sop>", "<|user|>", "<|assistant|>", "<|system|>"], "<|endoftext|>"),
    "ministral-3-reasoning": (["[INST]", "[/INST]", "[SYSTEM_PROMPT]", "[/SYSTEM_PROMPT]"], "</s>"),
    "smollm3": (["<|im_start|>", "<|im_end|>"], "<|im_end|>"),
    "phi-4-reasoning": (["<|im_start|>", "<|im_sep|>", "<|im_end|>"], "<|im_end|>"),
    "olmo-3-think": (["<|im_start|>", "<|im_end|>"], "<|endoftext|>"),
    "qwen3": (["<|im_start|>", "<|im_end|>"], "<|im_end|>"),
}
TEACHER = {"backend": "hf", "model": "t", "params": {}}
USER = {"role": "user", "content": "What is 1+1?"}
USER2 = {"role": "user", "content": "And 2+2?"}


def tokenizer(name: str):
    tok = make_tokenizer("qwen2")
    specials, eos = SPECIALS[name]
    extra = {"bos_token": "<s>"} if name == "ministral-3-reasoning" else {}
    if name == "ministral-3-reasoning":
        specials = [*specials, "[THINK]", "[/THINK]"]
    tok.add_special_tokens(
        {"eos_token": eos, "additional_special_tokens": [*specials, eos], **extra}
    )
    where = FIXTURES if name == "qwen3" else REASONING_TEMPLATES
    tok.chat_template = (where / f"{name}.jinja").read_text()
    return tok


def record(reasoning: str | None, answer: str, messages=(USER,)) -> dict:
    return {
        "id": "r",
        "messages": list(messages),
        "reasoning": reasoning,
        "answer": answer,
        "teacher": TEACHER,
    }


CHAT = {  # a dataset chat: reasoning beside the content of both assistant turns
    "messages": [
        USER,
        {"role": "assistant", "content": "2", "reasoning_content": "one and one"},
        USER2,
        {"role": "assistant", "content": "4", "reasoning_content": "two and two"},
    ]
}


def train_rows(tmp_path, tok, rows):
    """[(ids, full text, [each trained span's text])] of `distill train`'s tokenized rows, after
    its pre-flight (which raises on a problem)."""
    from distill.train import TrainConfig, build_dataset
    from distill.train.sft import show_examples

    data = tmp_path / "data.jsonl"
    data.write_text("".join(json.dumps(r) + "\n" for r in rows))
    cfg = TrainConfig(
        data=str(data),
        model=str(tmp_path / "student"),
        output_dir=str(tmp_path / "out"),
        max_length=4096,
        show_example=len(rows) + 2,
    )
    ds, _ = build_dataset(cfg, tok)
    show_examples(cfg, tok, ds)
    return [
        (ids, tok.decode(ids), [tok.decode(ids[a:b]) for a, b in spans(mask)])
        for ids, mask in zip(ds["input_ids"], ds["completion_mask"])
    ]


def rendered(tok, msgs, **kw) -> str:
    return tok.apply_chat_template(msgs, tokenize=False, **kw)


@pytest.mark.parametrize(
    "name, key",
    [
        ("gpt-oss", "thinking"),
        ("glm-4.6", "reasoning_content"),
        ("qwen3", "reasoning_content"),
        ("ministral-3-reasoning", REASONING_CHUNKS),
        ("smollm3", None),
        ("phi-4-reasoning", None),
        ("olmo-3-think", None),
    ],
)
def test_where_each_template_reads_the_reasoning(name, key):
    found = reasoning_key(tokenizer(name))
    if key == "thinking":  # (transformers 5 fills `thinking` from `reasoning_content`: either)
        assert found in ("reasoning_content", "thinking")
    else:
        assert found == key


# =========================================================================== gpt-oss (harmony)

HARMONY_TURN = (
    "<|channel|>analysis<|message|>one and one<|end|>"
    "<|start|>assistant<|channel|>final<|message|>2<|return|>"
)


def test_gpt_oss_trains_the_analysis_and_final_channels_after_the_generation_prompt(tmp_path):
    tok = tokenizer("gpt-oss")
    [(ids, text, trained)] = train_rows(tmp_path, tok, [record("one and one", "2")])
    gen = rendered(tok, [USER], add_generation_prompt=True)
    done = rendered(tok, [USER, {"role": "assistant", "content": "2", "thinking": "one and one"}])
    assert gen.endswith("<|start|>user<|message|>What is 1+1?<|end|><|start|>assistant")
    assert done == gen + HARMONY_TURN
    assert (text, trained) == (done, [HARMONY_TURN])
    assert "<think>" not in text
    # the channel, message and end tokens are the tokenizer's own special tokens, each one token
    n = len(tok(HARMONY_TURN, add_special_tokens=False)["input_ids"])
    tokens = tok.convert_ids_to_tokens(ids[-n:])
    assert tokens[0] == "<|channel|>" and tokens[-1] == "<|return|>"
    assert {"<|message|>", "<|end|>", "<|start|>"} <= set(tokens)


def test_gpt_oss_a_reply_without_reasoning_trains_the_final_channel(tmp_path):
    tok = tokenizer("gpt-oss")
    # a reply with no reasoning, and one with the empty think block of a Qwen3 non-thinking turn
    empty = {"messages": [USER, {"role": "assistant", "content": "<think>\n\n</think>\n\n2"}]}
    got = train_rows(tmp_path, tok, [record(None, "2"), empty])
    done = rendered(tok, [USER, {"role": "assistant", "content": "2"}])
    assert got[0][1:] == got[1][1:] == (done, ["<|channel|>final<|message|>2<|return|>"])


def test_gpt_oss_a_chat_drops_the_earlier_turns_thinking_and_ends_them_with_end(tmp_path):
    tok = tokenizer("gpt-oss")
    got = train_rows(tmp_path, tok, [CHAT])
    assert [t for _, _, t in got] == [
        [HARMONY_TURN],
        [HARMONY_TURN.replace("one and one", "two and two").replace(">2<", ">4<")],
    ]
    second = got[1][1]
    history = "<|start|>assistant<|channel|>final<|message|>2<|end|><|start|>user"
    assert history in second and "one and one" not in second
    thinking = [
        {**m, "thinking": m["reasoning_content"]} if m["role"] == "assistant" else m
        for m in CHAT["messages"]
    ]
    assert second == rendered(tok, thinking)


def test_gpt_oss_prompt_is_the_generation_prompt_eval_sends(tmp_path):
    # the prefix trained is byte-for-byte the prompt the student is asked with: '<|start|>assistant'
    # and nothing after it (the model writes its channel itself)
    tok = tokenizer("gpt-oss")
    r = Renderer(tok, "r1")
    from distill.examples import load_examples

    data = tmp_path / "d.jsonl"
    data.write_text(json.dumps(record("one and one", "2")) + "\n")
    [ex] = list(load_examples(str(data)))
    assert r.prompt_text(ex) == rendered(tok, [USER], add_generation_prompt=True)
    assert r.completion_text(ex) == HARMONY_TURN


# =========================================================================== GLM-4.5 / 4.6


def test_glm_trains_its_own_think_block_and_keeps_an_empty_one_in_the_history(tmp_path):
    tok = tokenizer("glm-4.6")
    [(_, text, trained)] = train_rows(tmp_path, tok, [record("one and one", "2")])
    gen = rendered(tok, [USER], add_generation_prompt=True)
    assert gen == "[gMASK]<sop><|user|>\nWhat is 1+1?<|assistant|>"
    # the template's turn, '\n<think>R</think>\nA' (no newlines inside the block), then EOS: the
    # template writes no end of turn of its own
    assert trained == ["\n<think>one and one</think>\n2<|endoftext|>"]
    done = rendered(
        tok, [USER, {"role": "assistant", "content": "2", "reasoning_content": "one and one"}]
    )
    assert text == done + "<|endoftext|>"
    got = train_rows(tmp_path, tok, [CHAT])
    assert [t for _, _, t in got] == [
        ["\n<think>one and one</think>\n2<|endoftext|>"],
        ["\n<think>two and two</think>\n4<|endoftext|>"],
    ]
    assert got[1][1] == rendered(tok, CHAT["messages"]) + "<|endoftext|>"
    assert "<|assistant|>\n<think></think>\n2<|user|>" in got[1][1]


# =========================================================================== Mistral [THINK]


def test_mistral_reasoning_template_trains_the_think_tokens_not_think_text(tmp_path):
    tok = tokenizer("ministral-3-reasoning")
    [(ids, text, trained)] = train_rows(tmp_path, tok, [record("one and one", "2")])
    assert trained == ["[THINK]one and one[/THINK]2</s>"]
    chunks = [{"type": "thinking", "thinking": "one and one"}, {"type": "text", "text": "2"}]
    assert text == rendered(tok, [USER, {"role": "assistant", "content": chunks}])
    assert text.startswith("<s>[SYSTEM_PROMPT]# HOW YOU SHOULD THINK AND ANSWER")
    assert "<think>" not in text
    tokens = tok.convert_ids_to_tokens(ids)
    # the system prompt's pair and the reply's
    assert tokens.count("[THINK]") == 2 and tokens.count("[/THINK]") == 2
    # a chat: the template keeps each turn's thinking, so one row trains both turns
    [(_, text, trained)] = train_rows(tmp_path, tok, [CHAT])
    assert trained == ["[THINK]one and one[/THINK]2</s>", "[THINK]two and two[/THINK]4</s>"]


# =========================================================================== the think block in content


def test_smollm3_trains_the_think_block_in_its_content(tmp_path):
    tok = tokenizer("smollm3")
    [(_, text, trained)] = train_rows(tmp_path, tok, [record("one and one", "2")])
    assert text.endswith("<|im_start|>assistant\n<think>\none and one\n</think>\n\n2<|im_end|>\n")
    assert trained == ["<think>\none and one\n</think>\n\n2<|im_end|>\n"]
    assert "Reasoning Mode: /think" in text
    # the template keeps the earlier turn's think block in the history: one row, both trained
    [(_, _, trained)] = train_rows(tmp_path, tok, [CHAT])
    assert trained == [
        "<think>\none and one\n</think>\n\n2<|im_end|>\n",
        "<think>\ntwo and two\n</think>\n\n4<|im_end|>\n",
    ]


def test_smollm3_no_think_trains_the_answer_after_the_empty_block_and_refuses_reasoning(tmp_path):
    tok = tokenizer("smollm3")
    system = {"role": "system", "content": "Be brief. /no_think"}
    [(_, text, trained)] = train_rows(tmp_path, tok, [record(None, "2", (system, USER))])
    assert text.endswith("<|im_start|>assistant\n<think>\n\n</think>\n2<|im_end|>\n")
    assert trained == ["2<|im_end|>\n"]
    # reasoning after the pre-filled empty block would teach the student to think when told not to
    with pytest.raises(DistillError, match="no-thinking mode") as e:
        train_rows(tmp_path, tok, [record("one and one", "2", (system, USER))])
    assert "\n" not in str(e.value)


def test_phi4_reasoning_trains_the_think_block_under_its_fixed_system_prompt(tmp_path):
    tok = tokenizer("phi-4-reasoning")
    [(_, text, trained)] = train_rows(tmp_path, tok, [record("one and one", "2")])
    assert text.startswith("<|im_start|>system<|im_sep|>You are Phi, a language model")
    assert text.endswith(
        "<|im_start|>assistant<|im_sep|><think>\none and one\n</think>\n\n2<|im_end|>"
    )
    assert trained == ["<think>\none and one\n</think>\n\n2<|im_end|>"]


def test_olmo3_think_trains_after_its_prefilled_think(tmp_path):
    tok = tokenizer("olmo-3-think")
    [(_, text, trained)] = train_rows(tmp_path, tok, [record("one and one", "2")])
    assert rendered(tok, [USER], add_generation_prompt=True).endswith(
        "<|im_start|>assistant\n<think>"
    )
    assert text.endswith("<|im_start|>assistant\n<think>\none and one\n</think>\n\n2<|endoftext|>")
    assert trained == ["\none and one\n</think>\n\n2<|endoftext|>"]
    assert text.count("<think>") == 1


def test_qwen3_hybrid_reasoning_empty_block_and_earlier_turns_dropped(tmp_path):
    tok = tokenizer("qwen3")
    [(_, text, trained)] = train_rows(tmp_path, tok, [record("one and one", "2")])
    assert trained == ["<think>\none and one\n</think>\n\n2<|im_end|>\n"]
    assert text == rendered(
        tok, [USER, {"role": "assistant", "content": "2", "reasoning_content": "one and one"}]
    )
    # no reasoning: the empty block Qwen3 writes before an answer alone (its non-thinking turn)
    [(_, _, trained)] = train_rows(tmp_path, tok, [record(None, "2")])
    assert trained == ["<think>\n\n</think>\n\n2<|im_end|>\n"]
    got = train_rows(tmp_path, tok, [CHAT])
    assert [t for _, _, t in got] == [
        ["<think>\none and one\n</think>\n\n2<|im_end|>\n"],
        ["<think>\ntwo and two\n</think>\n\n4<|im_end|>\n"],
    ]
    assert "one and one" not in got[1][1]  # the template drops an earlier turn's reasoning
    assert got[1][1] == rendered(tok, CHAT["messages"])
