"""The tokens a reply is trained on are the tokens of the whole rendered chat after its prompt.

Mistral's templates and Llama-2's write `[/INST]` + " " + content + EOS: the space is the first
character of the reply, which the model writes after the generation prompt (`[/INST]`). It was
left out of the trained text: a byte-level BPE student learnt `th` `e` where the chat it later
reads holds `Ġthe`, every history turn split into a row of its own, and a TRL export's completion
began without it (TRL tokenizes prompt + completion: `t` `he` for a Mistral tokenizer too).
SentencePiece tokenizers got the space back by their dummy prefix, but also got a `▁` where the
template writes none (Mixtral's `[/INST]` + content, Alpaca's `### Response:` + output): trained
`▁the` after a prompt the whole chat reads as `t` `he`, and a merged chat's later turns under a
history tokenized otherwise than the prompt inference sends.

Templates: tests/fixtures/chat_templates (mistral-v0.3, mixtral: verbatim tokenizer_config.json
strings), Llama-2-chat's (meta-llama/Llama-2-7b-chat-hf) and Mistral-7B-Instruct-v0.1's (as
mistralai's cookbook, concept-deep-dive/tokenization/chat_templates.md, quotes it) below.
Tokenizers: tests/tiny.py's byte-level BPE, and SentencePiece-style ones as Llama-2's
tokenizer.json (Prepend + Replace normalizer) and Mistral's (Metaspace, prepend_scheme first).
"""

from pathlib import Path

import pytest

from distill.examples import Example, Renderer, spans
from distill.logprobs import char_ends
from tests.test_xtok_spm_s10 import spm
from tests.tiny import make_tokenizer

FIXTURES = Path(__file__).parent / "fixtures" / "chat_templates"
LLAMA2 = (
    "{% if messages[0]['role'] == 'system' %}{% set loop_messages = messages[1:] %}"
    "{% set system_message = messages[0]['content'] %}{% else %}"
    "{% set loop_messages = messages %}{% set system_message = false %}{% endif %}"
    "{% for message in loop_messages %}"
    "{% if (message['role'] == 'user') != (loop.index0 % 2 == 0) %}"
    "{{ raise_exception('Conversation roles must alternate user/assistant/user/assistant/...') }}"
    "{% endif %}{% if loop.index0 == 0 and system_message != false %}"
    "{% set content = '<<SYS>>\\n' + system_message + '\\n<</SYS>>\\n\\n' + message['content'] %}"
    "{% else %}{% set content = message['content'] %}{% endif %}"
    "{% if message['role'] == 'user' %}{{ bos_token + '[INST] ' + content.strip() + ' [/INST]' }}"
    "{% elif message['role'] == 'assistant' %}{{ ' '  + content.strip() + ' ' + eos_token }}"
    "{% endif %}{% endfor %}"
)
MISTRAL_V01 = (
    "{{ bos_token }}{% for message in messages %}"
    "{% if (message['role'] == 'user') != (loop.index0 % 2 == 0) %}"
    "{{ raise_exception('Conversation roles must alternate user/assistant/user/assistant/...') }}"
    "{% endif %}{% if message['role'] == 'user' %}{{ ' [INST] ' + message['content'] + ' [/INST]' }}"
    "{% elif message['role'] == 'assistant' %}{{ ' ' + message['content'] + eos_token}}"
    "{% else %}{{ raise_exception('Only user and assistant roles are supported!') }}"
    "{% endif %}{% endfor %}"
)
TEMPLATES = {
    "mistral-v0.3": (FIXTURES / "mistral-v0.3.jinja").read_text(),
    "mixtral": (FIXTURES / "mixtral.jinja").read_text(),
    "llama-2": LLAMA2,
    "mistral-v0.1": MISTRAL_V01,
}
SPACED = ["mistral-v0.3", "llama-2", "mistral-v0.1"]  # the templates that write " " + content
ANSWER = "the answer is 12"
CHAT = [
    {"role": "user", "content": "x = 12"},
    {"role": "assistant", "content": "the answer"},
    {"role": "user", "content": "a b"},
]


def student(kind: str, name: str):
    """`kind`: 'bpe' (tests/tiny.py), 'strip' (Llama-2's tokenizer.json), 'metaspace'
    (Mistral's); Mistral v0.3's [INST] / [/INST] are control tokens, v0.1's plain text."""
    controls = ["[INST]", "[/INST]"] if name == "mistral-v0.3" else []
    if kind == "bpe":
        tok = make_tokenizer("qwen2")
        tok.add_special_tokens(
            {
                "additional_special_tokens": ["<s>", "</s>", *controls],
                "eos_token": "</s>",
                "bos_token": "<s>",
            }
        )
    else:
        tok = spm(kind)
        if controls:
            tok.add_special_tokens({"additional_special_tokens": controls})
    tok.chat_template = TEMPLATES[name]
    return tok


def ids(tok, text):
    return tok(text, add_special_tokens=False)["input_ids"]


def check_turns(tok, prompt: list[dict[str, str]]) -> list[list[int]]:
    """Each trained turn of the chat `prompt` + ANSWER: its context is the prompt inference
    tokenizes for it, its tokens are the whole chat's after that prompt. -> the trained turns."""
    rows = Renderer(tok, "r1").sequences(Example(prompt=prompt, completion=ANSWER))
    msgs = [*prompt, {"role": "assistant", "content": ANSWER}]
    turns = [(row, a, b) for row, mask in rows for a, b in spans(mask)]
    ends = [i for i, m in enumerate(msgs) if m["role"] == "assistant"]
    assert len(turns) == len(ends)
    got = []
    for (row, a, b), i in zip(turns, ends, strict=True):
        gen = ids(
            tok, tok.apply_chat_template(msgs[:i], tokenize=False, add_generation_prompt=True)
        )
        full = ids(tok, tok.apply_chat_template(msgs[: i + 1], tokenize=False))
        assert full[: len(gen)] == gen  # (the case this checks: the prompt reads alike in both)
        assert row[:a] == gen
        assert row[a:b] == full[len(gen) : len(gen) + b - a]
        got.append(row[a:b])
    return got


@pytest.mark.parametrize("name", SPACED)
def test_a_byte_level_student_trains_the_space_the_template_writes_before_its_reply(name):
    tok = student("bpe", name)
    for prompt in (CHAT[:1], CHAT):
        turns = check_turns(tok, prompt)
        assert tok.convert_ids_to_tokens(turns[-1][:1]) == ["Ġthe"]  # not `th` `e`
        assert tok.decode(turns[-1]).startswith(" " + ANSWER)
    # a chat is one row, both turns trained, the history as the student will read it
    rows = Renderer(tok, "r1").sequences(Example(prompt=CHAT, completion=ANSWER))
    assert len(rows) == 1 and len(spans(rows[0][1])) == 2


@pytest.mark.parametrize("kind", ["strip", "metaspace"])
@pytest.mark.parametrize("name", [*SPACED, "mixtral"])
def test_a_sentencepiece_student_trains_the_tokens_the_whole_chat_reads(name, kind):
    tok = student(kind, name)
    for prompt in (CHAT[:1], CHAT):
        turns = check_turns(tok, prompt)
        first = tok.convert_ids_to_tokens(turns[-1][:2])
        if name == "mixtral":  # '[/INST]the': no dummy '▁' the template does not write
            assert first == ["t", "he"]
        elif not (name == "mistral-v0.3" and kind == "strip"):
            # one '▁' for the template's space ('▁▁' where a legacy Prepend normalizer reads the
            # text after a control token: the chat reads so too, checked above)
            assert first[0] == "▁the"


def test_an_alpaca_reply_trains_the_tokens_the_whole_text_reads():
    """Alpaca's prompt ends '### Response:' (as Stanford Alpaca's, which tokenizes source +
    target whole): a SentencePiece student learnt '▁the' after it, the text reads 't' 'he'."""
    tok = spm("strip")
    r = Renderer(tok, "alpaca")
    ex = Example(prompt=[{"role": "user", "content": "x"}], completion=ANSWER, instruction="x")
    ((row, mask),) = r.sequences(ex)
    ((a, b),) = spans(mask)
    whole = tok(r.prompt_text(ex) + r.completion_text(ex))["input_ids"]
    assert row == whole and row[:a] == tok(r.prompt_text(ex))["input_ids"]
    assert tok.convert_ids_to_tokens(row[a : a + 2]) == ["t", "he"]


def test_export_writes_the_space_before_the_reply():
    """TRL tokenizes the exported prompt + completion: without the space the Mistral student
    trains '[/INST]the', which neither the template nor mistral_common writes."""
    from distill.export import rendered_pair

    for kind in ("bpe", "metaspace"):
        tok = student(kind, "mistral-v0.3")
        pair = rendered_pair(Renderer(tok, "r1"), Example(prompt=CHAT[:1], completion=ANSWER))
        full = tok.apply_chat_template(
            [*CHAT[:1], {"role": "assistant", "content": ANSWER}], tokenize=False
        )
        assert pair["completion"] == " " + ANSWER + "</s>"
        assert full.endswith(pair["prompt"] + pair["completion"])


@pytest.mark.parametrize(
    "name, kind", [("mistral-v0.3", "metaspace"), ("llama-2", "strip"), ("llama-2", "metaspace")]
)
def test_char_ends_reads_a_text_that_starts_with_the_space_of_its_first_token(name, kind):
    """A Mistral / Llama-2 student's reply ' the answer' is `▁the` `▁ans`...: decoded alone, a
    SentencePiece decoder strips the first token's space, and char_ends found the tokens did not
    spell the text (cross-tokenizer kd refused the row as unreadable)."""
    tok = student(kind, name)
    r = Renderer(tok, "r1")
    ex = Example(prompt=CHAT[:1], completion=ANSWER)
    _, c = r.encode(ex)
    text = r.completion_text(ex)
    assert text.startswith(" " + ANSWER) and tok.convert_ids_to_tokens(c[:1]) == ["▁the"]
    ends = char_ends(tok, c, text)
    assert ends is not None and ends[0] == len(" the") and ends[-1] == len(text)
    # the text as the tokens decode alone (no leading space) reads as before
    assert char_ends(tok, c, tok.decode(c)) is not None
