"""Diversity over an embedding model's vectors (--embed-model): a transformers model mean-pooled
(no sentence-transformers), padding-invariant, and the clusters drawn round-robin as TF-IDF's."""

from __future__ import annotations

import numpy as np
import pytest

from distill.errors import DistillError
from distill.select.config import SelectConfig
from distill.select.diversity import embed, kmeans
from tests.test_select import planted, select


def test_embeddings_are_the_mean_pooled_last_hidden_state_whatever_the_batch(tiny_qwen):
    import torch
    from transformers import AutoModel, AutoTokenizer

    texts = ["What is 12 + 34?", "the a is of and to 0 1 2 3 4 5 6 7 8 9 10 11 12", "12"]
    got = embed(texts, str(tiny_qwen), batch=3)  # padded batch
    assert got.shape[0] == 3
    tok = AutoTokenizer.from_pretrained(tiny_qwen)
    net = AutoModel.from_pretrained(tiny_qwen).eval()
    for text, vec in zip(texts, got):
        with torch.inference_mode():
            h = net(**tok(text, return_tensors="pt")).last_hidden_state[0]
        ref = h.mean(0) / h.mean(0).norm()
        np.testing.assert_allclose(vec, ref.numpy(), atol=1e-4)


def test_kmeans_takes_dense_vectors_as_it_takes_tfidf():
    rng = np.random.default_rng(0)
    centers = np.eye(3, 8, dtype=np.float32)
    x = np.concatenate([c + 0.05 * rng.standard_normal((10, 8)) for c in centers])
    x = (x / np.linalg.norm(x, axis=1, keepdims=True)).astype(np.float32)
    labels = kmeans(x, 3, seed=0)
    assert sorted(len(set(labels[i : i + 10])) for i in (0, 10, 20)) == [1, 1, 1]
    assert len(set(labels)) == 3


def test_select_clusters_by_the_embedding_model_and_draws_round_robin(tmp_path, tiny_qwen):
    src = planted(tmp_path, {"geometry": 12, "probability": 6, "algebra": 4})
    kept, rejects, rep = select(tmp_path, src, budget=6, clusters=3, embed_model=str(tiny_qwen))
    assert rep["diversity"]["by"] == f"embeddings of {tiny_qwen}-kmeans (k=3)"
    clusters = [r["meta"]["select"]["cluster"] for r in kept + rejects]
    assert set(clusters) == {0, 1, 2}
    # round-robin: a cluster not drawn dry has at most one fewer than the most drawn one
    drawn = {c: 0 for c in set(clusters)}
    for r in kept:
        drawn[r["meta"]["select"]["cluster"]] += 1
    for c, n in drawn.items():
        assert n == clusters.count(c) or n >= max(drawn.values()) - 1, drawn
    assert len(kept) == 6


def test_embed_model_and_by_together_are_one_line(tmp_path):
    with pytest.raises(DistillError, match="--embed-model clusters the prompts, --by draws"):
        SelectConfig(input="k.jsonl", out="s.jsonl", embed_model="m", by="meta.domain")
