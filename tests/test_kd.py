"""Token-level distillation (distill/train/kd/): the loss, its mask, the three teacher sources, errors."""

import json
import math
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
import yaml

from distill.errors import DistillError
from distill.train import TrainConfig, build_trainer, run
from tests.test_train import kept_file, wait_for_a_complete_checkpoint


@pytest.fixture(scope="module")
def teacher(tmp_path_factory):
    """Another tiny Qwen2 (different random weights, same tokenizer): a teacher that disagrees."""
    from tests.tiny import make_tiny_model

    return make_tiny_model(tmp_path_factory.mktemp("tiny-teacher"), "qwen2", seed=1)


def kd_cfg(tmp_path, student, **kw):
    if "data" not in kw:
        kw["data"] = str(kept_file(tmp_path, n=8))
    base = dict(
        model=str(student),
        output_dir=str(tmp_path / "out"),
        max_length=128,
        per_device_train_batch_size=4,
        logging_steps=1,
        save_steps=1000,
        seed=0,
        method="kd",
    )
    return TrainConfig(**{**base, **kw})


def first_batch(trainer, n=4):
    return trainer.data_collator([trainer.train_dataset[i] for i in range(n)])


def loss_of(trainer, batch):
    trainer.model.eval()  # no LoRA dropout: the same batch gives the same loss
    with torch.no_grad():
        return float(trainer.compute_loss(trainer.model, dict(batch)))


def write_stored_logprobs(tmp_path, teacher_dir, k, whole=False, k_odd=None):
    """kept.jsonl whose records point at t11a-format side shards holding `teacher_dir`'s real top-K
    on each record's completion tokens (as `distill generate --logprobs K` would store). With
    `k_odd`, the odd records keep that many instead, in a shard of their own (two generate runs)."""
    from transformers import AutoModelForCausalLM

    from distill.examples import Renderer, load_examples
    from distill.logprobs import TokenLogprobs, pointer, side_dir, vocab_hash, write_shard
    from distill.models import load_tokenizer

    data = kept_file(tmp_path, n=8)
    tok = load_tokenizer(str(teacher_dir))
    model = AutoModelForCausalLM.from_pretrained(teacher_dir).eval()
    r = Renderer(tok, "r1", model.generation_config.eos_token_id)
    rows = [json.loads(x) for x in data.read_text().splitlines()]
    items = []
    for i, (row, ex) in enumerate(zip(rows, load_examples(str(data)), strict=True)):
        p, c = r.encode(ex)
        if not whole:
            c = c[:-1]  # the teacher stopped at <|im_end|>; the template's trailing "\n" is not its
        with torch.no_grad():
            lp = torch.log_softmax(model(torch.tensor([p + c])).logits[0, len(p) - 1 : -1], -1)
        top = lp.topk(k_odd if k_odd and i % 2 else k, -1)
        t = TokenLogprobs(
            torch.tensor(c).numpy(),
            lp.gather(-1, torch.tensor(c)[:, None])[:, 0].numpy(),
            top.indices.numpy(),
            top.values.numpy(),
        )
        items.append((row, t))
    for part in {t.k for _, t in items}:
        mine = [(row, t) for row, t in items if t.k == part]
        shard = write_shard(side_dir(data), [(row["id"], t) for row, t in mine])
        for row, t in mine:
            row["logprobs"] = pointer(shard, data, t, str(teacher_dir), vocab_hash(tok), True)
    data.write_text("".join(json.dumps(row) + "\n" for row in rows))
    return data


# --------------------------------------------------------------------------- the loss


def test_rest_bucket_kl_matches_a_hand_computed_toy_case():
    from distill.train.kd.loss import bucket_logprobs, divergence

    # Vocabulary of 4; the teacher told us its top-2: token 2 (0.6) and token 0 (0.3); 0.1 rests.
    student = torch.log(torch.tensor([[0.1, 0.2, 0.5, 0.2]]))
    s, t = bucket_logprobs(student, torch.tensor([[2, 0]]), torch.log(torch.tensor([[0.6, 0.3]])))
    p, q = [0.6, 0.3, 0.1], [0.5, 0.1, 0.4]  # teacher / student over (token 2, token 0, rest)
    want = sum(pi * math.log(pi / qi) for pi, qi in zip(p, q, strict=True))
    assert float(divergence(s, t, beta=0.0)[0]) == pytest.approx(want, abs=1e-5)
    # Reverse KL (beta = 1) swaps the roles.
    want_rev = sum(qi * math.log(qi / pi) for pi, qi in zip(p, q, strict=True))
    assert float(divergence(s, t, beta=1.0)[0]) == pytest.approx(want_rev, abs=1e-5)
    # At temperature 2 the teacher is p_i^(1/2) renormalised, rest bucket included.
    s2, t2 = bucket_logprobs(
        student, torch.tensor([[2, 0]]), torch.log(torch.tensor([[0.6, 0.3]])), 2.0
    )
    soft = [x**0.5 for x in p]
    assert t2.exp()[0].tolist() == pytest.approx([x / sum(soft) for x in soft], abs=1e-5)


def test_kd_loss_is_the_kl_ce_mix_at_the_completion_positions_only(tmp_path, tiny_qwen, teacher):
    """Loss = a * T^2 * mean KL(teacher||student) + (1 - a) * mean CE over exactly the completion
    tokens, computed by hand from the two models' logits."""
    from transformers import AutoModelForCausalLM

    cfg = kd_cfg(tmp_path, tiny_qwen, teacher_model=str(teacher), kd_alpha=0.3, kd_temperature=2.0)
    trainer, _ = build_trainer(cfg)
    batch = first_batch(trainer)
    got = loss_of(trainer, batch)

    t_model = AutoModelForCausalLM.from_pretrained(teacher).eval()
    kls, ces = [], []
    for i in range(4):
        ex = trainer.train_dataset[i]
        ids = torch.tensor([ex["input_ids"]])
        with torch.no_grad():
            s = trainer.model(input_ids=ids).logits[0]
            t = t_model(input_ids=ids).logits[0]
        first = ex["completion_mask"].index(1)
        for j in range(first, len(ex["input_ids"])):  # the logits at j - 1 predict token j
            ls, lt = torch.log_softmax(s[j - 1] / 2.0, -1), torch.log_softmax(t[j - 1] / 2.0, -1)
            kls.append(float((lt.exp() * (lt - ls)).sum()))
            ces.append(-float(torch.log_softmax(s[j - 1], -1)[ex["input_ids"][j]]))
    want = 0.3 * 4.0 * sum(kls) / len(kls) + 0.7 * sum(ces) / len(ces)
    assert got == pytest.approx(want, rel=1e-4)


def test_kl_term_is_zero_when_student_is_teacher_and_positive_otherwise(
    tmp_path, tiny_qwen, teacher
):
    same = build_trainer(kd_cfg(tmp_path, tiny_qwen, teacher_model=str(tiny_qwen), kd_alpha=1.0))[0]
    assert loss_of(same, first_batch(same)) == pytest.approx(0.0, abs=1e-6)  # LoRA starts at zero
    other = build_trainer(kd_cfg(tmp_path, tiny_qwen, teacher_model=str(teacher), kd_alpha=1.0))[0]
    assert loss_of(other, first_batch(other)) > 1e-3


def test_kd_alpha_zero_is_the_sft_loss_and_the_mask_is_sfts_token_for_token(
    tmp_path, tiny_qwen, teacher
):
    sft = build_trainer(kd_cfg(tmp_path, tiny_qwen, method="sft"))[0]
    kd = build_trainer(kd_cfg(tmp_path, tiny_qwen, teacher_model=str(teacher), kd_alpha=0.0))[0]
    on = build_trainer(kd_cfg(tmp_path, tiny_qwen, teacher_model=str(teacher), method="onpolicy"))[
        0
    ]
    sb, kb, ob = first_batch(sft), first_batch(kd), first_batch(on)
    for b in (kb, ob):
        assert torch.equal(
            b["input_ids"][b["attention_mask"].bool()], sb["input_ids"][sb["attention_mask"].bool()]
        )
        assert torch.equal(
            b["labels"][b["attention_mask"].bool()], sb["labels"][sb["attention_mask"].bool()]
        )
    assert loss_of(kd, kb) == pytest.approx(loss_of(sft, sb), rel=1e-5)


def test_on_policy_loss_is_not_scaled_by_the_number_of_processes(
    tmp_path, tiny_qwen, teacher, monkeypatch
):
    """Under N processes the Trainer's token count is global, so an off-policy loss divided by it
    is multiplied back by N (DDP averages the gradients). An on-policy batch is divided by its own
    tokens: multiplying it too trained on-policy N times harder than on one GPU."""
    trainer = build_trainer(
        kd_cfg(tmp_path, tiny_qwen, method="onpolicy", teacher_model=str(teacher))
    )[0]
    batch = first_batch(trainer)
    trainer.model.eval()

    def loss(processes, on_policy):
        monkeypatch.setattr(
            type(trainer.accelerator), "num_processes", property(lambda s: processes)
        )
        items = int((batch["labels"][:, 1:] != -100).sum()) * processes
        with torch.no_grad():
            return float(
                trainer.compute_loss(
                    trainer.model, {**batch, "on_policy": on_policy}, num_items_in_batch=items
                )
            )

    assert loss(2, True) == pytest.approx(loss(1, True), rel=1e-6)
    # Off policy the global count is N times the local one: the factor N restores the local mean.
    assert loss(2, False) == pytest.approx(loss(1, False), rel=1e-6)


def test_onpolicy_with_gradient_checkpointing_trains_every_lora_layer(tmp_path, tiny_qwen, teacher):
    """Sampling turns gradient checkpointing off and back on. Back on with the library's default
    kwargs instead of the run's, the layers after the first sampled step can stop getting
    gradients: every LoRA matrix must still move on the steps after a sampled one."""
    from safetensors.torch import load_file

    def trained(steps, out):
        run(
            kd_cfg(
                tmp_path, tiny_qwen, method="onpolicy", teacher_model=str(teacher),
                gradient_checkpointing=True, max_steps=steps, max_new_tokens=4,
                learning_rate=5e-3, output_dir=str(tmp_path / out), lora_dropout=0.0,
            )
        )  # fmt: skip
        return load_file(str(tmp_path / out / "adapter_model.safetensors"))

    one, three = trained(1, "one"), trained(3, "three")
    assert one.keys() == three.keys() and len(one) > 4
    still = [k for k in one if torch.equal(one[k], three[k])]
    assert not still, f"LoRA weights that steps 2-3 did not train: {still}"


@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16])
def test_onpolicy_samples_from_the_adapters_weights_and_leaves_the_base_as_it_was(
    tmp_path, tiny_qwen, teacher, dtype
):
    """The student samples with its LoRA merged on fp32 weights (faster on CPU), unmerged in
    bf16 (a merge round trip there changes the base): either way the tokens are the ones the
    adapter's current weights give without dropout (eval-mode generate from the same random
    state), and after sampling every frozen base weight is what it was (bit for bit in bf16)."""
    cfg = kd_cfg(
        tmp_path, tiny_qwen, method="onpolicy", teacher_model=str(teacher),
        max_new_tokens=8, lora_dropout=0.3,
    )  # fmt: skip
    trainer = build_trainer(cfg)[0]
    model = trainer.model.to(dtype)
    with torch.no_grad():  # a trained adapter: B != 0, so merging changes the weights
        for name, p in model.named_parameters():
            if "lora_B" in name:
                p.normal_(0, 0.5)
    base = {n: p.detach().clone() for n, p in model.named_parameters() if "lora_" not in n}
    batch = first_batch(trainer)
    prompts, prompt_mask = batch["prompts"].clone(), batch["prompt_attention_mask"].clone()

    model.eval()
    torch.manual_seed(7)
    with torch.no_grad():
        want = model.generate(
            input_ids=prompts, attention_mask=prompt_mask, generation_config=trainer.gen_config
        )
    model.train()
    trainer.current_gradient_accumulation_steps = 1  # set by the Trainer's loop
    torch.manual_seed(7)
    trainer.training_step(model, batch)
    assert torch.equal(batch["input_ids"], want)
    for n, p in model.named_parameters():
        if n in base:
            if dtype == torch.bfloat16:
                assert torch.equal(p, base[n]), n
            else:  # merged and unmerged: float rounding
                assert torch.allclose(p, base[n], atol=1e-6), n


def test_a_resumed_onpolicy_run_samples_where_the_uninterrupted_one_did(
    tmp_path, tiny_qwen, teacher
):
    """GKD's coin (sample on policy with probability lmbda) is a function of the step and the
    micro-batch: a run resumed at step 3 draws what the whole run drew from step 3 on."""
    cfg = kd_cfg(tmp_path, tiny_qwen, method="onpolicy", teacher_model=str(teacher), lmbda=0.5)

    def draws(start, steps, micro=2):
        trainer = build_trainer(cfg)[0]
        out = []
        for step in range(start, steps):
            trainer.state.global_step = step
            out += [trainer._coin() < 0.5 for _ in range(micro)]
        return out

    whole = draws(0, 8)
    assert 0 < sum(whole) < len(whole)  # both kinds of batch occur
    assert draws(3, 8) == whole[6:]


# --------------------------------------------------------------------------- teachers


def test_stored_topk_gives_the_local_teachers_loss_and_only_reads_completion_positions(
    tmp_path, tiny_qwen, teacher
):
    """With K = the whole vocabulary the stored side file carries the teacher's full
    distribution (rest bucket empty): the loss equals the local-teacher loss. Changing the
    stored numbers at a prompt position changes nothing; at a completion position it does."""
    from distill.models import load_tokenizer

    vocab = len(load_tokenizer(str(teacher)))
    data = write_stored_logprobs(tmp_path, teacher, k=vocab, whole=True)
    stored = build_trainer(kd_cfg(tmp_path, tiny_qwen, data=str(data), kd_alpha=1.0))[0]
    local = build_trainer(
        kd_cfg(tmp_path, tiny_qwen, data=str(data), kd_alpha=1.0, teacher_model=str(teacher))
    )[0]
    sb = first_batch(stored)
    got = loss_of(stored, sb)
    assert got > 1e-3
    # Not exact: past its best 4 (float16) the side file keeps each log-prob within 1/128 nat
    # (distill/logprobs.py), and that rounding leaves a few 1e-4 of mass in the rest bucket that
    # the student (summing to 1 over the vocabulary) lacks: 0.01370 vs 0.01319 here.
    assert got == pytest.approx(loss_of(local, first_batch(local)), rel=0.05)

    first = stored.train_dataset[0]["completion_mask"].index(1)
    at_prompt = {k: v.clone() for k, v in sb.items()}
    at_prompt["teacher_logprobs"][0, first - 1] = -3.0
    at_prompt["teacher_ids"][0, first - 1] = 5
    assert loss_of(stored, at_prompt) == got
    at_completion = {k: v.clone() for k, v in sb.items()}
    at_completion["teacher_logprobs"][0, first] -= 1.0
    assert loss_of(stored, at_completion) != pytest.approx(got, rel=1e-4)


def test_kd_from_stored_logprobs_trains_and_logs_the_kl(tmp_path, tiny_qwen, teacher):
    data = write_stored_logprobs(tmp_path, teacher, k=8)
    out = run(kd_cfg(tmp_path, tiny_qwen, data=str(data), max_steps=3, learning_rate=1e-2))
    rows = [json.loads(x) for x in (out / "loss.jsonl").read_text().splitlines()]
    assert len(rows) == 3 and all(r["kl"] > 0 and r["ce"] > 0 for r in rows)
    assert (out / "loss.png").stat().st_size > 0
    state = json.loads((out / "kd.json").read_text())
    assert state["method"] == "kd" and state["teacher"] == "stored top-K"
    # The published card names the method and where the teacher's distribution came from.
    from distill.publish import PublishConfig
    from distill.publish import run as publish

    dest = publish(PublishConfig(dir=str(out), local_dir=str(tmp_path / "pub")))
    card = (Path(dest) / "README.md").read_text()
    assert "Method: kd (token-level, off-policy)" in card
    assert "top-K log-probs stored with the traces" in card and "- kd" in card


def test_stored_records_with_different_top_k_train_together(tmp_path, tiny_qwen, teacher):
    """Traces from two generate runs (--logprobs 4 and 8) in one kept file: each record's top-K
    counts as it is (the shorter padded), instead of a collator crash at the first mixed batch."""
    data = write_stored_logprobs(tmp_path, teacher, k=4, k_odd=8)
    trainer = build_trainer(kd_cfg(tmp_path, tiny_qwen, data=str(data), kd_alpha=1.0))[0]
    mixed = first_batch(trainer)
    assert mixed["teacher_ids"].shape[-1] == 8
    got = loss_of(trainer, mixed)
    # Record 0 alone (K = 4) loses nothing by being padded to 8.
    alone = trainer.data_collator([trainer.train_dataset[0]])
    assert math.isfinite(got) and got > 0
    padded = {k: v[:1] for k, v in mixed.items()}
    width = alone["input_ids"].shape[1]
    padded = {k: v[:, :width] for k, v in padded.items()}
    assert loss_of(trainer, padded) == pytest.approx(loss_of(trainer, alone), rel=1e-6)


def test_onpolicy_samples_and_the_teacher_scores_its_tokens(tmp_path, tiny_qwen, teacher):
    out = run(
        kd_cfg(
            tmp_path,
            tiny_qwen,
            method="onpolicy",
            teacher_model=str(teacher),
            max_steps=3,
            max_new_tokens=6,
            learning_rate=1e-2,
        )
    )
    rows = [json.loads(x) for x in (out / "loss.jsonl").read_text().splitlines()]
    assert len(rows) == 3 and all(r["kl"] > 0 for r in rows)
    # Every batch is sampled (lmbda = 1): 4 prompts x at most 6 new tokens per step.
    scored = json.loads((out / "kd.json").read_text())["teacher_tokens_scored"]
    assert 3 * 4 <= scored <= 3 * 4 * 6
    assert (out / "adapter_model.safetensors").is_file()
    assert json.loads((out / "kd.json").read_text())["teacher_model"] == str(teacher)


def _scorer(teacher_dir, noisy=False):
    """The fake server's prompt_logprobs: the tiny teacher's real top-K (+ the actual token)."""
    from transformers import AutoModelForCausalLM

    model = AutoModelForCausalLM.from_pretrained(teacher_dir).eval()
    calls = []

    def score(ids, k):
        calls.append(1)
        with torch.no_grad():
            lp = torch.log_softmax(model(torch.tensor([ids])).logits[0], -1)
        if noisy:  # what a prefix-cached server did: the repeat differs
            lp = lp + 0.01 * len(calls)
        out = [None]
        for j in range(1, len(ids)):
            top = lp[j - 1].topk(k)
            pos = {int(t): float(v) for t, v in zip(top.indices, top.values, strict=True)}
            pos.setdefault(ids[j], float(lp[j - 1, ids[j]]))
            out.append(pos)
        return out

    return score


def test_teacher_url_scores_with_prompt_logprobs(tmp_path, tiny_qwen, teacher, server):
    from distill.models import load_tokenizer

    server.model = "teacher"
    server.scorer = _scorer(teacher)
    teacher_tok = load_tokenizer(str(teacher))  # once: decode runs for every listed token
    server.decode = lambda t: teacher_tok.decode([t])
    vocab = len(teacher_tok)
    served = build_trainer(
        kd_cfg(
            tmp_path,
            tiny_qwen,
            kd_alpha=1.0,
            teacher_url=server.url,
            teacher_model="teacher",
            teacher_top_k=vocab,
        )
    )[0]
    local = build_trainer(kd_cfg(tmp_path, tiny_qwen, kd_alpha=1.0, teacher_model=str(teacher)))[0]
    got = loss_of(served, first_batch(served))
    assert got > 1e-3 and got == pytest.approx(loss_of(local, first_batch(local)), rel=1e-4)
    assert any(isinstance(r.get("prompt"), list) for r in server.log)  # token ids were sent
    out = run(
        kd_cfg(
            tmp_path,
            tiny_qwen,
            method="onpolicy",
            teacher_url=server.url,
            teacher_model="teacher",
            teacher_top_k=8,
            max_steps=2,
            max_new_tokens=4,
            output_dir=str(tmp_path / "served"),
        )
    )
    rows = [json.loads(x) for x in (out / "loss.jsonl").read_text().splitlines()]
    assert len(rows) == 2 and all(r["kl"] > 0 for r in rows)


def test_teacher_url_without_prompt_logprobs_or_reproducibility_is_refused(
    tmp_path, tiny_qwen, tiny_llama, teacher, server
):
    server.model = "teacher"
    # The server's own reason comes through (vLLM also says so of a top-K over --max-logprobs).
    with pytest.raises(DistillError, match="HTTP 404 for model 'other': .*model other not found"):
        build_trainer(kd_cfg(tmp_path, tiny_qwen, teacher_url=server.url, teacher_model="other"))
    cfg = dict(teacher_url=server.url, teacher_model="teacher")
    with pytest.raises(DistillError, match="returned no prompt_logprobs"):
        build_trainer(kd_cfg(tmp_path, tiny_qwen, **cfg))
    server.scorer = _scorer(teacher, noisy=True)
    with pytest.raises(DistillError, match="--no-enable-prefix-caching"):
        build_trainer(kd_cfg(tmp_path, tiny_qwen, **cfg))
    # A server whose tokenizer reads our ids as other text: one error naming both sides.
    from distill.models import load_tokenizer

    other = load_tokenizer(str(tiny_llama))
    server.scorer, server.decode = _scorer(teacher), lambda t: other.decode([t])
    with pytest.raises(
        DistillError, match=f"student tokenizer '{tiny_qwen}' and teacher tokenizer of 'teacher'"
    ):
        build_trainer(kd_cfg(tmp_path, tiny_qwen, **cfg))
    # Same BPE, other meanings for the added ids (Qwen2.5 vs DeepSeek-R1-Distill-Qwen): the
    # plain text agrees, the turn markers do not.
    mine = load_tokenizer(str(tiny_qwen))
    im_start = mine.convert_tokens_to_ids("<|im_start|>")
    server.decode = lambda t: "<｜User｜>" if t == im_start else mine.decode([t])
    with pytest.raises(
        DistillError, match=f"token {im_start} is '<\\|im_start\\|>' to the student"
    ):
        build_trainer(kd_cfg(tmp_path, tiny_qwen, **cfg))
    assert not (tmp_path / "out" / "adapter_model.safetensors").exists()


# --------------------------------------------------------------------------- errors (CLI)


def cli(*args):
    """-> (exit code, the `error:` lines of stderr) of `distill train ARGS`, run in this process
    (tests/inproc.py: an escaped exception is a traceback in stderr, as a subprocess's)."""
    from tests.inproc import distill

    res = distill("train", *args)
    assert "Traceback" not in res.stderr
    return res.returncode, [ln for ln in res.stderr.splitlines() if ln.startswith("error:")]


def test_onpolicy_with_a_teacher_of_another_vocabulary_trains_from_the_command_line(
    tmp_path, tiny_qwen, tiny_llama
):
    data = kept_file(tmp_path, n=4)
    rc, errors = cli(
        "--data",
        data,
        "--model",
        tiny_qwen,
        "--output-dir",
        tmp_path / "o",
        "--method",
        "onpolicy",
        "--teacher-model",
        tiny_llama,
        "--max-steps",
        "1",
        "--max-length",
        "128",
        "--max-new-tokens",
        "6",
    )  # fmt: skip  (was refused before cross-tokenizer onpolicy: tests/test_xtok_onpolicy.py)
    assert rc == 0 and not errors, errors
    assert json.loads((tmp_path / "o" / "kd.json").read_text())["xtok"] == "hybrid"
    assert list((tmp_path / "o").glob("adapter_*"))


def r1_style(src, dest):
    """A copy of a tiny Qwen2 whose tokenizer keeps the BPE but renames the turn markers, as
    DeepSeek-R1-Distill-Qwen's does to Qwen2.5's (151644 <|im_start|> -> <｜User｜>)."""
    import shutil

    shutil.copytree(src, dest)
    for name in ("tokenizer.json", "tokenizer_config.json", "chat_template.jinja"):
        f = Path(dest) / name
        if f.is_file():
            f.write_text(f.read_text().replace("<|im_start|>", "<｜User｜>"))
    return Path(dest)


def test_a_teachers_tokenizer_on_the_student_is_distilled_from_and_saved(
    tmp_path, tiny_qwen, tiny_llama, teacher
):
    """R1-Distill-Qwen teacher, Qwen2.5 student: same BPE, other special tokens. The student's own
    tokenizer is refused; with --tokenizer set to the teacher's it trains and keeps that tokenizer."""
    from distill.models import load_tokenizer
    from distill.train.kd.xtok import XTokTeacher

    r1_teacher = r1_style(teacher, tmp_path / "r1-teacher")
    # with the student's own tokenizer: compared by text across tokenizers (tests/test_xtok*.py)
    cfg = kd_cfg(tmp_path, tiny_qwen, teacher_model=str(r1_teacher), method="onpolicy")
    assert isinstance(build_trainer(cfg)[0].teacher, XTokTeacher)
    out = run(
        kd_cfg(
            tmp_path, tiny_qwen, teacher_model=str(r1_teacher), tokenizer=str(r1_teacher),
            max_steps=1, output_dir=str(tmp_path / "r1"),
        )
    )  # fmt: skip
    saved = load_tokenizer(str(out))
    user = saved.convert_tokens_to_ids("<｜User｜>")
    assert user == load_tokenizer(str(tiny_qwen)).convert_tokens_to_ids("<|im_start|>")
    assert saved.apply_chat_template(
        [{"role": "user", "content": "hi"}], tokenize=False
    ).startswith("<｜User｜>user")
    # Another BPE (Llama's ids) under the student's embeddings: one line, before any training.
    rc, errors = cli(
        "--data", kept_file(tmp_path, n=2), "--model", tiny_qwen, "--tokenizer", tiny_llama,
        "--output-dir", tmp_path / "o", "--max-steps", "1", "--max-length", "128",
    )  # fmt: skip
    assert rc == 1 and len(errors) == 1, errors
    assert f"tokenizer '{tiny_llama}'" in errors[0] and "ordinary tokens" in errors[0], errors
    assert not list((tmp_path / "o").glob("adapter_*"))


def test_missing_side_file_and_missing_logprobs_are_clear_errors(tmp_path, tiny_qwen, teacher):
    data = write_stored_logprobs(tmp_path, teacher, k=4)
    for shard in (tmp_path / "kept.logprobs").glob("*.parquet"):
        shard.unlink()
    with pytest.raises(
        DistillError, match=r"log-prob side file .*part-.*\.parquet of record t0 is missing"
    ):
        build_trainer(kd_cfg(tmp_path, tiny_qwen, data=str(data)))
    (tmp_path / "p").mkdir()
    plain = kept_file(tmp_path / "p", n=4)
    with pytest.raises(DistillError, match="record t0 has no teacher log-probs"):
        build_trainer(kd_cfg(tmp_path, tiny_qwen, data=str(plain)))
    assert not list((tmp_path / "out").glob("adapter_*"))


def test_stored_ids_outside_the_students_vocabulary_are_one_clear_error(
    tmp_path, tiny_qwen, teacher
):
    """A served teacher's records carry no vocab hash (its tokenizer was not known at generate
    time): ids the student has no row for are refused by name before training, not an index
    error in the loss at the first batch that holds one."""
    from distill.logprobs import TokenLogprobs, load_many, pointer, side_dir, write_shard
    from distill.models import load_tokenizer

    data = write_stored_logprobs(tmp_path, teacher, k=4)
    rows = [json.loads(x) for x in data.read_text().splitlines()]
    stored = load_many(rows, data)
    big = len(load_tokenizer(str(tiny_qwen))) + 5
    ids = stored[1].topk_ids.copy()
    ids[0, -1] = big
    stored[1] = TokenLogprobs(stored[1].token_ids, stored[1].logprob, ids, stored[1].topk_logprobs)
    shard = write_shard(side_dir(data), [(r["id"], t) for r, t in zip(rows, stored, strict=True)])
    for r, t in zip(rows, stored, strict=True):
        r["logprobs"] = pointer(shard, data, t, "served-teacher", None, True)
    data.write_text("".join(json.dumps(r) + "\n" for r in rows))
    with pytest.raises(DistillError, match=f"record t1 .*token id {big}.*'served-teacher'"):
        build_trainer(kd_cfg(tmp_path, tiny_qwen, data=str(data)))


def test_bad_method_keys_are_named(tmp_path, tiny_qwen):
    with pytest.raises(DistillError, match="unknown --method 'distil'"):
        kd_cfg(tmp_path, tiny_qwen, method="distil")
    with pytest.raises(DistillError, match="onpolicy needs a teacher"):
        kd_cfg(tmp_path, tiny_qwen, method="onpolicy")
    with pytest.raises(DistillError, match=r"--kd-alpha 1.5: must be in \[0, 1\]"):
        kd_cfg(tmp_path, tiny_qwen, kd_alpha=1.5)
    with pytest.raises(DistillError, match="--teacher-url needs --teacher-model"):
        kd_cfg(tmp_path, tiny_qwen, teacher_url="http://x/v1")


def test_a_killed_kd_run_resumes_from_its_checkpoint(tmp_path, tiny_qwen, teacher, capsys):
    """SIGKILL right after the step-4 checkpoint of a 6-step kd run (from a hook in the process:
    tests/kill_at_checkpoint.py), then --resume: the run ends at step 6 from checkpoint-4 and the
    teacher's scored-token count carries over. A kill from outside at whatever step the wall
    clock gives, on a 60-step run: test_a_killed_long_kd_run_resumes_from_its_checkpoint (slow)."""
    import signal

    from tests import forked, kill_at_checkpoint
    from tests.test_train import TRAIN_IMPORTS

    out = tmp_path / "out"
    args = [
        "train", "--data", kept_file(tmp_path, n=16),
        "--model", tiny_qwen, "--output-dir", out, "--method", "kd", "--teacher-model", teacher,
        "--max-steps", "6", "--save-steps", "2", "--batch-size", "2", "--max-length", "128",
    ]  # fmt: skip
    args = list(map(str, args))
    # forked from this process, no fresh interpreter (tests/forked.py), killed by the hook that
    # `python tests/kill_at_checkpoint.py 4 saved` installs
    killed = forked.distill(
        *args, before=lambda: kill_at_checkpoint.install(4, "saved"), imports=TRAIN_IMPORTS
    )
    assert killed.returncode == -signal.SIGKILL, killed.stderr[-2000:]
    checkpoints = sorted(int(p.name.split("-")[1]) for p in out.glob("checkpoint-*"))
    assert checkpoints and checkpoints[-1] < 6, "the kill should land mid-run"
    assert checkpoints[-1] == 4
    # each checkpoint keeps the config it was trained with, as SFT's do (publish of a checkpoint
    # shows its hyperparameters; --resume compares against it)
    assert yaml.safe_load((out / "checkpoint-4" / "train.yaml").read_text())["method"] == "kd"
    scored_at_kill = json.loads((out / "kd.json").read_text())["teacher_tokens_scored"]
    assert scored_at_kill > 0
    # Resumed here, not in another process (the slow copy resumes through the command line):
    # the same settings as the flags above, so --resume's check that the run is the same passes.
    run(
        TrainConfig(
            data=args[2],
            model=str(tiny_qwen),
            output_dir=str(out),
            method="kd",
            teacher_model=str(teacher),
            max_steps=6,
            save_steps=2,
            per_device_train_batch_size=2,
            max_length=128,
            resume=True,
        )
    )
    assert f"resuming from {out}/checkpoint-4\n" in capsys.readouterr().out
    rows = [json.loads(x) for x in (out / "loss.jsonl").read_text().splitlines()]
    assert rows[-1]["step"] == 6 and "kl" in rows[-1]
    # The teacher's scored-token count carries over the kill instead of restarting at zero.
    assert json.loads((out / "kd.json").read_text())["teacher_tokens_scored"] > scored_at_kill


@pytest.mark.slow
def test_a_killed_long_kd_run_resumes_from_its_checkpoint(tmp_path, tiny_qwen, teacher):
    import signal

    out = tmp_path / "out"
    cmd = [
        sys.executable, "-m", "distill", "train", "--data", kept_file(tmp_path, n=16),
        "--model", tiny_qwen, "--output-dir", out, "--method", "kd", "--teacher-model", teacher,
        "--max-steps", "60", "--save-steps", "2", "--batch-size", "2", "--max-length", "128",
    ]  # fmt: skip
    cmd = list(map(str, cmd))
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    wait_for_a_complete_checkpoint(out, timeout=300)
    # kd.json is written by the save callback, just after the checkpoint's trainer_state.json:
    # kill once it is there too (a kill between the two resumes with the previous save's count).
    deadline = time.monotonic() + 60
    while not (out / "kd.json").is_file() and time.monotonic() < deadline:
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    checkpoints = sorted(int(p.name.split("-")[1]) for p in out.glob("checkpoint-*"))
    assert checkpoints and checkpoints[-1] < 60, "the kill should land mid-run"
    scored_at_kill = json.loads((out / "kd.json").read_text())["teacher_tokens_scored"]
    assert scored_at_kill > 0
    res = subprocess.run(cmd + ["--resume"], capture_output=True, text=True, timeout=600)
    assert res.returncode == 0, res.stderr[-2000:]
    assert f"resuming from {out}/checkpoint-" in res.stdout
    rows = [json.loads(x) for x in (out / "loss.jsonl").read_text().splitlines()]
    assert rows[-1]["step"] == 60 and "kl" in rows[-1]
    # The teacher's scored-token count carries over the kill instead of restarting at zero.
    assert json.loads((out / "kd.json").read_text())["teacher_tokens_scored"] > scored_at_kill


def test_the_cli_flags_reach_the_config(tmp_path, tiny_qwen):
    help_text = subprocess.run(
        [sys.executable, "-m", "distill", "train", "--help"],
        capture_output=True,
        text=True,
        env={**os.environ, "COLUMNS": "300"},  # rich elides long option names when narrow
    ).stdout
    for flag in ("--method", "--teacher-model", "--teacher-url", "--teacher-top-k", "--kd-alpha",
                 "--kd-temperature", "--beta", "--lmbda", "--max-new-tokens", "--onpolicy-temperature",
                 "--template", "--prompt-field", "--system-prompt"):  # fmt: skip
        assert flag in help_text
    base = (
        "--data",
        kept_file(tmp_path, n=2),
        "--model",
        tiny_qwen,
        "--output-dir",
        tmp_path / "o",
    )
    for args, message in (
        (("--method", "kd", "--kd-alpha", "1.5"), "--kd-alpha 1.5: must be in [0, 1]"),
        (("--method", "onpolicy", "--lmbda", "-1", "--teacher-model", "x"), "--lmbda -1: must be"),
        (("--method", "kd", "--teacher-url", "http://127.0.0.1:9/v1"), "needs --teacher-model"),
        (("--method", "kd", "--kd-temperature", "0"), "--kd-temperature 0: must be > 0"),
        (
            ("--prompt-field", "q", "--system-prompt", "s"),
            "prompt_field, system_prompt: for --method onpolicy",
        ),
        (("--template", "r1-math", "--method", "kd"), "template: for --method onpolicy"),
    ):
        rc, errors = cli(*base, *args)
        assert rc == 1 and len(errors) == 1 and message in errors[0], errors


def test_smoke_kd_takes_a_given_teacher_merged_or_a_student_folder(tmp_path, tiny_qwen, teacher):
    """`make smoke-kd TEACHER=DIR`: model weights are used as they are; a `distill train` output
    folder is merged (as `train --merge`) and the merge equals the adapter's own outputs."""
    from peft import AutoPeftModelForCausalLM
    from transformers import AutoModelForCausalLM

    from scripts.kd_smoke import given_teacher

    assert given_teacher(Path(teacher)) == Path(teacher)
    student = run(
        kd_cfg(tmp_path, tiny_qwen, method="sft", max_steps=2, learning_rate=1e-2,
               output_dir=str(tmp_path / "student"))
    )  # fmt: skip
    merged = given_teacher(student)
    assert merged == student / "merged" and (merged / "config.json").is_file()
    ids = torch.tensor([[1, 5, 9, 12, 3]])
    with torch.no_grad():
        want = AutoPeftModelForCausalLM.from_pretrained(str(student)).eval()(ids).logits
        got = AutoModelForCausalLM.from_pretrained(str(merged)).eval()(ids).logits
        base = AutoModelForCausalLM.from_pretrained(str(tiny_qwen)).eval()(ids).logits
    assert torch.allclose(want, got, atol=1e-4) and not torch.allclose(base, got, atol=1e-4)
    assert given_teacher(student) == merged  # merged once
    with pytest.raises(DistillError, match="--teacher .*nothing-here"):
        given_teacher(tmp_path / "nothing-here")


def test_smoke_kd_builds_its_teacher_from_verified_reference_solutions_of_the_training_set(
    tmp_path, tiny_qwen
):
    """`make smoke-kd`'s teacher: the embedded model + a LoRA on the reference solutions of the
    training problems (every one verified correct by the filter's own check, none of the
    held-out problems), merged; other data is refused in one line."""
    from distill.data import load_rows
    from distill.filter.verify import verify_math
    from distill.records import read_records
    from scripts.kd_smoke import build_teacher

    keys = dict(model=str(tiny_qwen), data="unused", output_dir="unused", max_length=64,
                per_device_train_batch_size=4, logging_steps=1, save_steps=1000)  # fmt: skip
    data = "builtin:arithmetic?n=12&ops=+-*"
    merged = build_teacher(data, keys, tmp_path / "teacher", 0, "kd-smoke.yaml")
    assert (merged / "config.json").is_file() and merged.parent == tmp_path / "teacher"
    rows = list(read_records(tmp_path / "teacher" / "solutions.jsonl"))
    problems = {r.row_id: r for r in load_rows(data)}
    assert [r["id"] for r in rows] == list(problems)
    for r in rows:
        assert r["prompt"] == problems[r["id"]].prompt
        assert verify_math(r["completion"], problems[r["id"]].gold) == "correct", r
    held_out = {r.prompt for r in load_rows("builtin:arithmetic?start=1000&n=100&ops=+-*")}
    assert not held_out & {r["prompt"] for r in rows}
    # trained in the chat turn it is sampled in (text rows are a raw continuation by default:
    # the teacher then passed 0.44 instead of 0.70 on the held-out problems)
    saved = yaml.safe_load((tmp_path / "teacher" / "train.yaml").read_text())
    assert saved["chat"] is True
    with pytest.raises(DistillError, match="builtin:arithmetic, not builtin:countdown"):
        build_teacher("builtin:countdown?n=4", keys, tmp_path / "t2", 0, "kd-smoke.yaml")


def test_smoke_kd_onpolicy_warmup_takes_the_first_prompts_and_counts_what_they_cost(tmp_path):
    """The onpolicy student's SFT start: the traces of the dataset's first N prompts, as
    `distill generate` plans their ids (file order is not dataset order; another seed's records
    in the same file are not this run's), charged with every token the teacher generated for
    them, rejected samples included, and none of the other prompts'."""
    import dataclasses

    from distill.generate import GenerateConfig, build_jobs
    from distill.records import read_records
    from scripts.kd_smoke import planned_ids, select_traces

    traces = tmp_path / "traces.jsonl"
    gen = GenerateConfig(data="builtin:arithmetic?n=5", teacher="openai", model="t", n=2,
                         seed=0, out=str(traces))  # fmt: skip
    jobs = build_jobs(gen)[0][0][1]  # dataset order: (prompt_id, [sample ids])
    other_seed = build_jobs(dataclasses.replace(gen, seed=1))[0][0][1]
    tokens = {}
    rows = []
    for p, job in enumerate(jobs):
        for s, sid in enumerate(job.payload[1]):
            tokens[sid] = 10 * p + s + 1
            rows.append({"id": sid, "prompt_id": job.prompt_id, "sample": s,
                         "usage": {"completion_tokens": tokens[sid]}})  # fmt: skip
    stranger = {"id": other_seed[0].payload[1][0], "prompt_id": jobs[0].prompt_id,
                "usage": {"completion_tokens": 999}}  # fmt: skip
    rows = rows[::-1] + [stranger]  # answered last prompt first; another seed's record too
    traces.write_text("".join(json.dumps(r) + "\n" for r in rows))

    first3 = {sid for job in jobs[:3] for sid in job.payload[1]}
    assert planned_ids(gen, 3) == first3 and len(planned_ids(gen)) == 10
    assert select_traces(traces, first3) == (6, sum(tokens[i] for i in first3))
    assert select_traces(traces, planned_ids(gen)) == (10, sum(tokens.values()))

    kept = tmp_path / "kept.jsonl"  # prompt 0's sample 1 and prompt 4's: the rest rejected
    keep = [jobs[0].payload[1][1], jobs[4].payload[1][0]]
    kept.write_text("".join(json.dumps(r) + "\n" for r in rows if r["id"] in keep))
    out = tmp_path / "warm.jsonl"
    assert select_traces(kept, first3, out) == (1, tokens[keep[0]])
    assert [r["id"] for r in read_records(out)] == [keep[0]]
    assert select_traces(kept, {jobs[1].payload[1][0]}, tmp_path / "none.jsonl")[0] == 0
    assert not (tmp_path / "none.jsonl").exists()  # nothing selected: nothing written

    # A trace without its usage cannot be charged for: refused, not counted as free.
    (tmp_path / "nousage.jsonl").write_text(json.dumps({"id": keep[0], "usage": None}) + "\n")
    with pytest.raises(DistillError, match=f"record {keep[0]} has no usage.completion_tokens"):
        select_traces(tmp_path / "nousage.jsonl", first3)


@pytest.mark.parametrize(
    "train, kw, message",
    [
        ({}, {"warmup_steps": 0}, "--warmup-steps must be >= 1, got 0"),
        ({}, {"onpolicy_steps": 0}, "--onpolicy-steps must be >= 1, got 0"),
        ({}, {"onpolicy_lr": 0.0}, "--onpolicy-lr must be > 0, got 0.0"),
        ({}, {"warmup_prompts": 0}, "--warmup-prompts must be >= 1"),
        ({"lmbda": 0.5}, {}, "smoke-kd needs train.lmbda 1.0"),
        ({"max_steps": -1}, {}, "smoke-kd needs train.max_steps >= 2"),
        ({}, {"reward_rollouts": 3}, "--reward-rollouts 3: must be >= 1 and divide"),
    ],
)
def test_smoke_kd_refuses_settings_its_comparison_cannot_honour(tmp_path, train, kw, message):
    """Checked before the teacher is built: one clear error, nothing written."""
    import yaml

    from scripts.kd_smoke import run as smoke_kd

    recipe = yaml.safe_load(
        (Path(__file__).resolve().parents[1] / "recipes" / "kd-smoke.yaml").read_text()
    )
    recipe["train"].update(train)
    path = tmp_path / "kd-smoke.yaml"
    path.write_text(yaml.safe_dump(recipe))
    with pytest.raises(DistillError, match=message):
        smoke_kd(str(path), str(tmp_path / "run"), **kw)
    assert not (tmp_path / "run").exists()


def _traces_of(data, path, template=None):
    """Trace records for a prompt source, with the messages `distill generate` sends."""
    from distill.generate import prompt_messages

    rows = [
        {
            "id": f"t{i}",
            "messages": msgs,
            "reasoning": None,
            "answer": f"\\boxed{{{row.gold}}}",
            "gold": row.gold,
            "teacher": {"backend": "hf", "model": "m", "params": {}},
            "meta": row.fields,  # as generate keeps them
        }
        for i, (row, msgs) in enumerate(prompt_messages(data, template=template))
    ]
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


def test_onpolicy_trains_on_prompts_alone_rendered_as_generate_sends_them(
    tmp_path, tiny_qwen, teacher
):
    """`--method onpolicy` on a prompt source (no completion anywhere): the student sees the
    prompts the teacher's traces would have carried, token for token, and trains on them."""
    src = "builtin:arithmetic?n=8"
    common = dict(method="onpolicy", teacher_model=str(teacher), max_new_tokens=6)
    from_traces, _ = build_trainer(
        kd_cfg(tmp_path, tiny_qwen, data=str(_traces_of(src, tmp_path / "t.jsonl")), **common)
    )
    from_prompts, _ = build_trainer(
        kd_cfg(tmp_path, tiny_qwen, data=src, output_dir=str(tmp_path / "p"), **common)
    )
    a, b = first_batch(from_traces), first_batch(from_prompts)
    assert torch.equal(a["prompts"], b["prompts"])
    assert torch.equal(a["prompt_attention_mask"], b["prompt_attention_mask"])
    assert (b["labels"] == -100).all()  # no teacher text to learn from: the student samples
    data = json.loads((tmp_path / "p" / "train_data.json").read_text())
    assert data["prompts_only"] and data["kept"] == 8 and data["completion_tokens"] == 0

    out = run(
        kd_cfg(
            tmp_path, tiny_qwen, data=src, output_dir=str(tmp_path / "run"), max_steps=2, **common
        )
    )
    rows = [json.loads(x) for x in (out / "loss.jsonl").read_text().splitlines()]
    assert len(rows) == 2 and all(r["kl"] > 0 for r in rows)
    assert json.loads((out / "kd.json").read_text())["teacher_tokens_scored"] >= 2 * 4


def test_a_prompt_file_with_its_field_template_or_chat_is_an_onpolicy_source(
    tmp_path, tiny_qwen, teacher
):
    from distill.examples import Example, Renderer
    from distill.models import load_tokenizer

    q = tmp_path / "q.jsonl"
    q.write_text(json.dumps({"q": "What is 2 + 2?", "gold": "4"}) + "\n")
    chat = tmp_path / "chat.jsonl"
    msgs = [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Hi?"}]
    chat.write_text(json.dumps({"messages": msgs}) + "\n")
    tok = load_tokenizer(str(tiny_qwen))
    render = Renderer(tok, "r1")
    common = dict(method="onpolicy", teacher_model=str(teacher), max_new_tokens=6)
    cases = [
        (dict(data=str(q), prompt_field="q"), [{"role": "user", "content": "What is 2 + 2?"}]),
        (
            dict(data=str(q), prompt_field="q", template="r1-math"),
            [
                {
                    "role": "user",
                    "content": "What is 2 + 2?\nPlease reason step by step, and put your "
                    "final answer within \\boxed{}.",
                }
            ],
        ),
        (
            dict(data=str(q), prompt_field="q", system_prompt="Be brief."),
            [msgs[0], {"role": "user", "content": "What is 2 + 2?"}],
        ),
        (dict(data=str(chat)), msgs),
    ]
    for i, (kw, expected) in enumerate(cases):
        trainer, _ = build_trainer(
            kd_cfg(tmp_path, tiny_qwen, output_dir=str(tmp_path / f"o{i}"), **common, **kw)
        )
        assert trainer.train_dataset[0]["input_ids"] == render.prompt_ids(
            Example(prompt=expected, completion="")
        )


def test_prompts_alone_are_refused_where_teacher_text_is_needed(tmp_path, tiny_qwen, teacher):
    src = "builtin:arithmetic?n=4"
    with pytest.raises(DistillError, match=r"prompts alone .* lmbda 0\.5 mixes in the teacher"):
        build_trainer(
            kd_cfg(
                tmp_path,
                tiny_qwen,
                data=src,
                method="onpolicy",
                lmbda=0.5,
                teacher_model=str(teacher),
            )
        )
    with pytest.raises(DistillError, match=r"prompts alone train only --method onpolicy"):
        build_trainer(kd_cfg(tmp_path, tiny_qwen, data=src, method="sft"))
    code, errors = cli(
        "--data",
        src,
        "--model",
        tiny_qwen,
        "--output-dir",
        tmp_path / "c",
        "--method",
        "kd",
        "--max-length",
        128,
        "--teacher-model",
        teacher,
    )
    assert code != 0 and len(errors) == 1 and "prompts alone" in errors[0]
    assert not (tmp_path / "c" / "train.yaml").exists()


def test_named_prompt_fields_read_the_prompt_not_the_rows_completion_alpaca_as_its_trace(
    tmp_path, tiny_qwen, teacher
):
    """OpenR1-Math rows hold the problem and a whole R1 conversation: with --prompt-field and
    --template the problem is rendered as generate sent it and the R1 answer is never read. An
    Alpaca-format student sees the row's own instruction and input, as the row's trace carries."""
    from distill.examples import Example, Renderer
    from distill.models import load_tokenizer

    r1 = tmp_path / "openr1.jsonl"
    conv = [{"role": "user", "content": "Find 2+2."}, {"role": "assistant", "content": "x" * 900}]
    r1.write_text(json.dumps({"problem": "Find 2+2.", "answer": "4", "messages": conv}) + "\n")
    common = dict(method="onpolicy", teacher_model=str(teacher), max_new_tokens=6)
    trainer, _ = build_trainer(
        kd_cfg(tmp_path, tiny_qwen, data=str(r1), prompt_field="problem", template="r1-math",
               output_dir=str(tmp_path / "a"), **common)
    )  # fmt: skip
    render = Renderer(load_tokenizer(str(tiny_qwen)), "r1")
    want = [{"role": "user", "content": "Find 2+2.\nPlease reason step by step, and put your "
             "final answer within \\boxed{}."}]  # fmt: skip
    assert trainer.train_dataset[0]["input_ids"] == render.prompt_ids(Example(want, ""))

    alp = tmp_path / "alpaca.jsonl"
    rows = [{"instruction": "Add the numbers.", "input": "12, 34"}, {"instruction": "Say hi."}]
    alp.write_text("".join(json.dumps(r) + "\n" for r in rows))
    kw = dict(format="alpaca", **common)
    from_traces, _ = build_trainer(kd_cfg(
        tmp_path, tiny_qwen, data=str(_traces_of(str(alp), tmp_path / "t.jsonl", "alpaca")),
        output_dir=str(tmp_path / "b"), **kw))  # fmt: skip
    from_prompts, _ = build_trainer(kd_cfg(
        tmp_path, tiny_qwen, data=str(alp), template="alpaca", output_dir=str(tmp_path / "c"),
        **kw))  # fmt: skip
    a, b = first_batch(from_traces, 2), first_batch(from_prompts, 2)
    assert torch.equal(a["prompts"], b["prompts"])
    assert "12, 34" in load_tokenizer(str(tiny_qwen)).decode(b["prompts"][0])

    # TRL's prompt-only layout: `prompt` as a list of messages.
    chat = tmp_path / "trl.jsonl"
    chat.write_text(json.dumps({"prompt": [{"role": "user", "content": "Hi?"}]}) + "\n")
    trainer, _ = build_trainer(
        kd_cfg(tmp_path, tiny_qwen, data=str(chat), output_dir=str(tmp_path / "d"), **common)
    )
    hi = [{"role": "user", "content": "Hi?"}]
    assert trainer.train_dataset[0]["input_ids"] == render.prompt_ids(Example(hi, ""))

    with pytest.raises(DistillError, match="template: for --method onpolicy on prompts alone"):
        kd_cfg(tmp_path, tiny_qwen, method="sft", template="r1-math")


def test_onpolicy_logs_the_share_of_samples_that_ended_their_turn(
    tmp_path, tiny_qwen, teacher, capsys
):
    """A sample that runs to --max-new-tokens is text after the answer the teacher scores: the
    share that ended with a stop is in loss.jsonl (samples_ended), and below half is a warning."""
    out = run(
        kd_cfg(tmp_path, tiny_qwen, method="onpolicy", teacher_model=str(teacher), max_steps=2,
               max_new_tokens=6)
    )  # fmt: skip
    rows = [json.loads(x) for x in (out / "loss.jsonl").read_text().splitlines()]
    assert all(0.0 <= r["samples_ended"] <= 1.0 for r in rows)
    cfg = kd_cfg(tmp_path, tiny_qwen, method="onpolicy", teacher_model=str(teacher),
                 output_dir=str(tmp_path / "b"))  # fmt: skip
    trainer = build_trainer(cfg)[0]
    eos = trainer.model.generation_config.eos_token_id
    eos = eos[0] if isinstance(eos, list) else eos
    labels = torch.tensor(
        [[-100, 5, 6, eos], [-100, 5, 6, 7], [-100, 8, 9, 7], [-100, -100, -100, -100]]
    )
    capsys.readouterr()
    trainer._count_ends(labels)  # 1 of 3 samples ended (the empty row is no sample)
    trainer._sums = {"kl": 1.0, "ce": 1.0, "n": 1}
    trainer.callback_handler.on_train_begin(trainer.args, trainer.state, trainer.control)
    logs = {"loss": 1.0}
    trainer.log(logs)
    assert logs["samples_ended"] == round(1 / 3, 4)
    assert "67% of the student's samples ran to --max-new-tokens" in capsys.readouterr().err


# kd from stored top-K: the tokens the teacher scored (kd.json, loss.jsonl, the card) are the
# completion positions it has a stored distribution for; the end of turn it never generated
# (<|im_end|>, cross-entropy only) was counted too (216 against the 192 the kd line printed).
def test_stored_topk_counts_the_positions_the_teacher_scored(tmp_path, tiny_qwen, teacher, capsys):
    import re

    from distill.train import run

    data = write_stored_logprobs(tmp_path, teacher, k=8)
    n = sum(1 for _ in open(data))
    out = run(kd_cfg(tmp_path, tiny_qwen, data=str(data), max_steps=n // 4, num_train_epochs=1))
    printed = int(re.search(r"stored teacher top-K on ([\d,]+) completion tokens",
                            capsys.readouterr().out).group(1).replace(",", ""))  # fmt: skip
    state = json.loads((out / "kd.json").read_text())
    rows = [json.loads(x) for x in (out / "loss.jsonl").read_text().splitlines()]
    completion = json.loads((out / "train_data.json").read_text())["completion_tokens"]
    assert state["teacher_tokens_scored"] == rows[-1]["teacher_tokens"] == printed < completion


def test_kd_alpha_0_asks_no_teacher_and_counts_none(tmp_path, tiny_qwen, teacher):
    """--kd-alpha 0 is cross-entropy alone: the card's 'tokens the teacher scored' said every
    completion token."""
    from distill.train import run

    out = run(kd_cfg(tmp_path, tiny_qwen, teacher_model=str(teacher), kd_alpha=0.0, max_steps=1))
    assert json.loads((out / "kd.json").read_text())["teacher_tokens_scored"] == 0


def test_a_served_teacher_that_leaves_positions_unscored_is_refused(
    tmp_path, tiny_qwen, teacher, server
):
    """prompt_logprobs with fewer positions than the sequence, or a None past position 0: those
    positions got no KL and no teacher-token count, with no word (third read of kd)."""
    server.model = "teacher"
    full = _scorer(teacher)
    cfg = dict(teacher_url=server.url, teacher_model="teacher")
    server.scorer = lambda ids, k: full(ids, k)[:-2]  # the last two positions missing
    with pytest.raises(DistillError, match=r"prompt_logprobs for \d+ positions of a \d+-token"):
        build_trainer(kd_cfg(tmp_path, tiny_qwen, **cfg))
    server.scorer = lambda ids, k: [p if i != 3 else None for i, p in enumerate(full(ids, k))]
    with pytest.raises(DistillError, match=r"\(1 without a distribution\)"):
        build_trainer(kd_cfg(tmp_path, tiny_qwen, **cfg))
