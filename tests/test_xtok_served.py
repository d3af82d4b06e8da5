"""A served teacher of another tokenizer (distill/train/kd/xtok.py ServedXTok): it scores text in
its own tokenization and returns its top-K as token texts with character offsets; they are
aligned to the student's tokens by those offsets and mapped to the student's vocabulary by text.
The server (tests/xtokserver.py) is http.server around a tiny transformers model: the scoring
and the offsets are transformers' own."""

import copy
import json
import math

import pytest
import torch

from distill.errors import DistillError
from distill.train import build_trainer, run
from distill.train.kd.xtok import UNMAPPED, ServedXTok
from tests.test_kd import first_batch, kd_cfg, loss_of
from tests.test_xtok import bpe, renamed_turns, tiny_model_with
from tests.tiny import CORPUS
from tests.xtokserver import TextScoringServer


@pytest.fixture(scope="module")
def big_tok():
    other = [" ".join(reversed(x.split())) + " ".join(x.split()).upper() for x in CORPUS]
    return bpe(700, (other + CORPUS[::-1]) * 20)


@pytest.fixture(scope="module")
def served(big_tok, tmp_path_factory):
    """A tiny teacher of another tokenizer, served under its folder's name (as vLLM does)."""
    path = tiny_model_with(big_tok, tmp_path_factory.mktemp("xtok-served-teacher"), seed=3)
    srv = TextScoringServer(str(path), str(path)).start()
    yield srv, path
    srv.stop()


def served_cfg(tmp_path, student, srv, name, **kw):
    return kd_cfg(tmp_path, student, teacher_url=srv.url, teacher_model=str(name), **kw)


def test_served_topk_sits_where_the_local_teacher_of_that_tokenizer_predicts(
    tmp_path, tiny_qwen, served
):
    """The served path aligns by the server's offsets; the local path by distill's char_ends on
    the teacher's own tokens. At every student position both pair, the served best log-prob is
    the local teacher's best there: the two alignments agree."""
    srv, path = served
    trainer = build_trainer(served_cfg(tmp_path, tiny_qwen, srv, path, teacher_top_k=4))[0]
    assert isinstance(trainer.teacher, ServedXTok)
    assert any(isinstance(r["prompts"][0], str) for r in srv.log)  # text was scored
    batch = first_batch(trainer)
    t_ids = batch["teacher_ids"]
    assert (t_ids >= 0).any() and (t_ids == UNMAPPED).any()
    assert loss_of(trainer, batch) > 1e-3
    local = build_trainer(kd_cfg(tmp_path, tiny_qwen, teacher_model=str(path)))[0]
    lb = first_batch(local)
    assert torch.equal(lb["input_ids"], batch["input_ids"])
    t = local.teacher.local
    with torch.no_grad():
        pos = (lb["xtok_attention_mask"].cumsum(-1) - 1).clamp(min=0)
        lp = torch.log_softmax(t.logits(lb["xtok_ids"], lb["xtok_attention_mask"], pos), -1)
    both = 0

    def best_id(b, row):
        return int(lp[b, row].argmax())

    for b in range(lb["input_ids"].shape[0]):
        for s in range(lb["input_ids"].shape[1]):
            row = int(lb["xtok_pos"][b, s])
            # top_logprobs is keyed by text: byte pieces that all read U+FFFD collide there
            if (
                row >= 0
                and t_ids[b, s, 0] != -1
                and "\ufffd" not in t.tok.decode([best_id(b, row)])
            ):
                best = float(lp[b, row].max())
                assert float(batch["teacher_logprobs"][b, s, 0]) == pytest.approx(best, abs=1e-4)
                both += 1
    assert both > 20


def test_served_loss_is_zero_for_the_student_under_another_tokenizer(tmp_path, tiny_qwen):
    """Same weights served with a tokenizer that renames a turn marker (our ids read as other
    text: the cross-tokenizer path): the loss is 0 with both --xtok; another teacher's is not."""
    from tests.tiny import make_tiny_model

    same = renamed_turns(tiny_qwen, tmp_path / "same")
    other = renamed_turns(make_tiny_model(tmp_path / "o", "qwen2", seed=1), tmp_path / "other")
    losses = {}
    for path in (same, other):
        srv = TextScoringServer(str(path), str(path)).start()
        try:
            trainer = build_trainer(
                served_cfg(tmp_path, tiny_qwen, srv, path, teacher_top_k=8, kd_alpha=1.0)
            )[0]
            assert isinstance(trainer.teacher, ServedXTok)
            batch = first_batch(trainer)
            for kind in ("hybrid", "uld"):
                trainer.teacher.kind = kind
                losses[path, kind] = loss_of(trainer, batch)
        finally:
            srv.stop()
    for kind in ("hybrid", "uld"):  # tiny random models: near-uniform, small divergences
        assert losses[same, kind] == pytest.approx(0.0, abs=1e-7), losses
        assert losses[other, kind] > 1e-4, losses


def test_onpolicy_with_a_served_teacher_of_another_tokenizer_trains(tmp_path, tiny_qwen, served):
    srv, path = served
    out = run(
        served_cfg(
            tmp_path,
            tiny_qwen,
            srv,
            path,
            data="builtin:arithmetic?n=4",
            method="onpolicy",
            teacher_top_k=4,
            max_steps=1,
            max_new_tokens=6,
        )  # fmt: skip
    )
    (row,) = [json.loads(x) for x in (out / "loss.jsonl").read_text().splitlines()]
    assert math.isfinite(row["loss"]) and row["kl"] > 0 and 0.0 < row["aligned_share"] <= 1.0
    assert json.loads((out / "kd.json").read_text())["xtok"] == "hybrid"


def test_a_served_teacher_that_normalises_text_is_one_line(tmp_path, tiny_qwen, big_tok):
    from tokenizers import normalizers

    lower = copy.deepcopy(big_tok)
    lower.backend_tokenizer.normalizer = normalizers.Lowercase()
    path = tiny_model_with(lower, tmp_path / "lower")
    srv = TextScoringServer(str(path), "lower").start()
    try:
        with pytest.raises(DistillError) as e:
            build_trainer(served_cfg(tmp_path, tiny_qwen, srv, "lower"))
    finally:
        srv.stop()
    assert "\n" not in str(e.value) and "normalises" in str(e.value), e.value


def test_onpolicy_kept_batches_with_a_served_teacher_of_another_tokenizer_are_scored(
    tmp_path, tiny_qwen, served
):
    """lmbda < 1, or --mask-truncated (a batch of run-on samples trains the kept traces): the
    batches that train the kept completions carry the teacher's top-K too."""
    srv, path = served
    for lmbda, mask, scored in ((0.5, False, True), (1.0, False, False), (1.0, True, True)):
        cfg = served_cfg(tmp_path, tiny_qwen, srv, path, method="onpolicy", lmbda=lmbda,
                         teacher_top_k=4, mask_truncated=mask)  # fmt: skip
        batch = first_batch(build_trainer(cfg)[0])
        assert bool((batch["teacher_ids"] >= 0).any()) == scored
        assert len(batch["xtok_prompt_text"]) == 4 and batch["xtok_end"][0]


def test_a_served_teachers_end_of_turn_is_the_students(tmp_path, tiny_qwen, served):
    """The server lists the teacher's end of turn by its text (<|end|>), which no student token
    spells: mapped to the student's own end of turn (<|im_end|>), not left to the rank-only
    comparison where any token the teacher lacks stands in for it (XTokTeacher.pair_ends)."""
    srv, path = served
    trainer = build_trainer(served_cfg(tmp_path, tiny_qwen, srv, path, teacher_top_k=4))[0]
    s_end = trainer.processing_class.convert_tokens_to_ids("<|im_end|>")
    assert trainer.teacher.student_ids([["<|end|>", "<|im_end|>"]]) == [[s_end, UNMAPPED]]
