"""Second read (s9) of cross-tokenizer kd (distill/train/kd/xtok.py): what each compared position
predicts on both sides."""

import math

import torch

from distill.logprobs import char_ends
from distill.train.kd.xtok import pair_texts
from tests.test_xtok import bpe


def test_a_token_that_ends_inside_a_character_is_no_boundary_to_pair_at():
    """Byte-level BPE (SmolLM2's `ĠÃ` + `¼` for " ü") can end a token with a space and the first
    byte of the next character: the token after it starts inside "ü". A student that writes the
    space and "ü" apart (`Ġ`, `Ã¼`) must not be compared there with the teacher's `¼`, which
    predicts the rest of a character after text the student has not read; every compared pair
    predicts after the same text on both sides."""
    teacher = bpe(262, ["a ü b ö c ä d é e è f à g ç", "x ü y ö z ä"] * 50)  # merges Ġ + Ã first
    student = bpe(261, ["ü ü ü", "    "] * 50)  # merges Ã + ¼: "ü" whole
    body = "a  ü b"
    text = body + "<|end|>"
    s_ids = student(text, add_special_tokens=False)["input_ids"]
    t_ids = teacher(text, add_special_tokens=False)["input_ids"]
    assert "ĠÃ" in teacher.convert_ids_to_tokens(t_ids)  # the split this is about
    assert "Ã¼" in student.convert_ids_to_tokens(s_ids)
    t_ends = char_ends(teacher, t_ids, text)
    # the partial token's characters are the next one's: its end is where the last whole one ended
    assert t_ends[t_ids.index(teacher.convert_tokens_to_ids("ĠÃ"))] == len("a ")
    assert_pairs_read_one_text(student, s_ids, teacher, t_ids, t_ends, text)


# student vocabulary (texts by id) and the teacher's; shared by text: "\n", "\n\n", "a", "b"
S_TEXTS = ["", "\n", "\n\n", "a", "b", "zz"]
T_TEXTS = ["\n", "\n\n", "a", "qq", "b"]
S_SHARED, T_SHARED = [1, 2, 3, 4], [0, 1, 2, 4]


def assert_pairs_read_one_text(student, s_ids, teacher, t_ids, t_ends, text):
    """Some positions pair, and at each pair both sides have read the same text, no partial
    character of it (each pair predicts after the same text)."""
    pairs = pair_texts(char_ends(student, s_ids, text), t_ends, text, text)
    assert pairs
    dec = dict(clean_up_tokenization_spaces=False)
    for s, t in pairs:
        before = student.decode(s_ids[:s], **dec)
        assert teacher.decode(t_ids[:t], **dec) == before and "\ufffd" not in before


def lp(probs):
    return torch.tensor([[math.log(max(p, 1e-12)) for p in probs]])


def test_the_students_own_longer_token_where_the_teacher_splits_it_is_no_shared_outcome():
    """SmolLM2 (GPT-2's pre-tokenizer) writes "\\n\\n" before a word as "\\n", "\\n"; gemma-3
    as "\\n\\n", a token both vocabularies hold. After the same text the teacher's mass is on
    "\\n" and the student's, rightly, on "\\n\\n". Matched as the shared outcome "\\n\\n" (the
    teacher's ~0 there), the exact KL pushed the student's own next token down, a student that
    writes any token the teacher lacks scoring better than the exact one (every paragraph break
    of a reasoning trace). The longer of the two next tokens is no shared outcome either."""
    from distill.train.kd.xtok import Prefixes, hybrid_loss

    mine, theirs = Prefixes(S_TEXTS, S_SHARED), Prefixes(T_TEXTS, T_SHARED)
    teacher = lp([0.97, 0.005, 0.01, 0.005, 0.01])  # "\n" (then "\n": the text "\n\n")
    exact = lp([0.0, 0.005, 0.97, 0.01, 0.01, 0.005])  # the same text, its own token
    arbitrary = lp([0.0, 0.005, 0.005, 0.01, 0.01, 0.97])  # "zz": no teacher text
    s, t = torch.tensor(S_SHARED), torch.tensor(T_SHARED)
    drop = mine.rows(torch.tensor([2]), theirs, torch.tensor([0]))  # next: "\n\n" / "\n"

    def loss(student):
        return float(hybrid_loss(student, teacher, s, t, drop)[0])

    assert loss(exact) < 0.05, (loss(exact), loss(arbitrary))  # was 5.4 (arbitrary: 0.0)
    assert loss(exact) <= loss(arbitrary) + 1e-6  # by rank the two tie: cross-entropy decides
    # the other way round: the teacher's next token "\n\n", the student's "\n"
    teacher_whole = lp([0.005, 0.97, 0.01, 0.005, 0.01])
    student_split = lp([0.0, 0.97, 0.005, 0.01, 0.01, 0.005])
    drop = mine.rows(torch.tensor([1]), theirs, torch.tensor([1]))
    assert float(hybrid_loss(student_split, teacher_whole, s, t, drop)[0]) < 0.05
    # where both write the same token, it stays the shared outcome it is
    same = mine.rows(torch.tensor([2]), theirs, torch.tensor([1]))
    assert float(hybrid_loss(exact, teacher, s, t, same)[0]) > 1.0


def test_a_top_k_teacher_that_splits_the_students_token_lists_it_unmapped():
    """Stored side files and served teachers (TopKXTok.at): the listed "\\n\\n" where the
    student's next token is "\\n\\n" and the teacher's own is "\\n" is compared by rank."""
    from distill.train.kd.xtok import UNMAPPED, TopKXTok

    t = TopKXTok.__new__(TopKXTok)
    t.texts = S_TEXTS
    assert t.at([1, 2, 3], ["\n", "\n\n", "a"], 2, "\n") == [UNMAPPED, UNMAPPED, 3]
    assert t.at([1, 2, 3], ["\n", "\n\n", "a"], 1, "\n\n") == [UNMAPPED, UNMAPPED, 3]
    assert t.at([1, 2, 3], ["\n", "\n\n", "a"], 2, "\n\n") == [UNMAPPED, 2, 3]
    assert t.at([1, 2, 3], ["\n", "\n\n", "a"], 2) == [UNMAPPED, 2, 3]  # no teacher text
