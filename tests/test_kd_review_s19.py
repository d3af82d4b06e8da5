# ruff: noqa: F811 - the fixtures of tests/test_kd and test_kd_s19, imported
"""Session 19, second read of c8f3c4e / e132474 / c57b355 / bd5a1dc (kd's end of turn per row,
the pairing past a first token alike, the --resume fingerprint of a LoRA adapter teacher).

1. A base student (its template's `<|im_end|>\\n` no stop: `<|endoftext|>` added after it)
   with an instruct teacher of its vocabulary (its turn ends at `<|im_end|>\\n`): a kept
   completion's `<|endoftext|>`, past the teacher's end of turn, gets no teacher term
   (kd/data.own_end), but on policy each sample was read as sampled, so the student's stop got
   the teacher's distribution after its own turn had ended (the next turn's `<|im_start|>`):
   the student was taught not to stop. A sample ending with the student's end of turn now gets
   no teacher term where a kept completion gets none.
2. A LoRA adapter teacher named by a Hub id whose base is a folder on this machine: its record
   before bd5a1dc held no weights (the adapter's repo has no config.json); bd5a1dc records its
   base folder's files, so an unchanged teacher's --resume was refused as 'changed'.

    .venv/bin/python -m pytest tests/test_kd_review_s19.py -q -p no:xdist
"""

from __future__ import annotations

import json
import shutil

import pytest
import torch

from distill.train import build_trainer
from tests.test_fingerprint_review_s18 import hf  # noqa: F401 (fixture)
from tests.test_kd import first_batch, kd_cfg, loss_of, teacher  # noqa: F401 (fixture)
from tests.test_kd_multi_s18 import plain  # noqa: F401 (fixture)
from tests.test_kd_s19 import _hand

# --------------------------------------------------------------------------- 1. a base student


@pytest.fixture(scope="module")
def base_student(tiny_qwen, tmp_path_factory):
    """tiny_qwen as a base model: the same ChatML template, its stop `<|endoftext|>` alone (its
    template's `<|im_end|>` is none), so its turn ends `<|im_end|>\\n<|endoftext|>`."""
    from transformers import AutoConfig, GenerationConfig

    from distill.models import load_tokenizer

    dest = tmp_path_factory.mktemp("base") / "s"
    shutil.copytree(tiny_qwen, dest)
    tok = load_tokenizer(str(dest))
    tok.eos_token = "<|endoftext|>"
    tok.save_pretrained(dest)
    eot = tok.convert_tokens_to_ids("<|endoftext|>")
    config = AutoConfig.from_pretrained(dest)
    config.eos_token_id = eot
    config.save_pretrained(dest)
    gen = GenerationConfig.from_pretrained(dest)
    gen.eos_token_id = eot
    gen.save_pretrained(dest)
    return dest


def _ids(path):
    """(`<|im_end|>`, `\\n`, `<|endoftext|>`, `4`): each one token of the tokenizer at `path`."""
    from distill.models import load_tokenizer

    tok = load_tokenizer(str(path))
    got = [
        tok(x, add_special_tokens=False)["input_ids"]
        for x in ("<|im_end|>", "\n", "<|endoftext|>", "4")
    ]
    assert all(len(x) == 1 for x in got) and len({x[0] for x in got}) == 4
    return [x[0] for x in got]


def _sampled(trainer, body, monkeypatch):
    """The on-policy batch of the first 4 rows, each row's sample `body` (the same ids),
    as the student's generate returns it (its prompt left-padded, then the sample)."""
    from distill.train.kd import trainer as kd_trainer

    def generate(model, inputs, gen_config):  # noqa: ARG001
        p, pm = inputs["prompts"], inputs["prompt_attention_mask"]
        c = torch.tensor([body] * p.shape[0])
        ids = torch.cat([p, c], 1)
        attn = torch.cat([pm, torch.ones_like(c)], 1)
        labels = torch.cat([torch.full_like(p, -100), c], 1)
        return ids, attn, labels

    monkeypatch.setattr(kd_trainer.GKDTrainer, "generate_on_policy_outputs", staticmethod(generate))
    return trainer._on_policy_batch(trainer.model, first_batch(trainer))


def _teacher_rows(batch, skip_end):
    """Each sampled row as the teacher reads it (the prompts render alike: the student's own
    row), each sample token at its own position; the last `skip_end` tokens at none."""
    rows, where = [], []
    for i in range(batch["input_ids"].shape[0]):
        first = int(batch["attention_mask"][i].argmax())
        rows.append(batch["input_ids"][i, first:].tolist())
        at = (batch["labels"][i] != -100).nonzero().flatten() - first
        pos = [int(a) for a in at]
        where.append(pos[: len(pos) - skip_end] + [-1] * skip_end)
    return rows, where


@pytest.mark.parametrize("chunk", [None, 0])
def test_a_base_students_stop_after_its_end_of_turn_gets_no_teacher_term_on_policy(
    tmp_path, base_student, teacher, monkeypatch, capsys, chunk
):
    """A sample '4<|im_end|>\\n<|endoftext|>': the teacher (its turn over at `<|im_end|>\\n`)
    has a term at each of its tokens but the `<|endoftext|>` (as own_end gives a kept
    completion's). Before: its distribution after its own end of turn was the student's
    stop's target: the loss was another (the assert below on the whole-sample reading)."""
    more = {} if chunk is None else {"loss_chunk_size": chunk}
    cfg = kd_cfg(tmp_path, base_student, teacher_model=str(teacher), method="onpolicy",
                 lmbda=1.0, max_new_tokens=6, lora_dropout=0.0, beta=0.0, **more)  # fmt: skip
    trainer = build_trainer(cfg)[0]
    line = next(x for x in capsys.readouterr().out.splitlines() if "ends a turn with" in x)
    assert "'<|endoftext|>' at the end of a completion or sample gets no teacher term" in line
    im_end, nl, eot, four = _ids(base_student)
    assert trainer.teacher.end_pair is None
    sampled = _sampled(trainer, [four, im_end, nl, eot], monkeypatch)
    assert sampled["teacher_pos"].shape == sampled["input_ids"].shape
    mine, where = _teacher_rows(sampled, skip_end=1)
    model = trainer.teacher.model
    total, n = _hand(trainer, sampled, model, mine, where, [None] * 4)
    assert loss_of(trainer, sampled) == pytest.approx(total / n, rel=1e-5)
    every, _ = _hand(trainer, sampled, model, *_teacher_rows(sampled, skip_end=0), [None] * 4)
    assert every != pytest.approx(total, rel=1e-3)  # (the reading before: told apart)
    # a sample that stops with no end of turn before it: its stop compared as it is
    sampled = _sampled(trainer, [four, nl, eot], monkeypatch)
    mine, where = _teacher_rows(sampled, skip_end=0)
    total, n = _hand(trainer, sampled, model, mine, where, [None] * 4)
    assert loss_of(trainer, sampled) == pytest.approx(total / n, rel=1e-5)


def test_several_teachers_on_policy_read_a_base_students_end_as_one_does(
    tmp_path, base_student, teacher, plain, monkeypatch
):
    """Weighted: the instruct teacher's term at the sample's `<|endoftext|>` none, the other's
    (plain: also an instruct template of the student's vocabulary) none either."""
    cfg = kd_cfg(tmp_path, base_student, teacher_model=[str(teacher), str(plain)],
                 teacher_weight=[0.5, 0.5], method="onpolicy", lmbda=1.0, max_new_tokens=6,
                 lora_dropout=0.0, beta=0.0)  # fmt: skip
    trainer = build_trainer(cfg)[0]
    im_end, nl, eot, four = _ids(base_student)
    sampled = _sampled(trainer, [four, im_end, nl, eot], monkeypatch)
    mine, where = _teacher_rows(sampled, skip_end=1)
    a, n = _hand(trainer, sampled, trainer.teacher.teachers[0].model, mine, where, [None] * 4)
    b, _ = _hand(trainer, sampled, trainer.teacher.teachers[1].model, mine, where, [None] * 4)
    assert loss_of(trainer, sampled) == pytest.approx((0.5 * a + 0.5 * b) / n, rel=1e-5)


def test_a_served_teacher_on_policy_reads_a_base_students_end_as_a_local_one(
    tmp_path, base_student, teacher, server, monkeypatch
):
    """Served (its whole vocabulary listed): no listed row at the sample's `<|endoftext|>`, the
    loss the local teacher's hand computation."""
    from transformers import AutoModelForCausalLM

    from distill.models import load_tokenizer
    from tests.test_kd2_s17 import fake_scorer

    tok = load_tokenizer(str(teacher))
    server.model, server.scorer = str(teacher), fake_scorer(teacher)
    server.decode = lambda t: tok.decode([t])
    cfg = kd_cfg(tmp_path, base_student, teacher_model=str(teacher), teacher_url=server.url,
                 teacher_top_k=len(tok), method="onpolicy", lmbda=1.0, max_new_tokens=6,
                 lora_dropout=0.0, beta=0.0)  # fmt: skip
    trainer = build_trainer(cfg)[0]
    im_end, nl, eot, four = _ids(base_student)
    sampled = _sampled(trainer, [four, im_end, nl, eot], monkeypatch)
    mine, where = _teacher_rows(sampled, skip_end=1)
    model = AutoModelForCausalLM.from_pretrained(teacher).eval()
    total, n = _hand(trainer, sampled, model, mine, where, [None] * 4)
    assert loss_of(trainer, sampled) == pytest.approx(total / n, rel=1e-4)


# --------------------------------------------------------------------------- 2. the fingerprint


def test_a_hub_adapter_on_a_local_base_begun_before_its_base_was_recorded_resumes(hf, tmp_path):
    """The record 623817b made for a LoRA adapter named by a Hub id (its repo: no config.json)
    whose base is a folder here: no weights at all. Resumed by this distill, which reads the
    base folder's files now: the same teacher, it goes on (before: 'base/config.json of teacher
    ... changed', start over); its base changed after that resume is refused."""
    from distill.errors import DistillError
    from tests.test_fingerprint_review_s18 import resumed, teachers
    from tests.test_fingerprint_s18 import began, cache_snapshot

    base = tmp_path / "base"
    base.mkdir()
    (base / "config.json").write_text("{}")
    (base / "model.safetensors").write_bytes(b"weights")
    name = "tiny-org/tiny-adapter"
    lora = {"adapter_config.json": json.dumps({"base_model_name_or_path": str(base)}).encode(),
            "adapter_model.safetensors": b"lora"}  # fmt: skip
    cache_snapshot(hf, "a" * 40, lora, name=name)
    out = tmp_path / "out"
    began(out, {"teachers": [{"model": name, "files": {}, "weights": {}}]})  # (623817b's)
    resumed(out, teachers(name))
    resumed(out, teachers(name))  # (its record now holds the base's files: compared)
    (base / "model.safetensors").write_bytes(b"trained again")
    with pytest.raises(DistillError, match=r"base/model\.safetensors of teacher .* changed"):
        resumed(out, teachers(name))


def test_a_hub_adapter_on_a_local_base_resumes_and_its_base_missing_cannot_be_checked(hf, tmp_path):
    """A run begun now: its record holds the base folder's files (and the adapter's revision),
    none of its own folder (it has none: a Hub id). Before: every resume said 'cannot check
    teacher tiny-org/tiny-adapter: no folder tiny-org/tiny-adapter on this machine'. The base
    folder gone: 'cannot check' naming the base."""
    from distill.errors import DistillError
    from distill.train.fingerprint import teacher_record
    from tests.test_fingerprint_review_s18 import resumed, teachers
    from tests.test_fingerprint_s18 import began, cache_snapshot, saved_teacher

    base = tmp_path / "base"
    base.mkdir()
    (base / "config.json").write_text("{}")
    (base / "model.safetensors").write_bytes(b"weights")
    name = "tiny-org/tiny-adapter"
    lora = {"adapter_config.json": json.dumps({"base_model_name_or_path": str(base)}).encode(),
            "adapter_model.safetensors": b"lora"}  # fmt: skip
    cache_snapshot(hf, "a" * 40, lora, name=name)
    out = tmp_path / "out"
    began(out, teacher_record(teachers(name)))
    assert set(saved_teacher(out)["teachers"][0]["weights"]) == {
        "revision", "base/config.json", "base/model.safetensors"
    }  # fmt: skip
    resumed(out, teachers(name))  # the same teacher: goes on
    base.rename(tmp_path / "elsewhere")
    with pytest.raises(DistillError) as e:
        resumed(out, teachers(name))
    said = str(e.value)
    assert f"cannot check teacher {name}: no folder {base} (its base model)" in said
    assert "changed" not in said and "\n" not in said


# --------------------------------------------------------------------------- 3. a resume's words


def test_a_resume_whose_end_pairing_changed_says_what_changed(tmp_path):
    """A run begun before c57b355 with `\\n<|im_end|>` / `\\n<|endoftext|>` (no pair: the
    student's stop had no teacher term) resumed now (paired): refused, as the teacher targets
    differ, but the line said the same reading twice ('its own end of turn ('\\n<|endoftext|>')'
    then and now): it names the pairing now."""
    from distill.errors import DistillError
    from distill.train.kd.trainer import _same_reading

    end = {"student": "\n<|im_end|>", "teacher": "\n<|endoftext|>", "paired": False}
    saved = {"teacher_own_prompt": {"rows": 8, "of": 8}, "teacher_end_of_turn": end}
    now = {**end, "paired": True, "pair": ["<|im_end|>", "<|endoftext|>"]}
    with pytest.raises(DistillError) as e:
        _same_reading(tmp_path / "kd.json", saved, [("T", (True, now))])
    said = str(e.value)
    then, _, later = said.partition("in the run so far")
    assert "its own end of turn ('\\n<|endoftext|>'), its end token not compared" in then
    assert "its '<|endoftext|>' compared as the student's '<|im_end|>'" in later
    _same_reading(tmp_path / "kd.json", saved, [("T", (True, end))])  # the same: goes on
    old = {**end, "paired": True}  # (a kd.json before 'pair': its first tokens paired)
    with pytest.raises(DistillError, match="its first end token compared as the student's"):
        _same_reading(tmp_path / "kd.json", {**saved, "teacher_end_of_turn": old},
                      [("T", (True, end))])  # fmt: skip
