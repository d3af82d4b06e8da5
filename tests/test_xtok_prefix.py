"""The hybrid's exact KL at a position where the teacher splits the student's next token: SmolLM2
writes " \\boxed" as " \\", "box", "ed", gemma-3 as " \\", "boxed". After " \\" the teacher puts
its mass on "box" and the student (rightly, in its tokenization) on "boxed": the same text. Matched
as the shared outcome "box", that taught gemma to write "box" and go on from a token it never saw
there (make smoke-xtok seed 0: `66 + 83 = \\boxbox{111}`, xtok_kd pass@1 0.010 vs sft 0.450)."""

import math

import torch

from distill.train.kd.xtok import Prefixes, hybrid_loss

# student vocabulary (texts by id) and the teacher's; shared by text: "box", "ed", "a", "b"
S_TEXTS = ["", "box", "boxed", "ed", "a", "b"]
T_TEXTS = ["box", "ed", "a", "zz", "b"]
S_SHARED = torch.tensor([1, 3, 4, 5])
T_SHARED = torch.tensor([0, 1, 2, 4])


def lp(probs):
    return torch.tensor([[math.log(max(p, 1e-12)) for p in probs]])


def test_a_shared_token_the_next_student_token_starts_with_is_no_shared_outcome():
    prefixes = Prefixes(S_TEXTS, S_SHARED.tolist())
    assert prefixes.of(2) == [3, 0]  # "boxed" starts with "b" (column 3) and "box" (column 0)
    assert prefixes.of(1) == [3]  # "box" starts with "b"
    assert prefixes.of(4) == []  # "a": no proper prefix
    assert prefixes.of(0) == []  # an empty piece
    drop = prefixes.rows(torch.tensor([2, 4]))
    assert drop.tolist() == [[3, 0], [-1, -1]]


def test_the_student_writing_the_teachers_text_in_its_own_token_costs_nothing():
    teacher = lp([0.97, 0.01, 0.01, 0.005, 0.005])  # "box" (then "ed": the text " \\boxed")
    writes_boxed = lp([0.0, 0.005, 0.97, 0.01, 0.01, 0.005])  # the same text, its own token
    writes_box = lp([0.0, 0.97, 0.005, 0.01, 0.01, 0.005])  # "box", then off its own data
    drop = Prefixes(S_TEXTS, S_SHARED.tolist()).rows(torch.tensor([2]))  # next token: "boxed"

    def loss(student, d):
        return float(hybrid_loss(student, teacher, S_SHARED, T_SHARED, d)[0])

    # without the rule the exact KL prefers "box": the bug
    assert loss(writes_box, None) < loss(writes_boxed, None)
    assert loss(writes_boxed, drop) < 0.05  # was ~3.3: the teacher's "box" against the student's 0
    # the divergence no longer pulls towards "box"; the student's own data (CE) decides
    assert loss(writes_boxed, drop) <= loss(writes_box, drop)


def test_without_a_split_word_the_loss_is_as_before_and_zero_at_the_mapped_teacher():
    teacher = lp([0.1, 0.2, 0.6, 0.05, 0.05])
    student = lp([0.0, 0.1, 0.05, 0.2, 0.6, 0.05])  # the same mass on each shared token
    none = torch.full((1, 0), -1, dtype=torch.long)
    pads = torch.tensor([[-1, -1]])
    base = hybrid_loss(student, teacher, S_SHARED, T_SHARED)
    assert torch.equal(hybrid_loss(student, teacher, S_SHARED, T_SHARED, none), base)
    assert torch.equal(hybrid_loss(student, teacher, S_SHARED, T_SHARED, pads), base)
    assert float(base[0]) < 1e-5


def test_a_top_k_teacher_lists_the_split_word_unmapped_where_the_student_writes_it_whole():
    """Stored side files and served teachers (TopKXTok): the listed "box" where the student's
    next token is "boxed" is compared by rank, not as the student's "box"."""
    from distill.train.kd.xtok import UNMAPPED, TopKXTok

    t = TopKXTok.__new__(TopKXTok)
    t.texts = S_TEXTS
    assert t.at([1, 3, 4, -1], ["box", "ed", "a", "\ufffd"], 2) == [UNMAPPED, 3, 4, -1]
    assert t.at([1, 3, 4], ["box", "ed", "a"], 4) == [1, 3, 4]  # next "a": as student_ids gave
    assert t.at([2, 3], ["boxed", "ed"], 2) == [2, 3]  # the whole word is the outcome itself
