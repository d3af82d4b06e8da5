# ruff: noqa: F811 - the fixtures of tests/test_kd and test_kd2_s17, imported, are parameters here
"""Several teachers (kd/multi.py) of the student's vocabulary with another chat template, and a
template that ends a turn with other tokens than the student's.

1. A teacher of the student's vocabulary whose template renders the prompt otherwise (a default
   system prompt, as Qwen2.5-Math-Instruct's) read each completion after its own prompt ids when
   it was the only teacher (test_kd2_s17), but after the student's rendering among several
   teachers: local or served, kd or onpolicy. It now reads its own, and kd.json / the card say
   so per teacher (routed: counted over its own rows).
2. A template that ends a turn with another token (`<|endoftext|>` here; Llama-3's `<|eot_id|>`
   against ChatML's `<|im_end|>`): the teacher read the student's end of turn after each
   completion, and at the end-of-turn position its distribution (its mass on its own end) was
   compared with the student's over its own end token; one teacher or several. As the
   cross-tokenizer path does (xtok.pair_ends, pair_positions), it now reads its own end, its
   first end token is compared as the student's (at every position), and the student's end
   tokens past the first that differs get no teacher term.

    .venv/bin/python -m pytest tests/test_kd_multi_s18.py -q
"""

from __future__ import annotations

import json

import pytest
import torch

from distill.train import build_trainer
from tests.test_kd import first_batch, kd_cfg, loss_of, teacher  # noqa: F401 (fixture)
from tests.test_kd2_s17 import (  # noqa: F401 (fixture)
    SYSTEM,
    completion,
    fake_scorer,
    math_teacher,
    own_ids,
    with_template,
)

# ChatML whose turns end with `<|endoftext|>`, no newline: another end of turn, one vocabulary
EOT = (
    "{% for message in messages %}{{ '<|im_start|>' + message['role'] + '\\n' + "
    "message['content'] + '<|endoftext|>' }}{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}"
)
# a system prompt of its own, and no system message of the data's (as Gemma's refusal)
NO_SYSTEM = (
    "{% if messages[0]['role'] == 'system' %}{{ raise_exception('no system role') }}{% endif %}"
)


@pytest.fixture(scope="module")
def plain(tmp_path_factory):
    """A second teacher of the student's tokenizer and template (it reads the student's rows)."""
    from tests.tiny import make_tiny_model

    return make_tiny_model(tmp_path_factory.mktemp("plain") / "B", "qwen2", seed=2)


@pytest.fixture(scope="module")
def eot_teacher(teacher, tmp_path_factory):
    """tests/test_kd's teacher whose template ends each turn with `<|endoftext|>`."""
    from distill.models import load_tokenizer

    dest = with_template(teacher, tmp_path_factory.mktemp("eot") / "t", EOT)
    tok = load_tokenizer(str(dest))
    tok.eos_token = "<|endoftext|>"
    tok.save_pretrained(dest)
    return dest


def ids_of(path, *tokens):
    from distill.models import load_tokenizer

    tok = load_tokenizer(str(path))
    return [tok.convert_tokens_to_ids(t) for t in tokens]


def rows_of(tmp_path, name="kept.jsonl"):
    return [json.loads(x) for x in (tmp_path / name).read_text().splitlines()]


def wanted(t_dir, msgs, c, end=None):
    """The teacher's row for a completion `c` and each completion token's index in it: its own
    prompt ids, then `c`; with `end` (its own end-of-turn ids) in place of the student's
    `<|im_end|>\\n`: the `<|im_end|>` at the teacher's end token, the `\\n` at none (-1)."""
    p = own_ids(t_dir, msgs)
    if end is None:
        return p + c, [len(p) + j for j in range(len(c))]
    return p + c[:-2] + end, [len(p) + j for j in range(len(c) - 1)] + [-1]


def divergences(trainer, batch, model, t_rows, t_pos, beta=0.0, swap=None):
    """Per row, the summed divergence at its completion positions: the student's logits there,
    the teacher `model`'s in its row `t_rows[i]` at t_pos[i][j] - 1 (predicting the same token;
    -1: no term), its `swap` (student id, teacher id) columns exchanged; and the token count."""
    from distill.train.kd.loss import divergence

    trainer.model.eval()
    total, n = 0.0, 0
    for i in range(batch["input_ids"].shape[0]):
        at, c = completion(batch, i)
        if not c:
            continue
        with torch.no_grad():
            s = trainer.model(input_ids=batch["input_ids"][i : i + 1, : int(at[-1]) + 1]).logits[0]
            t = model(input_ids=torch.tensor([t_rows[i]])).logits[0]
        if swap is not None:
            a, b = swap
            t[:, [a, b]] = t[:, [b, a]]
        n += len(c)
        keep = [j for j, x in enumerate(t_pos[i]) if x >= 0]
        s_lp = torch.log_softmax(s[at[keep] - 1].float(), -1)
        t_lp = torch.log_softmax(t[[t_pos[i][j] - 1 for j in keep]].float(), -1)
        v = min(s_lp.shape[-1], t_lp.shape[-1])
        s_lp, t_lp = torch.log_softmax(s_lp[:, :v], -1), torch.log_softmax(t_lp[:, :v], -1)
        total += float(divergence(s_lp, t_lp, beta).sum())
    return total, n


def own_cols(batch, i, prefix=""):
    n = int(batch[prefix + "teacher_attention_mask"][i].sum())
    at, _ = completion(batch, i)
    ids = batch[prefix + "teacher_input_ids"][i, :n].tolist()
    return ids, batch[prefix + "teacher_pos"][i, at].tolist()


# --------------------------------------------------------------------------- 1. several teachers


def test_several_teachers_one_of_another_template_reads_its_own_prompt_in_kd(
    tmp_path, tiny_qwen, math_teacher, plain
):
    """Weighted (0.5, 0.5): the teacher of another template reads its own prompt ids + the
    completion (its columns under its prefix), the other the student's rows; the loss is the
    weighted hand computation of both; kd.json and the card say which read its own prompt."""
    from distill.config import read_saved
    from distill.train.config import TrainConfig
    from distill.train.kd import card_lines

    kw = dict(teacher_model=[str(math_teacher), str(plain)], kd_alpha=1.0)
    trainer = build_trainer(kd_cfg(tmp_path, tiny_qwen, **kw))[0]
    batch = first_batch(trainer)
    assert not any(k.startswith("t1_") for k in batch)  # its template is the student's
    rows = rows_of(tmp_path)
    mine, where, theirs, same = [], [], [], []
    for i in range(4):
        _, c = completion(batch, i)
        want, pos = wanted(math_teacher, rows[i]["messages"], c)
        assert own_cols(batch, i, "t0_") == (want, pos)
        mine.append(want)
        where.append(pos)
        row = batch["input_ids"][i][batch["attention_mask"][i].bool()].tolist()
        assert row != want
        theirs.append(row)
        same.append([len(row) - len(c) + j for j in range(len(c))])
    a, n = divergences(trainer, batch, trainer.teacher.teachers[0].model, mine, where)
    b, _ = divergences(trainer, batch, trainer.teacher.teachers[1].model, theirs, same)
    got = loss_of(trainer, batch)
    assert got == pytest.approx((0.5 * a + 0.5 * b) / n, rel=1e-4)
    whole = build_trainer(kd_cfg(tmp_path, tiny_qwen, loss_chunk_size=0, **kw))[0]
    assert loss_of(whole, first_batch(whole)) == pytest.approx(got, rel=1e-4)

    out = tmp_path / "run"
    kw.pop("kd_alpha")
    trained = build_trainer(kd_cfg(tmp_path, tiny_qwen, output_dir=str(out), max_steps=1, **kw))[0]
    trained.train()
    state = json.loads((out / "kd.json").read_text())
    assert state["teachers"][0]["teacher_own_prompt"] == {"rows": 8, "of": 8}
    assert "teacher_own_prompt" not in state["teachers"][1]
    assert "teacher_own_prompt" not in state
    card = "\n".join(card_lines(read_saved(TrainConfig, kw | {"method": "kd"}), state))
    line = next(x for x in card.splitlines() if x.startswith(f"- `{math_teacher}`"))
    assert "its own chat template's prompt (8 of 8 rows" in line


def test_several_teachers_onpolicy_read_the_samples_after_the_teachers_own_prompt(
    tmp_path, tiny_qwen, math_teacher, plain
):
    """On policy: each sample after the teacher's own generation prompt (its prefixed
    columns), the other teacher's the student's; the loss is the weighted generalized JSD."""
    cfg = kd_cfg(tmp_path, tiny_qwen, teacher_model=[str(math_teacher), str(plain)],
                 teacher_weight=[0.25, 0.75], method="onpolicy", lmbda=1.0, max_new_tokens=6,
                 lora_dropout=0.0)  # fmt: skip
    trainer = build_trainer(cfg)[0]
    rows = rows_of(tmp_path)
    trainer.model.eval()
    sampled = trainer._on_policy_batch(trainer.model, first_batch(trainer))
    assert sampled["on_policy"] is True
    mine, where, theirs, same = [], [], [], []
    for i in range(4):
        _, c = completion(sampled, i)
        assert c
        want, pos = wanted(math_teacher, rows[i]["messages"], c)
        assert own_cols(sampled, i, "t0_") == (want, pos)
        mine.append(want)
        where.append(pos)
        row = sampled["input_ids"][i][sampled["attention_mask"][i].bool()].tolist()
        theirs.append(row)
        same.append([len(row) - len(c) + j for j in range(len(c))])
    teachers = trainer.teacher.teachers
    a, n = divergences(trainer, sampled, teachers[0].model, mine, where, cfg.beta)
    b, _ = divergences(trainer, sampled, teachers[1].model, theirs, same, cfg.beta)
    assert loss_of(trainer, sampled) == pytest.approx((0.25 * a + 0.75 * b) / n, rel=1e-4)


def test_a_served_teacher_of_another_template_among_several_is_sent_its_own_prompt_ids(
    tmp_path, tiny_qwen, math_teacher, plain, server
):
    """Routed, the teacher of another template served (NAME@URL, its tokenizer loads here): the
    ids sent are its own prompt's + the completion's, for its own rows only; with its whole
    vocabulary listed the loss is the one with it local; kd.json counts its own rows."""
    from distill.models import load_tokenizer
    from tests.test_train import kept_file

    tok = load_tokenizer(str(math_teacher))
    server.model, server.scorer = str(math_teacher), fake_scorer(math_teacher)
    server.decode = lambda t: tok.decode([t])
    data = kept_file(tmp_path, n=8)
    rows = rows_of(tmp_path)
    for i, row in enumerate(rows):
        row["domain"] = 0 if i % 3 == 0 else 1  # rows 0, 3, 6 -> the served teacher
    data.write_text("".join(json.dumps(r) + "\n" for r in rows))
    common = dict(data=str(data), teacher_route_field="domain", kd_alpha=1.0,
                  teacher_top_k=len(tok))  # fmt: skip
    served = build_trainer(kd_cfg(tmp_path, tiny_qwen, **common,
                                  teacher_model=[f"{math_teacher}@{server.url}", str(plain)]))[0]  # fmt: skip
    batch = first_batch(served)
    got = loss_of(served, batch)
    sent = [ids for r in server.log if isinstance(r.get("prompt"), list) for ids in r["prompt"]]
    want = []
    for i in (0, 3):
        _, c = completion(batch, i)
        want.append(own_ids(math_teacher, rows[i]["messages"]) + c)
    assert sent[-2:] == want
    local = build_trainer(kd_cfg(tmp_path, tiny_qwen, **common,
                                 teacher_model=[str(math_teacher), str(plain)]))[0]  # fmt: skip
    assert got > 1e-3 and got == pytest.approx(loss_of(local, first_batch(local)), rel=1e-4)

    out = tmp_path / "run"
    trained = build_trainer(kd_cfg(tmp_path, tiny_qwen, output_dir=str(out), max_steps=1,
                                   **common, teacher_model=[str(math_teacher), str(plain)]))[0]  # fmt: skip
    trained.train()
    state = json.loads((out / "kd.json").read_text())
    assert state["teachers"][0]["teacher_own_prompt"] == {"rows": 3, "of": 3}


def test_rows_a_teachers_template_refuses_are_counted_per_teacher(
    tmp_path, tiny_qwen, teacher, plain
):
    """A teacher whose template refuses a system message reads those rows in the student's
    rendering, its others after its own prompt: kd.json's entry of that teacher counts both
    (the build line alone counted the refused rows), as one teacher's kd.json does."""
    from distill.config import read_saved
    from distill.train.config import TrainConfig
    from distill.train.kd import card_lines
    from tests.test_train import kept_file
    from tests.tiny import CHATML

    strict = with_template(teacher, tmp_path / "strict", NO_SYSTEM + SYSTEM + CHATML)
    data = kept_file(tmp_path, n=8)
    rows = rows_of(tmp_path)
    for row in rows[:3]:
        row["messages"].insert(0, {"role": "system", "content": "Be brief."})
    data.write_text("".join(json.dumps(r) + "\n" for r in rows))
    out = tmp_path / "run"
    kw = dict(data=str(data), teacher_model=[str(strict), str(plain)])
    trainer = build_trainer(kd_cfg(tmp_path, tiny_qwen, output_dir=str(out), max_steps=1, **kw))[0]
    batch = first_batch(trainer)
    for i in range(4):
        ids, _ = own_cols(batch, i, "t0_")
        row = batch["input_ids"][i][batch["attention_mask"][i].bool()].tolist()
        assert (ids == row) == (i < 3)
    trainer.train()
    state = json.loads((out / "kd.json").read_text())
    entry = state["teachers"][0]["teacher_own_prompt"]
    assert entry == {"rows": 5, "of": 8, "read_in_students": 3}
    card = "\n".join(card_lines(read_saved(TrainConfig, kw | {"method": "kd"}), state))
    assert "(5 of 8 rows rendered otherwise than the student's), 3 rows its template" in card

    alone = tmp_path / "alone"  # one teacher: kd.json counts them too
    kw["teacher_model"] = str(strict)
    build_trainer(kd_cfg(tmp_path, tiny_qwen, output_dir=str(alone), max_steps=1, **kw))[0].train()
    state = json.loads((alone / "kd.json").read_text())
    assert state["teacher_own_prompt"] == {"rows": 5, "of": 8, "read_in_students": 3}


# --------------------------------------------------------------------------- 2. end of turn


@pytest.mark.parametrize("chunk", [None, 0])
def test_a_teacher_whose_template_ends_a_turn_otherwise_reads_its_own_end(
    tmp_path, tiny_qwen, eot_teacher, chunk
):
    """One teacher (kd): its row is its own prompt, the completion's content, its own
    `<|endoftext|>`; the student's `<|im_end|>` is compared with the teacher's prediction of
    its `<|endoftext|>` (the two columns one outcome: exchanged in the teacher's logits), the
    student's `\\n` after it gets no teacher term. Fused and whole-logits losses alike."""
    more = {} if chunk is None else {"loss_chunk_size": chunk}
    cfg = kd_cfg(tmp_path, tiny_qwen, teacher_model=str(eot_teacher), kd_alpha=1.0, **more)
    trainer = build_trainer(cfg)[0]
    batch = first_batch(trainer)
    im_end, eot = ids_of(tiny_qwen, "<|im_end|>", "<|endoftext|>")
    nl = trainer.processing_class("\n", add_special_tokens=False)["input_ids"]
    rows = rows_of(tmp_path)
    mine, where = [], []
    for i in range(4):
        _, c = completion(batch, i)
        assert c[-2:] == [im_end, *nl]
        want, pos = wanted(eot_teacher, rows[i]["messages"], c, [eot])
        assert own_cols(batch, i) == (want, pos)
        mine.append(want)
        where.append(pos)
    model = trainer.teacher.model
    total, n = divergences(trainer, batch, model, mine, where, swap=(im_end, eot))
    assert loss_of(trainer, batch) == pytest.approx(total / n, rel=1e-4)
    assert trainer.teacher.end_pair == (im_end, eot)


def test_a_served_teacher_ending_a_turn_otherwise_and_onpolicy_samples(
    tmp_path, tiny_qwen, eot_teacher, server
):
    """Served (its whole vocabulary listed): the ids sent end with its own end of turn and the
    loss is the local teacher's. On policy each sample ends where the student stops: the
    teacher's end token is compared as the student's there too."""
    from distill.models import load_tokenizer

    tok = load_tokenizer(str(eot_teacher))
    server.model, server.scorer = str(eot_teacher), fake_scorer(eot_teacher)
    server.decode = lambda t: tok.decode([t])
    kw = dict(teacher_model=str(eot_teacher), kd_alpha=1.0)
    served = build_trainer(kd_cfg(tmp_path, tiny_qwen, teacher_url=server.url,
                                  teacher_top_k=len(tok), **kw))[0]  # fmt: skip
    batch = first_batch(served)
    got = loss_of(served, batch)
    eot = tok.convert_tokens_to_ids("<|endoftext|>")
    sent = [r["prompt"] for r in server.log if isinstance(r.get("prompt"), list)][-1]
    assert all(ids[-1] == eot for ids in sent)
    local = build_trainer(kd_cfg(tmp_path, tiny_qwen, **kw))[0]
    assert got > 1e-3 and got == pytest.approx(loss_of(local, first_batch(local)), rel=1e-4)

    cfg = kd_cfg(tmp_path, tiny_qwen, teacher_model=str(eot_teacher), method="onpolicy",
                 lmbda=1.0, max_new_tokens=6, lora_dropout=0.0)  # fmt: skip
    trainer = build_trainer(cfg)[0]
    im_end = tok.convert_tokens_to_ids("<|im_end|>")
    trainer.model.eval()
    torch.manual_seed(0)
    sampled = trainer._on_policy_batch(trainer.model, first_batch(trainer))
    rows = rows_of(tmp_path)
    mine, where = [], []
    for i in range(4):
        _, c = completion(sampled, i)
        want, pos = wanted(eot_teacher, rows[i]["messages"], c)
        assert own_cols(sampled, i) == (want, pos)
        mine.append(want)
        where.append(pos)
    total, n = divergences(trainer, sampled, trainer.teacher.model, mine, where, cfg.beta,
                           swap=(im_end, eot))  # fmt: skip
    assert loss_of(trainer, sampled) == pytest.approx(total / n, rel=1e-4)


def test_several_teachers_one_ending_a_turn_otherwise(tmp_path, tiny_qwen, eot_teacher, plain):
    """Among several teachers: its prefixed row ends with its own end of turn, and the loss is
    the weighted hand computation (its end token the student's, the `\\n` without its term)."""
    kw = dict(teacher_model=[str(eot_teacher), str(plain)], teacher_weight=[0.6, 0.4])
    trainer = build_trainer(kd_cfg(tmp_path, tiny_qwen, kd_alpha=1.0, **kw))[0]
    batch = first_batch(trainer)
    im_end, eot = ids_of(tiny_qwen, "<|im_end|>", "<|endoftext|>")
    rows = rows_of(tmp_path)
    mine, where, theirs, same = [], [], [], []
    for i in range(4):
        _, c = completion(batch, i)
        want, pos = wanted(eot_teacher, rows[i]["messages"], c, [eot])
        assert own_cols(batch, i, "t0_") == (want, pos)
        mine.append(want)
        where.append(pos)
        row = batch["input_ids"][i][batch["attention_mask"][i].bool()].tolist()
        theirs.append(row)
        same.append([len(row) - len(c) + j for j in range(len(c))])
    teachers = trainer.teacher.teachers
    a, n = divergences(trainer, batch, teachers[0].model, mine, where, swap=(im_end, eot))
    b, _ = divergences(trainer, batch, teachers[1].model, theirs, same)
    assert loss_of(trainer, batch) == pytest.approx((0.6 * a + 0.4 * b) / n, rel=1e-4)

    out = tmp_path / "run"
    trained = build_trainer(kd_cfg(tmp_path, tiny_qwen, output_dir=str(out), max_steps=1, **kw))[0]
    trained.train()
    state = json.loads((out / "kd.json").read_text())
    # it scored every completion token of the step's 4 rows but each one's `\n` after its end
    scored = [t["tokens_scored"] for t in state["teachers"]]
    assert scored == [state["teacher_tokens_scored"] - 4, state["teacher_tokens_scored"]]


@pytest.mark.parametrize("method", ["kd", "onpolicy"])
def test_beside_a_teacher_of_another_tokenizer(
    tmp_path, tiny_qwen, tiny_llama, math_teacher, method
):
    """Beside a teacher of another tokenizer (its rows xtok_dataset's: each example's last turn),
    the teacher of another template still reads its own prompt, on policy each sample after it,
    and the weighted loss is finite."""
    cfg = kd_cfg(tmp_path, tiny_qwen, teacher_model=[str(tiny_llama), str(math_teacher)],
                 method=method, lmbda=1.0, max_new_tokens=6, lora_dropout=0.0)  # fmt: skip
    trainer = build_trainer(cfg)[0]
    batch = first_batch(trainer)
    assert "t0_xtok_ids" in batch
    if method == "onpolicy":
        trainer.model.eval()
        batch = trainer._on_policy_batch(trainer.model, batch)
        assert batch["on_policy"] is True
    rows = rows_of(tmp_path)
    for i in range(4):
        _, c = completion(batch, i)
        assert c
        assert own_cols(batch, i, "t1_") == wanted(math_teacher, rows[i]["messages"], c)
    assert torch.isfinite(torch.tensor(loss_of(trainer, batch)))


def test_a_chat_trained_on_every_turn_reads_the_teachers_own_ends_in_its_history(
    tmp_path, tiny_qwen, eot_teacher
):
    """Two-turn chats (--train-on all): the teacher's row is its own template's whole chat, its
    `<|endoftext|>` after each turn; each student `<|im_end|>` at the teacher's end of that turn,
    each `\\n` after it at none."""
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
    cfg = kd_cfg(tmp_path, tiny_qwen, data=str(data), teacher_model=str(eot_teacher))
    trainer = build_trainer(cfg)[0]
    batch = first_batch(trainer)
    t_tok = load_tokenizer(str(eot_teacher))
    im_end, eot = ids_of(tiny_qwen, "<|im_end|>", "<|endoftext|>")
    for i, msgs in enumerate(chats):
        row, pos = own_cols(batch, i)
        assert row == t_tok.apply_chat_template(msgs, tokenize=True, return_dict=False)
        at, c = completion(batch, i)
        ends = [j for j, x in enumerate(c) if x == im_end]
        assert len(ends) == 2
        assert [row[pos[j]] for j in ends] == [eot, eot]
        assert [pos[j + 1] for j in ends] == [-1, -1]  # the `\n` after each
        assert all(row[p] == x for p, x in zip(pos, c, strict=True) if p >= 0 and x != im_end)
