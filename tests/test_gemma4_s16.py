"""Gemma 4 teachers and students write their thinking in a thought channel,
`<|channel>thought\\nR<channel|>A` (Google's "Gemma 4 prompt formatting"; reasoning.split reads it
since ca55806). `<|channel>` and `<channel|>` are control tokens of its tokenizer (special), so
the hf teacher's decode, which skips special tokens but keeps the reasoning markers it knows
(teachers.hf.THINK_MARKERS: <think>, [THINK], harmony's), dropped them: a sample arrived as
`thought\\nR A`, recorded as all answer (think 'none'); vLLM's text the same, and eval / train's
reward verified the drafts in the thinking. And filter's think_tags check did not know the
markers: a trace with one left in its answer was kept, and train learned it as text.

The tokenizer is tests/tiny.py's with Gemma 4's turn and channel control tokens added special
and a chat template in its turn format (the doc's example dialogue); a tiny model's `generate`
is made to write a given reply (its token ids)."""

from __future__ import annotations

import json

import pytest
import torch

from distill.filter.checks import think_tags
from distill.reasoning import split
from tests.tiny import make_tokenizer

# the thought drafts a wrong box (what a verifier reads first), the answer states the sum
THOUGHT = "59 + 63: maybe \\boxed{121}? Check: 59 + 63 = 122."
FINAL = "59 + 63 = 122."


def gemma4(final: str = FINAL) -> str:
    return f"<|channel>thought\n{THOUGHT}<channel|>{final}<turn|>"


REPLY = gemma4()
# Gemma 4's turns (the prompt-formatting doc: `<|turn>user\nHello.<turn|>`, the model's turn
# opened `<|turn>model\n`)
GEMMA4 = (
    "{% for m in messages %}{{ '<|turn>' + ('model' if m['role'] == 'assistant' else m['role'])"
    " + '\n' + m['content'] + '<turn|>\n' }}{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|turn>model\n' }}{% endif %}"
)


def tokenizer():
    tok = make_tokenizer("qwen2")
    specials = ["<|turn>", "<turn|>", "<|think|>", "<|channel>", "<channel|>"]
    tok.add_special_tokens({"eos_token": "<turn|>", "additional_special_tokens": specials})
    tok.chat_template = GEMMA4
    return tok


def reply_ids(tok, text: str = REPLY) -> list[int]:
    ids = tok(text, add_special_tokens=False)["input_ids"]
    assert tok.decode(ids, skip_special_tokens=False) == text
    # the markers are special: a decode that skips them reads no thought channel
    assert "<|channel>" not in tok.decode(ids, skip_special_tokens=True)
    return ids


def student(tmp_path):
    from transformers import AutoModelForCausalLM, Qwen2Config

    torch.manual_seed(0)
    tok = tokenizer()
    config = Qwen2Config(
        vocab_size=len(tok), hidden_size=32, intermediate_size=64, num_hidden_layers=1,
        num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=512,
        eos_token_id=tok.eos_token_id, pad_token_id=tok.pad_token_id,
    )  # fmt: skip
    model = AutoModelForCausalLM.from_config(config)
    path = tmp_path / "gemma4"
    model.save_pretrained(path)
    tok.save_pretrained(path)
    return path, tok


@pytest.fixture
def writes(monkeypatch):
    """writes(ids): every sample the tiny model generates is `ids` (the reply's tokens)."""
    from transformers import Qwen2ForCausalLM

    def use(ids):
        def generate(self, input_ids=None, attention_mask=None, **kw):
            tail = torch.tensor([ids] * input_ids.shape[0], dtype=input_ids.dtype)
            return torch.cat([input_ids, tail], dim=1)

        monkeypatch.setattr(Qwen2ForCausalLM, "generate", generate)

    return use


def test_hf_teacher_records_gemma4s_thought_apart_from_its_answer(tmp_path, writes):
    from distill.generate import GenerateConfig, run

    model, tok = student(tmp_path)
    writes(reply_ids(tok))
    out = tmp_path / "t.jsonl"
    cfg = GenerateConfig(
        data="builtin:arithmetic?n=1", teacher="hf", model=str(model), n=1, max_tokens=64,
        temperature=0.0, out=str(out),
    )  # fmt: skip
    run(cfg, progress=False)
    [rec] = [json.loads(line) for line in out.open()]
    assert (rec["reasoning"], rec["answer"], rec["think"]) == (THOUGHT, FINAL, "closed")
    assert rec["finish_reason"] == "stop"


def test_hf_teacher_a_gemma4_sample_cut_in_its_thought_has_no_answer(tmp_path, writes):
    from distill.generate import GenerateConfig, run

    model, tok = student(tmp_path)
    cut = reply_ids(tok)[:10]  # max_tokens: inside the thought
    writes(cut)
    out = tmp_path / "t.jsonl"
    cfg = GenerateConfig(
        data="builtin:arithmetic?n=1", teacher="hf", model=str(model), n=1,
        max_tokens=len(cut), temperature=0.0, out=str(out),
    )  # fmt: skip
    run(cfg, progress=False)
    [rec] = [json.loads(line) for line in out.open()]
    assert (rec["finish_reason"], rec["answer"], rec["think"]) == ("length", "", "unclosed")
    assert rec["reasoning"] and not rec["reasoning"].startswith("thought")


def test_eval_of_a_gemma4_student_verifies_its_answer_not_its_thought(tmp_path, writes):
    """The thought drafts a wrong \\boxed{121}, the answer says 122: read as one text, the
    drafted box was verified and the right answer scored 0."""
    from distill.eval import EvalConfig, run

    model, tok = student(tmp_path)
    writes(reply_ids(tok))
    out = tmp_path / "eval.json"
    cfg = EvalConfig(
        model=str(model), data="builtin:arithmetic?n=1", n=1, temperature=0.0, max_tokens=64,
        out=str(out), backend="hf",
    )  # fmt: skip
    run(cfg)
    assert json.loads(out.read_text())["student"]["pass@1"] == 1.0


class Collect:
    def __init__(self):
        self.got = []

    def done(self, job, sample, c):
        self.got.append(c)

    def failed(self, job, sample, why, usage=None):
        raise AssertionError(why)


def test_vllm_teacher_reads_the_thought_channel_its_skipping_decode_dropped():
    """vLLM's text skips special tokens (SamplingParams' default): the sample is decoded again
    from its ids, keeping the channel markers, as the hf teacher decodes."""
    from types import SimpleNamespace

    from distill.teachers.base import Job
    from distill.teachers.vllm import VLLMTeacher

    tok = tokenizer()
    ids = reply_ids(tok)
    t = VLLMTeacher.__new__(VLLMTeacher)
    t.cfg = SimpleNamespace(logprobs=None)
    t.llm = SimpleNamespace(get_tokenizer=lambda: tok)
    t.tokenizer = None
    o = SimpleNamespace(
        text=tok.decode(ids, skip_special_tokens=True),
        finish_reason="stop",
        token_ids=ids,
        logprobs=None,
    )
    out = SimpleNamespace(prompt="<|turn>model\n", prompt_token_ids=[1, 2], outputs=[o])
    sink = Collect()
    t._write([Job("p", [{"role": "user", "content": "q"}], [0])], [out], sink)
    [c] = sink.got
    assert split(c.text, c.reasoning, c.extra.get("in_think", False)) == (
        THOUGHT,
        FINAL,
        "closed",
    )


def test_train_reward_of_a_gemma4_students_rollout_reads_its_answer():
    """train --reward math (rollouts decoded as the hf teacher decodes them): a right answer
    after a drafted wrong box scored 0."""
    from distill.train.kd.reward import score_rollouts

    tok = tokenizer()
    right, wrong = reply_ids(tok), reply_ids(tok, gemma4("59 + 63 = 121."))
    labels = torch.full((2, max(len(right), len(wrong))), -100)
    labels[0, : len(right)] = torch.tensor(right)
    labels[1, : len(wrong)] = torch.tensor(wrong)
    _, rewards = score_rollouts(tok, labels, ["122"] * 2, ["{}"] * 2, 2, "math", None)
    assert rewards == [1.0, 0.0]


@pytest.mark.parametrize(
    "answer",
    [
        "<|channel>thought\nLet me add.<channel|>The answer is 4.",
        "The answer is 4.<channel|> 4",
        "thought again <|channel>",
    ],
)
def test_filter_rejects_a_trace_with_a_gemma4_marker_left_in_it(answer):
    rec = {"reasoning": "2 + 2", "answer": answer, "think": "closed"}
    assert think_tags(rec, None) == "duplicated_think"
