"""How a training row is rendered into token ids (examples.Renderer), session 19:

- A DeepSeek-R1 trace stored without the `<think>` R1-Distill's generation prompt writes
  ('R\\n</think>\\n\\nA') was trained verbatim under any template whose generation prompt opens
  no think block and that does not split a reply at `</think>` itself (Llama-3.1, Qwen2.5,
  SmolLM2, Gemma, Mistral, SmolLM3, Phi-4-reasoning; gpt-oss and Ministral-3-reasoning, which
  read reasoning beside the content, trained it as the final answer): the student learnt to
  write a lone `</think>` it never opened. It is trained now as the record with that reasoning
  and answer is (`<think>\\nR\\n</think>\\n\\nA`, or the template's reasoning channel), ids and
  loss mask alike, in the last turn and the history. An answer naming the tag inline, a text
  with two `</think>`, and a trace after R1-Distill's own `<think>` pre-fill are as before.
- An alpaca / raw text row on a tokenizer that adds EOS after a text (add_eos_token, a
  post-processor '$A EOS', ByT5's) trained 'BOS prompt EOS completion EOS': the prompt's EOS in
  the middle, which the student learnt to read before every answer. Now 'BOS prompt completion
  EOS' (TRL's SFTTrainer: EOS once, at the end, trained); tokenizers that add nothing or BOS
  alone read the same ids as before (0 of 373 rows x 5 tokenizers differ, fuzzed against the
  code before).
"""

from __future__ import annotations

import json

import pytest

from distill.examples import Example, Renderer
from tests.test_reasoning_templates_s15 import USER, USER2, record
from tests.test_reasoning_templates_s15 import tokenizer as reasoning_tokenizer
from tests.test_reply_ids_s18 import TEMPLATES
from tests.tiny import CHATML, make_tokenizer

LONE = "six and six\n</think>\n\n12"  # as R1 writes after its '<think>\n'
WHOLE = "<think>\nsix and six\n</think>\n\n12"  # as the record's reasoning renders

# templates whose generation prompt opens no think block
OPEN_NONE = ["qwen2.5", "llama-3.1", "smollm2", "gemma-3", "mistral-v0.3/bpe", "llama-2/metaspace"]
REASONING = ["gpt-oss", "ministral-3-reasoning", "smollm3", "phi-4-reasoning"]


def student(name: str):
    if name in TEMPLATES:
        return TEMPLATES[name]()
    return reasoning_tokenizer(name), None


def rows(tmp_path, tok, data: list[dict]):
    """`distill train`'s tokenized rows (ids, loss mask) of `data`, after its pre-flight."""
    from distill.train import TrainConfig, build_dataset

    path = tmp_path / "data.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in data))
    cfg = TrainConfig(
        data=str(path), model=str(tmp_path / "s"), output_dir=str(tmp_path / "o"), max_length=4096
    )
    ds, _ = build_dataset(cfg, tok)
    return list(zip(ds["input_ids"], ds["completion_mask"]))


# ============================================== an R1 trace stored without its `<think>`


@pytest.mark.parametrize("name", OPEN_NONE + REASONING)
def test_a_trace_without_its_think_trains_as_the_record_with_that_reasoning(tmp_path, name):
    tok, model_eos = student(name)
    lone = Renderer(tok, "r1", model_eos).sequences(Example(prompt=[USER], completion=LONE))
    whole = Renderer(tok, "r1", model_eos).sequences(Example(prompt=[USER], completion=WHOLE))
    assert lone == whole
    (ids, mask), *_ = lone
    trained = tok.decode([i for i, m in zip(ids, mask) if m])
    # (was: 'six and six\n</think>\n\n12<eot>', a close without its open)
    assert "</think>" not in trained or "<think>" in trained
    # the same through `distill train`, a record's answer vs its reasoning + answer
    assert rows(tmp_path, tok, [record(None, LONE)]) == rows(
        tmp_path, tok, [record("six and six", "12")]
    )


@pytest.mark.parametrize("name", ["llama-3.1", "qwen2.5", "mistral-v0.3/bpe", "gpt-oss"])
def test_a_chats_turns_without_their_think_train_as_the_chat_with_its_reasoning(tmp_path, name):
    """Each assistant turn so stored (LF or CRLF) is the reasoning the chat would hold beside
    it, in its own trained turn and in the history of the next one."""
    tok, _ = student(name)
    stored = [
        USER,
        {"role": "assistant", "content": "one and one\n</think>\n\n2"},
        USER2,
        {"role": "assistant", "content": "two and two\r\n</think>\r\n\r\n4"},
    ]
    beside = [
        USER,
        {"role": "assistant", "content": "2", "reasoning_content": "one and one"},
        USER2,
        {"role": "assistant", "content": "4", "reasoning_content": "two and two"},
    ]
    assert rows(tmp_path, tok, [{"messages": stored}]) == rows(
        tmp_path, tok, [{"messages": beside}]
    )


@pytest.mark.parametrize(
    "reply",
    [
        "Close the block with </think>, then answer.",  # the tag named inline
        "Type\n</think>\nthen the answer. A second </think> too.",  # two tags
        "<think>\nR\n</think>\n\nA",  # a whole block already
        "\n</think>\n\nA",  # nothing before the tag
    ],
)
@pytest.mark.parametrize("name", ["llama-3.1", "qwen2.5"])
def test_other_replies_that_hold_the_tag_are_trained_as_written(name, reply):
    tok, model_eos = student(name)
    renderer = Renderer(tok, "r1", model_eos)
    assert reply.strip() in renderer.completion_text(Example(prompt=[USER], completion=reply))


def test_r1_distill_still_trains_the_trace_after_its_own_think_prefill():
    tok, _ = student("deepseek-r1-distill")
    renderer = Renderer(tok, "r1")
    (ids, mask), *_ = renderer.sequences(Example(prompt=[USER], completion=LONE))
    k = mask.index(1)
    assert tok.decode(ids[:k]).endswith("<｜Assistant｜><think>\n")
    assert tok.decode(ids[k:]) == LONE + "<｜end▁of▁sentence｜>"


def test_the_likelihood_judge_reads_the_trace_as_train_does():
    from tests.test_reply_ids_s18 import USER as ASKED
    from tests.test_reply_ids_s18 import judge_reads

    tok, model_eos = student("llama-3.1")
    p, c = Renderer(tok, "r1", model_eos).encode(Example(prompt=[ASKED], completion=LONE))
    assert judge_reads(tok, model_eos, LONE) == (p, c)
    assert tok.decode(c).startswith("<think>\nsix and six\n</think>")


# ========================================== alpaca / raw rows: a tokenizer that adds EOS


def llama_add_eos():
    """A LlamaTokenizerFast configured to add BOS and EOS (add_eos_token=True)."""
    from transformers import LlamaTokenizerFast

    base = make_tokenizer("llama")
    tok = LlamaTokenizerFast(
        tokenizer_object=base.backend_tokenizer,
        bos_token="<|begin_of_text|>",
        eos_token="<|end_of_text|>",
        add_bos_token=True,
        add_eos_token=True,
    )
    assert tok("a")["input_ids"][-1] == tok.eos_token_id
    return tok


def post_processed(family: str):
    from tests.test_reply_ids_review_s18 import eos_after

    tok, eos = eos_after(family)
    tok.eos_token = tok.convert_ids_to_tokens(eos)
    return tok


def byt5():
    from transformers import ByT5Tokenizer  # a slow tokenizer that adds EOS after a text

    return ByT5Tokenizer()


ADDS_EOS = {
    "llama-add-eos-token": llama_add_eos,
    "post-processor-eos": lambda: post_processed("qwen2"),
    "post-processor-bos-eos": lambda: post_processed("llama"),
    "byt5": byt5,
}
PROMPT = "What is 2+2?\nThink it over."
ANSWER = "The answer is 4."


def as_rows(tok, fmt: str):
    if not tok.chat_template:
        tok.chat_template = CHATML
    renderer = Renderer(tok, "alpaca" if fmt == "alpaca" else "r1")
    if fmt == "alpaca":
        ex = Example(prompt=[{"role": "user", "content": PROMPT}], completion=ANSWER,
                     instruction=PROMPT)  # fmt: skip
    else:
        ex = Example(prompt=[{"role": "user", "content": PROMPT}], completion=ANSWER, raw=True)
    return renderer, ex, renderer.prompt_text(ex)


@pytest.mark.parametrize("fmt", ["alpaca", "raw"])
@pytest.mark.parametrize("name", list(ADDS_EOS))
def test_a_text_row_trains_one_eos_at_the_end_not_after_the_prompt(name, fmt):
    tok = ADDS_EOS[name]()
    renderer, ex, text = as_rows(tok, fmt)
    ((ids, mask),) = renderer.sequences(ex)
    eos = tok.eos_token_id
    # the whole text as the tokenizer reads it, its one EOS at the end
    # (was: BOS prompt EOS completion EOS, the first EOS in the prompt)
    assert ids == tok(text + ANSWER, add_special_tokens=True)["input_ids"]
    assert ids.count(eos) == 1 and ids[-1] == eos
    prompt = renderer.prompt_ids(ex)
    assert eos not in prompt  # also the prompt on-policy kd generates from
    assert mask == [0] * len(prompt) + [1] * (len(ids) - len(prompt))
    assert ids[: len(prompt)] == prompt
    assert tok.decode(ids[len(prompt) :], skip_special_tokens=True) == ANSWER
