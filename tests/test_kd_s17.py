# ruff: noqa: F811 - the fixture of tests/test_kd, imported, is a parameter here
"""kd / onpolicy read each side's tokens as its chat template and tokenizer write the chat.

1. Stored top-K (`distill generate --logprobs K`, then `train --method kd`) of a chat row are the
   teacher's distributions over the reply the chat ends with. A chat whose last assistant turn
   has weight 0 trains up to its last turn that trains, and kd realigned the last reply's stored
   tokens onto that earlier turn: the answer to "And doubled?" trained as the answer to the
   first question. Refused now, in one line; a chat whose last turn trains keeps its top-K there.
2. On policy, a local teacher of another tokenizer reads the student's sample after its own
   prompt. Its reply was the sample's text tokenized alone: without the ' ' its template writes
   after `[/INST]` (Mistral v0.1 / v0.3, Llama-2), and with the dummy `▁` a SentencePiece
   tokenizer puts before a text of its own where the template writes none (Mixtral's
   `[/INST]<think>`): text the teacher never reads. Its row is now its template's whole chat
   tokenized, as the kept traces' rows are (Renderer.encode).
3. Stored top-K of such a teacher read by another tokenizer: the side file holds the reply
   decoded alone, whose first `▁` a SentencePiece decoder strips (`▁` `<` of ' <think>' stored
   "" "<"), so the student's first token was paired with the teacher's distribution over what
   follows `[/INST]` (the space) instead of the one over what follows the space.

    .venv/bin/python -m pytest tests/test_kd_s17.py -q
"""

from __future__ import annotations

import json

import pytest
import torch

from distill.errors import DistillError
from distill.train import build_trainer
from tests.test_kd import first_batch, kd_cfg, teacher  # noqa: F401 (fixture)
from tests.test_train import kept_file

# --------------------------------------------------------------------------- 1. stored top-K


def chat(i: int, last_weight: int | None, sharegpt: bool = False) -> list[dict]:
    """Two questions and two replies; the first trains, the last has `last_weight`."""
    turns = [
        ("user", f"What is {i} + 1?", None),
        ("assistant", f"It is {i + 1}.", 1),
        ("user", "And doubled?", None),
        ("assistant", f"The answer is {2 * (i + 1)}.", last_weight),
    ]
    out = []
    for role, text, w in turns:
        m = (
            {"from": {"user": "human", "assistant": "gpt"}[role], "value": text}
            if sharegpt
            else {"role": role, "content": text}
        )
        if w is not None:
            m["weight"] = w
        out.append(m)
    return out


def stored_chats(tmp_path, teacher_dir, last_weight, sharegpt=False):
    """A chat file whose rows point at side files holding `teacher_dir`'s top-4 over each chat's
    LAST reply, after the chat before it (as generate --logprobs stores a reply)."""
    from transformers import AutoModelForCausalLM

    from distill.examples import Example, Renderer
    from distill.logprobs import TokenLogprobs, pointer, side_dir, vocab_hash, write_shard
    from distill.models import load_tokenizer

    tok = load_tokenizer(str(teacher_dir))
    model = AutoModelForCausalLM.from_pretrained(teacher_dir).eval()
    r = Renderer(tok, "r1", model.generation_config.eos_token_id)
    column = "conversations" if sharegpt else "messages"
    rows = [{"id": f"c{i}", column: chat(i, last_weight, sharegpt)} for i in range(4)]
    items = []
    for i in range(4):
        msgs = [{"role": m["role"], "content": m["content"]} for m in chat(i, None)]
        p, c = r.encode(Example(prompt=msgs[:-1], completion=msgs[-1]["content"]))
        c = c[:-1]  # the teacher stopped at <|im_end|>: the template's "\n" is not its own
        with torch.no_grad():
            lp = torch.log_softmax(model(torch.tensor([p + c])).logits[0, len(p) - 1 : -1], -1)
        top = lp.topk(4, -1)
        chosen = lp.gather(-1, torch.tensor(c)[:, None])[:, 0]
        items.append(TokenLogprobs(torch.tensor(c), chosen, top.indices, top.values))
    data = tmp_path / "chats.jsonl"
    shard = write_shard(side_dir(data), [(row["id"], t) for row, t in zip(rows, items)])
    for row, t in zip(rows, items):
        row["logprobs"] = pointer(shard, data, t, str(teacher_dir), vocab_hash(tok), True)
    data.write_text("".join(json.dumps(row) + "\n" for row in rows))
    return data


@pytest.mark.parametrize("sharegpt", [False, True])
def test_stored_topk_of_a_chat_whose_last_reply_has_weight_0_is_refused(
    tmp_path, tiny_qwen, teacher, sharegpt
):
    data = stored_chats(tmp_path, teacher, last_weight=0, sharegpt=sharegpt)
    with pytest.raises(DistillError) as e:
        build_trainer(kd_cfg(tmp_path, tiny_qwen, data=str(data)))
    msg = str(e.value)
    column = "conversations" if sharegpt else "messages"
    assert msg.startswith(f"{data} row 1: its last assistant turn ({column}[3]) has weight 0")
    assert "record c0" in msg and "\n" not in msg


def test_stored_topk_of_a_chat_whose_last_reply_trains_land_on_that_reply(
    tmp_path, tiny_qwen, teacher
):
    from distill.models import load_tokenizer

    data = stored_chats(tmp_path, teacher, last_weight=1)
    trainer = build_trainer(kd_cfg(tmp_path, tiny_qwen, data=str(data)))[0]
    tok = load_tokenizer(str(tiny_qwen))
    ds = trainer.train_dataset
    assert len(ds) == 4
    for i, (ids, mask, t_ids) in enumerate(
        zip(ds["input_ids"], ds["completion_mask"], ds["teacher_ids"], strict=True)
    ):
        a = mask.index(1)
        assert tok.decode(ids[:a]).endswith("And doubled?<|im_end|>\n<|im_start|>assistant\n")
        assert tok.decode(ids[a:]) == f"The answer is {2 * (i + 1)}.<|im_end|>\n"
        # every stored token, its stop included, has its distribution; the "\n" after it none
        assert [any(x >= 0 for x in row) for row in t_ids] == [True] * (len(t_ids) - 1) + [False]


# --------------------------------------------------------------------------- 2. on policy, xtok


def teacher_with_template(path, kind: str, name: str):
    """A tiny Llama over tests/test_mistral_turns_s16's tokenizers: `kind` 'bpe' (a byte-level
    BPE with <s> </s>), 'strip' (Llama-2's tokenizer.json), 'metaspace' (Mistral's), under
    template `name` (Mistral v0.1 / v0.3, Llama-2: ' ' before a reply; Mixtral: none)."""
    from transformers import AutoModelForCausalLM, LlamaConfig

    from tests.test_mistral_turns_s16 import student as tokenizer

    tok = tokenizer(kind, name)
    if tok.pad_token is None:
        tok.pad_token = tok.eos_token
    torch.manual_seed(3)
    config = LlamaConfig(
        vocab_size=len(tok), hidden_size=32, intermediate_size=64, num_hidden_layers=2,
        num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=512,
        eos_token_id=tok.eos_token_id, pad_token_id=tok.pad_token_id, tie_word_embeddings=False,
    )  # fmt: skip
    model = AutoModelForCausalLM.from_config(config)
    model.generation_config.eos_token_id = tok.eos_token_id
    model.save_pretrained(path)
    tok.save_pretrained(path)
    return path, tok


@pytest.mark.parametrize(
    "kind, name",
    [
        ("bpe", "mistral-v0.1"),  # `[/INST]` + 'Ġ' + '<think>': the 'Ġ' was left out
        ("metaspace", "mixtral"),  # `[/INST]<think>`: a '▁' was put before '<think>'
        ("metaspace", "mistral-v0.3"),
        ("strip", "llama-2"),
    ],
)
def test_onpolicy_teacher_of_another_tokenizer_reads_the_sample_as_its_template_writes_it(
    tmp_path, tiny_qwen, kind, name
):
    """Each kept trace taken as the student's sample (its tokens up to its stop): the teacher's
    row is its own template's chat, prompt and reply, tokenized whole; and it pairs the sample's
    tokens where the kept traces' rows pair them."""
    from tests.test_xtok_onpolicy import as_sampled

    path, t_tok = teacher_with_template(tmp_path / "teacher", kind, name)
    data = kept_file(tmp_path, n=4)
    cfg = kd_cfg(
        tmp_path, tiny_qwen, data=str(data), method="onpolicy", teacher_model=str(path),
        max_new_tokens=8,
    )  # fmt: skip
    trainer = build_trainer(cfg)[0]
    batch = first_batch(trainer)
    stops = trainer.teacher.s_stops
    samples = []
    for row, lab in zip(batch["input_ids"], batch["labels"]):
        c = row[lab != -100].tolist()
        samples.append(c[: next(k for k, x in enumerate(c) if x in stops) + 1])
    sampled = as_sampled(trainer, batch, samples)
    records = [json.loads(x) for x in data.read_text().splitlines()]
    width = batch["prompts"].shape[1]
    for i, rec in enumerate(records):
        reply = f"<think>\n{rec['reasoning']}\n</think>\n\n{rec['answer']}"
        msgs = [*rec["messages"], {"role": "assistant", "content": reply}]
        whole = t_tok(t_tok.apply_chat_template(msgs, tokenize=False), add_special_tokens=False)
        prompt = t_tok.apply_chat_template(msgs[:1], tokenize=False, add_generation_prompt=True)
        got = sampled["xtok_ids"][i][sampled["xtok_attention_mask"][i].bool()].tolist()
        assert (
            got[: int(batch["xtok_prompt_len"][i])]
            == t_tok(prompt, add_special_tokens=False)["input_ids"]
        )
        assert got == whole["input_ids"], (t_tok.convert_ids_to_tokens(got), whole)
        first = int((batch["labels"][i] != -100).nonzero()[0])
        kept = batch["xtok_pos"][i][first : first + len(samples[i])].tolist()
        assert sampled["xtok_pos"][i][width : width + len(samples[i])].tolist() == kept
        assert sum(x >= 0 for x in kept) > len(kept) // 2


# --------------------------------------------------------------------------- 3. stored, xtok


@pytest.mark.parametrize(
    "kind, name, row",
    [
        ("metaspace", "mistral-v0.3", 1),  # ' <think>': `▁` (stored "") then `<`
        ("strip", "llama-2", 1),
        ("bpe", "mistral-v0.1", 1),  # `Ġ` stored " " already
        ("metaspace", "mixtral", 0),  # `[/INST]<think>`: no space, the first row is `<`'s
    ],
)
def test_stored_topk_of_another_tokenizer_pair_the_first_token_after_the_teachers_space(
    tmp_path, tiny_qwen, kind, name, row
):
    from transformers import AutoModelForCausalLM

    from distill.examples import Renderer, load_examples
    from distill.logprobs import (
        TokenLogprobs,
        load_many,
        pointer,
        side_dir,
        vocab_hash,
        with_texts,
        write_shard,
    )

    path, t_tok = teacher_with_template(tmp_path / "teacher", kind, name)
    model = AutoModelForCausalLM.from_pretrained(path).eval()
    r = Renderer(t_tok, "r1", model.generation_config.eos_token_id)
    data = kept_file(tmp_path, n=4)
    rows = [json.loads(x) for x in data.read_text().splitlines()]
    items = []
    for ex in load_examples(str(data)):
        p, c = r.encode(ex)  # the reply as the teacher wrote it after its prompt, and stored
        with torch.no_grad():
            lp = torch.log_softmax(model(torch.tensor([p + c])).logits[0, len(p) - 1 : -1], -1)
        top = lp.topk(16, -1)
        chosen = lp.gather(-1, torch.tensor(c)[:, None])[:, 0]
        t = TokenLogprobs(torch.tensor(c), chosen, top.indices, top.values)
        items.append(with_texts(t, t_tok))
    shard = write_shard(side_dir(data), [(rec["id"], t) for rec, t in zip(rows, items)])
    for rec, t in zip(rows, items):
        rec["logprobs"] = pointer(shard, data, t, str(path), vocab_hash(t_tok), True)
    data.write_text("".join(json.dumps(rec) + "\n" for rec in rows))
    trainer = build_trainer(kd_cfg(tmp_path, tiny_qwen, data=str(data)))[0]
    assert type(trainer.teacher).__name__ == "TopKXTok"
    ds = trainer.train_dataset
    for i, t in enumerate(load_many(rows, str(data))):
        # the student's first token, `<think>`, follows the prompt: the teacher's row that
        # follows the same text (its space written) is the one it is compared with
        got = ds["teacher_logprobs"][i][0]
        assert got == pytest.approx(t.topk_logprobs[row].tolist()), (i, t.token_text[:2])
