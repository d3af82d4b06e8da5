"""The judge as a local reward model (--judge-backend reward): a tiny random sequence classifier
scores prompt + trace; the selection ranks by its scores, caches them, and a rerun scores none."""

from __future__ import annotations

import pytest

from distill.errors import DistillError
from distill.select.config import SelectConfig
from tests.test_select import select, trace, write


@pytest.fixture(scope="module")
def tiny_reward(tmp_path_factory):
    import torch
    from transformers import AutoModelForSequenceClassification, Qwen2Config

    from tests.tiny import make_tokenizer

    path = tmp_path_factory.mktemp("tiny-reward")
    torch.manual_seed(0)
    tok = make_tokenizer("qwen2")
    config = Qwen2Config(vocab_size=len(tok), hidden_size=32, intermediate_size=64,
                         num_hidden_layers=2, num_attention_heads=4, num_key_value_heads=2,
                         max_position_embeddings=512, pad_token_id=tok.pad_token_id,
                         num_labels=1)  # fmt: skip
    AutoModelForSequenceClassification.from_config(config).save_pretrained(path)
    tok.save_pretrained(path)
    return path


def reference_scores(path, recs) -> dict[str, float]:
    """Each trace scored alone (no batch, no padding) straight through transformers."""
    import torch
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    tok = AutoTokenizer.from_pretrained(path)
    net = AutoModelForSequenceClassification.from_pretrained(path).eval()
    out = {}
    for r in recs:
        chat = [*r["messages"], {"role": "assistant",
                                 "content": f"<think>\n{r['reasoning']}\n</think>\n\n{r['answer']}"}]  # fmt: skip
        ids = tok(tok.apply_chat_template(chat, tokenize=False), return_tensors="pt")
        with torch.inference_mode():
            out[r["id"]] = float(net(**ids).logits[0, 0])
    return out


def test_a_reward_model_ranks_the_traces_and_a_rerun_scores_none(tmp_path, tiny_reward):
    recs = [
        trace(f"p{k}", f"What is {k} + {k}?", reasoning=f"{k} plus {k} is {2 * k}" + " ok" * k,
              answer=f"\\boxed{{{2 * k}}}")
        for k in range(7)
    ]  # fmt: skip
    src = write(tmp_path / "kept.jsonl", recs)
    ref = reference_scores(tiny_reward, recs)
    assert len({round(v, 5) for v in ref.values()}) == 7  # a random head still tells them apart
    kw = dict(judge=str(tiny_reward), judge_backend="reward", criteria=["judge"])
    kept, rejects, rep = select(tmp_path, src, budget=3, **kw)
    best = sorted(ref, key=ref.get, reverse=True)[:3]
    assert sorted(r["id"] for r in kept) == sorted(best)
    for r in kept + rejects:  # every trace carries its score (padded batch = scored alone)
        assert r["meta"]["select"]["judge"] == pytest.approx(ref[r["id"]], abs=1e-4)
    assert rep["judge"]["requests_this_run"] == 7 and rep["removed"]["budget"] == 4

    # another budget and a threshold on the model's own scale (not 1-10): nothing rescored
    low = sorted(ref.values())
    cut = (low[1] + low[2]) / 2  # the lowest two fall below it
    kept, _, rep = select(tmp_path, src, out="b.jsonl", budget=10, min_score=cut, **kw)
    assert rep["judge"]["requests_this_run"] == 0 and rep["judge"]["cached"] == 7
    assert len(kept) == 5 and rep["removed"]["judge"] == 2


def test_a_model_that_is_no_classifier_is_one_line(tmp_path):
    src = write(tmp_path / "kept.jsonl", [trace("a", "A?")])
    (tmp_path / "notamodel").mkdir()
    with pytest.raises(DistillError, match=r"^--judge .*notamodel \(--judge-backend reward\)"):
        select(tmp_path, src, judge=str(tmp_path / "notamodel"), judge_backend="reward")
    with pytest.raises(
        DistillError, match=r"unknown --judge-backend 'rm' \(have: openai, reward\)"
    ):
        SelectConfig(input=str(src), out="s.jsonl", judge="m", judge_backend="rm")
