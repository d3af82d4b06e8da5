"""The tokens `distill train` puts under the loss are the whole rendered chat's after each turn's
prompt, and each turn's context is its generation prompt tokenized alone (what TRL reads and
inference sends) - now read once, not once per turn.

- SmolLM3's template writes an assistant message as `content.lstrip("\\n")` (Qwen3's its last turn
  so too): a reply that opened with a newline trained it (the student learnt a newline its
  history never shows), and a chat with such a turn became a row per turn. content_trims probed
  only for `| trim` (spaces and newlines together).
- Mistral-7B-Instruct-v0.1's template writes ' ' + content untrimmed: a reply that opens with a
  space is '[/INST]  the' in the chat, and that is what is trained (two spaces: the template's and
  the reply's own), token for token.
- Renderer.encode tokenized each prompt twice (alone, then again at the head of the whole text:
  every row of a Qwen3 / R1-Distill chat, whose rows each hold their history); a chat merged into
  one row under a SentencePiece tokenizer that reads a piece's first space as its own (Llama-2's,
  Mixtral's) tokenized every turn's prompt alone, O(n^2) in the chat's length. A text that goes
  on from the one before now keeps that one's ids up to its last added token (the tokenizer cuts
  a text there before reading it) and only the rest is read; the ids are the same as the exact
  path's, which a tokenizer that reads its text in Python keeps.

Templates: tests/fixtures (real checkpoints' strings), Llama-2-chat's and Mistral v0.1's
(tests/test_mistral_turns_s16.py). Tokenizers: tests/tiny.py's byte-level BPE and the
SentencePiece-style ones of tests/test_xtok_spm_s10.py.

    .venv/bin/python -m pytest tests/test_render_s17.py -q
"""

from __future__ import annotations

import random
from pathlib import Path

import pytest
from tokenizers import AddedToken

from distill.examples import Example, Renderer, spans
from tests.test_examples import real_template_tokenizer
from tests.test_mistral_turns_s16 import LLAMA2, MISTRAL_V01, student
from tests.test_reasoning_templates_s15 import tokenizer as reasoning_tokenizer
from tests.test_xtok_spm_s10 import spm

FIXTURES = Path(__file__).parent / "fixtures" / "chat_templates"
MIXTRAL = (FIXTURES / "mixtral.jinja").read_text()


def ids(tok, text):
    return tok(text, add_special_tokens=False)["input_ids"]


def trained_as_the_chat_reads(tok, prompt, reply):
    """Renderer rows of `prompt` + `reply`, each trained turn checked: its context is the ids of
    the generation prompt alone, its tokens the whole chat's after them. -> (rows, turns' ids)"""
    rows = Renderer(tok, "r1").sequences(Example(prompt=prompt, completion=reply))
    msgs = [*prompt, {"role": "assistant", "content": reply}]
    turns = [(row, a, b) for row, mask in rows for a, b in spans(mask)]
    ends = [i for i, m in enumerate(msgs) if m["role"] == "assistant"]
    assert len(turns) == len(ends)
    got = []
    for (row, a, b), i in zip(turns, ends, strict=True):
        gen = ids(
            tok, tok.apply_chat_template(msgs[:i], tokenize=False, add_generation_prompt=True)
        )
        full = ids(tok, tok.apply_chat_template(msgs[: i + 1], tokenize=False))
        assert row[:a] == gen
        assert row[a:b] == full[len(gen) :][: b - a] and b - a == len(full) - len(gen)
        got.append(row[a:b])
    return rows, got


def chat(*turns):
    return [{"role": r, "content": c} for r, c in zip(["user", "assistant"] * 50, turns)]


# ------------------------------------------------------------- what the template strips


@pytest.mark.parametrize("reply", ["\n\nx = 12", "\nthe answer", "\n \nx\n\n"])
def test_smollm3_trains_a_reply_without_the_newlines_its_template_strips(reply):
    tok = reasoning_tokenizer("smollm3")
    rows, turns = trained_as_the_chat_reads(tok, chat("x = 12", reply, "a b"), reply)
    assert len(rows) == 1  # one row: the history reads as its turns were trained
    assert not tok.decode(turns[-1]).startswith("\n")
    # spaces are the reply's own: the template strips newlines alone
    _, turns = trained_as_the_chat_reads(tok, chat("x"), " \nx")
    assert tok.decode(turns[0]).startswith(" \nx")


def test_qwen3_trains_a_marked_reply_without_the_newline_its_template_strips():
    # --keep-markers: thought/solution markers train verbatim, not behind the empty think block;
    # the template writes the content lstrip('\n') all the same
    tok = real_template_tokenizer("qwen3")
    reply = "\n<|begin_of_thought|>T<|end_of_thought|><|begin_of_solution|>S<|end_of_solution|>"
    ((row, mask),) = Renderer(tok, "r1").sequences(Example(prompt=chat("x"), completion=reply))
    ((a, b),) = spans(mask)
    assert tok.decode(row[a:b]) == reply.lstrip("\n") + "<|im_end|>\n"


@pytest.mark.parametrize("kind", ["bpe", "strip", "metaspace"])
def test_mistral_v01_trains_a_reply_opening_with_a_space_as_its_template_writes_it(kind):
    tok = student(kind, "mistral-v0.1")
    reply = " the answer"
    full = tok.apply_chat_template(chat("x = 12", reply), tokenize=False)
    assert "[/INST]  the answer</s>" in full  # the template's space, then the reply's own
    for prompt in (chat("x = 12"), chat("x = 12", reply, "a b")):
        rows, turns = trained_as_the_chat_reads(tok, prompt, reply)
        assert len(rows) == 1
        assert tok.decode(turns[-1], clean_up_tokenization_spaces=False).endswith("the answer</s>")


# ------------------------------------------------------------- each text read once


def exact(tok):
    """`tok` as a tokenizer that reads its text in Python (a subclass of its own _encode_plus):
    the Renderer reads each text whole there, as it always did."""

    class ReadsInPython(type(tok)):
        def _encode_plus(self, *args, **kwargs):
            return super()._encode_plus(*args, **kwargs)

    tok.__class__ = ReadsInPython
    return tok


def odd_tokens(tok):
    """Added tokens matched by what is around them, or part of another: not cut at."""
    tok.add_tokens(
        [
            AddedToken("<L>", lstrip=True, normalized=False, special=True),
            AddedToken("<R>", rstrip=True, normalized=False, special=True),
            AddedToken("<W>", single_word=True, normalized=False),
            AddedToken("zz", normalized=True),
            AddedToken("<x>", normalized=False, special=True),
            AddedToken("<x>y", normalized=False, special=True),
        ]
    )
    return tok


STUDENTS = {
    "chatml-bpe": lambda: odd_tokens(real_template_tokenizer("qwen2.5-instruct")),
    "r1-bpe": lambda: real_template_tokenizer("deepseek-r1-distill-qwen"),
    "qwen3-bpe": lambda: real_template_tokenizer("qwen3"),
    "llama-2-strip": lambda: odd_tokens(spm("strip")),
    "llama-2-metaspace": lambda: spm("metaspace"),
    "mixtral-strip": lambda: spm("strip"),
    "mixtral-metaspace": lambda: odd_tokens(spm("metaspace")),
    "mistral-v0.1-metaspace": lambda: spm("metaspace"),
}
TEMPLATES = {"llama-2": LLAMA2, "mixtral": MIXTRAL, "mistral-v0.1": MISTRAL_V01}


def make(name):
    tok = STUDENTS[name]()
    family = name.rsplit("-", 1)[0]
    if family in TEMPLATES:
        tok.chat_template = TEMPLATES[family]
    return tok


@pytest.mark.parametrize("name", sorted(STUDENTS))
def test_a_chat_reads_to_the_same_ids_as_each_text_read_whole(name):
    tok, whole = make(name), exact(make(name))
    pieces = [*tok.all_special_tokens, "<L>", "<R>", "<W>", "zz", "<x>", "<x>y", "y", "the"]
    pieces += [" answer", "\n", "\n\n", " ", "  ", "x", "12", " 中文", "🙂", "é", "a b", "\t", "<"]
    rand = random.Random(0)

    def text():
        return "".join(rand.choice(pieces) for _ in range(rand.randint(0, 14)))

    for _ in range(60):
        turns = [text() for _ in range(2 * rand.randint(1, 4))]
        ex = Example(prompt=chat(*turns[:-1]), completion=turns[-1])
        for train_on in ("all", "last"):
            got = Renderer(tok, "r1", train_on=train_on).sequences(ex)
            assert got == Renderer(whole, "r1", train_on=train_on).sequences(ex), turns


def counting(tok):
    """`tok`, counting the characters it is asked to read (tok.read)."""

    class Counting(type(tok)):
        def __call__(self, text, *args, **kwargs):
            self.read += sum(map(len, [text] if isinstance(text, str) else text))
            return super().__call__(text, *args, **kwargs)

    tok.__class__ = Counting
    tok.read = 0
    return tok


WORDS = "the answer is 12 + 34 = 46 let me add numbers and check a b x y".split()


def words(rand, n):
    return " ".join(rand.choice(WORDS) for _ in range(n))


@pytest.mark.parametrize("name", ["llama-2-strip", "mixtral-strip", "mixtral-metaspace"])
def test_a_long_chat_merged_into_one_row_is_read_once_not_once_per_turn(name):
    rand = random.Random(1)
    tok = counting(make(name))
    turns = [words(rand, 30) for _ in range(40)]
    rows, _ = trained_as_the_chat_reads(tok, chat(*turns[:-1]), turns[-1])
    assert len(rows) == 1
    # the chat as the parts (each turn's prompt text, each reply) and the whole (the one-call
    # check whether they read alike), then each turn's prompt from its last cut on: ~3 times its
    # length; each turn's prompt read whole was ~20 times
    tok.read = 0
    Renderer(tok, "r1").sequences(Example(prompt=chat(*turns[:-1]), completion=turns[-1]))
    full = tok.apply_chat_template(chat(*turns), tokenize=False)
    assert tok.read < 4 * len(full)


@pytest.mark.parametrize("name", ["qwen3", "deepseek-r1-distill-qwen"])
def test_a_row_per_turn_reads_each_prompt_once(name):
    # Qwen3 and R1-Distill drop an earlier turn's reasoning: a row per turn, each under its
    # history; its prompt was read alone and again at the head of the whole text
    rand = random.Random(2)
    tok = counting(real_template_tokenizer(name))
    turns = []
    for _ in range(6):
        turns += [words(rand, 60), f"<think>\n{words(rand, 120)}\n</think>\n\n{words(rand, 20)}"]
    ex = Example(prompt=chat(*turns[:-1]), completion=turns[-1])
    r = Renderer(tok, "r1")
    rows = r.sequences(ex)
    assert len(rows) == 6
    tok.read = 0
    assert r.sequences(ex) == rows
    # what the rows hold: each its prompt and its turn (the reasoning the template drops from
    # the history is trained in its own turn), each read once, and a turn's header again
    held = sum(
        len(r.prompt_text(Example(prompt=chat(*turns[:k]), completion=turns[k]))) + len(turns[k])
        for k in range(1, 12, 2)
    )
    assert tok.read < held + 100 * len(rows)
