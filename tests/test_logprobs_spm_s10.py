"""Side files of a SentencePiece teacher (Llama-2, Mistral: a decoder that strips the first
token's leading space) written by hf/vllm before 91a9210: char_ends read a token of spaces alone
(`▁` before a digit, `▁▁`) a space short, so the file stores it as "" or " " and the next token
with the missing space(s). Their pointers say offsets_version 2 (or none), as files written
right; files written now say 3 (distill/logprobs.py short_spaces, distill/train/kd/xtok.py
stored_xtok_dataset).

Before the fix cross-tokenizer kd read such a file as it is: it paired the student's token after
"the " with the teacher's prediction after "the  " (Strip's `▁▁` ending after one space), and
read the teacher's own token text '' where it was " "."""

import json

import numpy as np
import pytest

from distill.logprobs import char_ends
from tests.test_xtok_spm_s10 import spm

REASONING = "the  answer is 12, x = 34 and    return x   7"
K = 2


def old_char_ends(tok, ids, text):
    """char_ends as it was before 91a9210 (git show 91a9210^:distill/logprobs.py): each run after
    the first decoded alone."""
    ends, start, at = [], 0, 0

    def clean(d, off):
        while d.endswith("\ufffd") and not text.startswith(d, off):
            d = d[:-1]
        return d

    for k in range(1, len(ids) + 1):
        raw = tok.decode(ids[start:k], clean_up_tokenization_spaces=False)
        piece = clean(raw, at)
        if text.startswith(piece, at):
            end, inside = at + len(piece), piece != raw
        else:
            full = tok.decode(ids[:k], clean_up_tokenization_spaces=False)
            whole = clean(full, 0)
            assert text.startswith(whole)
            end, inside = len(whole), whole != full
        if inside:
            end = at
        end = max(end, ends[-1] if ends else 0)
        ends.append(end)
        if not raw.endswith("\ufffd"):
            start, at = k, end
    return ends


def stored(teacher, text, old, listed=True):
    """The TokenLogprobs hf/vllm store for `text` (with_texts), with the texts and offsets the
    writer before 91a9210 gave them where `old`. Each top-K lists the token itself first where
    `listed`, else two other tokens (a sampled token below the top-K)."""
    from distill.logprobs import TokenLogprobs, with_texts

    ids = teacher(text, add_special_tokens=False)["input_ids"]
    assert teacher.decode(ids, clean_up_tokenization_spaces=False) == text
    n = len(ids)
    other = teacher.convert_tokens_to_ids("e")
    top = [[i, other if i != other else other + 1] if listed else [other, other + 1] for i in ids]
    t = with_texts(TokenLogprobs(ids, [-0.1] * n, top, np.tile([-0.1, -3.0], (n, 1))), teacher)
    if old:
        ends = old_char_ends(teacher, ids, text)
        starts = [0, *ends[:-1]]
        t.token_text = [text[a:b] for a, b in zip(starts, ends, strict=True)]
        t.offsets = np.asarray(starts)
    return t


def write(data, rows, items, version):
    """The side file and pointers `distill generate --logprobs` writes, its pointers saying
    offsets_version `version` (None: no version, as before 2856887)."""
    from distill.logprobs import pointer, side_dir, write_shard

    shard = write_shard(side_dir(data), [(r["id"], t) for r, t in zip(rows, items, strict=True)])
    for r, t in zip(rows, items, strict=True):
        r["logprobs"] = pointer(shard, data, t, "llama-2-ish", "other-hash", False)
        r["logprobs"].pop("offsets_version")
        if version is not None:
            r["logprobs"]["offsets_version"] = version
    data.write_text("".join(json.dumps(r) + "\n" for r in rows))


@pytest.fixture(scope="module", params=["strip", "metaspace"])
def teacher(request):
    return spm(request.param)


@pytest.fixture
def case(tmp_path, tiny_qwen):
    """Kept traces whose reasoning holds `REASONING`, the student tiny_qwen (byte-level):
    (student tokenizer, kd config, data file, its rows, each row's completion ids and text)."""
    return make_case(tmp_path, tiny_qwen, REASONING)


def make_case(tmp_path, tiny_qwen, reasoning):
    from distill.examples import Renderer, load_examples
    from distill.models import load_tokenizer
    from tests.test_kd import kd_cfg
    from tests.test_train import kept_file

    tok = load_tokenizer(str(tiny_qwen))
    data = kept_file(tmp_path, n=3)
    rows = [json.loads(x) for x in data.read_text().splitlines()]
    for r in rows:
        r["reasoning"] = reasoning
    data.write_text("".join(json.dumps(r) + "\n" for r in rows))
    cfg = kd_cfg(tmp_path, tiny_qwen, data=str(data), xtok="hybrid")
    mine = Renderer(tok, cfg.format, tok.eos_token_id, "last", cfg.chat)
    comps = [(mine.encode(ex)[1], mine.completion_text(ex)) for ex in load_examples(str(data))]
    return tok, cfg, data, rows, comps


def kd_rows(case, capsys):
    from distill.train.kd.xtok import TopKXTok, stored_xtok_dataset

    tok, cfg, *_ = case
    ds = stored_xtok_dataset(cfg, tok, tok.eos_token_id, TopKXTok(tok, "hybrid", "t"))
    paired = [[any(x != -1 for x in r) for r in row] for row in ds["teacher_ids"]]
    return paired, capsys.readouterr().out


@pytest.mark.parametrize("listed", [True, False], ids=["listed", "unlisted"])
@pytest.mark.parametrize("version", [2, None])
def test_an_older_side_file_pairs_no_position_its_short_spaces_misplace(
    case, teacher, capsys, version, listed
):
    """The older file's wrong texts and offsets (a `▁` stored "", `▁▁` one space or none, the
    next token with them): no student position pairs with one of those teacher tokens, and each
    paired one predicts after text the teacher's tokens end at. One line says so and how to
    store them right, whether or not the top-Ks list those tokens (their own texts). The same
    file written now pairs them all, and more."""
    from distill.train.kd.xtok import pair_texts

    tok, cfg, data, rows, comps = case
    olds = [stored(teacher, text, old=True, listed=listed) for _, text in comps]
    news = [stored(teacher, text, old=False, listed=listed) for _, text in comps]
    assert any(o.token_text != n.token_text for o, n in zip(olds, news, strict=True))
    write(data, rows, olds, version)
    paired, out = kd_rows(case, capsys)
    assert any(any(p) for p in paired)  # it pairs elsewhere
    wrong_pairs = 0
    for (c, text), old, new, got in zip(comps, olds, news, paired, strict=True):
        s_ends = char_ends(tok, c, text)
        s_starts = [0, *s_ends[:-1]]
        true_ends = {0, *char_ends(teacher, old.token_ids.tolist(), text)}
        old_ends = [int(o) + len(x) for o, x in zip(old.offsets, old.token_text, strict=True)]
        for s, j in pair_texts(s_ends, old_ends, text, text):
            if old.token_text[j] != new.token_text[j] or old.offsets[j] != new.offsets[j]:
                wrong_pairs += 1
                assert not got[s], (s, j, old.token_text[j], new.token_text[j])
        for s, on in enumerate(got):
            if on:  # after text both sides have read
                assert s_starts[s] in true_ends, (s, text[: s_starts[s]])
    assert wrong_pairs  # the older reading paired some
    lines = [x for x in out.splitlines() if "offsets_version 3" in x]
    assert len(lines) == 1 and "re-run distill generate --logprobs K" in lines[0], out

    write(data, rows, news, 3)
    now, out = kd_rows(case, capsys)
    assert "offsets_version 3" not in out
    assert sum(map(sum, now)) > sum(map(sum, paired))


def test_a_file_written_now_says_offsets_version_3(tmp_path, teacher):
    from distill.logprobs import OFFSETS_VERSION, pointer

    t = stored(teacher, REASONING, old=False)
    assert OFFSETS_VERSION == 3
    assert "    " in t.token_text  # `▁▁▁▁` holds its 4 spaces
    ptr = pointer(tmp_path / "part.parquet", tmp_path / "t.jsonl", t, "x", None, False)
    assert ptr["offsets_version"] == 3


@pytest.mark.parametrize("kind", ["strip", "metaspace", "byte-level"])
def test_a_version_2_file_whose_texts_are_right_keeps_every_pair(case, kind, capsys):
    """A version-2 file that stored the right texts (a byte-level teacher's; a SentencePiece
    teacher served by openai/vLLM: texts from each token's bytes) pairs as the same file at
    version 3: a token of spaces whose listed text is its stored one is no short one, though
    the next token starts with a space (`Ġ` `Ġanswer`, `▁▁` `▁` `7`)."""
    from tests.test_xtok import bpe

    teacher = bpe(330, [REASONING, "the answer is 12"] * 30) if kind == "byte-level" else spm(kind)
    tok, cfg, data, rows, comps = case
    news = [stored(teacher, text, old=False) for _, text in comps]
    write(data, rows, news, 3)
    now, _ = kd_rows(case, capsys)
    write(data, rows, news, 2)
    then, out = kd_rows(case, capsys)
    assert then == now and "offsets_version 3" not in out


@pytest.mark.parametrize("version", [2, None])
def test_same_tokenizer_kd_reads_an_older_file_as_it_is(tmp_path, version):
    """Same-tokenizer kd reads the stored ids and log-probs, never the texts: an older side file
    (wrong texts, version 2 or none) gives the same top-K as one written now."""
    from distill.logprobs import vocab_hash
    from distill.train.kd.data import stored_topk

    tok = spm("strip")
    text = REASONING
    data = tmp_path / "kept.jsonl"
    got = []
    for old, v in ((True, version), (False, 3)):
        rows = [{"id": "a"}]
        t = stored(tok, text, old=old)
        write(data, rows, [t], v)
        rows[0]["logprobs"]["vocab_hash"] = vocab_hash(tok)
        ids = t.token_ids.tolist()
        comps, t_ids, t_lps, counts = stored_topk(rows, str(data), [ids], set(), tok, "spm")
        assert comps == [ids] and counts["aligned"] == 1 and counts["kd_positions"] == len(ids)
        np.testing.assert_array_equal(t_ids[0], t.topk_ids)
        got.append((t_ids[0].tolist(), t_lps[0].tolist()))
    assert got[0] == got[1]


# Qwen2's pre-tokenizer (Llama-3's and DeepSeek's split alike): a run of spaces before a word is
# its own token, the word takes the last space ('   ' ' return'); digits one at a time
QWEN_SPLIT = (
    r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*"
    r"|\s*[\r\n]+|\s+(?!\S)|\s+"
)
CODE = "def f(x):\n    if x:\n        return x   + 1\n    return 0\n"
ACCENTS = "a \u00e9 b \u00e8 c \u00ea d \u00eb e \u00e0 f \u00e2 g \u00e7"


def byte_level(vocab_size, corpus):
    """A byte-level BPE trained here with Qwen2's pre-tokenizer."""
    from tokenizers import Regex, Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.Sequence(
        [
            pre_tokenizers.Split(Regex(QWEN_SPLIT), "isolated"),
            pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False),
        ]
    )
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        special_tokens=["<|end|>"],
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tok.train_from_iterator(corpus, trainer)
    return PreTrainedTokenizerFast(tokenizer_object=tok, eos_token="<|end|>", pad_token="<|end|>")


@pytest.mark.parametrize(
    ("version", "listed"),
    [(None, True), (None, False), (2, False)],
    ids=["v1-listed", "v1-unlisted", "v2-unlisted"],
)
def test_a_byte_level_teachers_older_file_of_code_keeps_every_pair(
    tmp_path, tiny_qwen, capsys, version, listed
):
    """A byte-level teacher (Qwen, Llama-3, DeepSeek) stores each token of spaces whole: its
    older file (no offsets_version, or 2 with the token not in any top-K) of indented code
    ('   ' then ' return') pairs as the same file at version 3, and says nothing of short
    spaces. Before, every such token and the one after were left unpaired, with a line that
    blamed a Llama-2 or Mistral tokenizer."""
    teacher = byte_level(330, [CODE] * 30)
    case = make_case(tmp_path, tiny_qwen, CODE)
    tok, cfg, data, rows, comps = case
    news = [stored(teacher, text, old=False, listed=listed) for _, text in comps]
    spaced = [
        (a, b)
        for t in news
        for a, b in zip(t.token_text[1:], t.token_text[2:])
        if not a.strip(" ") and b.startswith(" ")
    ]
    assert ("   ", " return") in spaced  # what the rule for Llama-2's files took as short
    write(data, rows, news, 3)
    now, _ = kd_rows(case, capsys)
    write(data, rows, news, version)
    then, out = kd_rows(case, capsys)
    assert then == now
    assert "unpaired" not in out, out


def test_a_byte_level_token_inside_a_character_is_no_short_space(tmp_path, tiny_qwen, capsys):
    """A version-2 byte-level file stores `ĠÃ` (a space and the first byte of "é") as "" and `©`
    as " é", right: not in any top-K, that "" before a space is no SentencePiece lone `▁` read
    short (whose next token's text is ASCII), and every pair is kept."""
    teacher = byte_level(265, [ACCENTS] * 30)
    case = make_case(tmp_path, tiny_qwen, ACCENTS)
    tok, cfg, data, rows, comps = case
    news = [stored(teacher, text, old=False, listed=False) for _, text in comps]
    assert any(
        a == "" and b == " \u00e9" for t in news for a, b in zip(t.token_text, t.token_text[1:])
    )
    write(data, rows, news, 3)
    now, _ = kd_rows(case, capsys)
    write(data, rows, news, 2)
    then, out = kd_rows(case, capsys)
    assert then == now
    assert "unpaired" not in out, out
