"""Review follow-ups: a lone surrogate in training text or a prompt, stored top-K side files whose
pointer says offsets the shard lacks, kd's counts of stored top-K, a published builtin adapter."""

from __future__ import annotations

import json

import numpy as np
import pytest
import yaml

from distill.errors import DistillError
from tests.test_kd import kd_cfg
from tests.test_xtok_stored import big_tok, stored_from, teacher_dir  # noqa: F401 (fixtures)

# =========================================================================== 1. lone surrogates


def _write(path, rows):
    # json.dumps writes a lone surrogate as its \u escape: valid JSON, as filter keeps it
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


def _chat(user, answer, **extra):
    return {
        "messages": [{"role": "user", "content": user}, {"role": "assistant", "content": answer}],
        **extra,
    }


def test_a_row_with_a_lone_surrogate_trains_as_u_fffd(tmp_path, tiny_qwen, capsys):
    # filter keeps a record whose text holds a lone surrogate escape ("\ud83d": half an emoji that
    # another tool cut); the student's tokenizer refused the string with a TypeError traceback
    from distill.models import load_tokenizer
    from distill.train import TrainConfig
    from distill.train.sft import build_dataset

    data = _write(
        tmp_path / "kept.jsonl",
        [
            _chat("hi \ud83d what is 1 + 1?", "2 \ud83d"),
            _chat("What is 2 + 2?", "4"),
            _chat("\ude00 and 3 + 3?", "6"),
        ],
    )
    tok = load_tokenizer(str(tiny_qwen))
    cfg = TrainConfig(
        data=str(data), model=str(tiny_qwen), output_dir=str(tmp_path / "o"), max_length=128
    )
    dataset, stats = build_dataset(cfg, tok)
    assert stats["kept"] == 3
    first = tok.decode(dataset[0]["input_ids"])
    assert "hi \ufffd what is 1 + 1?" in first and "2 \ufffd" in first
    out = capsys.readouterr().out
    assert "train: 2 rows held a lone surrogate (half an emoji), trained as U+FFFD" in out
    assert out.count("lone surrogate") == 1


def test_an_onpolicy_prompt_chat_with_a_lone_surrogate_is_read_as_u_fffd(
    tmp_path, tiny_qwen, capsys
):
    from distill.models import load_tokenizer
    from distill.train import TrainConfig
    from distill.train.kd.data import prompt_dataset

    data = _write(
        tmp_path / "prompts.jsonl",
        [
            {"messages": [{"role": "user", "content": "hi \ud83d"}]},
            {"messages": [{"role": "user", "content": "ok"}]},
        ],
    )
    tok = load_tokenizer(str(tiny_qwen))
    cfg = TrainConfig(
        data=str(data),
        model=str(tiny_qwen),
        output_dir=str(tmp_path / "o"),
        max_length=128,
        method="onpolicy",
        lmbda=1.0,
        teacher_model=str(tiny_qwen),
        max_new_tokens=16,
    )
    dataset, stats = prompt_dataset(cfg, tok, None)
    assert stats["kept"] == 2 and "hi \ufffd" in tok.decode(dataset[0]["input_ids"])
    assert "train: 1 row held a lone surrogate" in capsys.readouterr().out


def test_a_prompt_with_a_lone_surrogate_is_sent_to_the_hf_teacher_as_u_fffd(tmp_path, tiny_qwen):
    # generate --data (and eval, which samples through generate) with the hf teacher: its
    # tokenizer stopped the run on the same TypeError
    from distill.generate import GenerateConfig, run

    data = _write(
        tmp_path / "p.jsonl",
        [{"problem": "hi \ud83d what", "answer": "1"}, {"problem": "ok", "answer": "2"}],
    )
    out = tmp_path / "t.jsonl"
    cfg = GenerateConfig(
        data=str(data),
        teacher="hf",
        model=str(tiny_qwen),
        out=str(out),
        max_tokens=4,
        device="cpu",
        seed=0,
    )
    run(cfg, progress=False)
    recs = [json.loads(x) for x in out.read_text().splitlines()]
    assert len(recs) == 2
    prompts = sorted(r["messages"][-1]["content"] for r in recs)
    assert any("hi \ufffd what" in p for p in prompts), prompts


# =========================================================================== 2. stored xtok


def test_a_pointer_saying_offsets_of_a_shard_without_texts_is_one_line(
    tmp_path,
    tiny_qwen,
    teacher_dir,  # noqa: F811
):
    # side files written before 1be2b8a: a record's pointer said offsets: true while its shard
    # held no token texts (one record of the shard lacked them); kd across tokenizers stopped on
    # TypeError: "".join(None)
    from distill.train import build_trainer

    data = stored_from(tmp_path, teacher_dir, k=4, texts=False)
    rows = [json.loads(x) for x in data.read_text().splitlines()]
    for r in rows:
        r["logprobs"]["offsets"] = True
    _write(data, rows)
    with pytest.raises(DistillError) as e:
        build_trainer(kd_cfg(tmp_path, tiny_qwen, data=str(data)))
    msg = str(e.value)
    assert "\n" not in msg and "part-" in msg and "re-run distill generate --logprobs" in msg, msg
    assert "no token offsets" in msg and f"'{teacher_dir}'" in msg


# =========================================================================== 3. stored top-K counts


def _stored_chats(tmp_path, student, rows, more=None):
    """`rows` (chats) with side shards of made-up top-K on each last turn as the student
    tokenizes it (the same vocabulary): what generate --logprobs K stores beside them. `more`:
    {row id: n} stores n more tokens before the end of turn (a teacher that tokenized its
    reply otherwise: kd trains on its ids)."""
    from distill.examples import Renderer, load_examples
    from distill.logprobs import TokenLogprobs, pointer, side_dir, vocab_hash, write_shard
    from distill.models import load_tokenizer

    data = _write(tmp_path / "kept.jsonl", rows)
    tok = load_tokenizer(str(student))
    r = Renderer(tok, "r1", train_on="last")
    filler = tok("a", add_special_tokens=False)["input_ids"][0]
    items = []
    for row, ex in zip(rows, load_examples(str(data)), strict=True):
        _, c = r.encode(ex)
        n = (more or {}).get(row["id"], 0)
        c = np.asarray(c[:-2] + [filler] * n + c[-2:-1])  # the teacher stopped at its end of turn
        ids = np.stack([c, np.zeros_like(c)], axis=1)
        lps = np.log(np.tile([[0.9, 0.1]], (len(c), 1))).astype(np.float32)
        items.append((row, TokenLogprobs(c, lps[:, 0], ids, lps)))
    shard = write_shard(side_dir(data), [(row["id"], t) for row, t in items])
    for row, t in items:
        row["logprobs"] = pointer(shard, data, t, str(student), vocab_hash(tok), True)
    return _write(data, rows)


@pytest.mark.parametrize("overlong", ["drop", "truncate"])
def test_stored_topk_kd_counts_the_rows_it_trains(tmp_path, tiny_qwen, overlong):
    # kd from stored top-K (same tokenizer) trains the last assistant turn of each chat and
    # drops or cuts rows past max_length on its own; train_data.json (and the card) must count
    # those rows: examples = kept + dropped, kept = the rows kd trains
    from distill.train import build_trainer

    chat = {
        "id": "c",
        "messages": [
            {"role": "user", "content": "What is 1 + 2?"},
            {"role": "assistant", "content": "The answer is 3."},
            {"role": "user", "content": "And 2 + 2?"},
            {"role": "assistant", "content": "The answer is 4."},
        ],
    }
    rows = [
        chat,
        _chat("What is 5 + 6?", "11 " * 200, id="long"),
        _chat("What is 3 + 4?", "The answer is 7.", id="short"),
    ]
    data = _stored_chats(tmp_path, tiny_qwen, rows)
    cfg = kd_cfg(tmp_path, tiny_qwen, data=str(data), max_length=96, overlong=overlong)
    trainer = build_trainer(cfg)[0]
    got = json.loads((tmp_path / "out" / "train_data.json").read_text())
    ds = trainer.train_dataset
    kept = len(ds)
    assert kept == (3 if overlong == "truncate" else 2)
    assert got["examples"] == 3
    assert got["kept"] == kept == got["sequences"] == got["turns"]
    assert got["examples"] == got["kept"] + got["dropped_overlong"] + got["dropped_all_masked"]
    assert got["dropped_overlong"] == (0 if overlong == "truncate" else 1)
    assert got["truncated"] == (1 if overlong == "truncate" else 0)
    masks = ds["completion_mask"]
    assert got["completion_tokens"] == sum(sum(m) for m in masks)
    assert got["prompt_tokens"] == sum(len(m) - sum(m) for m in masks)
    assert got["turns_left_out"] == 0


def test_stored_topk_kd_recounts_when_its_tokens_add_up_to_sfts(tmp_path, tiny_qwen):
    # recount kept SFT's counts whenever kd's completion tokens summed to SFT's: a chat's first
    # turn (trained by SFT, not by kd) and a row kd drops (the teacher's ids run past max_length)
    # weighed against a row the teacher's ids make longer. train_data.json said 3 kept, 0
    # dropped; kd trained 2.
    from distill.examples import Renderer, load_examples, tokenize_examples
    from distill.models import load_tokenizer
    from distill.train import build_trainer

    chat = {
        "id": "b",
        "messages": [
            {"role": "user", "content": "What is 1 + 2?"},
            {"role": "assistant", "content": "The answer is 3."},
            {"role": "user", "content": "And 2 + 2?"},
            {"role": "assistant", "content": "The answer is 4."},
        ],
    }
    rows = [
        chat,
        _chat("What is 5 + 6?", "11", id="a"),
        _chat("What is 3 + 4?", "7", id="c"),
    ]
    tok = load_tokenizer(str(tiny_qwen))
    exs = list(load_examples(str(_write(tmp_path / "plain.jsonl", rows))))
    sft, _ = tokenize_examples(exs, Renderer(tok, "r1"), 128)
    last, _ = tokenize_examples(exs, Renderer(tok, "r1", train_on="last"), 128)
    first_turn = sum(map(sum, sft["completion_mask"])) - sum(map(sum, last["completion_mask"]))
    a = sum(last["completion_mask"][1])
    assert first_turn > 0 and len(last["input_ids"][2]) + first_turn + a <= 128
    data = _stored_chats(tmp_path, tiny_qwen, rows, more={"a": 128, "c": first_turn + a})
    trainer = build_trainer(kd_cfg(tmp_path, tiny_qwen, data=str(data), max_length=128))[0]
    masks = trainer.train_dataset["completion_mask"]
    assert len(masks) == 2 and sum(map(sum, masks)) == sum(map(sum, sft["completion_mask"]))
    got = json.loads((tmp_path / "out" / "train_data.json").read_text())
    assert got["examples"] == 3 and got["kept"] == 2 and got["dropped_overlong"] == 1
    assert got["turns"] == 2 and got["last_turn_only"] is True
    assert got["prompt_tokens"] == sum(len(m) - sum(m) for m in masks)


# =========================================================================== 4. publish


def test_a_published_builtin_adapter_names_its_hub_base(tmp_path, monkeypatch):
    # PEFT writes the path the builtin was loaded from (~/.cache/distill/models/smollm2): a PEFT
    # user loading the published adapter from the Hub got "model not found" for that path
    from distill.publish import PublishConfig
    from distill.publish import run as publish

    cache = tmp_path / "cache"
    monkeypatch.setenv("DISTILL_CACHE", str(cache))
    student = tmp_path / "student"
    student.mkdir()
    own = {
        "base_model_name_or_path": str(cache / "models" / "smollm2"),
        "peft_type": "LORA",
        "r": 8,
    }
    (student / "adapter_config.json").write_text(json.dumps(own, indent=2))
    (student / "adapter_model.safetensors").write_bytes(b"weights")
    (student / "train.yaml").write_text(yaml.safe_dump({"model": "builtin:smollm2", "lora_r": 8}))
    before = (student / "adapter_config.json").read_bytes()
    dest = publish(PublishConfig(dir=str(student), local_dir=str(tmp_path / "pub")))
    published = json.loads((tmp_path / "pub" / "adapter_config.json").read_text())
    assert published["base_model_name_or_path"] == "HuggingFaceTB/SmolLM2-135M-Instruct"
    assert {k: v for k, v in published.items() if k != "base_model_name_or_path"} == {
        "peft_type": "LORA",
        "r": 8,
    }
    assert (student / "adapter_config.json").read_bytes() == before  # the run is never rewritten
    assert dest == str(tmp_path / "pub")
    # a cache elsewhere (another machine's, or DISTILL_CACHE unset) is named the same
    own["base_model_name_or_path"] = "/home/alice/.cache/distill/models/smollm2"
    (student / "adapter_config.json").write_text(json.dumps(own))
    publish(PublishConfig(dir=str(student), local_dir=str(tmp_path / "pub2")))
    published = json.loads((tmp_path / "pub2" / "adapter_config.json").read_text())
    assert published["base_model_name_or_path"] == "HuggingFaceTB/SmolLM2-135M-Instruct"


def test_a_published_adapter_of_a_hub_model_keeps_its_config_as_is(tmp_path):
    from distill.publish import PublishConfig
    from distill.publish import run as publish

    student = tmp_path / "student"
    student.mkdir()
    text = json.dumps({"base_model_name_or_path": "Qwen/Qwen2.5-1.5B", "r": 8})
    (student / "adapter_config.json").write_text(text)
    (student / "adapter_model.safetensors").write_bytes(b"weights")
    (student / "train.yaml").write_text(yaml.safe_dump({"model": "Qwen/Qwen2.5-1.5B"}))
    publish(PublishConfig(dir=str(student), local_dir=str(tmp_path / "pub")))
    assert (tmp_path / "pub" / "adapter_config.json").read_text() == text
