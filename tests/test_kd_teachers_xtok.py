"""Several teachers, any of them of another tokenizer (distill/train/kd/multi.py + xtok.py): each
cross-tokenizer teacher aligns every example itself, its ULD / hybrid loss is weighted by the
same per-position weights as a same-vocabulary teacher's divergence, routing sends a row to its
teacher only, and kd.json / the card give each one's aligned share."""

import json
import math

import pytest
import torch

from distill.train import build_trainer
from tests.test_kd import first_batch, kd_cfg, loss_of
from tests.test_kd_teachers import routed_file
from tests.test_xtok import bpe, tiny_model_with
from tests.tiny import CORPUS


@pytest.fixture(scope="module")
def teachers(tmp_path_factory):
    """X, Y: tiny Llamas over two byte-level BPEs of other sizes and merges, neither the
    student's (a Llama and a DeepSeek teacher for a Qwen student); S: a tiny Qwen2 of the
    student's tokenizer."""
    from tests.tiny import make_tiny_model

    root = tmp_path_factory.mktemp("xtok-teachers")
    other = [" ".join(reversed(x.split())) + " ".join(x.split()).upper() for x in CORPUS]
    x = tiny_model_with(bpe(700, (other + CORPUS[::-1]) * 20), root / "X", seed=3)
    y = tiny_model_with(bpe(300, CORPUS * 20), root / "Y", seed=4)
    s = make_tiny_model(root / "S", "qwen2", seed=2)
    return str(x), str(y), str(s)


def kl_trainer(tmp_path, student, **kw):
    return build_trainer(kd_cfg(tmp_path, student, kd_alpha=1.0, **kw))[0]


def without_xtok(batch):
    return {k: v for k, v in batch.items() if "xtok" not in k}


def test_weights_one_zero_with_a_teacher_of_another_tokenizer_are_it_alone_bit_for_bit(
    tmp_path, tiny_qwen, teachers
):
    x, y, s = teachers
    for chunk in (0, 3):
        alone = kl_trainer(tmp_path, tiny_qwen, teacher_model=x, loss_chunk_size=chunk)
        want = loss_of(alone, first_batch(alone))
        assert want > 1e-3
        for other in (s, y):  # the other teacher never loaded nor run
            pair = kl_trainer(
                tmp_path, tiny_qwen, teacher_model=[x, other], teacher_weight=[1.0, 0.0],
                loss_chunk_size=chunk,
            )  # fmt: skip
            assert pair.teacher.teachers[1] is None
            batch = first_batch(pair)
            assert torch.equal(batch["t0_xtok_ids"], first_batch(alone)["xtok_ids"])
            assert loss_of(pair, batch) == want


def test_two_teachers_of_two_other_tokenizers_weigh_their_aligned_losses(
    tmp_path, tiny_qwen, teachers
):
    """Neither teacher is of the student's tokenizer: each aligns on its own; (3, 1) is 0.75 x
    X alone + 0.25 x Y alone on the same batch."""
    x, y, _ = teachers
    ax, ay = (kl_trainer(tmp_path, tiny_qwen, teacher_model=t) for t in (x, y))
    lx, ly = loss_of(ax, first_batch(ax)), loss_of(ay, first_batch(ay))
    assert lx > 1e-3 and ly > 1e-3 and lx != ly
    both = kl_trainer(tmp_path, tiny_qwen, teacher_model=[x, y], teacher_weight=[3.0, 1.0])
    batch = first_batch(both)
    assert torch.equal(batch["input_ids"], first_batch(ax)["input_ids"])
    assert torch.equal(batch["t1_xtok_pos"], first_batch(ay)["xtok_pos"])
    assert loss_of(both, batch) == pytest.approx(0.75 * lx + 0.25 * ly, rel=1e-6)


def test_a_mixed_pair_is_the_weighted_sum_of_each_alone_and_kd_json_gives_the_aligned_share(
    tmp_path, tiny_qwen, teachers
):
    from distill.config import read_saved
    from distill.train.config import TrainConfig
    from distill.train.kd import card_lines

    x, _, s = teachers
    mixed = kl_trainer(tmp_path, tiny_qwen, teacher_model=[s, x], teacher_weight=[0.25, 0.75])
    batch = first_batch(mixed)
    alone_x = kl_trainer(tmp_path, tiny_qwen, teacher_model=x)
    alone_s = kl_trainer(tmp_path, tiny_qwen, teacher_model=s)
    # the same positions: X alone on its own batch (the same rows), S alone on the mixed batch
    assert torch.equal(first_batch(alone_x)["input_ids"], batch["input_ids"])
    lx, ls = loss_of(alone_x, first_batch(alone_x)), loss_of(alone_s, without_xtok(batch))
    assert lx > 1e-3 and ls > 1e-3
    assert loss_of(mixed, batch) == pytest.approx(0.25 * ls + 0.75 * lx, rel=1e-6)

    out = tmp_path / "mixed"
    cfg = dict(teacher_model=[s, x], teacher_weight=[0.25, 0.75], output_dir=str(out))
    trainer = build_trainer(kd_cfg(tmp_path, tiny_qwen, max_steps=2, **cfg))[0]
    trainer.train()
    log = [json.loads(r) for r in (out / "loss.jsonl").read_text().splitlines()]
    assert all(math.isfinite(r["loss"]) and r["kl"] > 0 for r in log)
    # loss.jsonl: the aligned share of each teacher of another tokenizer (by its index), per step
    assert all(0.3 < r["aligned_share_1"] < 1.0 and "aligned_share_0" not in r for r in log)
    state = json.loads((out / "kd.json").read_text())
    same, other = state["teachers"]
    assert "aligned_share" not in same and other["xtok"] == "hybrid"
    scored = state["teacher_tokens_scored"]
    assert same["tokens_scored"] == other["tokens_scored"] == scored
    # X aligned what its paired positions say: the xtok_pos of every row trained
    rows = [trainer.data_collator([r]) for r in trainer.train_dataset]
    paired = sum(
        int((r["t1_xtok_pos"][:, 1:][r["labels"][:, 1:] != -100] >= 0).sum()) for r in rows
    )
    assert other["aligned_tokens"] == paired and 0.3 < other["aligned_share"] < 1.0
    assert other["aligned_share"] == round(paired / scored, 4)
    card = "\n".join(card_lines(read_saved(TrainConfig, cfg | {"method": "kd"}), state))
    assert f"another tokenizer (--xtok hybrid): compared at {other['aligned_share']:.1%}" in card


def test_a_routed_run_sends_each_rows_loss_to_its_teacher_only(tmp_path, tiny_qwen, teachers):
    x, _, s = teachers
    data, want = routed_file(tmp_path, x)  # rows 0, 3, 6 -> X (by its path), others -> 1 = S
    cfg = dict(data=str(data), teacher_model=[x, s], teacher_route_field="domain")
    trainer = kl_trainer(tmp_path, tiny_qwen, **cfg)
    assert trainer.train_dataset["teacher_route"] == want
    batch = first_batch(trainer)
    assert batch["teacher_route"].tolist() == [0, 1, 1, 0]
    got = loss_of(trainer, batch)

    def kl_sum(teacher, rows, same_batch):  # teacher alone on those rows, summed over tokens
        one = kl_trainer(tmp_path, tiny_qwen, data=str(data), teacher_model=teacher)
        sub = one.data_collator([one.train_dataset[i] for i in rows])
        if same_batch:  # the same-vocabulary teacher on the routed run's own rows
            sub = without_xtok(trainer.data_collator([trainer.train_dataset[i] for i in rows]))
        n = int((sub["labels"][:, 1:] != -100).sum())
        return loss_of(one, sub) * n, n

    (sx, nx), (ss, ns) = kl_sum(x, [0, 3], False), kl_sum(s, [1, 2], True)
    assert sx > 1e-3 and ss > 1e-3
    assert got == pytest.approx((sx + ss) / (nx + ns), rel=1e-5)

    out = tmp_path / "routed"
    run = build_trainer(kd_cfg(tmp_path, tiny_qwen, output_dir=str(out), max_steps=2, **cfg))[0]
    run.train()
    state = json.loads((out / "kd.json").read_text())
    lengths = [sum(m) for m in run.train_dataset["completion_mask"]]
    per = [sum(n for n, r in zip(lengths, want, strict=True) if r == t) for t in (0, 1)]
    assert [t["tokens_scored"] for t in state["teachers"]] == per
    assert 0 < state["teachers"][0]["aligned_tokens"] < per[0]


def test_onpolicy_with_a_mixed_pair_trains_and_each_sample_is_read_by_the_other_tokenizer(
    tmp_path, tiny_qwen, teachers
):
    x, _, s = teachers
    out = tmp_path / "op"
    cfg = kd_cfg(
        tmp_path, tiny_qwen, output_dir=str(out), method="onpolicy", teacher_model=[s, x],
        teacher_weight=[0.5, 0.5], max_new_tokens=8, max_steps=2,
    )  # fmt: skip
    trainer = build_trainer(cfg)[0]
    batch = first_batch(trainer)
    assert "t1_xtok_prompt" in batch and "t0_xtok_ids" not in batch
    trainer.train()
    state = json.loads((out / "kd.json").read_text())
    scored = state["teacher_tokens_scored"]
    assert scored > 0 and [t["tokens_scored"] for t in state["teachers"]] == [scored, scored]
    assert 0.0 < state["teachers"][1]["aligned_share"] <= 1.0
    log = [json.loads(r) for r in (out / "loss.jsonl").read_text().splitlines()]
    assert all(math.isfinite(r["loss"]) for r in log) and any(r["kl"] > 0 for r in log)


def test_onpolicy_routed_samples_are_read_by_their_own_teacher_only(tmp_path, tiny_qwen, teachers):
    """Each teacher of another tokenizer reads (a served one: scores) only the samples of the rows
    routed to it; the other rows pair nothing for it."""
    from tests.test_xtok_onpolicy import as_sampled, kept_completions

    x, y, s = teachers
    data, _ = routed_file(tmp_path, x)  # rows 0, 3 -> X, rows 1, 2 -> index 1
    for other in (s, y):
        cfg = kd_cfg(
            tmp_path, tiny_qwen, data=str(data), method="onpolicy", teacher_model=[x, other],
            teacher_route_field="domain", kd_alpha=1.0, max_new_tokens=8,
        )  # fmt: skip
        trainer = build_trainer(cfg)[0]
        batch = first_batch(trainer)
        sampled = as_sampled(trainer, batch, kept_completions(batch))
        assert ((sampled["t0_xtok_pos"] >= 0).sum(-1) > 0).tolist() == [True, False, False, True]
        if other == y:
            assert ((sampled["t1_xtok_pos"] >= 0).sum(-1) > 0).tolist() == [
                False, True, True, False,
            ]  # fmt: skip
        got = loss_of(trainer, sampled)
        assert math.isfinite(got) and got > 1e-3


def test_onpolicy_routed_from_prompts_alone_with_two_other_tokenizers_trains(
    tmp_path, tiny_qwen, teachers
):
    x, y, _ = teachers
    rows = [{"prompt": f"What is {i} + {i + 1}?", "domain": "X" if i % 2 else 1} for i in range(8)]
    data = tmp_path / "prompts.jsonl"
    data.write_text("".join(json.dumps(r) + "\n" for r in rows))
    out = tmp_path / "opr"
    cfg = kd_cfg(
        tmp_path, tiny_qwen, data=str(data), output_dir=str(out), method="onpolicy",
        teacher_model=[x, y], teacher_route_field="domain", max_new_tokens=6, max_steps=2,
    )  # fmt: skip
    trainer = build_trainer(cfg)[0]
    assert trainer.train_dataset["teacher_route"] == [1, 0, 1, 0, 1, 0, 1, 0]
    trainer.train()
    state = json.loads((out / "kd.json").read_text())
    assert all(t["tokens_scored"] > 0 and "aligned_share" in t for t in state["teachers"])
    assert sum(t["tokens_scored"] for t in state["teachers"]) == state["teacher_tokens_scored"]


def test_a_teacher_that_normalises_text_among_several_is_one_line(tmp_path, tiny_qwen, teachers):
    import copy

    from tokenizers import normalizers

    from distill.models import load_tokenizer
    from tests.test_kd import cli
    from tests.test_train import kept_file

    x, _, s = teachers
    lower = copy.deepcopy(load_tokenizer(x))
    lower.backend_tokenizer.normalizer = normalizers.Lowercase()
    teacher = tiny_model_with(lower, tmp_path / "lower")
    args = ["--data", kept_file(tmp_path, n=4), "--model", tiny_qwen, "--max-steps", "1",
            "--teacher-model", s, "--teacher-model", teacher, "--max-length", "128"]  # fmt: skip
    for method in ("kd", "onpolicy"):
        rc, errors = cli(*args, "--output-dir", tmp_path / method, "--method", method)
        assert rc == 1 and len(errors) == 1, errors
        assert f"teacher tokenizer '{teacher}'" in errors[0] and "normalises" in errors[0]


def test_a_served_teacher_of_another_tokenizer_among_several_is_read_by_text(
    tmp_path, tiny_qwen, teachers
):
    """X served (it scores text; its top-K come back as token texts with offsets): (1, 0) is X
    served alone bit for bit, and beside the local same-vocabulary S at (0.5, 0.5) the loss is
    the mean of each alone on the same positions; routed on policy it trains."""
    from distill.train.kd.xtok import ServedXTok
    from tests.xtokserver import TextScoringServer

    x, y, s = teachers
    srv = TextScoringServer(x, x).start()  # served under its folder's name, as vLLM does
    try:
        alone = kl_trainer(tmp_path, tiny_qwen, teacher_model=x, teacher_url=srv.url)
        assert isinstance(alone.teacher, ServedXTok)
        want = loss_of(alone, first_batch(alone))
        assert want > 1e-3
        pair = kl_trainer(
            tmp_path, tiny_qwen, teacher_model=[f"{x}@{srv.url}", s], teacher_weight=[1.0, 0.0]
        )
        assert isinstance(pair.teacher.teachers[0], ServedXTok)
        batch = first_batch(pair)
        assert torch.equal(batch["t0_teacher_ids"], first_batch(alone)["teacher_ids"])
        assert loss_of(pair, batch) == want

        mixed = kl_trainer(tmp_path, tiny_qwen, teacher_model=[f"{x}@{srv.url}", s])
        batch = first_batch(mixed)
        alone_s = kl_trainer(tmp_path, tiny_qwen, teacher_model=s)
        ls = loss_of(alone_s, {k: v for k, v in batch.items() if not k.startswith("t0_")})
        assert loss_of(mixed, batch) == pytest.approx(0.5 * want + 0.5 * ls, rel=1e-5)

        data, want_route = routed_file(
            tmp_path, "X"
        )  # rows 0, 3, 6 -> X (served; its path's last part), else Y
        out = tmp_path / "op-served"
        cfg = kd_cfg(
            tmp_path, tiny_qwen, data=str(data), output_dir=str(out), method="onpolicy",
            teacher_model=[f"{x}@{srv.url}", y], teacher_route_field="domain",
            max_new_tokens=6, max_steps=2,
        )  # fmt: skip
        trainer = build_trainer(cfg)[0]
        assert trainer.train_dataset["teacher_route"] == want_route
        trainer.train()
    finally:
        srv.stop()
    state = json.loads((out / "kd.json").read_text())
    assert all(t["tokens_scored"] > 0 and "aligned_share" in t for t in state["teachers"])
    assert state["teachers"][0]["url"] == srv.url


def test_routed_kd_sends_a_served_teacher_of_another_tokenizer_only_its_own_rows(
    tmp_path, tiny_qwen, teachers
):
    """Routed, a served teacher of another tokenizer scores (at build, kd) the completions of
    the rows routed to it, not every row's: the others are no request to its server (cost, and
    another domain's data sent where it was not routed); a local one refuses no row it never
    reads."""
    import copy

    from tokenizers import normalizers

    from distill.models import load_tokenizer
    from tests.xtokserver import TextScoringServer

    x, y, _ = teachers
    data, want = routed_file(tmp_path, "X")  # rows 0, 3, 6 -> X (served), else Y
    srv = TextScoringServer(x, x).start()
    try:
        trainer = kl_trainer(
            tmp_path, tiny_qwen, data=str(data), teacher_model=[f"{x}@{srv.url}", y],
            teacher_route_field="domain",
        )  # fmt: skip
        texts = [t for r in srv.log for t in r.get("prompts") or [] if isinstance(t, str)]
    finally:
        srv.stop()
    assert trainer.train_dataset["teacher_route"] == want
    rows = [json.loads(r) for r in data.read_text().splitlines()]
    mine = [r["reasoning"] for r, t in zip(rows, want, strict=True) if t == 0]
    others = [r["reasoning"] for r, t in zip(rows, want, strict=True) if t == 1]
    assert all(any(m in t for t in texts) for m in mine)
    assert not any(o in t for o in others for t in texts)
    paired = (torch.tensor(trainer.train_dataset["t0_teacher_ids"][1]) != -1).any(-1)
    assert not paired.any()  # row 1 is Y's

    # a local teacher whose tokenizer lowercases: routed the rows it reads (none with capitals:
    # there are none routed to it), it is no refusal
    lower = copy.deepcopy(load_tokenizer(y))
    lower.backend_tokenizer.normalizer = normalizers.Lowercase()
    low = tiny_model_with(lower, tmp_path / "lower")
    for r, t in zip(rows, want, strict=True):
        if t == 0:  # X's rows: lower case text only
            r["messages"][0]["content"] = r["messages"][0]["content"].lower()
            r["reasoning"], r["answer"] = r["reasoning"].lower(), r["answer"].lower()
            r["domain"] = "lower"
    data.write_text("".join(json.dumps(r) + "\n" for r in rows))
    trainer = kl_trainer(
        tmp_path, tiny_qwen, data=str(data), teacher_model=[str(low), y],
        teacher_route_field="domain",
    )  # fmt: skip
    assert trainer.train_dataset["teacher_route"] == want


def test_onpolicy_routed_from_prompts_refuses_no_prompt_routed_to_another_teacher(
    tmp_path, tiny_qwen, teachers
):
    """The prompt-source check (the teacher spells back the prompt it will read) is made for
    the prompts routed to that teacher only."""
    import copy

    from tokenizers import normalizers

    from distill.models import load_tokenizer

    _, y, _ = teachers
    lower = copy.deepcopy(load_tokenizer(y))
    lower.backend_tokenizer.normalizer = normalizers.Lowercase()
    low = tiny_model_with(lower, tmp_path / "lower")
    rows = [
        {"prompt": f"what is {i} + {i + 1}?" if i % 2 else f"What is {i} + {i + 1}?",
         "domain": "lower" if i % 2 else 1}
        for i in range(6)
    ]  # fmt: skip
    data = tmp_path / "prompts.jsonl"
    data.write_text("".join(json.dumps(r) + "\n" for r in rows))
    cfg = kd_cfg(
        tmp_path, tiny_qwen, data=str(data), method="onpolicy", teacher_model=[str(low), y],
        teacher_route_field="domain", max_new_tokens=6,
    )  # fmt: skip
    trainer = build_trainer(cfg)[0]
    assert trainer.train_dataset["teacher_route"] == [1, 0, 1, 0, 1, 0]
