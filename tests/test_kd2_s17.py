# ruff: noqa: F811 - the fixture of tests/test_kd, imported, is a parameter here
"""kd / onpolicy: what the teacher reads before the completion it scores.

1. A served teacher of another tokenizer scores text (POST /v1/completions, echo + logprobs).
   vLLM reads a text prompt with the tokenizer's special tokens unless `add_special_tokens` is
   false, and a chat template that writes BOS itself (Llama-3's `<|begin_of_text|>`, Llama-2's
   and Mistral's `<s>`, Gemma's `<bos>`) then had the teacher score after two BOS tokens.
2. A teacher of the student's vocabulary whose chat template renders the prompt otherwise
   (Qwen2.5-Math-Instruct's default system prompt for a Qwen2.5-Instruct student; Llama-3.1's
   date header for Llama-3.2) read the student's rendering of each row: a context it was never
   trained on. It now reads its own prompt ids, then the same completion ids.

    .venv/bin/python -m pytest tests/test_kd2_s17.py -q
"""

from __future__ import annotations

import json

import pytest
import torch

from distill.train import build_trainer
from tests.test_kd import first_batch, kd_cfg, loss_of, teacher  # noqa: F401 (fixture)

# --------------------------------------------------------------------------- 1. one BOS


def test_a_served_teacher_whose_template_writes_bos_scores_after_one_bos(
    tmp_path, tiny_qwen, tiny_llama
):
    """The served teacher of another tokenizer (a Llama-3 template: `<|begin_of_text|>` in the
    text; its tokenizer adds BOS when asked for special tokens, as vLLM asks by default) reads
    the rendered chat as apply_chat_template tokenizes it, one BOS: its best log-prob at each
    paired student position is the local teacher's (its own ids) there."""
    from distill.train.kd.xtok import ServedXTok
    from tests.xtokserver import TextScoringServer

    bos = tiny_llama_bos(tiny_llama)
    srv = TextScoringServer(str(tiny_llama), str(tiny_llama)).start()
    try:
        cfg = kd_cfg(tmp_path, tiny_qwen, teacher_url=srv.url, teacher_model=str(tiny_llama))
        trainer = build_trainer(cfg)[0]
    finally:
        srv.stop()
    assert isinstance(trainer.teacher, ServedXTok)
    scored = [ids for ids in srv.scored_ids if ids and ids[0] == bos]
    assert scored and all(ids[1] != bos for ids in scored), "two BOS tokens"
    batch = first_batch(trainer)
    local = build_trainer(kd_cfg(tmp_path, tiny_qwen, teacher_model=str(tiny_llama)))[0]
    lb = first_batch(local)
    assert torch.equal(lb["input_ids"], batch["input_ids"])
    assert (lb["xtok_ids"][:, 0] == bos).all() and (lb["xtok_ids"][:, 1] != bos).all()
    t = local.teacher.local
    with torch.no_grad():
        pos = (lb["xtok_attention_mask"].cumsum(-1) - 1).clamp(min=0)
        lp = torch.log_softmax(t.logits(lb["xtok_ids"], lb["xtok_attention_mask"], pos), -1)
    both = 0
    for b in range(lb["input_ids"].shape[0]):
        for s in range(lb["input_ids"].shape[1]):
            row = int(lb["xtok_pos"][b, s])
            if row < 0 or batch["teacher_ids"][b, s, 0] == -1:
                continue
            if "\ufffd" in t.tok.decode([int(lp[b, row].argmax())]):
                continue  # top_logprobs are keyed by text: byte pieces collide there
            best = float(lp[b, row].max())
            assert float(batch["teacher_logprobs"][b, s, 0]) == pytest.approx(best, abs=1e-4)
            both += 1
    assert both > 20


def tiny_llama_bos(path) -> int:
    from distill.models import load_tokenizer

    tok = load_tokenizer(str(path))
    assert tok.apply_chat_template([{"role": "user", "content": "x"}], tokenize=False).startswith(
        tok.bos_token
    )
    assert tok("x")["input_ids"][0] == tok.bos_token_id  # the tokenizer adds it too
    return tok.bos_token_id


# --------------------------------------------------------------------------- 2. own prompt

SYSTEM = (
    "{% if messages[0]['role'] != 'system' %}"
    "{{ '<|im_start|>system\\nPlease reason step by step.<|im_end|>\\n' }}{% endif %}"
)


def with_template(src, dest, template):
    """`src`'s weights and tokenizer (the same vocabulary) under another chat template."""
    import shutil

    from distill.models import load_tokenizer

    shutil.copytree(src, dest)
    tok = load_tokenizer(str(dest))
    tok.chat_template = template
    tok.save_pretrained(dest)
    return dest


@pytest.fixture(scope="module")
def math_teacher(teacher, tmp_path_factory):
    """tests/test_kd's teacher (the student's tokenizer) whose template adds a default system
    prompt, as Qwen2.5-Math-Instruct's does for a Qwen2.5-Instruct student."""
    from tests.tiny import CHATML

    return with_template(teacher, tmp_path_factory.mktemp("math") / "t", SYSTEM + CHATML)


def own_ids(path, msgs):
    from distill.models import load_tokenizer

    tok = load_tokenizer(str(path))
    return tok.apply_chat_template(
        msgs, add_generation_prompt=True, tokenize=True, return_dict=False
    )


def completion(batch, i):
    on = batch["labels"][i] != -100
    at = on.nonzero().flatten()
    return at, batch["input_ids"][i, at].tolist()


def hand_loss(trainer, batch, teacher_rows, beta=0.0):
    """The divergence at each completion position: the student's logits there and the
    teacher's at the position of its own row (`teacher_rows`[i]: its prompt + the completion)
    predicting the same token; the mean over the completion tokens."""
    from distill.train.kd.loss import divergence

    trainer.model.eval()
    model = trainer.teacher.model
    total, n = 0.0, 0
    for i in range(batch["input_ids"].shape[0]):
        at, c = completion(batch, i)
        if not c:
            continue
        row = teacher_rows[i]
        assert row[len(row) - len(c) :] == c
        with torch.no_grad():
            s = trainer.model(input_ids=batch["input_ids"][i : i + 1, : int(at[-1]) + 1]).logits[0]
            t = model(input_ids=torch.tensor([row])).logits[0]
        s_lp = torch.log_softmax(s[at - 1].float(), -1)
        t_lp = torch.log_softmax(t[len(row) - len(c) - 1 : len(row) - 1].float(), -1)
        v = min(s_lp.shape[-1], t_lp.shape[-1])
        s_lp, t_lp = torch.log_softmax(s_lp[:, :v], -1), torch.log_softmax(t_lp[:, :v], -1)
        total += float(divergence(s_lp, t_lp, beta).sum())
        n += len(c)
    return total / n


def test_a_same_vocabulary_teacher_reads_its_own_templates_prompt_in_kd(
    tmp_path, tiny_qwen, math_teacher, teacher
):
    """Its row is its own apply_chat_template(add_generation_prompt=True) + the student's
    completion ids; the KL at each completion position takes its logits at the position of
    its row predicting the same token. kd.json and the card say so. A teacher of the
    student's template reads the student's rows, as before."""
    from distill.train.kd import card_lines

    data = tmp_path / "kept.jsonl"
    cfg = kd_cfg(tmp_path, tiny_qwen, teacher_model=str(math_teacher), kd_alpha=1.0)
    trainer = build_trainer(cfg)[0]
    batch = first_batch(trainer)
    rows = [json.loads(x) for x in data.read_text().splitlines()]
    mine = []
    for i in range(4):
        _, c = completion(batch, i)
        want = own_ids(math_teacher, rows[i]["messages"]) + c
        n = int(batch["teacher_attention_mask"][i].sum())
        assert batch["teacher_input_ids"][i, :n].tolist() == want
        assert want != batch["input_ids"][i][batch["attention_mask"][i].bool()].tolist()
        mine.append(want)
    got = loss_of(trainer, batch)
    assert got == pytest.approx(hand_loss(trainer, batch, mine), rel=1e-4)
    whole = build_trainer(kd_cfg(tmp_path, tiny_qwen, teacher_model=str(math_teacher),
                                 kd_alpha=1.0, loss_chunk_size=0))[0]  # fmt: skip
    assert loss_of(whole, first_batch(whole)) == pytest.approx(got, rel=1e-4)

    same = build_trainer(kd_cfg(tmp_path, tiny_qwen, teacher_model=str(teacher)))[0]
    assert "teacher_input_ids" not in same.train_dataset.column_names

    out = tmp_path / "run"
    trained = build_trainer(
        kd_cfg(
            tmp_path, tiny_qwen, teacher_model=str(math_teacher), output_dir=str(out), max_steps=1
        )  # fmt: skip
    )[0]
    trained.train()
    state = json.loads((out / "kd.json").read_text())
    assert state["teacher_own_prompt"] == {"rows": 8, "of": 8}
    lines = " ".join(card_lines(trained.kd, state))
    assert "its own chat template's prompt (8 of 8 rows" in lines


def test_a_same_vocabulary_teacher_reads_the_students_samples_after_its_own_prompt(
    tmp_path, tiny_qwen, math_teacher
):
    """On policy: each sample's ids after the teacher's own generation prompt, the generalized
    JSD at each sampled position against its logits predicting the same token."""
    cfg = kd_cfg(tmp_path, tiny_qwen, teacher_model=str(math_teacher), method="onpolicy",
                 lmbda=1.0, max_new_tokens=6, lora_dropout=0.0)  # fmt: skip
    trainer = build_trainer(cfg)[0]
    rows = [json.loads(x) for x in (tmp_path / "kept.jsonl").read_text().splitlines()]
    trainer.model.eval()
    sampled = trainer._on_policy_batch(trainer.model, first_batch(trainer))
    assert sampled["on_policy"] is True
    mine = []
    for i in range(4):
        _, c = completion(sampled, i)
        assert c
        want = own_ids(math_teacher, rows[i]["messages"]) + c
        n = int(sampled["teacher_attention_mask"][i].sum())
        assert sampled["teacher_input_ids"][i, :n].tolist() == want
        mine.append(want)
    got = loss_of(trainer, sampled)
    assert got == pytest.approx(hand_loss(trainer, sampled, mine, beta=cfg.beta), rel=1e-4)


def fake_scorer(teacher_dir):
    """The fake server's prompt_logprobs: the tiny teacher's top-K of the ids it is sent."""
    from transformers import AutoModelForCausalLM

    model = AutoModelForCausalLM.from_pretrained(teacher_dir).eval()

    def score(ids, k):
        with torch.no_grad():
            lp = torch.log_softmax(model(torch.tensor([ids])).logits[0], -1)
        out = [None]
        for j in range(1, len(ids)):
            top = lp[j - 1].topk(k)
            pos = {int(t): float(v) for t, v in zip(top.indices, top.values, strict=True)}
            pos.setdefault(ids[j], float(lp[j - 1, ids[j]]))
            out.append(pos)
        return out

    return score


def test_a_served_same_vocabulary_teacher_is_sent_its_own_prompt_ids(
    tmp_path, tiny_qwen, math_teacher, server
):
    """Served (token ids, prompt_logprobs), where its tokenizer loads here: the ids sent are its
    own prompt's + the completion's, and with its whole vocabulary listed the loss is the local
    teacher's."""
    from distill.models import load_tokenizer

    tok = load_tokenizer(str(math_teacher))
    server.model = str(math_teacher)
    server.scorer = fake_scorer(math_teacher)
    server.decode = lambda t: tok.decode([t])
    kw = dict(teacher_model=str(math_teacher), kd_alpha=1.0)
    served = build_trainer(kd_cfg(tmp_path, tiny_qwen, teacher_url=server.url,
                                  teacher_top_k=len(tok), **kw))[0]  # fmt: skip
    batch = first_batch(served)
    got = loss_of(served, batch)
    rows = [json.loads(x) for x in (tmp_path / "kept.jsonl").read_text().splitlines()]
    sent = [r["prompt"] for r in server.log if isinstance(r.get("prompt"), list)][-1]
    for i in range(4):
        _, c = completion(batch, i)
        assert sent[i] == own_ids(math_teacher, rows[i]["messages"]) + c
    local = build_trainer(kd_cfg(tmp_path, tiny_qwen, **kw))[0]
    assert got > 1e-3 and got == pytest.approx(loss_of(local, first_batch(local)), rel=1e-4)


@pytest.mark.parametrize("who", ["teacher", "student"])
def test_a_think_block_one_template_opens_is_read_once(
    tmp_path, tiny_qwen, teacher, math_teacher, who
):
    """One template's generation prompt opens `<think>` (Qwen3-Thinking-2507's,
    R1-Distill's), the other's does not (and the teacher's adds a system prompt): the teacher
    reads the block opened once, where its template or the completion opens it (its prompt
    without the `<think>` where the completion opens it; the student's `<think>` after its
    prompt where only the student's prompt holds it). On policy a sample that opens no block
    keeps the teacher's."""
    from distill.models import load_tokenizer
    from tests.tiny import CHATML

    think = CHATML.replace("assistant\n' }}", "assistant\n<think>\n' }}")
    assert think != CHATML
    student, t_dir = tiny_qwen, math_teacher
    if who == "teacher":
        t_dir = with_template(teacher, tmp_path / "t", SYSTEM + think)
    else:
        student = with_template(tiny_qwen, tmp_path / "s", think)
    cfg = kd_cfg(tmp_path, student, teacher_model=str(t_dir), method="onpolicy", lmbda=0.0)
    trainer = build_trainer(cfg)[0]
    tok = load_tokenizer(str(student))
    batch = first_batch(trainer)
    rows = [json.loads(x) for x in (tmp_path / "kept.jsonl").read_text().splitlines()]
    for i in range(4):
        n = int(batch["teacher_attention_mask"][i].sum())
        text = tok.decode(batch["teacher_input_ids"][i, :n])
        assert text.count("<think>") == 1, text
        _, c = completion(batch, i)
        own = own_ids(t_dir, rows[i]["messages"])
        opened = tok("<think>\n", add_special_tokens=False)["input_ids"]
        want = own[: -len(opened)] + c if who == "teacher" else own + opened + c
        assert batch["teacher_input_ids"][i, :n].tolist() == want
    if who == "teacher":  # a sample that opens the block / one that does not
        from distill.train.kd.data import own_sampled

        _, c = completion(batch, 0)
        p = int(batch["prompts"].shape[1])
        for comp, lead in ((c, []), (c[len(opened) :], opened)):
            ids = torch.cat([batch["prompts"][:1], torch.tensor([comp])], 1)
            labels = torch.full_like(ids, -100)
            labels[0, p:] = ids[0, p:]
            one = {k: v[:1] for k, v in batch.items() if k.startswith("teacher_prompt")}
            one["teacher_lead"] = batch["teacher_lead"][:1]
            got = own_sampled(ids, labels, one, tok.pad_token_id)
            own = own_ids(t_dir, rows[0]["messages"])
            assert got["teacher_input_ids"][0].tolist() == own[: -len(opened)] + lead + comp


def test_a_chat_trained_on_every_turn_reads_each_prompt_in_the_teachers_template(
    tmp_path, tiny_qwen, math_teacher
):
    """kd on two-turn chats (--train-on all, one row each): the teacher's row is its own
    template's whole chat (its system prompt, then each turn), each completion token where
    its row holds the same token; the loss is the hand computation's."""
    from distill.models import load_tokenizer

    chats = [
        [
            {"role": "user", "content": f"What is {i} + 1?"},
            {"role": "assistant", "content": f"It is {i + 1}."},
            {"role": "user", "content": "And doubled?"},
            {"role": "assistant", "content": f"The answer is {2 * (i + 1)}."},
        ]
        for i in range(4)
    ]
    data = tmp_path / "chats.jsonl"
    data.write_text("".join(json.dumps({"messages": m}) + "\n" for m in chats))
    cfg = kd_cfg(tmp_path, tiny_qwen, data=str(data), teacher_model=str(math_teacher), kd_alpha=1.0)
    trainer = build_trainer(cfg)[0]
    batch = first_batch(trainer)
    t_tok = load_tokenizer(str(math_teacher))
    for i, msgs in enumerate(chats):
        n = int(batch["teacher_attention_mask"][i].sum())
        row = batch["teacher_input_ids"][i, :n]
        assert row.tolist() == t_tok.apply_chat_template(msgs, tokenize=True, return_dict=False)
        at = (batch["labels"][i] != -100).nonzero().flatten()
        assert len(at) > 0 and (batch["teacher_pos"][i, at] >= 0).all()
        assert torch.equal(row[batch["teacher_pos"][i, at]], batch["input_ids"][i, at])
        assert int((at.diff() > 1).sum()) == 1  # two trained turns in the row
    # the hand computation: each completion token's logits, the teacher's where its row holds it
    from distill.train.kd.loss import divergence

    trainer.model.eval()
    total, count = 0.0, 0
    with torch.no_grad():
        s = trainer.model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"])
        t = trainer.teacher.model(
            input_ids=batch["teacher_input_ids"], attention_mask=batch["teacher_attention_mask"]
        )
    for i in range(4):
        at = (batch["labels"][i] != -100).nonzero().flatten()
        s_lp = torch.log_softmax(s.logits[i, at - 1].float(), -1)
        t_lp = torch.log_softmax(t.logits[i, batch["teacher_pos"][i, at] - 1].float(), -1)
        total += float(divergence(s_lp, t_lp, 0.0).sum())
        count += len(at)
    assert loss_of(trainer, batch) == pytest.approx(total / count, rel=1e-4)
