"""Second read of 5d146cc (an R1 trace stored without its `<think>`, 'R\\n</think>\\n\\nA', trained
as the whole block '<think>\\nR\\n</think>\\n\\nA' under a template whose generation prompt opens
none) and 66a2980 (an alpaca / raw row on a tokenizer that adds EOS after a text: one EOS, at
the end):

- examples.lone_close took any text whose one `</think>` ended its line for such a trace, so an
  answer that names the tag was rewritten into a think block, its head trained as reasoning (under
  gpt-oss's template: moved to the analysis channel, out of the answer): the tag at the end of a
  sentence ('R1 then writes </think>\\n'), quoted ('> </think>'), in a list, in a code block (a
  fence open before it, or indented 4 spaces). The tag must now open its line (as R1 writes it)
  outside any code block; a trace whose reasoning holds a closed code block is still read.
- The same reading (examples.prefilled_block) split such an answer under Qwen3's and GLM's
  templates (e688b9a's, s18's), its head trained as reasoning: kept whole there now too (an empty
  reasoning under their key), as an answer naming the tag inline was.
- export (messages, without --model) wrote such a trace as it is: with --reasoning-key its
  reasoning stayed in the content (gpt-oss's final channel under TRL, where distill train puts it
  in the analysis channel), without, a `</think>` the student never opened (OLMo-3-Think's
  finished turn lacks the `<think>` its generation prompt writes); it is written as train reads
  it now, the whole block.
- 66a2980 read an alpaca / raw prompt without the EOS such a tokenizer adds after a text, but
  examples.ids_after still read the whole text with it, so cross-tokenizer on-policy kd read a
  student's sample after such a teacher's prompt as '... 4.</s></s>': it spelled more than the
  sample, and the sample paired no teacher position. ids_after reads it as text_ids does now.

Old vs new fuzz (this reviewer's, 623817b and e688b9a against these commits): 23 templates x 2
train_on x 40 chats (system, tool and multi-turn, replies naming the tag in code, quotes, HTML
prose, a lone tag after whitespace) x 5 seeds: every chat without a lone-close turn has the same
ids, labels and prompt ids; alpaca / raw rows on 9 tokenizers that add no EOS: 720 of 720 same.
"""

from __future__ import annotations

import json

import pytest

from distill.examples import Example, Renderer, lone_close
from tests.test_reasoning_templates_s15 import USER, USER2
from tests.test_render_s19 import LONE, WHOLE, student

NAMES_THE_TAG = [
    "R1 ends its reasoning, then writes </think>\n\nand the answer after it.",  # a line's end
    "Its output reads:\n> </think>\n\nthe block is closed there.",  # quoted
    "The tags:\n- </think>\n- <answer>",  # a list
    "Close the block so:\n```\n</think>\n```\nthen answer.",  # a fenced code block
    "Close the block so:\n~~~text\n</think>\n~~~\nthen answer.",
    "Close the block so:\n\n    </think>\n\nthen answer.",  # an indented code block
    "In HTML-ish markup:\n```html\n<div>\n  R\n</think>\n```\nthe close has no open.",
]


@pytest.mark.parametrize("reply", NAMES_THE_TAG)
def test_an_answer_naming_the_tag_is_no_trace(reply):
    assert lone_close(reply) is None


@pytest.mark.parametrize(
    "trace, reasoning",
    [
        (LONE, "six and six"),
        ("Try code:\n```py\nx = 6 + 6\n```\nSo 12.\n</think>\n\n12", "Try code:\n```py\nx = 6 + 6"),
        ("six and six\n  </think>\n\n12", "six and six"),  # up to 3 spaces in: still its line
        ("six and six\r\n</think>\r\n\r\n12", "six and six"),
    ],
)
def test_a_trace_is_still_read_its_reasoning_in_the_block(trace, reasoning):
    whole = lone_close(trace)
    assert whole is not None and whole.startswith("<think>\n" + reasoning)
    assert whole.endswith("</think>\n\n12")


@pytest.mark.parametrize("reply", NAMES_THE_TAG)
@pytest.mark.parametrize("name", ["llama-3.1", "qwen2.5", "mistral-v0.3/bpe"])
def test_such_an_answer_trains_as_written_in_the_reply_and_the_history(name, reply):
    tok, model_eos = student(name)
    renderer = Renderer(tok, "r1", model_eos)
    trained = renderer.completion_text(Example(prompt=[USER], completion=reply))
    # (was: '<think>\n' + its head + '\n</think>\n\n' + its tail)
    assert reply.strip() in trained and "<think>" not in trained.replace(reply, "")
    chat = [USER, {"role": "assistant", "content": reply}, USER2]
    history = renderer.prompt_text(Example(prompt=chat, completion="4"))
    assert reply.strip() in history


def test_gpt_oss_keeps_such_an_answer_in_its_final_channel():
    tok, model_eos = student("gpt-oss")
    reply = NAMES_THE_TAG[3]
    trained = Renderer(tok, "r1", model_eos).completion_text(
        Example(prompt=[USER], completion=reply)
    )
    # (was: 'Close the block so:\n```' in the analysis channel, '```\nthen answer.' the answer)
    assert "<|channel|>analysis" not in trained
    assert trained.startswith("<|channel|>final<|message|>" + reply)


def exported(tmp_path, messages, **kw):
    from distill.train import ExportConfig, export

    data = tmp_path / "data.jsonl"
    data.write_text(json.dumps({"messages": messages}) + "\n")
    out = tmp_path / "out.jsonl"
    export(ExportConfig(data=str(data), out=str(out), **kw))
    return [json.loads(line) for line in out.read_text().splitlines()]


def test_export_writes_a_trace_without_its_think_as_train_reads_it(tmp_path):
    chat = [USER, {"role": "assistant", "content": LONE}]
    [row] = exported(tmp_path, chat, reasoning_key="thinking")
    # (was: content 'six and six\n</think>\n\n12', no reasoning under the key)
    assert row["messages"][-1] == {"role": "assistant", "content": "12", "thinking": "six and six"}
    [row] = exported(tmp_path, chat)
    assert row["messages"][-1] == {"role": "assistant", "content": WHOLE}  # (was: LONE)
    # an answer that names the tag stays whole
    chat = [USER, {"role": "assistant", "content": NAMES_THE_TAG[3]}]
    [row] = exported(tmp_path, chat, reasoning_key="thinking")
    assert row["messages"][-1] == chat[-1]


def test_export_and_train_read_a_traces_history_alike(tmp_path):
    """The exported chat, rendered by the student's template, is what distill train trains."""
    from tests.test_render_s19 import rows

    tok, _ = student("qwen2.5")
    chat = [USER, {"role": "assistant", "content": "one\n</think>\n\n2"}, USER2]
    chat.append({"role": "assistant", "content": LONE})
    (tmp_path / "e").mkdir()
    [row] = exported(tmp_path / "e", chat)
    assert rows(tmp_path, tok, [{"messages": row["messages"]}]) == rows(
        tmp_path, tok, [{"messages": chat}]
    )
    assert "<think>\none\n</think>" in tok.apply_chat_template(row["messages"], tokenize=False)


@pytest.mark.parametrize("reply", NAMES_THE_TAG)
@pytest.mark.parametrize("name", ["qwen3", "glm-4.6"])
def test_qwen3_and_glm_keep_such_an_answer_whole_too(name, reply):
    """Their templates cut a content at `</think>` themselves; an empty reasoning under their key
    keeps an answer whole (as one naming the tag inline), which the reading of an R1 trace
    (examples.prefilled_block) gave them only for a tag within a line."""
    from tests.test_reasoning_templates_s15 import tokenizer

    tok = tokenizer(name)
    trained = Renderer(tok, "r1").completion_text(Example(prompt=[USER], completion=reply))
    # (was: its head in the think block, its tail the answer)
    assert reply in trained
    assert (
        Renderer(tok, "r1")
        .completion_text(Example(prompt=[USER], completion=LONE))
        .startswith(
            {"qwen3": "<think>\nsix and six\n</think>", "glm-4.6": "\n<think>six and six</think>"}[
                name
            ]
        )
    )


# ================================ 66a2980: a tokenizer that adds EOS after a text, on policy


@pytest.mark.parametrize("fmt", ["alpaca", "raw"])
@pytest.mark.parametrize("name", ["llama-add-eos-token", "post-processor-bos-eos", "byt5"])
def test_a_sampled_reply_after_a_text_prompt_reads_as_a_kept_one(name, fmt):
    """Cross-tokenizer on-policy kd reads a student's sample after the teacher's prompt ids
    (prompt_ids: no EOS after the prompt since 66a2980) with examples.ids_after(special=None),
    as the teacher's encode reads a kept reply. Its whole text read with every special token
    held the EOS the tokenizer adds after a text behind the reply's own: '... 4.</s></s>',
    which spells more than the reply (char_ends None), so the sample paired no position."""
    from distill.examples import ids_after
    from distill.logprobs import char_ends
    from tests.test_render_s19 import ADDS_EOS, as_rows

    tok = ADDS_EOS[name]()
    renderer, ex, text = as_rows(tok, fmt)
    prompt, kept = renderer.encode(ex)
    reply = renderer.completion_text(ex, text)
    sampled = ids_after(tok, renderer.prompt_ids(ex), text, reply, special=None)
    assert sampled == kept  # (was: kept + [EOS] where the prompt now ends without one)
    assert char_ends(tok, sampled, reply) is not None
