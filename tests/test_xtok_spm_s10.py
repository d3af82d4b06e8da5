"""Cross-tokenizer kd with a SentencePiece tokenizer (Llama-2, Mistral: `▁` for a space, a dummy
prefix, byte-fallback pieces): where each token's text ends (distill/logprobs.py char_ends) and
what the two sides pair on it (distill/train/kd/xtok.py), against a byte-level BPE (GPT-2, Qwen).

The tests of the two tiny Llama-2-style tokenizers failed before the fix of char_ends: decoded
alone, a SentencePiece decoder strips the first token's leading space, so a lone `▁` (Llama-2
writes " 12" as `▁` `1` `2`, a second space as `▁`) ended where the token before it did and `▁▁`
held one of its two spaces: the token after it took them. gemma-3's own tokenizer (no dummy
prefix, nothing stripped) read right before too: its test pins that."""

import pytest

from distill.logprobs import char_ends
from distill.train.kd.xtok import align
from tests.test_xtok import bpe
from tests.test_xtok_second_read_s9 import assert_pairs_read_one_text

# Llama-2's pieces as far as these texts need them: no merge of `▁` with a digit (it splits
# digits), runs of spaces as `▁▁` / `▁▁▁▁` (code), everything else past them as bytes
MERGES = [("▁", "▁"), ("▁▁", "▁▁"), ("▁", "t"), ("h", "e"), ("▁t", "he"), ("▁", "a"),
          ("n", "s"), ("▁a", "ns"), ("▁", "i"), ("▁i", "s"), ("▁", "x"), ("▁", "y")]  # fmt: skip
CHARS = list("abcdefghijklmnopqrstuvwxyz0123456789.,:!+=()")


def spm(decoder: str):
    """A byte-fallback BPE as Llama-2's tokenizer.json ("strip": Prepend + Replace normalizer,
    the decoder strips one leading space) or as transformers' legacy=False / Mistral's
    ("metaspace": a Metaspace pre-tokenizer and decoder, prepend_scheme "first")."""
    from tokenizers import Tokenizer, decoders, models, normalizers, pre_tokenizers
    from transformers import PreTrainedTokenizerFast

    pieces = ["<unk>", "<s>", "</s>", *(f"<0x{b:02X}>" for b in range(256)), "▁", *CHARS]
    pieces += [a + b for a, b in MERGES]
    tok = Tokenizer(
        models.BPE(
            {p: i for i, p in enumerate(pieces)},
            MERGES,
            unk_token="<unk>",
            byte_fallback=True,
            fuse_unk=True,
        )
    )
    if decoder == "strip":
        tok.normalizer = normalizers.Sequence(
            [normalizers.Prepend("▁"), normalizers.Replace(" ", "▁")]
        )
        tok.decoder = decoders.Sequence(
            [
                decoders.Replace("▁", " "),
                decoders.ByteFallback(),
                decoders.Fuse(),
                decoders.Strip(" ", 1, 0),
            ]
        )
    else:
        tok.pre_tokenizer = pre_tokenizers.Metaspace(
            replacement="▁", prepend_scheme="first", split=False
        )
        tok.decoder = decoders.Sequence(
            [
                decoders.Metaspace(replacement="▁", prepend_scheme="first"),
                decoders.ByteFallback(),
                decoders.Fuse(),
            ]
        )
    return PreTrainedTokenizerFast(
        tokenizer_object=tok, bos_token="<s>", eos_token="</s>", unk_token="<unk>"
    )


TEXTS = [
    "the answer is 12",
    "x = 12 + 34",
    "a  b",
    "a   b",
    "the  answer",
    "    return x",
    "x , y !",
    "the answer:\n 12\n\n  x",
    " leading",
    "end ",
    "café é, 中文 中 and 🙂 ok",
    "the 🙂  🙂 12",
]


def prefix_ends(tok, ids):
    """Where each token's text ends in the decoded text, from decoding each prefix whole (the
    slow, plain reading): a token that ends inside a character ends where the last prefix that
    decodes to whole characters did."""
    out, last = [], 0
    for k in range(1, len(ids) + 1):
        d = tok.decode(ids[:k], clean_up_tokenization_spaces=False)
        if not d.endswith("\ufffd"):
            last = len(d)
        out.append(last)
    return out


@pytest.fixture(scope="module", params=["strip", "metaspace"])
def llama(request):
    return spm(request.param)


@pytest.fixture(scope="module")
def byte_level():
    return bpe(330, [t.strip() for t in TEXTS] * 30)


@pytest.mark.parametrize("text", TEXTS)
def test_each_sentencepiece_token_ends_where_its_text_ends(llama, text):
    ids = llama(text, add_special_tokens=False)["input_ids"]
    decoded = llama.decode(ids, clean_up_tokenization_spaces=False)
    ends = char_ends(llama, ids, decoded)
    assert ends == prefix_ends(llama, ids)
    assert ends[-1] == len(decoded)  # every character, once: ends rise to the text's end


def test_a_lone_space_before_a_digit_holds_its_space():
    """Llama-2 writes " 12" as `▁` `1` `2`: the `▁` ended where the word before it did (it read
    "" alone), and `1` held " 1". With a teacher that writes `Ġ` `1` `2` (Qwen splits digits too),
    the prediction of the first digit (after "is ") was never compared."""
    tok = spm("strip")
    text = "the answer is 12"
    ids = tok(text, add_special_tokens=False)["input_ids"]
    assert tok.convert_ids_to_tokens(ids)[-3:] == ["▁", "1", "2"]
    assert char_ends(tok, ids, text)[-3:] == [14, 15, 16]


@pytest.mark.parametrize("decoder", ["strip", "metaspace"])
def test_two_spaces_as_one_piece_end_after_both(decoder):
    """`▁▁` alone read one space (Strip) or none (Metaspace): it ended early and the next token
    started at a space."""
    tok = spm(decoder)
    text = "the  answer"
    ids = tok(text, add_special_tokens=False)["input_ids"]
    assert tok.convert_ids_to_tokens(ids)[:3] == ["▁the", "▁▁", "a"]
    assert char_ends(tok, ids, text)[:3] == [3, 5, 6]


def test_a_sentencepiece_teachers_side_file_holds_each_tokens_own_text():
    """The texts and offsets a side file stores (with_texts, hf/vllm teachers): the `▁` before
    "12" was stored as "" and the digit as " 1", the text kd reads as the teacher's own token."""
    import numpy as np

    from distill.logprobs import TokenLogprobs, with_texts

    tok = spm("strip")
    ids = tok("the answer is 12", add_special_tokens=False)["input_ids"]
    n = len(ids)
    t = with_texts(TokenLogprobs(ids, np.zeros(n), [[i] for i in ids], np.zeros((n, 1))), tok)
    assert t.token_text[-4:] == [" is", " ", "1", "2"]
    assert t.offsets.tolist()[-3:] == [13, 14, 15]
    assert t.topk_text[-3:] == [[" "], ["1"], ["2"]]


@pytest.mark.parametrize("text", [t for t in TEXTS if not t[0].isspace()])
def test_every_pair_reads_one_text_on_both_sides(llama, byte_level, text):
    """Student SentencePiece, teacher byte-level and the other way round: each compared pair
    predicts after the same text, and each span holds the same characters on both sides. The
    `▁▁` that ended after one space paired the student's next token (after two spaces) with the
    teacher's token after one."""
    for student, teacher in ((llama, byte_level), (byte_level, llama)):
        s_ids = student(text, add_special_tokens=False)["input_ids"]
        t_ids = teacher(text, add_special_tokens=False)["input_ids"]
        t_ends = char_ends(teacher, t_ids, text)
        assert_pairs_read_one_text(student, s_ids, teacher, t_ids, t_ends, text)
        s_ends = char_ends(student, s_ids, text)
        for s_lo, s_hi, t_lo, t_hi in align(s_ends, t_ends):
            a = student.decode(s_ids[:s_lo]), student.decode(s_ids[:s_hi])
            b = teacher.decode(t_ids[:t_lo]), teacher.decode(t_ids[:t_hi])
            assert a == b


def gemma3_dir():
    """builtin:gemma3-270m's folder where it was converted here already (a test never converts
    it): its tokenizer has SentencePiece pieces and byte fallback, no dummy prefix."""
    from distill.models import cache_dir

    return cache_dir() / "models" / "gemma3-270m"


@pytest.fixture(scope="module")
def gemma():
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(gemma3_dir())


@pytest.mark.skipif(
    not (gemma3_dir() / "tokenizer.json").is_file(), reason="builtin:gemma3-270m not converted here"
)
@pytest.mark.xdist_group("gemma3_tokenizer")  # its 262k-token tokenizer loaded once (3 s)
@pytest.mark.parametrize("text", [*TEXTS, "def f():\n    return  1\n\n\n", "a\u00a0 ü  👍🏽"])
def test_gemma3s_own_tokens_end_where_their_text_ends(gemma, byte_level, text):
    ids = gemma(text, add_special_tokens=False)["input_ids"]
    assert gemma.decode(ids, clean_up_tokenization_spaces=False) == text
    assert char_ends(gemma, ids, text) == prefix_ends(gemma, ids)
    for student, teacher in ((gemma, byte_level), (byte_level, gemma)):
        s_ids = student(text, add_special_tokens=False)["input_ids"]
        t_ids = teacher(text, add_special_tokens=False)["input_ids"]
        t_ends = char_ends(teacher, t_ids, text)
        assert_pairs_read_one_text(student, s_ids, teacher, t_ids, t_ends, text)
