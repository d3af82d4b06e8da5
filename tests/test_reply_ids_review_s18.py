"""Review of e0713ed (one reading of a reply's ids: examples.ids_after; the likelihood judge reads
a chat as train does), 417ee3d (an alpaca / raw text row's whole text read on from its prompt's
last line: examples.line_prefix), 7aa862b (Qwen3's / GLM's template: an R1 trace stored without
its `<think>`) and 6c9114b (the likelihood judge's cache key).

Checked against the code before e0713ed (its examples.py, select/reward.py, train/kd/xtok.py
loaded as modules of their own) on random alpaca and raw rows and chats (unicode, whitespace
runs, CRLF, tabs, digits, emoji, combining marks, text that looks like special tokens, prompts
of 30k characters) through the builtin SmolLM2's and gemma-3-270m's tokenizers, the tiny ones
of tests/tiny.py and variants (Llama-3's and Qwen2's split regex, NFC, individual digits,
ByteLevel's trimmed offsets, a `ĊĊ` merge): train's ids and loss mask unchanged, line_prefix
taken on ~70% of the rows of the tokenizers it accepts; 7aa862b changes what Qwen3, Qwen3-2507
and GLM-4.6 train (as their templates read such a turn) and no other of 29 templates. One
misread, fixed here:

- the likelihood judge without a chat template (a base model), whose tokenizer adds EOS after a
  text (a post-processor '$A EOS', add_eos_token): e0713ed read the prompt's ids (EOS last)
  then the reply's after them, so the reply was scored after an end of text, and the EOS that
  ends the text dropped; before, and now again, the whole text as the tokenizer reads it, the
  reply's tokens from the first that differs from the prompt's.
"""

from __future__ import annotations

import random

import pytest

from distill.examples import Example, Renderer, line_prefix
from tests.tiny import make_tokenizer

USER = {"role": "user", "content": "What is 2+2?"}


def ids(tok, text, special=False):
    return tok(text, add_special_tokens=special)["input_ids"]


def eos_after(family: str):
    """A tiny tokenizer without a chat template that adds EOS after a text (and BOS before it,
    for the Llama family)."""
    from tokenizers import processors

    tok = make_tokenizer(family)
    eos = "<|end_of_text|>" if family == "llama" else "<|endoftext|>"
    specials = [(eos, tok.convert_tokens_to_ids(eos))]
    single = f"$A {eos}"
    if family == "llama":
        single = f"{tok.bos_token} {single}"
        specials.append((tok.bos_token, tok.bos_token_id))
    tok.backend_tokenizer.post_processor = processors.TemplateProcessing(
        single=single, special_tokens=specials
    )
    tok.chat_template = None
    return tok, tok.convert_tokens_to_ids(eos)


# ====================================================== the judge without a chat template


@pytest.mark.parametrize("family", ["qwen2", "llama"])
def test_a_base_judge_whose_tokenizer_adds_eos_scores_the_reply_in_the_text(family):
    from distill.select import reward

    tok, eos = eos_after(family)
    for reply in ["the answer is 4", " 4", "\n4", ": 4", "4"]:
        chat = [USER, {"role": "assistant", "content": reply}]
        row, start = reward.reply_ids(tok, chat)
        prompt = reward.render(tok, chat[:-1]) + "\n\nassistant: "
        # the text as the model reads it, its EOS at the end: not after the prompt, the reply
        # scored after an end of text (was: prompt ids, EOS, then the reply's ids alone)
        assert row == ids(tok, prompt + reply, True), reply
        assert eos not in row[:-1] and row[-1] == eos
        # the reply's tokens: its own (' the' where the prompt's ' ' merged into it)
        head = tok.decode(row[:start], skip_special_tokens=True)
        assert head in (prompt, prompt[:-1]), reply
        assert head + tok.decode(row[start:], skip_special_tokens=True) == prompt + reply


# ================================================================ alpaca and raw text rows


def rand_text(rng: random.Random) -> str:
    pieces = [
        "the", "answer", "café", "e\u0301", "\u0301", "中文", "🙂", "👨\u200d👩\u200d👧", "12345678",
        "3.14", "'s", "'LL", " ", "  ", "\t", "\n", "\n\n", "\r\n", "\r", "\u00a0", "\u2028",
        "\x0b", "\x1c", "<|im_start|>", "<|endoftext|>", "<|begin_of_text|>", "<think>", "</think>",
        "<s>", "[INST]", "### Response:", "Answer:", ":", "!!", "ß", "ﬁ", "①", "\n- ", "Q:",
    ]  # fmt: skip
    text = "".join(rng.choice(pieces) for _ in range(rng.randrange(0, 12)))
    if rng.random() < 0.1:
        text *= 40
    if rng.random() < 0.2:
        text += rng.choice([" ", "\n", "\n\n", " \n", "\t", "\r\n"])
    return text


def split_tokenizer(which: str):
    from tests.test_reply_ids_s18 import split_tokenizer

    return split_tokenizer(which)


def trimmed_offsets():
    from tokenizers import processors

    tok = make_tokenizer("qwen2")
    tok.backend_tokenizer.post_processor = processors.ByteLevel(trim_offsets=True)
    return tok


def single_digits():
    from tokenizers import pre_tokenizers

    tok = make_tokenizer("llama")
    tok.backend_tokenizer.pre_tokenizer = pre_tokenizers.Sequence(
        [
            pre_tokenizers.Digits(individual_digits=True),
            pre_tokenizers.ByteLevel(add_prefix_space=False),
        ]
    )
    return tok


READ_ON = {  # tokenizers line_prefix accepts
    "tiny-qwen2": lambda: make_tokenizer("qwen2"),
    "tiny-llama": lambda: make_tokenizer("llama"),
    "llama-3-split": lambda: split_tokenizer("llama-3"),
    "qwen2-split-nfc": lambda: split_tokenizer("qwen2"),
    "trimmed-offsets": trimmed_offsets,
    "single-digits": single_digits,
}


def whole_read(tok, prompt: str, completion: str):
    """(prompt ids, completion ids) as train read an alpaca / raw text row before 417ee3d: the
    prompt alone, then the whole text (the completion alone where it reads the prompt
    otherwise), each with the tokenizer's special tokens, but for those it adds after a text
    (EOS: the completion ends with its own; tests/test_render_s19.py)."""
    plain, added = ids(tok, "a"), ids(tok, "a", True)
    before = added.index(plain[0])
    after = added[before + len(plain) :]

    def special(text: str) -> list[int]:
        got = ids(tok, text, True)
        put = len(got) - len(ids(tok, text)) - before  # (ByT5 adds none after a '</s>')
        return got[: len(got) - len(after)] if after and put >= len(after) else got

    p = special(prompt)
    whole = special(prompt + completion)
    return p, whole[len(p) :] if whole[: len(p)] == p else ids(tok, completion)


@pytest.mark.parametrize("name", list(READ_ON))
def test_rows_read_on_from_a_line_train_the_ids_and_labels_read_whole(name):
    tok = READ_ON[name]()
    assert line_prefix(tok) is not None
    raw, alpaca = Renderer(tok, "r1"), Renderer(tok, "alpaca")
    rng = random.Random(18)
    for _ in range(150):
        prompt = rand_text(rng) + "\n" + rand_text(rng)
        completion = rand_text(rng) or "x"
        ex = Example(prompt=[{"role": "user", "content": prompt}], completion=completion, raw=True)
        p, c = whole_read(tok, prompt, completion + tok.eos_token)
        assert raw.sequences(ex) == [(p + c, [0] * len(p) + [1] * len(c))], (prompt, completion)
        row = Example(prompt=[{"role": "user", "content": "i"}], completion=completion,
                      instruction=rand_text(rng) or "i", input=prompt)  # fmt: skip
        if not row.answer.strip():
            continue
        text = alpaca.prompt_text(row)
        p, c = whole_read(tok, text, row.answer + tok.eos_token)
        assert alpaca.sequences(row) == [(p + c, [0] * len(p) + [1] * len(c))], (text, completion)


def with_normalizer(norm):
    tok = make_tokenizer("llama")
    tok.backend_tokenizer.normalizer = norm
    return tok


def with_added(content: str, **kw):
    from tokenizers import AddedToken

    tok = make_tokenizer("qwen2")
    tok.add_tokens([AddedToken(content, **kw)])
    return tok


def with_pre(pre):
    tok = make_tokenizer("qwen2")
    tok.backend_tokenizer.pre_tokenizer = pre
    return tok


def own_encode():
    tok = make_tokenizer("qwen2")

    class Own(type(tok)):
        def _encode_plus(self, *a, **kw):
            return super()._encode_plus(*a, **kw)

    tok.__class__ = Own
    return tok


def split_specials():
    tok = make_tokenizer("qwen2")
    tok.split_special_tokens = True
    return tok


def python_backend():
    from transformers import ByT5Tokenizer  # a slow tokenizer (it also adds EOS after a text)

    return ByT5Tokenizer()


def _rejected():
    from tokenizers import Regex, normalizers, pre_tokenizers

    from distill.examples import LINE_REGEXES
    from tests.test_xtok_spm_s10 import spm

    bytes_alone = pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False)
    return {
        "sentencepiece-normalizer": lambda: spm("strip"),
        "metaspace": lambda: spm("metaspace"),
        "nfkc": lambda: with_normalizer(normalizers.NFKC()),
        "lowercase": lambda: with_normalizer(normalizers.Lowercase()),
        "strip": lambda: with_normalizer(normalizers.Strip()),
        "added-lstrip": lambda: with_added("ab", lstrip=True),
        "added-rstrip": lambda: with_added("ab", rstrip=True),
        "added-single-word": lambda: with_added("ab", single_word=True),
        "added-newline": lambda: with_added(" \n\n"),
        "eos-after": lambda: eos_after("qwen2")[0],
        "bos-and-eos": lambda: eos_after("llama")[0],
        "add-prefix-space": lambda: with_pre(pre_tokenizers.ByteLevel(add_prefix_space=True)),
        "bytes-without-regex": lambda: with_pre(bytes_alone),
        "other-regex": lambda: with_pre(
            pre_tokenizers.Sequence(
                [pre_tokenizers.Split(Regex(r"\s+|\S+"), "isolated"), bytes_alone]
            )
        ),
        "merged-with-next": lambda: with_pre(
            pre_tokenizers.Sequence(
                [pre_tokenizers.Split(Regex(LINE_REGEXES[0]), "merged_with_next"), bytes_alone]
            )
        ),
        "punctuation": lambda: with_pre(
            pre_tokenizers.Sequence(
                [pre_tokenizers.Punctuation(), pre_tokenizers.ByteLevel(add_prefix_space=False)]
            )
        ),
        "own-encode": own_encode,
        "split-special-tokens": split_specials,
        "python-backend": python_backend,
    }


REJECTED = list(_rejected())


@pytest.mark.parametrize("name", REJECTED)
def test_a_tokenizer_that_may_read_a_line_otherwise_is_read_whole(name):
    tok = _rejected()[name]()
    if not tok.chat_template:
        from tests.tiny import CHATML

        tok.chat_template = CHATML
    assert line_prefix(tok) is None
    raw = Renderer(tok, "r1")
    rng = random.Random(5)
    for _ in range(40):
        prompt, completion = rand_text(rng) + "\n" + rand_text(rng), rand_text(rng) or "x"
        ex = Example(prompt=[{"role": "user", "content": prompt}], completion=completion, raw=True)
        assert raw.encode(ex) == whole_read(tok, prompt, completion + tok.eos_token)


# ============================================= 7aa862b: an R1 trace without its `<think>`

R1_TRACE = "six and six\n</think>\n\n12"


def templates():
    from tests.test_mistral_turns_s16 import student
    from tests.test_reasoning_templates_s15 import tokenizer as reasoning_tokenizer
    from tests.test_third_read_sft import tokenizer as chat_tokenizer

    chat = ["deepseek-r1-distill-qwen", "gemma-2", "gemma-3", "llama-3.1-instruct", "llama-3.2",
            "mistral-v0.3", "mixtral", "phi-3", "phi-4", "qwen2.5-instruct", "smollm2"]  # fmt: skip
    out = {name: (lambda name=name: chat_tokenizer(name)) for name in chat}
    for name in ("gpt-oss", "ministral-3-reasoning", "olmo-3-think", "phi-4-reasoning", "smollm3"):
        out[name] = lambda name=name: reasoning_tokenizer(name)
    for name in ("llama-2", "mistral-v0.1"):
        out[f"{name}/metaspace"] = lambda name=name: student("metaspace", name)
    return out


@pytest.mark.parametrize("name", list(templates()))
def test_a_template_that_does_not_split_at_the_tag_itself_trains_an_r1_trace_whole(name):
    """A trace without its `<think>` is trained verbatim after R1-Distill's and OLMo's `<think>`
    pre-fill; under a template whose generation prompt opens no block it is trained as the
    whole block its record's reasoning renders (tests/test_render_s19.py: before, verbatim, a
    lone `</think>`)."""
    tok = templates()[name]()
    renderer = Renderer(tok, "r1")
    trained = renderer.completion_text(Example(prompt=[USER], completion=R1_TRACE))
    record = Example(prompt=[USER], completion="<think>\nsix and six\n</think>\n\n12")
    if renderer.prefill.strip().endswith("<think>"):
        assert R1_TRACE in trained
    else:
        assert trained == renderer.completion_text(record)
