"""Review of export, the model registry/loaders and the stored top-K side files: each test
here failed before the fix it names (distill/export.py, distill/models.py, distill/logprobs.py).

Offline, tiny models from tests/tiny.py only.
"""

from __future__ import annotations

import json

import pytest

from distill.errors import DistillError


def write_rows(tmp_path, rows, name="data.jsonl"):
    p = tmp_path / name
    p.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return str(p)


# =========================================================================== export


@pytest.mark.parametrize(
    "row",
    [
        {  # a trace record generated with a system prompt
            "id": "a",
            "messages": [
                {"role": "system", "content": "Answer in French."},
                {"role": "user", "content": "What is 2 + 2?"},
            ],
            "reasoning": "2 plus 2 is 4.",
            "answer": "Quatre.",
            "teacher": {"backend": "hf", "model": "m", "params": {}},
        },
        {  # a chat with an earlier turn
            "messages": [
                {"role": "user", "content": "Hi"},
                {"role": "assistant", "content": "Hello!"},
                {"role": "user", "content": "What is 2 + 2?"},
                {"role": "assistant", "content": "4"},
            ]
        },
    ],
    ids=["system", "turns"],
)
def test_alpaca_export_refuses_what_alpaca_training_refuses(tmp_path, tiny_qwen, row):
    # `distill train --format alpaca` refuses a row whose system message or earlier turns the
    # Alpaca prompt cannot hold; export without --model wrote the last user message alone as
    # the instruction: a dataset that trains without the system prompt, silently.
    from distill.examples import Renderer, load_examples
    from distill.models import load_tokenizer
    from distill.train import ExportConfig, export

    data = write_rows(tmp_path, [row])
    renderer = Renderer(load_tokenizer(str(tiny_qwen)), "alpaca")
    with pytest.raises(DistillError) as trained:
        renderer.prompt_text(next(load_examples(data)))
    out = tmp_path / "out.jsonl"
    with pytest.raises(DistillError) as exported:
        export(ExportConfig(data=data, format="alpaca", out=str(out)))
    assert str(exported.value) == str(trained.value)
    assert not out.exists()


def test_a_parquet_export_keeps_every_row_of_two_layouts(tmp_path):
    # A text prompt/completion row exports as TRL's prompt/completion, a chat as messages:
    # pyarrow took the columns of the first row only, so the parquet lost the other rows' data
    # (None), while the jsonl export kept it.
    import pyarrow.parquet as pq

    from distill.train import ExportConfig, export

    rows = [
        {"messages": [{"role": "user", "content": "Hi"}, {"role": "assistant", "content": "Yo"}]},
        {"prompt": "Once upon", "completion": " a time"},
    ]
    data = write_rows(tmp_path, rows)
    export(ExportConfig(data=data, out=str(tmp_path / "a.jsonl")))
    export(ExportConfig(data=data, out=str(tmp_path / "a.parquet")))
    lines = [json.loads(x) for x in (tmp_path / "a.jsonl").read_text().splitlines()]
    table = pq.read_table(tmp_path / "a.parquet").to_pylist()
    assert [{k: v for k, v in r.items() if v is not None} for r in table] == lines
