"""Second read of e7e38ec / b0740eb (s12d): a stated letter followed by another option offered
("Alternatively, C", "Or C.") is a hedge; --precision auto on a GPU without bf16 in hardware (a
T4, a V100) is fp16, not torch's emulated bf16."""

import pytest

from distill.filter.verify import verify_math

# ---------------------------------------------------------------- another option offered


@pytest.mark.parametrize(
    "answer",
    [
        "The answer is B.\n\nAlternatively, C could also be correct.",
        "The answer is B.\n\nOr C.",
        "Answer: B\n\nThen again, D fits too.",
        "The answer is B.\n\nOn reflection, (C) is better.",
    ],
)
def test_a_letter_then_another_option_offered_is_a_hedge(answer):
    """e7e38ec made a later letter a hedge only after its walk-back words, which had none of
    these: each answer above, right letter B hedged with another, was judged correct."""
    assert verify_math(answer, "B") == "wrong"


@pytest.mark.parametrize(
    "answer",
    [
        "The answer is B.\n\nHmm, let me double check: yes B.",
        "The answer is B.\n\nOption A or C would need x < 0, which it is not.",
        "The answer is B.\n\nWhy not the others? A is wrong; (C) overstates it.",
    ],
)
def test_a_letter_then_its_check_or_reasons_is_the_answer(answer):
    assert verify_math(answer, "B") == "correct"


# ---------------------------------------------------------------- auto on a GPU of its own kind


def _gpu(monkeypatch, *, hardware_bf16: bool, has_argument: bool = True):
    import torch

    def is_bf16_supported(including_emulation=True):
        # torch's own answer: sm >= 8, else (by default) whether a bf16 tensor can be made,
        # which it can on a T4 or V100 (emulated)
        return hardware_bf16 or including_emulation

    def old_is_bf16_supported():
        return hardware_bf16

    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(
        torch.cuda,
        "is_bf16_supported",
        is_bf16_supported if has_argument else old_is_bf16_supported,
    )


def test_auto_is_fp16_on_a_gpu_whose_bf16_is_emulated(monkeypatch):
    """A Colab T4 / a V100: torch.cuda.is_bf16_supported() says yes (emulation), so auto
    trained in bf16 (slowly, and unlike the fp16 its help and train.yaml's lineage promise)."""
    from distill.train.sft import resolved_precision

    _gpu(monkeypatch, hardware_bf16=False)
    assert resolved_precision("auto") == "fp16"
    assert resolved_precision("bf16") == "bf16"  # given: as given


@pytest.mark.parametrize("has_argument", [True, False])
def test_auto_is_bf16_where_the_gpu_has_it(monkeypatch, has_argument):
    from distill.train.sft import resolved_precision

    _gpu(monkeypatch, hardware_bf16=True, has_argument=has_argument)
    assert resolved_precision("auto") == "bf16"
    _gpu(monkeypatch, hardware_bf16=False, has_argument=has_argument)
    assert resolved_precision("auto") == "fp16"
