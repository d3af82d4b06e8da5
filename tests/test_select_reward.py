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
        DistillError, match=r"unknown --judge-backend 'rm' \(have: openai, reward, likelihood\)"
    ):
        SelectConfig(input=str(src), out="s.jsonl", judge="m", judge_backend="rm")


def tiny_classifier(path, family: str, seed: int = 0):
    import torch
    from transformers import AutoModelForSequenceClassification, LlamaConfig, Qwen2Config

    from tests.tiny import make_tokenizer

    torch.manual_seed(seed)
    tok = make_tokenizer(family)
    kw = dict(vocab_size=len(tok), hidden_size=32, intermediate_size=64, num_hidden_layers=2,
              num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=512,
              pad_token_id=tok.pad_token_id, num_labels=1)  # fmt: skip
    config = Qwen2Config(**kw) if family == "qwen2" else LlamaConfig(**kw)
    AutoModelForSequenceClassification.from_config(config).save_pretrained(path)
    tok.save_pretrained(path)
    return path


def test_a_chat_template_that_writes_the_bos_is_scored_with_one_bos(tmp_path):
    # Llama-3's template starts with <|begin_of_text|> and its tokenizer adds one too: the
    # reward model reads the chat as apply_chat_template(tokenize=True) writes it (one BOS).
    import torch
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    path = tiny_classifier(tmp_path / "rm", "llama")
    recs = [trace(f"p{k}", f"What is {k} + 1?", reasoning=f"{k} and one", answer=f"{k + 1}")
            for k in range(3)]  # fmt: skip
    src = write(tmp_path / "kept.jsonl", recs)
    tok = AutoTokenizer.from_pretrained(path)
    net = AutoModelForSequenceClassification.from_pretrained(path).eval()
    ref = {}
    for r in recs:
        chat = [*r["messages"], {"role": "assistant",
                                 "content": f"<think>\n{r['reasoning']}\n</think>\n\n{r['answer']}"}]  # fmt: skip
        ids = tok.apply_chat_template(chat, tokenize=True, return_dict=True, return_tensors="pt")
        assert int((ids["input_ids"] == tok.bos_token_id).sum()) == 1
        with torch.inference_mode():
            ref[r["id"]] = float(net(**ids).logits[0, 0])
    kept, _, _ = select(tmp_path, src, judge=str(path), judge_backend="reward", criteria=["judge"])
    for r in kept:
        assert r["meta"]["select"]["judge"] == pytest.approx(ref[r["id"]], abs=1e-4)


def test_a_reward_model_retrained_in_place_scores_again(tmp_path):
    # the cache is keyed by the model's files, not only its path: new weights are a new judge
    path = tiny_classifier(tmp_path / "rm", "qwen2", seed=0)
    recs = [trace(f"p{k}", f"What is {k}?", reasoning="r", answer=str(k)) for k in range(3)]
    src = write(tmp_path / "kept.jsonl", recs)
    kw = dict(judge=str(path), judge_backend="reward", criteria=["judge"])
    _, _, rep = select(tmp_path, src, **kw)
    assert rep["judge"]["requests_this_run"] == 3
    _, _, rep = select(tmp_path, src, out="again.jsonl", **kw)
    assert rep["judge"]["requests_this_run"] == 0  # same weights: all cached
    tiny_classifier(path, "qwen2", seed=1)  # retrained, saved over the same folder
    kept, _, rep = select(tmp_path, src, out="new.jsonl", **kw)
    assert rep["judge"]["requests_this_run"] == 3 and rep["judge"]["cached"] == 0


def test_a_file_written_beside_the_reward_models_weights_scores_nothing_again(
    tmp_path, monkeypatch
):
    """The cache key counted every .json in the reward model's folder: an eval.json or notes
    written there scored every trace again. Only its weight files count now; scores cached
    under the key before are still used."""
    import distill.select.reward as reward

    path = tiny_classifier(tmp_path / "rm", "qwen2", seed=0)
    recs = [trace(f"p{k}", f"What is {k}?", reasoning="r", answer=str(k)) for k in range(3)]
    src = write(tmp_path / "kept.jsonl", recs)
    kw = dict(judge=str(path), judge_backend="reward", criteria=["judge"])
    with monkeypatch.context() as m:  # a cache written by the key before (every .json)
        m.setattr(reward, "model_stamp", reward.fingerprint)
        _, _, rep = select(tmp_path, src, **kw)
    assert rep["judge"]["requests_this_run"] == 3
    _, _, rep = select(tmp_path, src, out="again.jsonl", **kw)
    assert rep["judge"]["requests_this_run"] == 0  # the scores before still count
    (path / "eval.json").write_text("{}")
    _, _, rep = select(tmp_path, src, out="third.jsonl", **kw)
    assert rep["judge"]["requests_this_run"] == 0
