"""Review follow-ups: piece_texts (logprobs.py), several teachers' counts (kd/multi.py), the
verifier's prompt count (kd/reward.py), rollouts.jsonl under DDP (kd/rollout.py) and what kd.json
and the card name (kd/__init__.py, publish.py). Each test failed before its fix."""

import pytest


def strip_decoder_tok(metaspace=False):
    """A Unigram tokenizer as Llama-2's / Mistral v0.1's / TinyLlama's: its decoder strips one
    leading space of the text (Strip(' ', 1, 0); converted later: Metaspace, which strips the
    first token's)."""
    from tokenizers import Tokenizer, decoders, models, normalizers
    from transformers import PreTrainedTokenizerFast

    pieces = ["<unk>", "<s>", "</s>", "▁", "▁▁", "▁the", "▁▁the", "▁▁▁▁", "t", "h", "e", "a"]
    tok = Tokenizer(models.Unigram([(p, -1.0 - i) for i, p in enumerate(pieces)], unk_id=0))
    tok.normalizer = normalizers.Sequence([normalizers.Prepend("▁"), normalizers.Replace(" ", "▁")])
    if metaspace:
        tok.decoder = decoders.Metaspace(replacement="▁", prepend_scheme="first")
    else:
        tok.decoder = decoders.Sequence(
            [
                decoders.Replace("▁", " "),
                decoders.ByteFallback(),
                decoders.Fuse(),
                decoders.Strip(" ", 1, 0),
            ]
        )
    return PreTrainedTokenizerFast(
        tokenizer_object=tok, bos_token="<s>", eos_token="</s>", unk_token="<unk>"
    )


# =========================================================================== 1. piece_texts


@pytest.mark.parametrize("metaspace", [False, True])
def test_piece_texts_keeps_every_space_of_a_piece_a_stripping_decoder_reads(metaspace):
    # The decoder strips one leading space of a token decoded alone: '▁▁' read ' ' and '▁▁▁▁'
    # three spaces, so cross-tokenizer kd matched a 4-space token with another vocabulary's
    # 3-space one, and vocab_texts could settle " " on '▁▁'.
    from distill.logprobs import piece_texts
    from distill.train.kd.xtok import vocab_texts

    tok = strip_decoder_tok(metaspace)
    ids = tok.convert_tokens_to_ids(["▁", "▁▁", "▁the", "▁▁the", "▁▁▁▁", "t", "a"])
    assert piece_texts(tok, ids) == [" ", "  ", " the", "  the", "    ", "t", "a"]
    texts = vocab_texts(tok)
    assert texts[" "] == ids[0] and texts["  "] == ids[1] and texts["    "] == ids[4]


# =========================================================================== 2. several teachers


def test_each_teachers_count_in_kd_json_is_as_of_the_checkpoints_step(tmp_path, tiny_qwen):
    # --gradient-accumulation-steps 2, two teachers: the rollout server dies on the second
    # micro-batch of step 2. The checkpoint is the state after step 1 and --resume trains step 2
    # again from its first micro-batch, but each teacher's tokens_scored had counted that first
    # micro-batch already (the total, teacher_tokens_scored, did not): counted twice on resume.
    import json

    from distill.errors import DistillError
    from distill.train import run
    from tests.fakevllm import FakeVLLM
    from tests.test_kd_rollout import cfg as rollout_cfg
    from tests.test_kd_rollout import rows

    server = FakeVLLM(tiny_qwen, die_after=3).start()  # step 1: requests 1-2; step 2: 3, dies
    try:
        c = rollout_cfg(
            tmp_path, tiny_qwen, tiny_qwen, server.url, gradient_accumulation_steps=2,
            teacher_model=[str(tiny_qwen), str(tiny_qwen)],
        )  # fmt: skip
        with pytest.raises(DistillError, match="stopped answering"):
            run(c)
    finally:
        server.stop()
    out = tmp_path / "out"
    log = rows(out / "loss.jsonl")
    assert [r["step"] for r in log] == [1]
    for kd_json in (out / "kd.json", out / "checkpoint-1" / "kd.json"):
        state = json.loads(kd_json.read_text())
        assert state["teacher_tokens_scored"] == log[0]["teacher_tokens"] > 0
        assert [t["tokens_scored"] for t in state["teachers"]] == [log[0]["teacher_tokens"]] * 2


def test_each_teachers_count_is_every_processs(tmp_path, tiny_qwen, monkeypatch):
    # Under DDP each process trains its own rows; the per-teacher counts were rank 0's alone
    # (half the real number on two GPUs), while teacher_tokens counts every process's. Two
    # processes are stood in for by accelerate's gather concatenating two equal counts.
    import torch

    from distill.train import build_trainer
    from tests.test_kd import first_batch, kd_cfg

    a, b = str(tiny_qwen), str(tiny_qwen)
    cfg = kd_cfg(tmp_path, tiny_qwen, teacher_model=[a, b], teacher_weight=[1.0, 3.0])
    trainer, _ = build_trainer(cfg)
    batch = first_batch(trainer)
    mine = int((batch["labels"][:, 1:] != -100).sum())
    acc = trainer.accelerator
    monkeypatch.setattr(type(acc), "num_processes", property(lambda self: 2))
    monkeypatch.setattr(acc, "gather", lambda t: torch.cat([t] * 2))
    trainer.model.train()
    trainer.current_gradient_accumulation_steps = 1
    trainer.compute_loss(trainer.model, dict(batch))
    assert trainer.teacher.tokens == [2 * mine, 2 * mine]
    assert trainer.teacher_tokens == 2 * mine


# =========================================================================== 3. the gate's count


def test_the_gate_counts_training_prompts_without_the_rows_that_have_no_reference(
    monkeypatch, capsys
):
    # attach_references gives a row without a reference the prompt id "": the set of training
    # prompts counted it as one more prompt ("X of N training prompts" one too high).
    from types import SimpleNamespace

    from distill.train.kd import reward

    monkeypatch.setattr(reward, "failed_prompts", lambda *a: ({"p1", "p9"}, 5))
    trainer = SimpleNamespace(teacher=None, sandbox=None)
    cfg = SimpleNamespace(reward="none", gate_teacher=True, gate_traces=["traces.jsonl"])
    reward.verifier_in_the_loop(trainer, cfg, {"prompt_id": ["p1", "", "p2", "", "p2"]})
    assert "gate: 1 of 2 training prompts" in capsys.readouterr().out
    assert trainer.gated == {"p1"} and trainer.gated_count == 1


# =========================================================================== 4. rollouts under DDP


def two_processes(rank, **kw):
    """The trainer surface a rollout reads, as process `rank` of two (accelerate's state)."""
    from types import SimpleNamespace

    acc = SimpleNamespace(process_index=rank, num_processes=2, unwrap_model=lambda m: m,
                          wait_for_everyone=lambda: None)  # fmt: skip
    return SimpleNamespace(is_world_process_zero=lambda: rank == 0, accelerator=acc, **kw)


def test_every_process_records_its_rollouts_with_its_rank(tmp_path):
    # Only process 0 wrote rollouts.jsonl: the other processes' rollouts were missing, though
    # every rollout is recorded (the module's docstring).
    import json
    from types import SimpleNamespace

    import torch

    from tests.test_kd_rollout import _Given

    inputs = {"prompts": torch.tensor([[5, 6]]), "prompt_attention_mask": torch.ones(1, 2)}
    for rank in (0, 1):
        trainer = two_processes(rank, state=SimpleNamespace(global_step=0),
                                gen_kwargs={"max_new_tokens": 4})  # fmt: skip
        served = [([4] * (rank + 1), "length", "given")]
        _Given.rollout(tmp_path, served, 1).generate(trainer, None, dict(inputs))
    got = [json.loads(x) for x in (tmp_path / "rollouts.jsonl").read_text().splitlines()]
    assert [r["tokens"] for r in got] == [1, 2]  # process 1's too
    assert [r["rank"] for r in got] == [0, 1]


def test_an_adapter_load_that_fails_on_process_0_stops_every_process_with_its_line(
    tmp_path, tiny_qwen, monkeypatch
):
    # Process 0 alone loads the adapter into the server; when that raised, the others went on
    # to wait_for_everyone() and waited there until the NCCL timeout. Process 0's broadcast is
    # stood in for by recording what it sends and handing it to process 1.
    from types import SimpleNamespace

    import accelerate.utils

    from distill.train.kd.rollout import RolloutError
    from tests.fakevllm import FakeVLLM
    from tests.test_kd_rollout import bare_rollout

    def save_pretrained(folder):
        from pathlib import Path

        Path(folder).mkdir(parents=True, exist_ok=True)

    server = FakeVLLM(tiny_qwen).start()
    try:
        ranks = [bare_rollout(server.url, tmp_path / "out", tiny_qwen) for _ in range(2)]
    finally:
        server.stop()
    sent = []

    def broadcast(objects, from_process=0):
        if not sent:  # process 0's call
            sent.append(list(objects))
            return objects
        return list(sent[0])

    monkeypatch.setattr(accelerate.utils, "broadcast_object_list", broadcast)
    lines = []
    for rank, r in enumerate(ranks):
        with pytest.raises(RolloutError) as e:
            r.sync(two_processes(rank), SimpleNamespace(save_pretrained=save_pretrained), 1)
        lines.append(str(e.value))
    assert "stopped answering" in lines[0] and lines[1] == lines[0]


# =========================================================================== 5. the card's loss


def saved_train(**kw):
    from distill.config import read_saved
    from distill.train.config import TrainConfig

    return read_saved(TrainConfig, {"model": "S", "teacher_model": "T", **kw})


XTOK_STATE = {"method": "kd", "teacher_tokens_scored": 100, "xtok": "uld", "teacher_vocab": 300,
              "shared_tokens": 200, "aligned_share": 0.8}  # fmt: skip


def test_the_card_names_uld_or_the_gold_hybrid_for_a_teacher_of_another_tokenizer():
    # A cross-tokenizer run's loss is ULD or the GOLD hybrid (--xtok), not the KL over one
    # vocabulary (kd) nor GKD's generalized JSD (onpolicy) the card named.
    from distill.train.kd import card_lines

    kd = "\n".join(card_lines(saved_train(method="kd", xtok="uld"), XTOK_STATE))
    assert "0.5 x T^2 x ULD (L1 between the two sorted probability vectors" in kd
    assert "x KL(teacher || student) at T" not in kd
    hybrid = {**XTOK_STATE, "method": "onpolicy", "xtok": "hybrid"}
    on = "\n".join(card_lines(saved_train(method="onpolicy"), hybrid))
    assert "loss = the GOLD hybrid (exact KL(teacher || student) over the tokens" in on
    assert "generalized JSD" not in on
    # the same vocabulary: as it was
    same = {"method": "kd", "teacher_tokens_scored": 100}
    assert "0.5 x T^2 x KL(teacher || student) at T=1.0" in "\n".join(
        card_lines(saved_train(method="kd"), same)
    )


def test_the_card_of_several_teachers_names_the_loss_of_the_one_of_another_tokenizer():
    from distill.train.kd import card_lines

    train = saved_train(method="kd", teacher_model=["A", "B"])
    state = {"method": "kd", "teacher_tokens_scored": 10, "teachers": [
        {"model": "A", "tokens_scored": 10, "share": 1.0},
        {"model": "B", "tokens_scored": 10, "share": 1.0, "xtok": "hybrid", "aligned_share": 0.5},
    ]}  # fmt: skip
    card = "\n".join(card_lines(train, state))
    assert "teachers' KL(teacher || student), the GOLD hybrid" in card
    assert "(--xtok hybrid) for a teacher of another tokenizer" in card


# =========================================================================== 6. an sft student


def student_folder(tmp_path, method):
    """A trained student as `distill train --recipe recipes/kd-r1-qwen-1.5b.yaml --method X`
    leaves it: train.yaml with the recipe's teacher keys, and a kd.json in the folder (an
    earlier kd run's, kept by a fresh train over it with --overwrite; the run's own for kd)."""
    import json

    import yaml

    student = tmp_path / "student"
    student.mkdir()
    (student / "adapter_config.json").write_text("{}")
    (student / "adapter_model.safetensors").write_bytes(b"x")
    train = {"model": "Qwen/Qwen2.5-1.5B", "method": method, "teacher_model": "r1-7b",
             "teacher_url": "http://localhost:8000/v1"}  # fmt: skip
    (student / "train.yaml").write_text(yaml.safe_dump(train))
    kd = {"method": "kd", "teacher": "http://localhost:8000/v1", "teacher_model": "r1-7b",
          "teacher_url": "http://localhost:8000/v1", "teacher_tokens_scored": 224}  # fmt: skip
    (student / "kd.json").write_text(json.dumps(kd))
    return student


def test_an_sft_student_is_published_without_a_kd_json_saying_a_teacher_scored_it(tmp_path):
    # The recipe's step 3 trains --method sft into a folder that may hold an earlier kd run's
    # kd.json (a fresh train keeps it): publish copied it beside the sft student, saying the
    # teacher scored 224 of its tokens, though sft used no teacher's scores.
    from distill.publish import PublishConfig
    from distill.publish import run as publish

    student = student_folder(tmp_path, "sft")
    dest = tmp_path / "published"
    publish(PublishConfig(dir=str(student), local_dir=str(dest)))
    assert not (dest / "kd.json").exists()
    card = (dest / "README.md").read_text()
    assert "Method: sft" in card and "teacher scored" not in card and "r1-7b" not in card
    assert (dest / "train.yaml").is_file()  # the recipe's keys as given


def test_a_kd_student_is_published_with_its_kd_json(tmp_path):
    from distill.publish import PublishConfig
    from distill.publish import run as publish

    student = student_folder(tmp_path, "kd")
    dest = tmp_path / "published"
    publish(PublishConfig(dir=str(student), local_dir=str(dest)))
    assert (dest / "kd.json").is_file()
    assert (
        "Completion tokens the teacher scored in training: 224." in (dest / "README.md").read_text()
    )
