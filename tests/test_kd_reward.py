"""The verifier in the loop of `distill train --method onpolicy` (distill/train/kd/reward.py):
the reward term's sign, the advantage's centring, the teacher gate, the bad inputs."""

import json
import subprocess
import sys

import pytest
import torch

from distill.errors import DistillError
from distill.train import TrainConfig, build_trainer, run
from distill.train.kd.reward import advantages, failed_prompts, reward_of
from tests.test_train import kept_file

SRC = "builtin:arithmetic?n=4"


@pytest.fixture(scope="module")
def teacher(tmp_path_factory):
    """Another tiny Qwen2 (other random weights, same tokenizer): a teacher that disagrees."""
    from tests.tiny import make_tiny_model

    return make_tiny_model(tmp_path_factory.mktemp("tiny-teacher"), "qwen2", seed=1)


def cfg_of(tmp_path, student, teacher, **kw):
    base = dict(
        data=SRC,
        model=str(student),
        output_dir=str(tmp_path / "out"),
        max_length=128,
        per_device_train_batch_size=2,
        logging_steps=1,
        save_steps=1000,
        seed=0,
        method="onpolicy",
        teacher_model=str(teacher),
        max_new_tokens=8,
        reward="math",
        show_example=0,
    )
    return TrainConfig(**{**base, **kw})


def fake_samples(monkeypatch, tok, texts_of, seen=None):
    """The student's sampling step returns these completions (texts_of(row index, gold) per
    row) instead of sampling: GKD's generate_on_policy_outputs, shapes and masks as its own."""
    from trl.experimental.gkd import GKDTrainer

    def generate(model, inputs, generation_config):  # noqa: ARG001
        if seen is not None:
            seen.append({"prompts": inputs["prompts"].clone(), "gold": list(inputs["gold"])})
        comps = [
            tok(texts_of(i, g), add_special_tokens=False)["input_ids"] + [tok.eos_token_id]
            for i, g in enumerate(inputs["gold"])
        ]
        return as_sampled(inputs, comps, tok.pad_token_id)

    monkeypatch.setattr(GKDTrainer, "generate_on_policy_outputs", staticmethod(generate))


def as_sampled(inputs, comps, pad):
    """(ids, attn, labels) as GKD's generate_on_policy_outputs shapes a sample: the batch's
    left-padded prompts, then each row's completion ids `comps[i]` right-padded with `pad`,
    labels on the completion only."""
    prompts, pmask = inputs["prompts"], inputs["prompt_attention_mask"]
    width = max(map(len, comps))
    ids = torch.full((len(comps), prompts.shape[1] + width), pad)
    attn = torch.zeros_like(ids)
    ids[:, : prompts.shape[1]], attn[:, : prompts.shape[1]] = prompts, pmask
    for i, c in enumerate(comps):
        ids[i, prompts.shape[1] : prompts.shape[1] + len(c)] = torch.tensor(c)
        attn[i, prompts.shape[1] : prompts.shape[1] + len(c)] = 1
    labels = ids.masked_fill(attn == 0, -100)
    labels[:, : prompts.shape[1]] = -100
    return ids, attn, labels


def completion_logprob(model, prompt_ids, text, tok):
    """Sum of log p(token) of `text` (+ EOS) after the prompt."""
    c = tok(text, add_special_tokens=False)["input_ids"] + [tok.eos_token_id]
    x = torch.tensor([prompt_ids + c])
    model.eval()
    with torch.no_grad():
        lp = torch.log_softmax(model(input_ids=x).logits[0, len(prompt_ids) - 1 : -1].float(), -1)
    return float(lp.gather(-1, torch.tensor(c)[:, None]).sum())


# --------------------------------------------------------------------------- the reward term


def test_a_verified_sample_gains_log_prob_and_a_wrong_one_loses_it(
    tmp_path, tiny_qwen, monkeypatch
):
    """One prompt, two samples (k = 2): "\\boxed{gold}" verifies (reward 1, advantage +0.5),
    "\\boxed{gold+1}" does not (0, -0.5). The teacher is the student itself, so the KL term is
    zero and one optimizer step moves the two samples' log-probs by the reward term alone."""
    trainer, tok = build_trainer(
        cfg_of(
            tmp_path,
            tiny_qwen,
            tiny_qwen,
            data="builtin:arithmetic?n=1",
            per_device_train_batch_size=1,
            rollouts_per_prompt=2,
            max_steps=1,
            learning_rate=5e-3,
            warmup_ratio=0.0,
        )
    )
    gold = trainer.train_dataset[0]["gold"]
    right, wrong = f"\\boxed{{{gold}}}", f"\\boxed{{{int(gold) + 1}}}"
    assert reward_of(right, gold, "{}", "math") == 1.0 and reward_of(wrong, gold, "{}", "math") == 0
    fake_samples(monkeypatch, tok, lambda i, g: right if i == 0 else wrong)
    prompt = trainer.train_dataset[0]["input_ids"]
    before = [completion_logprob(trainer.model, prompt, t, tok) for t in (right, wrong)]
    trainer.train()
    after = [completion_logprob(trainer.model, prompt, t, tok) for t in (right, wrong)]
    assert after[0] > before[0] + 1e-3, (before, after)
    assert after[1] < before[1] - 1e-3, (before, after)
    row = json.loads((tmp_path / "out" / "loss.jsonl").read_text().splitlines()[0])
    assert row["reward"] == 0.5  # one of the two samples verified
    assert row["kl"] == pytest.approx(0.0, abs=1e-6)  # the teacher is the student
    assert row["loss"] == pytest.approx(row["pg"], abs=1e-4)  # KL 0: the loss is the pg term


def test_the_pg_term_is_the_same_chunked_and_unchunked(tmp_path, tiny_qwen, teacher, monkeypatch):
    """The sampled tokens' log-probs of the pg term come from the chunked head as the KL's do:
    --loss-chunk-size 3 and 0 give one loss and one gradient."""
    losses, grads = [], []
    for chunk in (0, 3):
        trainer, tok = build_trainer(
            cfg_of(
                tmp_path,
                tiny_qwen,
                teacher,
                output_dir=str(tmp_path / f"c{chunk}"),
                loss_chunk_size=chunk,
                reward_weight=3.0,
            )
        )
        batch = trainer.data_collator([trainer.train_dataset[i] for i in range(2)])
        fake_samples(
            monkeypatch, tok, lambda i, g: f"So \\boxed{{{g}}} it is" if i else "\\boxed{-1}"
        )
        from trl.experimental.gkd import GKDTrainer

        ids, attn, labels = GKDTrainer.generate_on_policy_outputs(None, batch, None)
        batch.update(input_ids=ids, attention_mask=attn, labels=labels, on_policy=True)
        batch["advantage"] = trainer._advantages(labels, batch)
        assert batch["advantage"].tolist() == [-0.5, 0.5]  # k = 1: centred over the batch
        trainer.model.eval()
        trainer.model.zero_grad()
        loss = trainer.compute_loss(trainer.model, batch)
        loss.backward()
        losses.append(float(loss))
        grads.append(
            torch.cat([p.grad.flatten() for p in trainer.model.parameters() if p.grad is not None])
        )
    assert losses[0] == pytest.approx(losses[1], abs=1e-5)
    assert torch.allclose(grads[0], grads[1], atol=1e-5)


# --------------------------------------------------------------------------- the advantage


def test_the_advantage_is_centred_over_each_prompts_samples():
    r = [1.0, 0.0, 0.0, 0.0, 1.0, 1.0, 1.0, 1.0]
    assert advantages(r, 4) == [0.75, -0.25, -0.25, -0.25, 0.0, 0.0, 0.0, 0.0]
    # k = 1: no group, the batch's mean (5/8) is the baseline
    assert advantages(r, 1) == [x - 0.625 for x in r]
    # an unverifiable sample gets no advantage and stays out of its group's mean
    assert advantages([1.0, None, 0.0, None], 2) == [0.0, 0.0, 0.0, 0.0]
    assert advantages([1.0, 0.0, None, 1.0], 2) == [0.5, -0.5, 0.0, 0.0]


def test_k_rollouts_of_each_prompt_sit_together_and_are_centred_per_prompt(
    tmp_path, tiny_qwen, monkeypatch
):
    """A batch of 2 prompts with --rollouts-per-prompt 3 samples 6 rows, each prompt's three
    consecutive; prompt 1 gets 1 right of 3 (advantages 2/3, -1/3, -1/3), prompt 2 all three
    right (0, 0, 0): centred per prompt, not over the batch (whose mean is 4/6)."""
    trainer, tok = build_trainer(
        cfg_of(tmp_path, tiny_qwen, tiny_qwen, rollouts_per_prompt=3, max_steps=1)
    )
    seen: list = []
    right = {0, 3, 4, 5}
    fake_samples(
        monkeypatch,
        tok,
        lambda i, g: f"\\boxed{{{g}}}" if i in right else "\\boxed{-1}",
        seen,
    )
    got = []
    orig = trainer._advantages
    monkeypatch.setattr(trainer, "_advantages", lambda *a: got.append(orig(*a)) or got[-1])
    trainer.train()
    prompts = seen[0]["prompts"]
    assert prompts.shape[0] == 6
    assert torch.equal(prompts[0], prompts[2]) and torch.equal(prompts[3], prompts[5])
    assert not torch.equal(prompts[0], prompts[3])
    assert seen[0]["gold"][0] == seen[0]["gold"][2] != seen[0]["gold"][3]
    assert got[0].tolist() == pytest.approx([2 / 3, -1 / 3, -1 / 3, 0.0, 0.0, 0.0])
    row = json.loads((tmp_path / "out" / "loss.jsonl").read_text().splitlines()[0])
    assert row["reward"] == pytest.approx(4 / 6, abs=1e-4) and "pg" in row


# --------------------------------------------------------------------------- the gate


def gate_records(path, verdicts, with_checks=True):
    """One record per (prompt_id, sample); the answer is right when its verdict is correct."""
    rows = []
    for pid, vs in verdicts.items():
        for s, v in enumerate(vs):
            rec = {
                "id": f"{pid}-{s}",
                "prompt_id": pid,
                "sample": s,
                "answer": "\\boxed{7}" if v == "correct" else "\\boxed{8}",
                "gold": "7",
            }
            if with_checks:
                rec["checks"] = {"verify": v if v == "correct" else f"{v} (x)"}
            rows.append(rec)
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return str(path)


def test_failed_prompts_reads_the_filters_verdicts_or_verifies_generates_traces(tmp_path):
    v = {"a": ["wrong", "no_answer"], "b": ["wrong", "correct"], "c": ["correct"]}
    filtered = gate_records(tmp_path / "rejects.jsonl", v)
    assert failed_prompts([filtered], "none") == ({"a"}, 3)
    raw = gate_records(tmp_path / "traces.jsonl", v, with_checks=False)
    assert failed_prompts([raw], "math") == ({"a"}, 3)
    # kept + rejects together: a prompt passing in one file is not gated by the other
    kept = gate_records(tmp_path / "kept.jsonl", {"a": ["correct"]})
    assert failed_prompts([filtered, kept], "none") == (set(), 3)
    with pytest.raises(DistillError, match=r"traces.jsonl record 1: no verdict \(checks.verify\)"):
        failed_prompts([raw], "none")
    with pytest.raises(DistillError, match="--gate-traces: file not found"):
        failed_prompts([str(tmp_path / "nope.jsonl")], "math")


def test_the_gate_leaves_failed_prompts_out_of_the_teacher_term_and_counts_them(
    tmp_path, tiny_qwen, teacher
):
    """kept traces p0..p3; the teacher's samples of p1 all failed: p1's rows have no KL, the
    others keep theirs, and kd.json says 1 prompt was gated."""
    data = kept_file(tmp_path, n=4)
    gate = gate_records(
        tmp_path / "rejects.jsonl", {"p1": ["wrong", "wrong"], "p2": ["wrong", "correct"]}
    )
    common = dict(data=str(data), lmbda=0.0, reward="none", per_device_train_batch_size=4)
    trainer, _ = build_trainer(
        cfg_of(tmp_path, tiny_qwen, teacher, gate_teacher=True, gate_traces=[gate], **common)
    )
    assert trainer.gated == {"p1"}
    plain, _ = build_trainer(
        cfg_of(tmp_path, tiny_qwen, teacher, output_dir=str(tmp_path / "plain"), **common)
    )

    def kl_of(t, rows):
        batch = t.data_collator([t.train_dataset[i] for i in rows])
        t.model.eval()
        t._sums = {"kl": 0.0, "ce": 0.0, "n": 0}
        with torch.no_grad():
            t.compute_loss(t.model, batch)
        return t._sums["kl"]

    assert kl_of(trainer, [1]) == 0.0 and kl_of(plain, [1]) > 0
    assert kl_of(trainer, [0]) == pytest.approx(kl_of(plain, [0]), rel=1e-5)
    out = run(
        cfg_of(
            tmp_path,
            tiny_qwen,
            teacher,
            output_dir=str(tmp_path / "run"),
            gate_teacher=True,
            gate_traces=[gate],
            max_steps=1,
            **common,
        )
    )
    state = json.loads((out / "kd.json").read_text())
    assert state["gated_prompts"] == 1 and state["gate_prompts_verified"] == 2
    from distill.train.kd import card_lines

    lines = card_lines(trainer.kd, state)
    assert any("Teacher gate: 1 of the training prompts" in x for x in lines)


# --------------------------------------------------------------------------- bad input


@pytest.mark.parametrize(
    "kw, message",
    [
        ({"method": "kd", "teacher_model": None}, "--reward: for --method onpolicy"),
        ({"reward": "bleu"}, r"unknown --reward 'bleu' \(have: none, math, code\)"),
        ({"rollouts_per_prompt": 0}, "--rollouts-per-prompt must be >= 1, got 0"),
        ({"reward_weight": -1.0}, "--reward-weight must be >= 0"),
        ({"gate_teacher": True}, "--gate-teacher needs --gate-traces"),
        ({"gate_traces": ["t.jsonl"]}, "--gate-traces is read by --gate-teacher only"),
        (
            {"method": "kd", "reward": "none", "rollouts_per_prompt": 4},
            "--rollouts-per-prompt: for --method onpolicy",
        ),
        # the advantage would be 0 everywhere: no sampled batch, or groups of one sample
        ({"lmbda": 0.0}, "--lmbda 0 never samples"),
        ({"per_device_train_batch_size": 1}, "always 0; raise --rollouts-per-prompt"),
    ],
)
def test_bad_reward_settings_are_one_line_naming_the_flag(tmp_path, tiny_qwen, kw, message):
    with pytest.raises(DistillError, match=message):
        cfg_of(tmp_path, tiny_qwen, tiny_qwen, **kw)


def test_a_reward_without_gold_answers_names_the_flag_and_what_to_add(tmp_path, tiny_qwen):
    rows = [json.loads(x) for x in kept_file(tmp_path, n=4).read_text().splitlines()]
    for r in rows:
        r["gold"] = None
    data = tmp_path / "nogold.jsonl"
    data.write_text("".join(json.dumps(r) + "\n" for r in rows))
    with pytest.raises(DistillError, match="--reward math: no example .* has a gold answer.* add"):
        build_trainer(cfg_of(tmp_path, tiny_qwen, tiny_qwen, data=str(data), lmbda=0.5))
    with pytest.raises(DistillError, match="--reward code: no example .* has tests to run"):
        build_trainer(cfg_of(tmp_path, tiny_qwen, tiny_qwen, reward="code"))


def test_the_cli_says_the_bad_flag_in_one_line(tmp_path, tiny_qwen):
    r = subprocess.run(
        [sys.executable, "-m", "distill", "train", "--data", SRC, "--model", str(tiny_qwen)]
        + ["--output-dir", str(tmp_path / "o"), "--reward", "math"],
        capture_output=True,
        text=True,
    )
    assert r.returncode == 1
    assert r.stderr.strip().splitlines() == [
        "error: train: --reward: for --method onpolicy (the student's own samples are what is "
        "verified and repeated), not --method sft"
    ]


# --------------------------------------------------------------------------- skipped, not 0


def test_a_dropped_rollout_has_no_reward_and_stays_out_of_its_prompts_mean(tiny_qwen):
    """A row with no sampled token (--rollout vllm drops a stale rollout that way) was decoded
    as '' and scored 0 (no answer), pulling its group's baseline down; it is not a sample."""
    from distill.models import load_tokenizer
    from distill.train.kd.reward import score_rollouts

    tok = load_tokenizer(str(tiny_qwen))
    right, wrong = (
        tok(t, add_special_tokens=False)["input_ids"] + [tok.eos_token_id]
        for t in ("\\boxed{7}", "\\boxed{8}")
    )
    labels = torch.full((4, max(len(right), len(wrong)) + 2), -100)
    for i, c in ((0, right), (1, wrong), (3, right)):  # row 2: dropped
        labels[i, : len(c)] = torch.tensor(c)
    adv, rewards = score_rollouts(tok, labels, ["7"] * 4, ["{}"] * 4, 4, "math", None)
    assert rewards == [1.0, 0.0, None, 1.0]
    assert adv == pytest.approx([1 / 3, -2 / 3, 0.0, 1 / 3])


def test_code_without_tests_is_unverifiable_whatever_the_sample_holds(tmp_path):
    """A row with no tests has no verdict (was: a sample without a code block scored 0, the
    verifier's no_answer checked before the tests), for the reward and for the gate."""
    assert reward_of("I do not know", None, "{}", "code") is None
    assert reward_of("```python\nprint(1)\n```", None, "{}", "code") is None
    tests = json.dumps({"tests": ["assert f() == 1"]})
    assert reward_of("I do not know", None, tests, "code") == 0.0  # tests, no code: wrong
    raw = gate_records(tmp_path / "traces.jsonl", {"a": ["wrong", "wrong"]}, with_checks=False)
    assert failed_prompts([raw], "code") == (set(), 0)


def test_reward_code_refuses_rows_that_carry_only_a_prompt_and_metadata(tmp_path, tiny_qwen):
    """_META_KEYS carries `prompt` and `metadata` (HumanEval's prompt, LiveCodeBench's
    func_name) beside the tests; rows with those fields and no tests made every verify_meta
    non-empty, so `--reward code` was not refused and every reward came back None, silently."""
    rows = [json.loads(x) for x in kept_file(tmp_path, n=4).read_text().splitlines()]
    for r in rows:
        r["meta"] = {"prompt": "def f(x):", "metadata": {"func_name": "f"}}
    data = tmp_path / "notests.jsonl"
    data.write_text("".join(json.dumps(r) + "\n" for r in rows))
    with pytest.raises(DistillError, match="--reward code: no example .* has tests to run"):
        build_trainer(cfg_of(tmp_path, tiny_qwen, tiny_qwen, data=str(data), reward="code"))


def test_reward_code_refuses_rows_whose_tests_it_cannot_run(tmp_path, tiny_qwen):
    """Tests judge refuses to run (a C++ verification_info, a checker problem) are no tests:
    every reward of such a run was None, silently (the refusal only asked for tests found)."""
    rows = [json.loads(x) for x in kept_file(tmp_path, n=4).read_text().splitlines()]
    cpp = {"language": "cpp", "test_cases": [{"type": "stdin_stdout", "input": "1", "output": "1"}]}
    for r in rows:
        r["meta"] = {"verification_info": cpp}
    data = tmp_path / "cpp.jsonl"
    data.write_text("".join(json.dumps(r) + "\n" for r in rows))
    with pytest.raises(DistillError, match="--reward code: no example .* has tests to run"):
        build_trainer(cfg_of(tmp_path, tiny_qwen, tiny_qwen, data=str(data), reward="code"))
