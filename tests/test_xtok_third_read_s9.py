"""Third read (s9) of cross-tokenizer kd: the offsets stored side files hold for a token that
ends inside a character (distill/logprobs.py text_offsets, distill/train/kd/xtok.py
stored_xtok_dataset)."""

import json

import numpy as np

from distill.logprobs import char_ends, text_offsets
from tests.test_xtok import bpe
from tests.test_xtok_second_read_s9 import assert_pairs_read_one_text


def byte_level_bytes(tok, ids):
    """Each byte-level BPE token's bytes (OpenAI's / vLLM's `bytes` of a token)."""
    cs = [*range(33, 127), *range(161, 173), *range(174, 256)]
    alphabet = dict(zip(cs, cs, strict=True))
    n = 0
    for b in range(256):
        if b not in alphabet:
            alphabet[b] = 256 + n
            n += 1
    back = {chr(c): b for b, c in alphabet.items()}
    return [bytes(back[ch] for ch in piece) for piece in tok.convert_ids_to_tokens(ids)]


def a_teacher_that_ends_a_token_inside_a_character():
    teacher = bpe(262, ["a ü b ö c ä d é e è f à g ç", "x ü y ö z ä"] * 50)  # merges Ġ + Ã first
    text = "a  ü b"
    ids = teacher(text, add_special_tokens=False)["input_ids"]
    assert "ĠÃ" in teacher.convert_ids_to_tokens(ids)  # " " + the first byte of "ü"
    return teacher, ids, text


def test_an_openai_side_files_offsets_place_a_token_that_ends_inside_a_character_as_char_ends():
    """`distill generate --logprobs K` with an `openai` (vLLM) teacher stores offsets from the
    tokens' bytes (text_offsets): `ĠÃ` of " ü" kept its " " and ended after it, the boundary
    char_ends no longer gives it (2856887): cross-tokenizer kd on that side file paired the
    student's "ü" with the teacher's `¼`, a prediction after text the student had not read.
    Both readings now agree, and every pair predicts after the same text on both sides."""
    teacher, t_ids, text = a_teacher_that_ends_a_token_inside_a_character()
    texts, offsets = text_offsets(byte_level_bytes(teacher, t_ids))
    assert "".join(texts) == text
    t_ends = [o + len(x) for o, x in zip(offsets, texts, strict=True)]
    assert t_ends == char_ends(teacher, t_ids, text)
    student = bpe(261, ["ü ü ü", "    "] * 50)  # merges Ã + ¼: "ü" whole
    s_ids = student(text, add_special_tokens=False)["input_ids"]
    assert_pairs_read_one_text(student, s_ids, teacher, t_ids, t_ends, text)


def test_text_offsets_of_4_byte_characters_split_every_way():
    """An emoji's 4 bytes split 1+3, 2+2, 3+1 (after whole characters or not), a character
    left open at the end: each token's text is what it closes, the texts spell the whole."""
    e = "🙂".encode()
    for cut in (1, 2, 3):
        texts, offsets = text_offsets([b"x " + e[:cut], e[cut:] + b"y"])
        assert texts == ["", "x 🙂y"] and offsets == [0, 0]
        texts, offsets = text_offsets([b"x", e[:cut], e[cut:]])
        assert texts == ["x", "", "🙂"] and offsets == [0, 1, 1]
    texts, _ = text_offsets([b"ab", e[:2]])
    assert texts == ["ab", "\ufffd"]  # open at the end: as a decoder writes it
    texts, _ = text_offsets([b"a " + e[:2]])
    assert texts == ["a \ufffd"]


def test_a_side_file_written_with_the_older_offsets_pairs_no_token_that_starts_inside_one(
    tmp_path, tiny_qwen
):
    """A side file written before 2856887 (no offsets_version in its pointer) holds `ĠÃ` as " "
    and `¼` as "ü": read as it is, the student's token after "a  " was paired with the
    teacher's `¼` (silently: 51 of 13,681 pairs on mixed-script text). Such a file's positions
    after a token whose text starts past ASCII are left unpaired; a file written now pairs as
    char_ends does, and neither pairs that position."""
    from distill.logprobs import TokenLogprobs, pointer, side_dir, write_shard
    from distill.train.kd.xtok import TopKXTok, stored_xtok_dataset

    teacher, tok, data, rows, cfg, mine, ex, s_text, t_ids = _stored_case(tmp_path, tiny_qwen)
    assert "ĠÃ" in teacher.convert_ids_to_tokens(t_ids)
    pieces = byte_level_bytes(teacher, t_ids)
    # the older offsets: a token kept the whole characters before its partial one
    old_texts, pending = [], b""
    for p in pieces:
        pending += p
        cut = len(pending)
        while cut and not _decodes(pending[:cut]):
            cut -= 1
        old_texts.append(pending[:cut].decode())
        pending = pending[cut:]
    assert "".join(old_texts) == s_text and " " in old_texts and "ü" in old_texts
    k = 2
    n = len(t_ids)
    top = np.tile(np.asarray(t_ids)[:, None], (1, k))
    c = mine.encode(ex)[1]
    s_ends = char_ends(tok, c, s_text)
    # the student's token that starts after "a  " (inside the span " ü" on the teacher's side)
    fake = s_text.index("a  ü") + len("a  ")
    after_fake = [i for i, e in enumerate(s_ends) if (s_ends[i - 1] if i else 0) == fake]
    assert after_fake
    for version, texts in (("old", old_texts), ("new", text_offsets(pieces)[0])):
        offsets = np.cumsum([0] + [len(x) for x in texts[:-1]])
        t = TokenLogprobs(t_ids, [-0.1] * n, top, np.full((n, k), -0.5), texts, offsets,
                          [[x, x] for x in texts])  # fmt: skip
        shard = write_shard(side_dir(data), [(r["id"], t) for r in rows])
        for r in rows:
            r["logprobs"] = pointer(shard, data, t, "teacher", "other-hash", False)
            if version == "old":
                r["logprobs"].pop("offsets_version", None)
        data.write_text("".join(json.dumps(r) + "\n" for r in rows))
        ds = stored_xtok_dataset(cfg, tok, tok.eos_token_id, TopKXTok(tok, "hybrid", "t"))
        row = ds[0]
        ids = row["teacher_ids"]
        assert any(any(x != -1 for x in r) for r in ids)  # it pairs elsewhere
        for i in after_fake:
            assert all(x == -1 for x in ids[i]), (version, i)


def _stored_case(tmp_path, tiny_qwen):
    """kept traces whose reasoning holds "a  ü b", read by the student (tiny_qwen) and by a
    teacher that writes " ü" as `ĠÃ` + `¼`: (teacher, student tokenizer, data file, its rows,
    kd config, the student's renderer, the first example, its completion text, teacher ids)."""
    from distill.examples import Renderer, load_examples
    from distill.models import load_tokenizer
    from tests.test_kd import kd_cfg
    from tests.test_train import kept_file

    teacher, _, _ = a_teacher_that_ends_a_token_inside_a_character()
    tok = load_tokenizer(str(tiny_qwen))
    data = kept_file(tmp_path, n=2)
    rows = [json.loads(x) for x in data.read_text().splitlines()]
    for r in rows:
        r["reasoning"] = "a  ü b"
    data.write_text("".join(json.dumps(r) + "\n" for r in rows))
    cfg = kd_cfg(tmp_path, tiny_qwen, data=str(data), xtok="hybrid")
    mine = Renderer(tok, cfg.format, tok.eos_token_id, "last", cfg.chat)
    ex = next(iter(load_examples(str(data))))
    s_text = mine.completion_text(ex)
    t_ids = teacher(s_text, add_special_tokens=False)["input_ids"]
    return teacher, tok, data, rows, cfg, mine, ex, s_text, t_ids


def _decodes(b):
    try:
        b.decode()
        return True
    except UnicodeDecodeError:
        return False


def test_a_stored_teachers_token_that_ends_inside_a_character_still_drops_what_it_starts(
    tmp_path, tiny_qwen
):
    """The teacher's next token `ĠÃ` (" " + the first byte of "ü") properly starts with " ":
    where the student's next token is " ", the listed " " is no shared outcome (the local
    teacher's Prefixes drops it: `ĠÃ` reads " \\ufffd"). Its stored text is "" (it ends inside
    a character), so at() saw no teacher token and kept " " as the exact outcome: the teacher's
    small mass on a lone " " pushed the student's own next token down (the prefix bug fixed
    for "box"/"boxed", here on every such character of a stored or served teacher)."""
    from distill.logprobs import TokenLogprobs, pointer, side_dir, write_shard
    from distill.train.kd.xtok import UNMAPPED, TopKXTok, stored_xtok_dataset

    teacher, tok, data, rows, cfg, mine, ex, s_text, t_ids = _stored_case(tmp_path, tiny_qwen)
    texts, offsets = text_offsets(byte_level_bytes(teacher, t_ids))
    n, k = len(t_ids), 2
    top = np.tile(np.asarray(t_ids)[:, None], (1, k))
    t = TokenLogprobs(t_ids, [-0.1] * n, top, np.full((n, k), -1.0), texts, offsets,
                      [[" ", "b"]] * n)  # fmt: skip
    shard = write_shard(side_dir(data), [(r["id"], t) for r in rows])
    for r in rows:
        r["logprobs"] = pointer(shard, data, t, "teacher", "other-hash", False)
    data.write_text("".join(json.dumps(r) + "\n" for r in rows))
    c = mine.encode(ex)[1]
    s_ends = char_ends(tok, c, s_text)
    at = s_text.index("a  ü") + len("a ")  # where the teacher's `ĠÃ` starts
    i = next(i for i, e in enumerate(s_ends) if (s_ends[i - 1] if i else 0) == at)
    assert tok.decode([c[i]]) == " "  # the student's next token there: " "
    ds = stored_xtok_dataset(cfg, tok, tok.eos_token_id, TopKXTok(tok, "hybrid", "t"))
    row = ds[0]["teacher_ids"][i]
    assert row[0] == UNMAPPED, row  # " ": compared by rank
    assert row[1] >= 0  # "b": still a shared outcome
