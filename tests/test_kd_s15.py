"""kd / onpolicy, session 15: which tokens the student trains on and with what weight.

- a student whose model class says its forward takes no loss kwargs (Gemma 4 / Gemma 3n, whose
  AutoModelForCausalLM class is *ForConditionalGeneration) trains an accumulated step as one
  batch of its tokens, not as the mean of each micro-batch's mean;
- --format alpaca on stored top-K: a record whose reasoning the format leaves out is refused (the
  teacher's whole reply was trained in place of the answer); a record without reasoning trains
  its answer with the stored top-K on exactly its tokens.
"""

import json

import pytest
import torch
import transformers
from trl.experimental.gkd import GKDTrainer

from distill.errors import DistillError
from distill.train import build_trainer
from tests.test_kd import kd_cfg, write_stored_logprobs
from tests.test_kd_accumulation_s12b import step_grads


@pytest.fixture(scope="module")
def teacher(tmp_path_factory):
    """Another tiny Qwen2 (other random weights, the same tokenizer)."""
    from tests.tiny import make_tiny_model

    return make_tiny_model(tmp_path_factory.mktemp("tiny-teacher"), "qwen2", seed=1)


@pytest.mark.parametrize("method", ["kd", "onpolicy"])
def test_a_model_that_takes_no_loss_kwargs_accumulates_as_one_batch(
    tmp_path, tiny_qwen, teacher, monkeypatch, method
):
    # what transformers reads on Gemma4ForConditionalGeneration: the Trainer then counted no
    # tokens (num_items_in_batch None) and each micro-batch was divided by its own count
    monkeypatch.setattr(transformers.Qwen2ForCausalLM, "accepts_loss_kwargs", False, raising=False)

    def traces(model, inputs, config):  # the "samples": the traces, the same in both runs
        return inputs["input_ids"], inputs["attention_mask"], inputs["labels"]

    monkeypatch.setattr(GKDTrainer, "generate_on_policy_outputs", staticmethod(traces))
    cfg = kd_cfg(tmp_path, tiny_qwen, teacher_model=str(teacher), method=method, lora=False)
    trainer = build_trainer(cfg)[0]
    for m in trainer.model.modules():
        if isinstance(m, torch.nn.Dropout):
            m.p = 0.0
    feats = [trainer.train_dataset[i] for i in (0, 5, 6)]
    tokens = [sum(f["completion_mask"]) for f in feats]
    assert 2 * tokens[0] < sum(tokens)  # the lone row is a third of the tokens, not half
    collate = trainer.data_collator
    one = step_grads(trainer, [collate(feats)])
    two = step_grads(trainer, [collate(feats[:1]), collate(feats[1:])])
    assert one.keys() == two.keys() and "lm_head.weight" in one
    for name, g in one.items():
        assert torch.allclose(two[name], g, atol=1e-6, rtol=1e-4), name


def test_alpaca_on_stored_topk_of_a_reply_with_reasoning_is_refused(tmp_path, tiny_qwen, teacher):
    data = write_stored_logprobs(tmp_path, teacher, k=4)
    with pytest.raises(DistillError, match="record t0: --format alpaca trains the answer alone"):
        build_trainer(kd_cfg(tmp_path, tiny_qwen, data=str(data), format="alpaca"))
    build_trainer(kd_cfg(tmp_path, tiny_qwen, data=str(data)))  # r1 trains its reasoning


def test_alpaca_on_stored_topk_of_answers_trains_each_answer_token_with_its_topk(
    tmp_path, tiny_qwen, teacher
):
    from distill.logprobs import load_many
    from distill.models import load_tokenizer
    from tests.test_train import kept_file

    kept = kept_file(tmp_path, n=8)
    rows = [json.loads(x) for x in kept.read_text().splitlines()]
    for r in rows:  # replies without a think block
        r["reasoning"] = None
    kept.write_text("".join(json.dumps(r) + "\n" for r in rows))
    data = write_answers_only(tmp_path, teacher, kept)
    trainer = build_trainer(kd_cfg(tmp_path, tiny_qwen, data=str(data), format="alpaca"))[0]
    tok = load_tokenizer(str(tiny_qwen))
    rows = [json.loads(x) for x in data.read_text().splitlines()]
    stored = load_many(rows, str(data))
    for row, t, ex in zip(rows, stored, trainer.train_dataset, strict=True):
        start = ex["completion_mask"].index(1)
        assert tok.decode(ex["input_ids"][:start]).endswith("### Response:")  # Alpaca's prompt
        comp = ex["input_ids"][start:]
        assert comp == t.token_ids.tolist()  # the answer + EOS, the teacher's own tokens
        assert tok.decode(comp) == row["answer"] + "<|im_end|>"
        assert ex["teacher_ids"] == t.topk_ids.tolist()  # row j: the top-K for token j


def write_answers_only(tmp_path, teacher_dir, kept):
    """kept's records (no reasoning) with the teacher's top-K over each answer + EOS, as
    `distill generate --logprobs K` stores a reply without a think block."""
    from transformers import AutoModelForCausalLM

    from distill.examples import Renderer, load_examples
    from distill.logprobs import TokenLogprobs, pointer, side_dir, vocab_hash, write_shard
    from distill.models import load_tokenizer

    data = tmp_path / "answers.jsonl"
    data.write_text(kept.read_text())
    tok = load_tokenizer(str(teacher_dir))
    model = AutoModelForCausalLM.from_pretrained(teacher_dir).eval()
    r = Renderer(tok, "r1", model.generation_config.eos_token_id)
    rows = [json.loads(x) for x in data.read_text().splitlines()]
    items = []
    for row, ex in zip(rows, load_examples(str(data)), strict=True):
        row.pop("logprobs", None)
        p, c = r.encode(ex)
        c = c[:-1]  # the teacher stopped at <|im_end|>
        assert tok.decode(c) == row["answer"] + "<|im_end|>"
        with torch.no_grad():
            lp = torch.log_softmax(model(torch.tensor([p + c])).logits[0, len(p) - 1 : -1], -1)
        top = lp.topk(4, -1)
        t = TokenLogprobs(
            torch.tensor(c).numpy(),
            lp.gather(-1, torch.tensor(c)[:, None])[:, 0].numpy(),
            top.indices.numpy(),
            top.values.numpy(),
        )
        items.append((row, t))
    shard = write_shard(side_dir(data), [(row["id"], t) for row, t in items])
    for row, t in items:
        row["logprobs"] = pointer(shard, data, t, str(teacher_dir), vocab_hash(tok), True)
    data.write_text("".join(json.dumps(row) + "\n" for row in rows))
    return data
