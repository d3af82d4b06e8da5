"""Second read of session 15's kd/SFT accumulation fix (b60e868) and of the cross-tokenizer /
several-teacher losses.

- SFT: a student whose model class says its forward takes no loss kwargs (Gemma 4's
  *ForConditionalGeneration, what AutoModelForCausalLM gives) trains an accumulated step as one
  batch of its tokens (TRL's fused head on GPUs, the chunked loss on CPU), not as the mean of each
  micro-batch's mean;
- kd on stored top-K of another tokenizer with --format alpaca: a record with reasoning is refused
  (its answer's first token was paired with the teacher's distribution over its reply's first);
- --teacher-route-field: a value naming two teachers alike is refused, a whole name wins over
  another teacher's last path part.
"""

import pytest
import torch
import transformers

from distill.errors import DistillError
from distill.train import build_trainer
from tests.test_kd import kd_cfg
from tests.test_kd_accumulation_s12b import step_grads


@pytest.mark.parametrize("chunk", [0, 5])
def test_sft_of_a_model_that_takes_no_loss_kwargs_accumulates_as_one_batch(
    tmp_path, tiny_qwen, monkeypatch, chunk
):
    # what transformers reads on Gemma4ForConditionalGeneration: the Trainer then counted no
    # tokens (num_items_in_batch None) and divided each micro-batch by its own count
    monkeypatch.setattr(transformers.Qwen2ForCausalLM, "accepts_loss_kwargs", False, raising=False)
    if chunk:  # the chunked loss is SFT's off CUDA; TRL's fused head on GPUs
        monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    cfg = kd_cfg(tmp_path, tiny_qwen, method="sft", loss_chunk_size=chunk, lora=False)
    trainer = build_trainer(cfg)[0]
    for m in trainer.model.modules():
        if isinstance(m, torch.nn.Dropout):
            m.p = 0.0
    feats = [trainer.train_dataset[i] for i in (0, 5, 6)]
    tokens = [sum(x != -100 for x in f["labels"]) for f in feats]
    assert 2 * tokens[0] < sum(tokens)  # the lone row is a third of the tokens, not half
    collate = trainer.data_collator
    one = step_grads(trainer, [collate(feats)])
    two = step_grads(trainer, [collate(feats[:1]), collate(feats[1:])])
    assert one.keys() == two.keys() and "lm_head.weight" in one
    for name, g in one.items():
        assert torch.allclose(two[name], g, atol=1e-6, rtol=1e-4), name


def test_alpaca_on_stored_topk_of_another_tokenizer_of_a_reply_with_reasoning_is_refused(
    tmp_path, tiny_qwen
):
    """The stored top-K are the teacher's over its whole reply (think block first): --format
    alpaca's answer was paired at its first token with the teacher's distribution over the
    reply's first token (<think>), 1 of every example's tokens trained towards the reasoning's
    start, as b60e868 refused for the student's own tokenizer."""
    from tests.test_xtok import bpe, tiny_model_with
    from tests.test_xtok_stored import stored_from
    from tests.tiny import CORPUS

    other = [" ".join(reversed(x.split())) + " ".join(x.split()).upper() for x in CORPUS]
    teacher = tiny_model_with(bpe(700, (other + CORPUS[::-1]) * 20), tmp_path / "t", seed=3)
    data = stored_from(tmp_path, teacher, 4)
    with pytest.raises(DistillError, match="record t0: --format alpaca trains the answer alone"):
        build_trainer(kd_cfg(tmp_path, tiny_qwen, data=str(data), format="alpaca"))
    build_trainer(kd_cfg(tmp_path, tiny_qwen, data=str(data)))  # r1 trains its reasoning


def test_a_route_value_naming_two_teachers_alike_is_refused_and_a_whole_name_wins():
    """--teacher-route-field: a value was matched against each teacher's whole name or the last
    part of its path, first teacher first: two servers both serving 'default', or
    runs/math/checkpoint-500 and runs/code/checkpoint-500, sent every row to teacher 0 (teacher
    1 scored nothing); and 'B' went to 'x/B' (teacher 0) though teacher 1 is named 'B'."""
    from distill.train.kd.multi import Spec, route_index

    served = [Spec("default", "http://h1/v1", None), Spec("default", "http://h2/v1", None)]
    with pytest.raises(DistillError) as e:
        route_index(served, "default", "kept.jsonl row 3", "domain")
    assert "kept.jsonl row 3: --teacher-route-field 'domain' is 'default', which names " in str(
        e.value
    )
    assert "teachers 0 and 1 alike" in str(e.value) and "\n" not in str(e.value)
    assert route_index(served, 1, "kept.jsonl row 3", "domain") == 1  # an index still routes
    runs = [
        Spec("runs/math/checkpoint-500", None, None),
        Spec("runs/code/checkpoint-500", None, None),
    ]
    with pytest.raises(DistillError, match="names teachers 0 and 1 alike"):
        route_index(runs, "checkpoint-500", "kept.jsonl row 1", "domain")
    assert route_index(runs, "runs/code/checkpoint-500", "kept.jsonl row 1", "domain") == 1
    assert route_index([Spec("x/B", None, None), Spec("B", None, None)], "B", "r", "d") == 1
