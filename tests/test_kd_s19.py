# ruff: noqa: F811 - the fixtures of tests/test_kd, test_kd2_s17 and test_kd_multi_s18, imported
"""Session 19: token-level kd's end-of-turn bookkeeping and train --resume's teacher record.

1. A teacher of the student's vocabulary whose template ends a turn otherwise and refuses some
   rows (read in the student's rendering: `read_in_students`): its end token was exchanged with
   the student's (kd/data.end_pair) in every row, those read in the student's rendering too,
   which end with the student's own end. Now per row: a row read in the student's rendering
   is compared as it is. One teacher (local, fused or whole logits; served), several, on policy.
2. On policy the card said the teacher "read its own [end] after each completion"; it read the
   end the student sampled. The words now say what was read.
3. A teacher whose end of turn differs from the student's only after a first token they share
   (`<|im_end|>\\n` / `<|im_end|><|endoftext|>`): the turn ends alike at that token (the
   student's stop), nothing to pair, and the line no longer says the first token that differs
   is compared; where the first token that differs is the student's stop (after a shared
   token that is no stop), the two are paired there as a first token is.
4. fingerprint: a LoRA adapter teacher whose local base folder is missing on a resume was
   'changed, start over'; it is 'cannot check teacher X'. A LoRA adapter named by a Hub id
   recorded no revision (its repo holds no config.json): recorded now, its base's too.

    .venv/bin/python -m pytest tests/test_kd_s19.py -q -p no:xdist
"""

from __future__ import annotations

import json

import pytest
import torch

from distill.train import build_trainer
from tests.test_fingerprint_review_s18 import hf  # noqa: F401 (fixture)
from tests.test_kd import first_batch, kd_cfg, loss_of, teacher  # noqa: F401 (fixture)
from tests.test_kd2_s17 import completion, fake_scorer, own_ids, with_template
from tests.test_kd_multi_s18 import EOT, NO_SYSTEM, eot_teacher, ids_of, plain  # noqa: F401


def _with_system(tmp_path, n_system=3):
    """kept.jsonl (8 rows), the first `n_system` with a system message."""
    from tests.test_train import kept_file

    data = kept_file(tmp_path, n=8)
    rows = [json.loads(x) for x in data.read_text().splitlines()]
    for row in rows[:n_system]:
        row["messages"].insert(0, {"role": "system", "content": "Be brief."})
    data.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return data, rows


@pytest.fixture(scope="module")
def strict_eot(eot_teacher, tmp_path_factory):
    """The teacher ending a turn with `<|endoftext|>` whose template refuses a system message,
    its head made to put most of its mass on `<|endoftext|>` or `<|im_end|>` at every position
    (their rows +-30 on one hidden dimension): an exchange of the two columns where none is due
    moves the loss by far more than rounding."""
    return _loud(eot_teacher, tmp_path_factory.mktemp("strict") / "t", NO_SYSTEM + EOT)


def _loud(src, dest, template):
    """`src` under `template`, its head's `<|endoftext|>` and `<|im_end|>` rows +-30 on one
    hidden dimension (most of its mass on one of the two at every position)."""
    from transformers import AutoModelForCausalLM

    dest = with_template(src, dest, template)
    model = AutoModelForCausalLM.from_pretrained(dest)
    im_end, eot = ids_of(dest, "<|im_end|>", "<|endoftext|>")
    with torch.no_grad():
        head = model.get_output_embeddings().weight
        head[[im_end, eot]] = 0.0
        head[eot, 0], head[im_end, 0] = 30.0, -30.0
    model.save_pretrained(dest)
    return dest


def _hand(trainer, batch, model, t_rows, t_pos, swaps, beta=0.0):
    """Per row i: the summed divergence at its completion positions, the teacher `model` read
    in its row t_rows[i] at t_pos[i][j] - 1 (-1: no term), its columns swaps[i] exchanged
    (None: as they are); and the token count."""
    from distill.train.kd.loss import divergence

    trainer.model.eval()
    total, n = 0.0, 0
    for i in range(batch["input_ids"].shape[0]):
        at, c = completion(batch, i)
        first = int(batch["attention_mask"][i].argmax())  # (on policy: left padded)
        ids = batch["input_ids"][i : i + 1, first : int(at[-1]) + 1]
        at = at - first
        with torch.no_grad():
            s = trainer.model(input_ids=ids).logits[0]
            t = model(input_ids=torch.tensor([t_rows[i]])).logits[0]
        if swaps[i] is not None:
            a, b = swaps[i]
            t[:, [a, b]] = t[:, [b, a]]
        n += len(c)
        keep = [j for j, x in enumerate(t_pos[i]) if x >= 0]
        s_lp = torch.log_softmax(s[at[keep] - 1].float(), -1)
        t_lp = torch.log_softmax(t[[t_pos[i][j] - 1 for j in keep]].float(), -1)
        v = min(s_lp.shape[-1], t_lp.shape[-1])
        s_lp, t_lp = torch.log_softmax(s_lp[:, :v], -1), torch.log_softmax(t_lp[:, :v], -1)
        total += float(divergence(s_lp, t_lp, beta).sum())
    return total, n


def _rows(batch, rows, t_dir, im_end, eot, on_policy=False):
    """Each row of the batch as the teacher reads it: (its ids, each completion token's index,
    its swap): the first three (a system message) in the student's rendering, its end the
    student's, nothing exchanged; the others after its own prompt, its own end (kd; on policy
    the sample's own end) and its end token compared as the student's."""
    mine, where, swaps = [], [], []
    for i in range(batch["input_ids"].shape[0]):
        at, c = completion(batch, i)
        if i < 3:
            row = batch["input_ids"][i][batch["attention_mask"][i].bool()].tolist()
            first = int(batch["attention_mask"][i].argmax())  # (on policy: left padded)
            mine.append(row)
            where.append([int(a) - first for a in at])
            swaps.append(None)
            continue
        p = own_ids(t_dir, rows[i]["messages"])
        if on_policy or c[-2] != im_end:
            mine.append(p + c)
            where.append([len(p) + j for j in range(len(c))])
        else:  # its own `<|endoftext|>` for the student's `<|im_end|>\n`, the `\n` at none
            mine.append(p + c[:-2] + [eot])
            where.append([len(p) + j for j in range(len(c) - 1)] + [-1])
        swaps.append((im_end, eot))
    return mine, where, swaps


# --------------------------------------------------------------------------- 1. per row


@pytest.mark.parametrize("chunk", [None, 0])
def test_rows_read_in_the_students_rendering_keep_the_students_end(
    tmp_path, tiny_qwen, strict_eot, chunk
):
    """One local teacher, fused loss and whole logits: rows 0-2 (a system message its template
    refuses) are compared as the student's row, no column exchanged; row 3 after its own prompt
    with its own end, its end token the student's. Before: rows 0-2 exchanged too."""
    data, rows = _with_system(tmp_path)
    more = {} if chunk is None else {"loss_chunk_size": chunk}
    cfg = kd_cfg(tmp_path, tiny_qwen, data=str(data), teacher_model=str(strict_eot), kd_alpha=1.0,
                 **more)  # fmt: skip
    trainer = build_trainer(cfg)[0]
    batch = first_batch(trainer)
    im_end, eot = ids_of(tiny_qwen, "<|im_end|>", "<|endoftext|>")
    assert trainer.teacher.end_pair == (im_end, eot)
    assert batch["teacher_own_row"].tolist() == [False, False, False, True]
    mine, where, swaps = _rows(batch, rows, strict_eot, im_end, eot)
    total, n = _hand(trainer, batch, trainer.teacher.model, mine, where, swaps)
    assert loss_of(trainer, batch) == pytest.approx(total / n, rel=1e-4)
    # (every row exchanged, as before, is another loss: the test tells the two apart)
    every, _ = _hand(trainer, batch, trainer.teacher.model, mine, where, [(im_end, eot)] * 4)
    assert every != pytest.approx(total, rel=1e-3)


def test_a_served_teacher_exchanges_its_listed_end_per_row(tmp_path, tiny_qwen, strict_eot, server):
    """Served (its whole vocabulary listed): its listed end token exchanged in the rows read
    after its own prompt alone, the loss the local teacher's hand computation."""
    from transformers import AutoModelForCausalLM

    from distill.models import load_tokenizer

    data, rows = _with_system(tmp_path)
    tok = load_tokenizer(str(strict_eot))
    server.model, server.scorer = str(strict_eot), fake_scorer(strict_eot)
    server.decode = lambda t: tok.decode([t])
    kw = dict(data=str(data), teacher_model=str(strict_eot), kd_alpha=1.0)
    served = build_trainer(kd_cfg(tmp_path, tiny_qwen, teacher_url=server.url,
                                  teacher_top_k=len(tok), **kw))[0]  # fmt: skip
    batch = first_batch(served)
    im_end, eot = ids_of(tiny_qwen, "<|im_end|>", "<|endoftext|>")
    mine, where, swaps = _rows(batch, rows, strict_eot, im_end, eot)
    model = AutoModelForCausalLM.from_pretrained(strict_eot).eval()
    total, n = _hand(served, batch, model, mine, where, swaps)
    assert loss_of(served, batch) == pytest.approx(total / n, rel=1e-4)


def test_several_teachers_exchange_the_end_per_row(tmp_path, tiny_qwen, strict_eot, plain):
    """Weighted beside a teacher of the student's template: the first teacher's term is per row
    as alone (rows 0-2 as they are), the second's the student's rows."""
    data, rows = _with_system(tmp_path)
    kw = dict(data=str(data), teacher_model=[str(strict_eot), str(plain)],
              teacher_weight=[0.6, 0.4], kd_alpha=1.0)  # fmt: skip
    trainer = build_trainer(kd_cfg(tmp_path, tiny_qwen, **kw))[0]
    batch = first_batch(trainer)
    im_end, eot = ids_of(tiny_qwen, "<|im_end|>", "<|endoftext|>")
    mine, where, swaps = _rows(batch, rows, strict_eot, im_end, eot)
    teachers = trainer.teacher.teachers
    a, n = _hand(trainer, batch, teachers[0].model, mine, where, swaps)
    theirs, same = [], []
    for i in range(4):
        at, _ = completion(batch, i)
        theirs.append(batch["input_ids"][i][batch["attention_mask"][i].bool()].tolist())
        same.append(at.tolist())
    b, _ = _hand(trainer, batch, teachers[1].model, theirs, same, [None] * 4)
    assert loss_of(trainer, batch) == pytest.approx((0.6 * a + 0.4 * b) / n, rel=1e-4)


def test_routed_teachers_exchange_the_end_per_row(tmp_path, tiny_qwen, strict_eot, plain):
    """Routed: the teacher that refuses rows 0-2 scores rows 0, 1 and 3 (row 2 routed to the
    other): its end token exchanged in row 3 alone."""
    data, rows = _with_system(tmp_path)
    for i, row in enumerate(rows):
        row["who"] = 1 if i == 2 else 0
    data.write_text("".join(json.dumps(r) + "\n" for r in rows))
    kw = dict(data=str(data), teacher_model=[str(strict_eot), str(plain)],
              teacher_route_field="who", kd_alpha=1.0)  # fmt: skip
    trainer = build_trainer(kd_cfg(tmp_path, tiny_qwen, **kw))[0]
    batch = first_batch(trainer)
    im_end, eot = ids_of(tiny_qwen, "<|im_end|>", "<|endoftext|>")
    mine, where, swaps = _rows(batch, rows, strict_eot, im_end, eot)
    teachers = trainer.teacher.teachers
    total, n = 0.0, 0
    for i in range(4):
        one = {k: v[i : i + 1] for k, v in batch.items() if hasattr(v, "shape")}
        model = teachers[1 if i == 2 else 0].model
        x, m = _hand(trainer, one, model, mine[i : i + 1], where[i : i + 1], swaps[i : i + 1])
        total, n = total + x, n + m
    assert loss_of(trainer, batch) == pytest.approx(total / n, rel=1e-4)


def test_on_policy_samples_of_rows_read_in_the_students_rendering(tmp_path, tiny_qwen, strict_eot):
    """On policy: each sample after the student's prompt (rows 0-2) is compared as it is, those
    after the teacher's own prompt with its end token the student's."""
    data, rows = _with_system(tmp_path)
    cfg = kd_cfg(tmp_path, tiny_qwen, data=str(data), teacher_model=str(strict_eot), beta=0.0,
                 method="onpolicy", lmbda=1.0, max_new_tokens=6, lora_dropout=0.0)  # fmt: skip
    trainer = build_trainer(cfg)[0]
    im_end, eot = ids_of(tiny_qwen, "<|im_end|>", "<|endoftext|>")
    trainer.model.eval()
    torch.manual_seed(0)
    sampled = trainer._on_policy_batch(trainer.model, first_batch(trainer))
    mine, where, swaps = _rows(sampled, rows, strict_eot, im_end, eot, on_policy=True)
    total, n = _hand(trainer, sampled, trainer.teacher.model, mine, where, swaps, cfg.beta)
    # (every sample exchanged, as before, is 5e-4 apart; the two computations agree to 1e-7)
    assert loss_of(trainer, sampled) == pytest.approx(total / n, rel=1e-5)


def test_own_row_says_a_row_whose_turns_render_otherwise_is_the_students():
    """A row whose turns the teacher's template renders otherwise (its history without a turn:
    R1-Distill's) is the student's row as it is: not read in the teacher's rendering (no end
    exchanged there, counted in read_in_students); a row of its own rendering is."""
    from distill.train.kd.data import own_row

    row, mask = [1, 2, 3, 4, 5, 6, 7, 8], [0, 0, 1, 1, 0, 0, 1, 1]
    other = ([9, 9, 9, 9, 3, 4], [0, 0, 0, 0, 1, 1])  # one prompt run: the turns render otherwise
    got = own_row(None, None, row, mask, other)
    assert got[0] == row and got[-1] is False
    assert own_row(None, None, row, mask, None)[-1] is False
    alike = (row, mask)  # (renders alike: lead_len reads no `<think>` with no tokenizer)
    from unittest import mock

    with mock.patch("distill.train.kd.data.lead_len", return_value=0):
        assert own_row(None, None, row, mask, alike)[-1] is True


# --------------------------------------------------------------------------- 2. the card's words

END = {"student": "<|im_end|>\n", "teacher": "<|eot|>", "paired": True}


def _card(**train):
    from distill.config import read_saved
    from distill.train.config import TrainConfig
    from distill.train.kd import card_lines

    state = {
        "teacher_tokens_scored": 40,
        "teacher_own_prompt": {"rows": 5, "of": 8, "read_in_students": 3},
        "teacher_end_of_turn": END,
    }
    cfg = read_saved(TrainConfig, {"teacher_model": "T", **train})
    return next(x for x in card_lines(cfg, state) if x.startswith("Teacher end of turn"))


def test_the_on_policy_card_says_the_teacher_read_the_students_sampled_end():
    """Before: 'it read its own after each completion' on policy too, where each sample (its
    end the student's sampled end) was read as the student sampled it (own_sampled)."""
    said = _card(method="onpolicy", lmbda=1.0)
    assert "its own after each completion" not in said
    assert "it read the end of turn the student sampled after each of its samples" in said
    assert "kept completion" not in said  # (lmbda 1: no batch of the kept traces)
    assert "the student's in the 3 rows read in the student's rendering" in said
    assert "its first end token compared as the student's in the others" in said
    mixed = _card(method="onpolicy", lmbda=0.5)
    assert "and its own after each kept completion" in mixed
    kd = _card(method="kd")
    assert "it read its own after each completion" in kd and "sampled" not in kd


def test_several_teachers_on_policy_card_says_the_same(tmp_path):
    from distill.config import read_saved
    from distill.train.config import TrainConfig
    from distill.train.kd.multi import card_lines

    train = read_saved(
        TrainConfig, {"method": "onpolicy", "lmbda": 1.0, "teacher_model": ["A", "B"]}
    )
    state = {"teachers": [{"teacher_end_of_turn": END, "teacher_own_prompt": {"rows": 8, "of": 8}},
                          {}]}  # fmt: skip
    line = card_lines(train, state)[1]
    assert "the end of turn the student sampled after each of its samples" in line
    assert "its own after each completion" not in line and "rows read in the student's" not in line


def test_the_on_policy_build_line_says_what_the_teacher_reads(
    tmp_path, tiny_qwen, strict_eot, capsys
):
    data, _ = _with_system(tmp_path)
    cfg = kd_cfg(tmp_path, tiny_qwen, data=str(data), teacher_model=str(strict_eot),
                 method="onpolicy", lmbda=1.0, max_new_tokens=6)  # fmt: skip
    build_trainer(cfg)
    out = capsys.readouterr().out
    line = next(x for x in out.splitlines() if "ends a turn with" in x)
    assert "it reads its own end after each completion" not in line
    assert "it reads the end of turn the student samples after each of its samples" in line
    assert "the student's in the 3 rows read in the student's" in line


# --------------------------------------------------------------------------- 3. ends alike at first

# ChatML whose turns end with `<|im_end|><|endoftext|>`: the student's `<|im_end|>` (its stop),
# then `<|endoftext|>` where the student writes `\n`
IM_END_EOT = EOT.replace("'<|endoftext|>'", "'<|im_end|><|endoftext|>'")
# content, `\n`, then the end token: the two ends differ past a first token that is no stop
NL_IM_END = EOT.replace("'<|endoftext|>'", "'\\n<|im_end|>'")
NL_EOT = EOT.replace("'<|endoftext|>'", "'\\n<|endoftext|>'")


def test_end_pair_past_a_first_token_both_spell_alike():
    from distill.train.kd.data import end_pair

    im_end, nl, eot, start = 1, 2, 3, 4
    # as before: the first tokens differ, the student's a stop
    assert end_pair(([im_end, nl], [eot]), {im_end}) == (im_end, eot)
    assert end_pair(([nl, im_end], [eot]), {im_end}) is None
    # the turn ends alike at the student's stop: one outcome already, nothing past it to pair
    assert end_pair(([im_end, nl], [im_end, eot]), {im_end}, {im_end, eot}) is None
    # a first token alike and no stop, then the two stops: paired there
    assert end_pair(([nl, im_end], [nl, eot]), {im_end}, {eot}) == (im_end, eot)
    assert end_pair(([start, nl, im_end], [start, nl, eot]), {im_end}, {eot}) == (im_end, eot)
    # the teacher's token there no stop of its (its turn goes on), or its turn ended before
    assert end_pair(([nl, im_end], [nl, start]), {im_end}, {eot}) is None
    assert end_pair(([eot, im_end], [eot, nl]), {im_end}, {eot}) is None
    # a base student's end (its stop added after the template's, past the teacher's end)
    assert end_pair(([im_end, nl, eot], [im_end, nl]), {eot}, {im_end}) is None


def test_a_teacher_whose_end_differs_after_the_students_stop(tmp_path, tiny_qwen, teacher, capsys):
    """`<|im_end|>\n` / `<|im_end|><|endoftext|>`: the turn ends alike at `<|im_end|>` (the
    student's stop, the teacher's own token there), nothing exchanged; the student's `\n` after
    it, past its end, gets no teacher term. Before, the line said the tokens past the first that
    differs get none, as if the `\n` were compared."""
    t_dir = _loud(teacher, tmp_path / "t", IM_END_EOT)
    trainer = build_trainer(kd_cfg(tmp_path, tiny_qwen, teacher_model=str(t_dir), kd_alpha=1.0))[0]
    line = next(x for x in capsys.readouterr().out.splitlines() if "ends a turn with" in x)
    assert "past the first that differs" not in line
    assert "the turn ends alike at '<|im_end|>', a stop" in line
    assert "the student's '\\n' at the end of a completion gets no teacher term" in line
    assert trainer.teacher.end_pair is None
    assert trainer.own_prompts["end"] == {
        "student": "<|im_end|>\n",
        "teacher": "<|im_end|><|endoftext|>",
        "paired": False,
    }
    batch = first_batch(trainer)
    im_end, eot = ids_of(tiny_qwen, "<|im_end|>", "<|endoftext|>")
    rows = [json.loads(x) for x in (tmp_path / "kept.jsonl").read_text().splitlines()]
    mine, where = [], []
    for i in range(4):
        _, c = completion(batch, i)
        p = own_ids(t_dir, rows[i]["messages"])
        assert c[-2] == im_end
        mine.append(p + c[:-1] + [eot])  # its own end: `<|im_end|><|endoftext|>`
        where.append([len(p) + j for j in range(len(c) - 1)] + [-1])
    total, n = _hand(trainer, batch, trainer.teacher.model, mine, where, [None] * 4)
    assert loss_of(trainer, batch) == pytest.approx(total / n, rel=1e-4)


def test_ends_that_differ_past_a_first_token_pair_their_stops(tmp_path, tiny_qwen, teacher, capsys):
    """`\n<|im_end|>` / `\n<|endoftext|>`: the `\n` alike, then the two stops: the teacher's
    `<|endoftext|>` is compared as the student's `<|im_end|>` (exchanged at every position, as
    a first end token is). Before: no pair, the student's stop got no teacher term at all."""
    from distill.train.kd.multi import end_line

    student = with_template(tiny_qwen, tmp_path / "s", NL_IM_END)
    t_dir = _loud(teacher, tmp_path / "t", NL_EOT)
    tok = json.loads((t_dir / "tokenizer_config.json").read_text())
    tok["eos_token"] = "<|endoftext|>"  # (its stop: as eot_teacher's)
    (t_dir / "tokenizer_config.json").write_text(json.dumps(tok))
    trainer = build_trainer(kd_cfg(tmp_path, student, teacher_model=str(t_dir), kd_alpha=1.0))[0]
    im_end, eot = ids_of(tiny_qwen, "<|im_end|>", "<|endoftext|>")
    assert trainer.teacher.end_pair == (im_end, eot)
    end = trainer.own_prompts["end"]
    assert end["paired"] is True and end["pair"] == ["<|im_end|>", "<|endoftext|>"]
    assert "its '<|endoftext|>' compared as the student's '<|im_end|>'" in end_line(end)
    line = next(x for x in capsys.readouterr().out.splitlines() if "ends a turn with" in x)
    assert "its '<|endoftext|>' is compared as the student's '<|im_end|>'" in line
    assert "no teacher term" not in line
    batch = first_batch(trainer)
    rows = [json.loads(x) for x in (tmp_path / "kept.jsonl").read_text().splitlines()]
    mine, where = [], []
    for i in range(4):
        _, c = completion(batch, i)
        p = own_ids(t_dir, rows[i]["messages"])
        assert c[-1] == im_end
        mine.append(p + c[:-1] + [eot])
        where.append([len(p) + j for j in range(len(c))])  # its stop at the teacher's
    total, n = _hand(trainer, batch, trainer.teacher.model, mine, where, [(im_end, eot)] * 4)
    assert loss_of(trainer, batch) == pytest.approx(total / n, rel=1e-4)


# --------------------------------------------------------------------------- 4. the fingerprint

ADAPTER_ID = "tiny-org/tiny-adapter"


def _base_and_adapter(tmp_path):
    """A local base model folder and a LoRA adapter folder on it (no tokenizer of its own)."""
    base = tmp_path / "base"
    base.mkdir()
    (base / "config.json").write_text("{}")
    (base / "model.safetensors").write_bytes(b"weights")
    (base / "tokenizer_config.json").write_text("{}")
    a = tmp_path / "adapter"
    a.mkdir()
    (a / "adapter_config.json").write_text(json.dumps({"base_model_name_or_path": str(base)}))
    (a / "adapter_model.safetensors").write_bytes(b"lora")
    return base, a


def test_an_adapters_base_folder_not_on_this_machine_cannot_be_checked(hf, tmp_path):
    """Before: 'the teachers were the base model of X, are X now' (its record made otherwise
    where the base's folder is missing): 'changed', start over with --overwrite."""
    from distill.errors import DistillError
    from distill.train.fingerprint import teacher_record
    from tests.test_fingerprint_review_s18 import resumed, teachers
    from tests.test_fingerprint_s18 import began

    base, adapter = _base_and_adapter(tmp_path)
    out = tmp_path / "out"
    began(out, teacher_record(teachers(str(adapter))))
    base.rename(tmp_path / "elsewhere")
    with pytest.raises(DistillError) as e:
        resumed(out, teachers(str(adapter)))
    said = str(e.value)
    assert "\n" not in said and "changed" not in said and "--overwrite" not in said
    assert f"cannot check teacher {adapter}: no folder {base} (its base model) on this" in said
    (tmp_path / "elsewhere").rename(base)
    resumed(out, teachers(str(adapter)))  # back: the same weights, goes on
    (base / "model.safetensors").write_bytes(b"trained again")
    with pytest.raises(DistillError, match=r"base/model\.safetensors of teacher .* changed"):
        resumed(out, teachers(str(adapter)))  # there, other weights: changed, as before


def test_an_adapter_named_by_a_hub_id_keeps_its_revision_and_its_bases(hf, tmp_path):
    """Its repo holds adapter_config.json, no config.json: no revision was kept, so a resume
    after its main moved on (another adapter) went on. Kept now, its Hub base's too."""
    from distill.errors import DistillError
    from distill.train.fingerprint import loaded_teacher, teacher_record
    from tests.test_fingerprint_review_s18 import BASE, resumed, teachers
    from tests.test_fingerprint_s18 import began, cache_snapshot, saved_teacher

    a, b, c = "a" * 40, "b" * 40, "c" * 40
    lora = {"adapter_config.json": json.dumps({"base_model_name_or_path": BASE}).encode(),
            "adapter_model.safetensors": b"lora"}  # fmt: skip
    out = tmp_path / "out"
    began(out, teacher_record(teachers(ADAPTER_ID)))  # a fresh cache: its load downloads both
    cache_snapshot(hf, a, lora, name=ADAPTER_ID)
    cache_snapshot(hf, c, {"config.json": b"{}"}, name=BASE)
    loaded_teacher(out, compared=False)
    assert saved_teacher(out)["teachers"][0]["weights"] == {"revision": a, "base/revision": c}
    assert teacher_record(teachers(ADAPTER_ID))["teachers"][0]["weights"] == {
        "revision": a, "base/revision": c
    }  # fmt: skip
    resumed(out, teachers(ADAPTER_ID))  # the same: goes on
    cache_snapshot(hf, b, lora, name=ADAPTER_ID)  # its main moved on: another adapter
    with pytest.raises(DistillError, match=f"revision of teacher {ADAPTER_ID} changed"):
        resumed(out, teachers(ADAPTER_ID))
    cache_snapshot(hf, a, lora, name=ADAPTER_ID)
    cache_snapshot(hf, b, {"config.json": b"{}"}, name=BASE)  # its base's moved on
    with pytest.raises(DistillError, match=f"base/revision of teacher {ADAPTER_ID} changed"):
        resumed(out, teachers(ADAPTER_ID))
    cache_snapshot(hf, c, {"config.json": b"{}"}, name=BASE)
    import shutil

    shutil.rmtree(hf / "models--tiny-org--tiny-adapter")  # another machine's cache
    with pytest.raises(DistillError) as e:
        resumed(out, teachers(ADAPTER_ID))
    said = str(e.value)
    assert "\n" not in said and f"cannot check teacher {ADAPTER_ID}: not in this machine" in said
