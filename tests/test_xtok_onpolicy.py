"""Cross-tokenizer onpolicy (distill/train/kd/xtok.py XTokTeacher.sampled): the student's samples
are decoded to text, the teacher of another tokenizer reads that text after its own rendering of
the prompt, and the aligned ULD / hybrid loss applies to the sampled tokens."""

import json
import math
import random

import pytest
import torch

from distill.train import build_trainer, run
from distill.train.kd.xtok import XTokTeacher, align, char_ends
from tests.test_kd import first_batch, kd_cfg, loss_of
from tests.test_xtok import bpe, check_partition, renamed_turns, tiny_model_with
from tests.tiny import CORPUS


@pytest.fixture(scope="module")
def toks():
    """Two byte-level BPEs of other sizes and merges (as tests/test_xtok.py's toks)."""
    other = [" ".join(reversed(x.split())) + " ".join(x.split()).upper() for x in CORPUS]
    return bpe(300, CORPUS * 20), bpe(700, (other + CORPUS[::-1]) * 20)


@pytest.fixture(scope="module")
def other_tok_teacher(toks, tmp_path_factory):
    """A tiny teacher whose tokenizer has other merges, another size and other turn markers."""
    return tiny_model_with(toks[1], tmp_path_factory.mktemp("xtok-onpolicy-teacher"), seed=3)


def as_sampled(trainer, batch, completions):
    """The batch as GKDTrainer.generate_on_policy_outputs returns a sample: the left-padded
    prompts, then each row's completion ids right-padded, labels on the completion only."""
    prompts, pattn = batch["prompts"], batch["prompt_attention_mask"]
    pad = trainer.processing_class.pad_token_id
    width = max(len(c) for c in completions)
    ids = torch.full((len(completions), prompts.shape[1] + width), pad, dtype=torch.long)
    attn = torch.zeros_like(ids)
    ids[:, : prompts.shape[1]], attn[:, : prompts.shape[1]] = prompts, pattn
    for i, c in enumerate(completions):
        ids[i, prompts.shape[1] : prompts.shape[1] + len(c)] = torch.tensor(c)
        attn[i, prompts.shape[1] : prompts.shape[1] + len(c)] = 1
    labels = ids.clone()
    labels[attn == 0] = -100
    labels[:, : prompts.shape[1]] = -100
    out = dict(batch, input_ids=ids, attention_mask=attn, labels=labels, on_policy=True)
    out.update(trainer.teacher.sampled(ids, labels, out))
    return out


def kept_completions(batch):
    """Each row's kept completion ids (the trace: a sample the student could have drawn)."""
    return [row[lab != -100].tolist() for row, lab in zip(batch["input_ids"], batch["labels"])]


# --------------------------------------------------------------------------- alignment


def test_sampled_ids_of_any_kind_decode_to_text_both_sides_cover_once(toks):
    """A sample is any id sequence (byte pieces that close no character, turn markers, a split
    no tokenizer would make): its decoded text, read by the other tokenizer, still partitions."""
    small, big = toks
    rng = random.Random(0)
    odd = 0
    for _ in range(200):
        ids = [rng.randrange(len(small)) for _ in range(rng.randint(1, 30))]
        text = small.decode(ids, skip_special_tokens=False, clean_up_tokenization_spaces=False)
        s_ends = char_ends(small, ids, text)
        t_ids = big(text, add_special_tokens=False)["input_ids"]
        t_ends = char_ends(big, t_ids, text)
        assert s_ends is not None and t_ends is not None, text
        assert s_ends[-1] == t_ends[-1] == len(text)
        check_partition(text, s_ends, t_ends, align(s_ends, t_ends))
        odd += "\ufffd" in text
    assert odd > 10  # lone byte pieces were drawn and decoded


# --------------------------------------------------------------------------- the loss


def test_onpolicy_loss_is_zero_for_the_student_under_another_tokenizer_and_positive_otherwise(
    tmp_path, tiny_qwen
):
    """Same weights, a tokenizer that renames a turn marker: the samples' text read back by the
    teacher pairs 1:1 and its distribution is the student's mapped one (loss 0, both --xtok);
    another teacher's is not."""
    from tests.tiny import make_tiny_model

    same = renamed_turns(tiny_qwen, tmp_path / "same")
    other = renamed_turns(make_tiny_model(tmp_path / "o", "qwen2", seed=1), tmp_path / "other")
    for teacher, zero in ((same, True), (other, False)):
        cfg = kd_cfg(
            tmp_path, tiny_qwen, method="onpolicy", teacher_model=str(teacher), max_new_tokens=8
        )
        trainer = build_trainer(cfg)[0]
        assert isinstance(trainer.teacher, XTokTeacher)
        batch = first_batch(trainer)
        sampled = as_sampled(trainer, batch, kept_completions(batch))
        paired = sampled["xtok_pos"][:, 1:][sampled["labels"][:, 1:] != -100] >= 0
        assert paired.float().mean() > 0.9
        for kind in ("hybrid", "uld"):  # the loss alone changes with --xtok
            trainer.teacher.kind = kind
            got = loss_of(trainer, sampled)
            assert got == pytest.approx(0.0, abs=1e-5) if zero else got > 1e-3, (kind, got)


def test_onpolicy_xtok_steps_on_a_sample_lower_its_loss(tmp_path, tiny_qwen, other_tok_teacher):
    from trl.experimental.gkd import GKDTrainer

    cfg = kd_cfg(
        tmp_path,
        tiny_qwen,
        method="onpolicy",
        teacher_model=str(other_tok_teacher),
        max_new_tokens=8,
    )
    trainer = build_trainer(cfg)[0]
    batch = first_batch(trainer)
    model = trainer.model.eval()
    torch.manual_seed(0)
    ids, attn, labels = GKDTrainer.generate_on_policy_outputs(model, batch, trainer.gen_config)
    batch.update(input_ids=ids, attention_mask=attn, labels=labels, on_policy=True)
    batch.update(trainer.teacher.sampled(ids, labels, batch))
    assert (batch["xtok_pos"] >= 0).sum() > 4  # the samples pair with the teacher's tokens
    before = loss_of(trainer, batch)
    opt = torch.optim.Adam([p for p in model.parameters() if p.requires_grad], lr=5e-2)
    for _ in range(6):
        trainer.compute_loss(model, dict(batch)).backward()
        opt.step()
        opt.zero_grad()
    after = loss_of(trainer, batch)
    # a rank-8 adapter on random tiny models moves little of it (measured 0.4735 -> 0.4714: the
    # ULD between the tokens only one vocabulary holds is most of it); a detached or unpaired
    # loss would not move at all
    assert math.isfinite(before) and before > 1e-3 and after < before - 1e-3, (before, after)


# --------------------------------------------------------------------------- training


def test_onpolicy_from_prompts_alone_with_a_teacher_of_another_tokenizer_trains(
    tmp_path, tiny_qwen, other_tok_teacher
):
    """`distill train --method onpolicy --teacher-model T` (another tokenizer) just works, on a
    prompt source as on kept traces, and logs the aligned share."""
    out = run(
        kd_cfg(
            tmp_path,
            tiny_qwen,
            data="builtin:arithmetic?n=8",
            method="onpolicy",
            teacher_model=str(other_tok_teacher),
            max_steps=1,
            max_new_tokens=6,
        )  # fmt: skip
    )
    rows = [json.loads(x) for x in (out / "loss.jsonl").read_text().splitlines()]
    assert len(rows) == 1
    for row in rows:
        assert math.isfinite(row["loss"]) and row["kl"] > 0 and 0.0 < row["aligned_share"] <= 1.0
    state = json.loads((out / "kd.json").read_text())
    assert state["xtok"] == "hybrid" and 4 <= state["teacher_tokens_scored"] <= 4 * 6


def test_a_teacher_that_normalises_the_prompts_text_is_one_error_on_prompts_alone(
    tmp_path, tiny_qwen, toks
):
    import copy

    from tokenizers import normalizers

    from distill.errors import DistillError
    from tests.test_xtok import tiny_model_with

    lower = copy.deepcopy(toks[0])
    lower.backend_tokenizer.normalizer = normalizers.Lowercase()
    teacher = tiny_model_with(lower, tmp_path / "lower")
    cfg = kd_cfg(
        tmp_path, tiny_qwen, data="builtin:arithmetic?n=4", method="onpolicy",
        teacher_model=str(teacher), max_new_tokens=6,
    )  # fmt: skip
    with pytest.raises(DistillError, match=f"row 1: teacher tokenizer '{teacher}' .*normalises"):
        build_trainer(cfg)
