"""Several teachers for kd / onpolicy (distill/train/kd/multi.py): weighted, routed, bad input."""

import dataclasses
import json

import pytest
import torch
from typer.testing import CliRunner

from distill.errors import DistillError
from distill.train import build_trainer
from tests.test_kd import first_batch, kd_cfg, loss_of
from tests.test_train import kept_file


@pytest.fixture(scope="module")
def two(tmp_path_factory):
    """Two tiny Qwen2 teachers (the student's tokenizer, different random weights)."""
    from tests.tiny import make_tiny_model

    root = tmp_path_factory.mktemp("two-teachers")
    return make_tiny_model(root / "A", "qwen2", seed=1), make_tiny_model(
        root / "B", "qwen2", seed=2
    )


def kl_loss(tmp_path, student, **kw):
    """The kd loss of the first batch with kd_alpha 1 (the teachers' term alone)."""
    trainer = build_trainer(kd_cfg(tmp_path, student, kd_alpha=1.0, **kw))[0]
    return loss_of(trainer, first_batch(trainer))


def test_weights_one_zero_are_teacher_a_alone_bit_for_bit(tmp_path, tiny_qwen, two):
    a, b = map(str, two)
    alone_a = kl_loss(tmp_path, tiny_qwen, teacher_model=a)
    assert alone_a > 1e-3
    # teacher B is never loaded nor run
    assert kl_loss(tmp_path, tiny_qwen, teacher_model=[a, b], teacher_weight=[1.0, 0.0]) == alone_a
    assert kl_loss(tmp_path, tiny_qwen, teacher_model=[a, b], teacher_weight=[0.0, 2.0]) != alone_a


def test_equal_weights_are_the_mean_of_the_two_losses(tmp_path, tiny_qwen, two):
    a, b = map(str, two)
    alone_a = kl_loss(tmp_path, tiny_qwen, teacher_model=a)
    alone_b = kl_loss(tmp_path, tiny_qwen, teacher_model=b)
    assert alone_a > 1e-3 and alone_b > 1e-3 and alone_a != alone_b
    # (0.5, 0.5) is the default; (3, 1) is normalised to (0.75, 0.25)
    half = kl_loss(tmp_path, tiny_qwen, teacher_model=[a, b])
    # (fp32 sums in another order: ~1e-6 apart under another thread count)
    assert half == pytest.approx((alone_a + alone_b) / 2, rel=1e-5)
    mix = kl_loss(tmp_path, tiny_qwen, teacher_model=[a, b], teacher_weight=[3.0, 1.0])
    assert mix == pytest.approx(0.75 * alone_a + 0.25 * alone_b, rel=1e-5)


def routed_file(tmp_path, a):
    """kept.jsonl whose `domain` column names teacher A by its path or teacher B by index 1."""
    data = kept_file(tmp_path, n=8)
    rows = [json.loads(x) for x in data.read_text().splitlines()]
    for i, row in enumerate(rows):
        row["domain"] = a if i % 3 == 0 else 1
    data.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return data, [0 if i % 3 == 0 else 1 for i in range(len(rows))]


def test_routing_sends_each_row_to_its_teacher_and_counts_its_tokens(tmp_path, tiny_qwen, two):
    from distill.config import read_saved
    from distill.train.config import TrainConfig
    from distill.train.kd import card_lines

    a, b = map(str, two)
    data, want = routed_file(tmp_path, a)
    cfg = dict(data=str(data), teacher_model=[a, b], teacher_route_field="domain", kd_alpha=1.0)
    trainer = build_trainer(kd_cfg(tmp_path, tiny_qwen, **cfg))[0]
    assert trainer.train_dataset["teacher_route"] == want
    batch = first_batch(trainer)  # rows 0 and 3 -> A, rows 1, 2 -> B
    got = loss_of(trainer, batch)

    # Expected: each teacher alone on its own rows, summed over tokens, per token of the batch.
    def kl_sum(teacher, rows):
        one = build_trainer(kd_cfg(tmp_path, tiny_qwen, data=str(data), teacher_model=teacher))[0]
        one.kd.kd_alpha = 1.0
        sub = one.data_collator([one.train_dataset[i] for i in rows])
        n = int((sub["labels"][:, 1:] != -100).sum())
        return loss_of(one, sub) * n, n

    (sa, na), (sb, nb) = kl_sum(a, [0, 3]), kl_sum(b, [1, 2])
    assert got == pytest.approx((sa + sb) / (na + nb), rel=1e-5)

    # Two steps of 4 rows: every row once; each teacher scored exactly its rows' tokens.
    out = tmp_path / "routed"
    trainer = build_trainer(kd_cfg(tmp_path, tiny_qwen, output_dir=str(out), max_steps=2, **cfg))[0]
    trainer.train()
    state = json.loads((out / "kd.json").read_text())
    lengths = [sum(m) for m in trainer.train_dataset["completion_mask"]]
    per = [sum(n for n, r in zip(lengths, want, strict=True) if r == t) for t in (0, 1)]
    assert state["teacher_tokens_scored"] == sum(lengths)
    assert [t["tokens_scored"] for t in state["teachers"]] == per
    assert [t["share"] for t in state["teachers"]] == [round(n / sum(lengths), 4) for n in per]
    card = "\n".join(card_lines(read_saved(TrainConfig, cfg | {"method": "kd"}), state))
    assert f"`{a}` (local): `domain` = `{a}` or 0, scored {per[0]:,} completion tokens" in card
    assert f"`{b}` (local): `domain` = `{b}` or 1, scored {per[1]:,}" in card


def test_onpolicy_with_two_weighted_teachers_trains_and_writes_each_teachers_share(
    tmp_path, tiny_qwen, two
):
    a, b = map(str, two)
    out = tmp_path / "op"
    cfg = kd_cfg(
        tmp_path,
        tiny_qwen,
        output_dir=str(out),
        method="onpolicy",
        teacher_model=[a, b],
        teacher_weight=[0.7, 0.3],
        max_new_tokens=8,
        max_steps=1,
    )
    trainer = build_trainer(cfg)[0]
    trainer.train()
    state = json.loads((out / "kd.json").read_text())
    assert [t["weight"] for t in state["teachers"]] == [0.7, 0.3]
    scored = state["teacher_tokens_scored"]
    assert scored > 0 and [t["tokens_scored"] for t in state["teachers"]] == [scored, scored]
    log = [json.loads(x) for x in (out / "loss.jsonl").read_text().splitlines()]
    assert any(r.get("kl", 0) > 0 for r in log)


def test_one_teacher_keeps_its_shape_and_an_older_train_yaml_resumes(tmp_path, tiny_qwen, two):
    from distill.train.sft import changed_run_keys

    a, b = map(str, two)
    cfg = kd_cfg(tmp_path, tiny_qwen, teacher_model=[a])  # the flag given once
    assert cfg.teacher_model == a and cfg.teacher_url is None
    served = kd_cfg(tmp_path, tiny_qwen, teacher_model="T@http://127.0.0.1:9/v1")
    assert (served.teacher_model, served.teacher_url) == ("T", "http://127.0.0.1:9/v1")
    saved = dataclasses.asdict(cfg)
    for key in ("teacher_weight", "teacher_route_field"):  # a train.yaml before these keys
        del saved[key]
    assert changed_run_keys(cfg, saved) == []


@pytest.mark.parametrize(
    "kw, message",
    [
        (
            dict(teacher_weight=[0.0, 0.0]),
            "--teacher-weight 0, 0: each must be >= 0 and their sum > 0",
        ),
        (dict(teacher_weight=[1.0, -1.0]), "--teacher-weight 1, -1: each must be >= 0"),
        (dict(teacher_weight=[1.0]), "--teacher-weight: 1 given for 2 teacher(s)"),
        (dict(teacher_url=["http://h:1/v1"] * 3), "--teacher-url: 3 given for 2 teachers"),
        (dict(teacher_route_field="d", teacher_weight=[1.0, 1.0]), "not both"),
        (dict(method="sft"), "several teachers (--teacher-weight, --teacher-route-field) are for"),
    ],
)
def test_bad_weights_and_counts_are_one_line(tmp_path, tiny_qwen, two, kw, message):
    with pytest.raises(DistillError, match=None) as e:
        kd_cfg(tmp_path, tiny_qwen, teacher_model=list(map(str, two)), **kw)
    assert message in str(e.value) and "\n" not in str(e.value)


def test_an_unknown_route_value_names_its_row_and_value(tmp_path, tiny_qwen, two):
    a, b = map(str, two)
    data, _ = routed_file(tmp_path, a)
    rows = data.read_text().splitlines()
    bad = json.loads(rows[4]) | {"domain": "physics"}
    rows[4] = json.dumps(bad)
    data.write_text("\n".join(rows) + "\n")
    cfg = kd_cfg(
        tmp_path, tiny_qwen, data=str(data), teacher_model=[a, b], teacher_route_field="domain"
    )
    with pytest.raises(DistillError) as e:
        build_trainer(cfg)
    line = str(e.value)
    assert f"{data} row 5: --teacher-route-field 'domain' is 'physics'" in line
    assert "\n" not in line


def test_the_cli_repeats_the_flags_and_says_one_line_for_bad_weights(tmp_path, tiny_qwen, two):
    from distill.cli import app

    a, b = map(str, two)
    args = ["train", "--data", str(kept_file(tmp_path, n=2)), "--model", str(tiny_qwen)]
    args += ["--output-dir", str(tmp_path / "o"), "--method", "kd"]
    args += ["--teacher-model", a, "--teacher-model", b, "--teacher-weight", "0", "--teacher-weight", "0"]  # fmt: skip
    res = CliRunner().invoke(app, args)
    assert res.exit_code == 1
    errors = [ln for ln in res.output.splitlines() if ln.startswith("error:")]
    assert len(errors) == 1 and "--teacher-weight 0, 0" in errors[0], res.output
    assert "Traceback" not in res.output


def test_a_teacher_of_another_tokenizer_among_several_trains_on_its_own_alignment(
    tmp_path, tiny_qwen, tiny_llama, two
):
    """Was refused ("several teachers must share the student's vocabulary"); now it aligns each
    example itself (tests/test_kd_teachers_xtok.py has its numbers)."""
    from distill.train.kd.xtok import XTokTeacher

    cfg = kd_cfg(tmp_path, tiny_qwen, teacher_model=[str(two[0]), str(tiny_llama)], kd_alpha=1.0)
    trainer = build_trainer(cfg)[0]
    assert trainer.teacher.xtok == [1] and isinstance(trainer.teacher.teachers[1], XTokTeacher)
    batch = first_batch(trainer)
    assert "t1_xtok_ids" in batch and "xtok_ids" not in batch
    assert loss_of(trainer, batch) > 1e-3


def test_the_routed_loss_weighs_positions_not_rows(tmp_path, tiny_qwen, two):
    """A batch routed all to B is B's loss alone (the all-positions shortcut), in torch terms."""
    a, b = map(str, two)
    data, _ = routed_file(tmp_path, a)
    cfg = dict(data=str(data), teacher_model=[a, b], teacher_route_field="domain", kd_alpha=1.0)
    trainer = build_trainer(kd_cfg(tmp_path, tiny_qwen, **cfg))[0]
    batch = trainer.data_collator([trainer.train_dataset[i] for i in (1, 2)])
    assert batch["teacher_route"].tolist() == [1, 1]
    alone = build_trainer(
        kd_cfg(tmp_path, tiny_qwen, data=str(data), teacher_model=b, kd_alpha=1.0)
    )[0]
    sub = alone.data_collator([alone.train_dataset[i] for i in (1, 2)])
    assert torch.equal(sub["input_ids"], batch["input_ids"])
    assert loss_of(trainer, batch) == loss_of(alone, sub)


def test_a_served_teacher_beside_a_local_one_scores_its_routed_rows(
    tmp_path, tiny_qwen, two, server
):
    """NAME@URL: teacher B served (full-vocabulary top-K) routes as B local does."""
    from distill.models import load_tokenizer
    from tests.test_kd import _scorer

    a, b = map(str, two)
    tok = load_tokenizer(b)
    server.model, server.scorer = "B", _scorer(b)
    server.decode = lambda t: tok.decode([t])
    data, _ = routed_file(tmp_path, a)
    rows = [json.loads(x) for x in data.read_text().splitlines()]
    for row in rows:  # B by name now
        row["domain"] = (
            "B" if row["domain"] == 1 else row["domain"]
        )  # the last part of b's path too
    data.write_text("".join(json.dumps(r) + "\n" for r in rows))
    common = dict(
        data=str(data), teacher_route_field="domain", kd_alpha=1.0, teacher_top_k=len(tok)
    )
    served = build_trainer(
        kd_cfg(tmp_path, tiny_qwen, teacher_model=[a, f"B@{server.url}"], **common)
    )[0]
    assert served.teacher.specs[1].url == server.url
    local = build_trainer(kd_cfg(tmp_path, tiny_qwen, teacher_model=[a, b], **common))[0]
    got, want = loss_of(served, first_batch(served)), loss_of(local, first_batch(local))
    assert got > 1e-3 and got == pytest.approx(want, rel=1e-4)
    assert any(isinstance(r.get("prompt"), list) for r in server.log)


def test_train_run_with_two_teachers_trains_and_guards_each_teacher_path(tmp_path, tiny_qwen, two):
    """distill train's own entry (train.run: the output guard first) with the flag repeated: it
    trains (was: a TypeError traceback, Path() of the list), and a second teacher that is the
    --output-dir is refused in one line as one teacher is."""
    from distill.train import run

    a, b = map(str, two)
    out = run(kd_cfg(tmp_path, tiny_qwen, teacher_model=[a, b], max_steps=1))
    state = json.loads((out / "kd.json").read_text())
    assert [t["model"] for t in state["teachers"]] == [a, b]
    with pytest.raises(DistillError) as e:
        run(kd_cfg(tmp_path, tiny_qwen, teacher_model=[a, b], output_dir=b, max_steps=1))
    assert f"is the input --teacher-model #2 {b}" in str(e.value) and "\n" not in str(e.value)
