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


# =========================================================================== builtin models


def test_two_processes_converting_a_builtin_at_once_convert_it_once(tmp_path, monkeypatch):
    # `accelerate launch` starts one process per GPU and each resolves builtin:gemma3-270m on
    # first use. Both converted: the first to finish deleted the joined GGUF the other was still
    # reading (transformers opens it three times: tokenizer, weights, config), so the second
    # died with a traceback (or its rmtree/rename raced the first's finished folder). Now the
    # conversion holds a lock; the second waits and reads the first's folder.
    import threading
    import time

    from distill import models

    monkeypatch.setenv("DISTILL_CACHE", str(tmp_path))
    monkeypatch.setitem(models.BUILTIN_MODELS, "builtin:fake", ("fake_pkg", "fake.gguf"))
    joined = tmp_path / "gguf" / "fake.gguf"
    calls, errors = [], []

    def convert(package, filename, dest, chat=None):  # as _convert_gguf does with a chunked one
        calls.append(dest)
        joined.parent.mkdir(parents=True, exist_ok=True)
        if not joined.is_file():
            joined.write_bytes(b"GGUF")
        joined.read_bytes()  # the tokenizer
        time.sleep(0.3)  # the weights
        joined.read_bytes()  # the config
        tmp = dest.with_name(dest.name + ".tmp-x")
        tmp.mkdir()
        (tmp / "config.json").write_text("{}")
        if not (dest / "config.json").is_file():
            tmp.replace(dest)
        joined.unlink()

    monkeypatch.setattr(models, "_convert_gguf", convert)

    def use():
        try:
            assert models.resolve_model("builtin:fake") == str(tmp_path / "models" / "fake")
        except BaseException as e:  # noqa: BLE001 - reported below
            errors.append(e)

    threads = [threading.Thread(target=use) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == [] and len(calls) == 1


def test_a_killed_conversions_leftovers_are_removed_by_the_next(tmp_path, monkeypatch):
    # A conversion killed midway leaves models/<name>.tmp<pid>/ (0.5-1.1 GB of safetensors) and
    # gguf/<file>.tmp<pid> (the half-joined chunks): never read, never removed before.
    from distill import models

    monkeypatch.setenv("DISTILL_CACHE", str(tmp_path))
    monkeypatch.setitem(models.BUILTIN_MODELS, "builtin:fake", ("fake_pkg", "fake.gguf"))
    stale = tmp_path / "models" / "fake.tmp12345"
    stale.mkdir(parents=True)
    (stale / "model.safetensors").write_bytes(b"half")
    half = tmp_path / "gguf" / "fake.gguf.tmp12345"
    half.parent.mkdir(parents=True)
    half.write_bytes(b"GG")

    def convert(package, filename, dest, chat=None):
        dest.mkdir()
        (dest / "config.json").write_text("{}")

    monkeypatch.setattr(models, "_convert_gguf", convert)
    assert models.resolve_model("builtin:fake") == str(tmp_path / "models" / "fake")
    assert not stale.exists() and not half.exists()


def test_an_adapter_trained_on_a_builtin_loads_where_the_cache_is_elsewhere(
    tmp_path, monkeypatch, tiny_qwen
):
    # PEFT writes the base's resolved path into adapter_config.json: for a builtin student that
    # is this machine's cache folder (~/.cache/distill/models/smollm2). The adapter copied to
    # another machine (another $HOME or DISTILL_CACHE), or read after the cache was cleared,
    # was refused: "model not found: /home/alice/.cache/distill/models/smollm2".
    import shutil

    from distill import models

    monkeypatch.setenv("DISTILL_CACHE", str(tmp_path / "cache"))
    monkeypatch.setitem(models.BUILTIN_MODELS, "builtin:fake", ("fake_pkg", "fake.gguf"))
    here = tmp_path / "cache" / "models" / "fake"
    shutil.copytree(tiny_qwen, here)
    adapter = tmp_path / "adapter"
    adapter.mkdir()
    elsewhere = "/home/alice/.cache/distill/models/fake"
    (adapter / "adapter_config.json").write_text(json.dumps({"base_model_name_or_path": elsewhere}))
    assert models.adapter_base(str(adapter)) == str(here)
    assert len(models.load_tokenizer(str(adapter))) == len(models.load_tokenizer(str(tiny_qwen)))
    # a base folder that is there is read as it is, and an unknown one is still refused
    (adapter / "adapter_config.json").write_text(
        json.dumps({"base_model_name_or_path": str(tiny_qwen)})
    )
    assert models.adapter_base(str(adapter)) == str(tiny_qwen)
    (adapter / "adapter_config.json").write_text(
        json.dumps({"base_model_name_or_path": "/home/alice/.cache/distill/models/nope"})
    )
    with pytest.raises(DistillError, match="model not found"):
        models.adapter_base(str(adapter))


# =========================================================================== side files


def _topk(n, k=3, texts=True):
    import numpy as np

    from distill.logprobs import TokenLogprobs

    ids = np.arange(n) + 10
    top = np.stack([ids + j for j in range(k)], axis=1)
    lps = np.tile(-np.arange(1, k + 1, dtype=np.float32), (n, 1))
    if not texts:
        return TokenLogprobs(ids, lps[:, 0], top, lps)
    words = [f"w{i}" for i in range(n)]
    offsets = np.cumsum([0] + [len(w) for w in words[:-1]])
    return TokenLogprobs(
        ids, lps[:, 0], top, lps, words, offsets, [[f"t{x}" for x in row] for row in top.tolist()]
    )


def test_a_pointer_says_offsets_only_where_its_shard_holds_them(tmp_path):
    # A shard stores token texts and offsets only when every record of it has them (the hf
    # teacher records none for a completion whose tokens do not spell their decoding back; an
    # OpenAI-style server none for a reply without `bytes`). Each pointer still said
    # `offsets: true` from its own record, so kd across tokenizers took the shard's texts as
    # there and stopped on a TypeError ("".join(None)) instead of naming the side file.
    from distill.logprobs import ShardBuffer, load_many

    out = tmp_path / "t.jsonl"
    buf = ShardBuffer(out)
    buf.add({"id": "a"}, _topk(3), tokenizer="tok", vocab=None, stop_token=False)
    buf.add({"id": "b"}, _topk(2, texts=False), tokenizer="tok", vocab=None, stop_token=False)
    records = []
    buf.flush(records.append)
    for rec, t in zip(records, load_many(records, out), strict=True):
        assert rec["logprobs"]["offsets"] == (t.offsets is not None), rec["id"]


def test_export_with_an_adapter_student_ends_turns_as_its_base_stops(tmp_path, tiny_qwen):
    # A LoRA output folder (the student of a further run) has no generation_config.json: train
    # loads base + adapter and stops on the base's generation EOS ids. export read the adapter
    # folder alone, found none, and appended the tokenizer's EOS after an end of turn that
    # already stops the base (gemma-3: <end_of_turn>): a token train never trains.
    import shutil

    from transformers import AutoTokenizer, GenerationConfig

    from distill.train import ExportConfig, export

    base = tmp_path / "base"
    shutil.copytree(tiny_qwen, base)
    tok = AutoTokenizer.from_pretrained(base)
    tok.eos_token = "<|endoftext|>"
    tok.save_pretrained(base)
    gen = GenerationConfig.from_pretrained(base)
    gen.eos_token_id = [tok.convert_tokens_to_ids(t) for t in ("<|endoftext|>", "<|im_end|>")]
    gen.save_pretrained(base)
    adapter = tmp_path / "adapter"
    adapter.mkdir()
    (adapter / "adapter_config.json").write_text(json.dumps({"base_model_name_or_path": str(base)}))
    tok.save_pretrained(adapter)
    row = {"messages": [{"role": "user", "content": "2+2?"}, {"role": "assistant", "content": "4"}]}
    data = write_rows(tmp_path, [row])
    got = {}
    for name, model in (("base", base), ("adapter", adapter)):
        out = export(ExportConfig(data=data, out=str(tmp_path / f"{name}.jsonl"), model=str(model)))
        got[name] = json.loads(out.read_text())["completion"]
    assert got["adapter"] == got["base"] and got["base"].endswith("<|im_end|>\n")


def test_export_of_a_kept_file_holding_a_lone_surrogate(tmp_path):
    # filter keeps a record whose text holds a lone surrogate escape (valid JSON: an emoji half
    # another tool cut; records.json_line): export stopped on UnicodeEncodeError, a traceback
    # naming no file. The jsonl keeps it as its \u escape, as filter does; Parquet (UTF-8 text
    # only) cannot hold it: one line naming the row.
    from distill.train import ExportConfig, export

    data = tmp_path / "kept.jsonl"
    data.write_text(
        '{"messages": [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "a"}]}\n'
        '{"messages": [{"role": "user", "content": "hi \\ud83d"}, '
        '{"role": "assistant", "content": "ok"}]}\n'
    )
    out = export(ExportConfig(data=str(data), out=str(tmp_path / "x.jsonl")))
    assert json.loads(out.read_text().splitlines()[1])["messages"][0]["content"] == "hi \ud83d"
    assert "\\ud83d" in out.read_text()
    with pytest.raises(DistillError, match=r"kept\.jsonl row 2: holds a lone surrogate \(\\ud83d"):
        export(ExportConfig(data=str(data), out=str(tmp_path / "x.parquet")))
    assert not (tmp_path / "x.parquet").exists()
