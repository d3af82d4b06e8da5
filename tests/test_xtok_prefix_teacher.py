"""The hybrid's prefix rule the other way round: the teacher's next token is the longer one.

A Llama-3 teacher writes "123" as one token, a Qwen / gemma student as "1", "2", "3" (the same
for words a smaller student vocabulary splits: "box" + "ed" where the teacher writes "boxed").
After the same text the teacher puts its mass on "123" and the student, rightly, on "1": the same
text started. Matched as the shared outcome "1" (the teacher's "1" is "1" then no digit that
merges, nearly 0 there), the exact KL pushes the student's own next token down and its mass into
the rest bucket, where the ULD part lets any unshared token take it: a student writing an
arbitrary token scores better than the exact one. The shared tokens the teacher's next token
properly starts with are no shared outcome there either (Prefixes of the teacher's texts)."""

import json

import pytest
import torch

from distill.train import build_trainer
from tests import test_xtok_served, test_xtok_stored
from tests.test_kd import kd_cfg
from tests.test_xtok import bpe

# their tiny teacher of another tokenizer, stored and served
big_tok, teacher_dir = test_xtok_stored.big_tok, test_xtok_stored.teacher_dir
served = test_xtok_served.served


@pytest.fixture(scope="module")
def toks():
    # the teacher merges digits ("12", "123"), the student never saw a number (single digits)
    teacher = bpe(300, ["x=123;y=123;z=12;"] * 50)
    student = bpe(270, ["ab ab abc ab abc"] * 50)
    t_ids = teacher("123", add_special_tokens=False)["input_ids"]
    s_ids = student("123", add_special_tokens=False)["input_ids"]
    assert len(t_ids) == 1 and len(s_ids) == 3
    return student, teacher


class FakeLocal:
    """A LocalTeacher whose logits put `p` on one token at every position."""

    def __init__(self, tok, token, p):
        self.tok, self.name, self.token, self.p = tok, "T", token, p
        self.model = None

    def logits(self, ids, attn, pos):
        v = len(self.tok)
        probs = torch.full((v,), (1 - self.p) / (v - 1))
        probs[self.token] = self.p
        return probs.log().expand(*ids.shape, v).clone()


def student_logits(vocab, token, p):
    probs = torch.full((vocab,), (1 - p) / (vocab - 1))
    probs[token] = p
    return probs.log()


@pytest.mark.parametrize("kind", ["hybrid"])
def test_the_student_starting_the_teachers_longer_token_with_its_own_costs_nothing(toks, kind):
    from distill.train.kd.loss import lm_head
    from distill.train.kd.xtok import XTokTeacher

    student, teacher = toks
    (t123,) = teacher("123", add_special_tokens=False)["input_ids"]
    one, two, three = student("123", add_special_tokens=False)["input_ids"]
    (sx,) = student("=", add_special_tokens=False)["input_ids"]
    (tx,) = teacher("=", add_special_tokens=False)["input_ids"]
    x = XTokTeacher(FakeLocal(teacher, t123, 0.97), student, kind)
    # the student's "ab" is no teacher text: an unshared token a wrong student may pick
    (wrong,) = student("ab", add_special_tokens=False)["input_ids"]
    assert "ab" not in {teacher.decode([i]) for i in range(len(teacher))}

    # prompt "=", completion "123": the student's "1" is paired with the teacher's "123"
    inputs = {
        "input_ids": torch.tensor([[sx, one, two, three]]),
        "labels": torch.tensor([[-100, one, two, three]]),
        "xtok_ids": torch.tensor([[tx, t123]]),
        "xtok_attention_mask": torch.ones(1, 2, dtype=torch.long),
        "xtok_pos": torch.tensor([[-1, 0, -1, -1]]),  # the teacher's logits at 0 predict "123"
    }
    mask = inputs["labels"][:, 1:] != -100
    rows, loss = x.rows(inputs, mask, 0, lm_head)
    assert rows[1].tolist() == [True, False, False]

    def of(token):
        lg = student_logits(len(student), token, 0.97).expand(3, -1)
        return float(loss(lg, 1.0, *rows))

    exact, arbitrary = of(one), of(wrong)
    # the exact student (the teacher's text, in its own tokens) costs next to nothing, and no
    # token unrelated to the text scores better than it
    assert exact < 0.05, (exact, arbitrary)
    assert exact <= arbitrary + 1e-6


def test_a_top_k_teacher_lists_its_own_longer_token_and_the_shared_prefix_goes_by_rank():
    """Stored side files and served teachers: the teacher's next token "123" (its own text at
    that position) makes its listed "1" no shared outcome where the student writes "1"."""
    from distill.train.kd.xtok import UNMAPPED, TopKXTok

    t = TopKXTok.__new__(TopKXTok)
    t.texts = ["", "1", "2", "3", "a"]
    # listed: "123" (unmapped: no student token), "1" -> student 1, "a" -> 4
    assert t.at([UNMAPPED, 1, 4], ["123", "1", "a"], 1, "123") == [UNMAPPED, UNMAPPED, 4]
    assert t.at([UNMAPPED, 1, 4], ["123", "1", "a"], 1, "1") == [UNMAPPED, 1, 4]
    assert t.at([UNMAPPED, 1, 4], ["123", "1", "a"], 1) == [UNMAPPED, 1, 4]  # no teacher text


def spy_at(monkeypatch):
    """Record each TopKXTok.at call's (listed texts, the teacher's own token text)."""
    from distill.train.kd.xtok import TopKXTok

    calls = []
    real = TopKXTok.at

    def at(self, ids, texts, nxt, *rest, **kw):
        calls.append((list(texts), (rest or [kw.get("t_word", "")])[0]))
        return real(self, ids, texts, nxt, *rest, **kw)

    monkeypatch.setattr(TopKXTok, "at", at)
    return calls


def test_stored_top_k_is_read_with_the_teachers_own_token_at_each_position(
    tmp_path, tiny_qwen, teacher_dir, monkeypatch
):
    """stored_xtok_dataset hands at() the stored token text j whose top-K it maps."""
    from distill.logprobs import load_many
    from tests.test_xtok_stored import stored_from

    data = stored_from(tmp_path, teacher_dir, k=4)
    calls = spy_at(monkeypatch)
    build_trainer(kd_cfg(tmp_path, tiny_qwen, data=str(data), kd_alpha=1.0))
    rows = [json.loads(x) for x in data.read_text().splitlines()]
    stored = load_many(rows, str(data))
    known = {(tuple(t.topk_text[j]), t.token_text[j]) for t in stored for j in range(len(t))}
    assert len(calls) > 20
    assert all((tuple(texts), word) in known for texts, word in calls)


def test_a_served_teacher_is_read_with_its_own_token_at_each_position(
    tmp_path, tiny_qwen, served, big_tok, monkeypatch
):
    """ServedXTok.positions hands at() the text of the teacher's token there (its offsets)."""
    from distill.logprobs import piece_texts

    srv, path = served
    calls = spy_at(monkeypatch)
    build_trainer(kd_cfg(tmp_path, tiny_qwen, teacher_url=srv.url, teacher_model=str(path)))
    vocab = set(piece_texts(big_tok, list(range(len(big_tok)))))
    assert len(calls) > 20
    words = [word for _, word in calls]
    assert sum(bool(w) for w in words) > 0.9 * len(words)
    assert all(w in vocab for w in words if w)
