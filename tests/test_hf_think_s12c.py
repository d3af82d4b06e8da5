"""The hf backend (distill/teachers/hf.py) records what the model wrote and samples what the user
asked for: <think> tags a tokenizer marks special kept in the text."""

from __future__ import annotations

import json

import pytest

from distill.generate import GenerateConfig
from distill.generate import run as generate


@pytest.fixture
def writes(monkeypatch):
    """Make every hf generate call write `writes.ids` after each prompt (then pad)."""
    import torch
    import transformers

    class Forced:
        ids: list[int] = []

    def forced(self, *args, **kwargs):
        ids = kwargs["input_ids"]
        tail = torch.tensor(Forced.ids, dtype=ids.dtype).expand(ids.shape[0], -1)
        return torch.cat([ids, tail], dim=1)

    monkeypatch.setattr(transformers.GenerationMixin, "generate", forced)
    return Forced


def test_think_tags_the_model_writes_are_kept_where_its_tokenizer_marks_them_special(
    tmp_path, tiny_qwen, writes
):
    # tests/tiny.py's tokenizer, as some real ones, marks <think> and </think> special: decoded
    # skipping special tokens, a sample that reasons after a prompt that did not open <think>
    # (ChatML's) lost both tags: its reasoning recorded as part of the answer (think 'none').
    from distill.models import load_tokenizer

    tok = load_tokenizer(str(tiny_qwen))
    assert tok.decode(tok.convert_tokens_to_ids(["<think>"]), skip_special_tokens=True) == ""
    words = lambda s: tok(s, add_special_tokens=False)["input_ids"]  # noqa: E731
    writes.ids = [
        *tok.convert_tokens_to_ids(["<think>"]),
        *words(" Let me add the numbers."),
        *tok.convert_tokens_to_ids(["</think>"]),
        *words(" The answer is 46."),
        tok.eos_token_id,
    ]
    out = tmp_path / "traces.jsonl"
    generate(
        GenerateConfig(
            data="builtin:arithmetic?n=2",
            teacher="hf",
            model=str(tiny_qwen),
            max_tokens=len(writes.ids),
            device="cpu",
            out=str(out),
        ),
        progress=False,
    )
    records = [json.loads(line) for line in out.read_text().splitlines()]
    assert len(records) == 2
    for r in records:
        assert r["think"] == "closed", r
        assert r["reasoning"] == "Let me add the numbers." and r["answer"] == "The answer is 46."
        assert r["finish_reason"] == "stop" and r["usage"]["completion_tokens"] == len(writes.ids)
