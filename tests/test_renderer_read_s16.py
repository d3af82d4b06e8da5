"""Second read of 78b9aaf (a reply's ids are the whole text's after its prompt's; the ' ' of
Mistral's and Llama-2's `[/INST] ` + reply is the reply's first character; char_ends reads such a
text as running text).

- A chat merges into one row where each turn's context is the prompt inference tokenizes for it.
  A last reply whose first token merges with its prompt's last (Qwen2.5 writes the content as it
  is after 'assistant\\n'; a reply '\\n\\n12' reads 'ĊĊ' 'Ċ' in the whole text) trains the reply
  alone in its own row (ids_after); the merge refused it, so the chat became a row per turn: every
  earlier turn's history trained again, where one row holds the same tokens (as before 78b9aaf).
- char_ends read a reply that starts with more than the space a SentencePiece decoder strips
  (Mistral-7B-Instruct-v0.1's template writes ' ' + content untrimmed: a reply ' the' is
  '[/INST]  the'; Mixtral's '[/INST]' + '  the') as the tokens decoded alone: `▁▁` read one space,
  the text did not match, and cross-tokenizer kd refused the row as unreadable.

Templates: tests/fixtures/chat_templates (qwen2.5-instruct, mixtral) and Mistral-7B-Instruct-v0.1's
(tests/test_mistral_turns_s16.py). Tokenizers: a byte-level BPE trained here with merges over
newlines, and the SentencePiece-style ones of tests/test_xtok_spm_s10.py.
"""

from pathlib import Path

import pytest

from distill.examples import Example, Renderer, spans
from distill.logprobs import char_ends
from tests.test_mistral_turns_s16 import MISTRAL_V01
from tests.test_xtok import bpe
from tests.test_xtok_spm_s10 import spm

FIXTURES = Path(__file__).parent / "fixtures" / "chat_templates"


def ids(tok, text):
    return tok(text, add_special_tokens=False)["input_ids"]


def qwen():
    """Qwen2.5's template on a byte-level BPE whose merges join newlines ('ĊĊ'), as Qwen's."""
    corpus = ["the answer\n\n12\n\nx = 12\n\nuser\n\nassistant\n\n", "a b\n\nwhy 12 it is\n\n"]
    tok = bpe(400, corpus * 30, end="<|im_end|>")
    tok.add_special_tokens({"additional_special_tokens": ["<|im_start|>"]})
    tok.chat_template = (FIXTURES / "qwen2.5-instruct.jinja").read_text()
    return tok


def test_a_chat_whose_last_reply_opens_with_newlines_is_one_row():
    tok = qwen()
    prompt = [
        {"role": "user", "content": "x = 12"},
        {"role": "assistant", "content": "the answer"},
        {"role": "user", "content": "a b"},
    ]
    ex = Example(prompt=prompt, completion="\n\n12")
    gen = tok.apply_chat_template(prompt, tokenize=False, add_generation_prompt=True)
    # the case: the whole text reads the prompt's last '\n' into the reply's first token
    assert ids(tok, gen + "\n\n12")[: len(ids(tok, gen))] != ids(tok, gen)
    rows = Renderer(tok, "r1").sequences(ex)
    assert len(rows) == 1
    ((row, mask),) = rows
    (a0, b0), (a1, b1) = spans(mask)
    msgs = [*prompt, {"role": "assistant", "content": "\n\n12"}]
    for i, a in ((0, a0), (2, a1)):  # each turn's context: the prompt inference tokenizes
        text = tok.apply_chat_template(msgs[: i + 1], tokenize=False, add_generation_prompt=True)
        assert row[:a] == ids(tok, text)
    # the first turn as the history reads it, the last as its own row trains it (--train-on last)
    assert tok.decode(row[a0:b0]) == "the answer<|im_end|>\n"
    ((last, last_mask),) = Renderer(tok, "r1", train_on="last").sequences(ex)
    assert row == last and mask[a1:] == last_mask[a1:]
    assert row[a1:b1] == ids(tok, "\n\n12<|im_end|>\n")


def spm_student(kind, name):
    tok = spm(kind)
    tok.chat_template = (
        MISTRAL_V01 if name == "mistral-v0.1" else (FIXTURES / f"{name}.jinja").read_text()
    )
    return tok


def running_ends(tok, c):
    """Where each token's text ends, from each prefix decoded after a plain token ('a')."""
    (x,) = ids(tok, "a")
    head = tok.decode([x])
    out = []
    for k in range(1, len(c) + 1):
        out.append(len(tok.decode([x, *c[:k]], clean_up_tokenization_spaces=False)) - len(head))
    return out


@pytest.mark.parametrize(
    "name, kind, content",
    [
        ("mistral-v0.1", "strip", " the answer"),  # '[/INST]  the answer': `▁▁` `t` `he`
        ("mistral-v0.1", "strip", "  12 is it"),
        ("mistral-v0.1", "metaspace", "  the answer"),  # `▁▁` `▁the`
        ("mixtral", "strip", "  the answer"),  # '[/INST]  the answer'
        ("mixtral", "metaspace", "   x = 12"),
    ],
)
def test_char_ends_reads_a_reply_that_starts_with_several_spaces(name, kind, content):
    tok = spm_student(kind, name)
    r = Renderer(tok, "r1")
    ex = Example(prompt=[{"role": "user", "content": "x"}], completion=content)
    _, c = r.encode(ex)
    text = r.completion_text(ex)
    assert text.startswith("  ") and tok.convert_ids_to_tokens(c[:1])[0].startswith("▁")
    assert char_ends(tok, c, text) == running_ends(tok, c)
    assert running_ends(tok, c)[-1] == len(text)
    # the tokens' own decoding (no leading space stripped twice) reads as before
    decoded = tok.decode(c, clean_up_tokenization_spaces=False)
    assert char_ends(tok, c, decoded)[-1] == len(decoded)
