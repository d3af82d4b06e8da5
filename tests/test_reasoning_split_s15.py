"""Sampling a reasoning model whose template keeps its reasoning outside a `<think>` block in the
content (what ab8cf97 made `distill train` write for such students), and reading its reply back:

- gpt-oss (harmony, tests/fixtures/reasoning_templates/gpt-oss.jinja): the reply after the prompt's
  `<|start|>assistant` is `<|channel|>analysis<|message|>R<|end|><|start|>assistant<|channel|>final
  <|message|>A<|return|>` (openai/harmony; the cookbook's "OpenAI harmony response format"). The
  channel tokens are special: the hf teacher's decode dropped them ('analysisR...assistantfinalA'),
  vLLM's text too, and reasoning.split read the whole reply as the answer (think 'none'), so eval
  verified the analysis' drafts and generate recorded the chain of thought as the answer;
- Mistral's reasoning models (Magistral, Ministral-3 Reasoning, ministral-3-reasoning.jinja):
  `[THINK]R[/THINK]A`, two special tokens the decode dropped; split knew only `<think>`.

Each tokenizer is the tiny one of tests/test_reasoning_templates_s15.py (the family's template and
special tokens); a tiny model's `generate` is made to write a given reply (its token ids), which
goes through the real hf teacher, vLLM teacher's reading or train's reward, and split."""

from __future__ import annotations

import json

import pytest
import torch

from distill.reasoning import split
from tests.test_reasoning_templates_s15 import tokenizer

# the reasoning drafts a wrong box (what a verifier reads first), the answer states the sum
ANALYSIS = "59 + 63: maybe \\boxed{121}? Check: 59 + 63 = 122."
FINAL = "59 + 63 = 122."


def harmony(final: str = FINAL) -> str:
    return (
        f"<|channel|>analysis<|message|>{ANALYSIS}<|end|>"
        f"<|start|>assistant<|channel|>final<|message|>{final}<|return|>"
    )


HARMONY = harmony()
MISTRAL = f"[THINK]{ANALYSIS}[/THINK]{FINAL}</s>"


# =========================================================================== split, on raw texts


def test_split_reads_harmony_analysis_as_reasoning_and_final_as_answer():
    assert split(HARMONY) == (ANALYSIS, FINAL, "closed")
    # the stop token stripped (as both local teachers hand it), or the reply with its header
    assert split(HARMONY.removesuffix("<|return|>")) == (ANALYSIS, FINAL, "closed")
    assert split("<|start|>assistant" + HARMONY) == (ANALYSIS, FINAL, "closed")
    # several analysis messages: all reasoning
    two = HARMONY.replace(
        "<|end|>", "<|end|><|start|>assistant<|channel|>analysis<|message|>Done.<|end|>", 1
    )
    assert split(two) == (ANALYSIS + "\n\nDone.", FINAL, "closed")
    # a final message with no analysis before it: an answer, no reasoning
    assert split("<|channel|>final<|message|>122<|return|>") == (None, "122", "none")


def test_split_a_harmony_reply_cut_before_its_final_message_is_reasoning_without_answer():
    cut = f"<|channel|>analysis<|message|>{ANALYSIS[:20]}"
    assert split(cut) == (ANALYSIS[:20].strip(), "", "unclosed")
    # after the analysis, inside the final message's header
    header = f"<|channel|>analysis<|message|>{ANALYSIS}<|end|><|start|>assistant<|channel|>fin"
    assert split(header) == (ANALYSIS, "", "unclosed")
    assert split("<|channel|>analy") == ("", "", "unclosed")


def test_split_a_harmony_tool_call_or_preamble_on_commentary_is_not_the_answer():
    call = '{"location": "Tokyo"}'
    for header in (  # the recipient in the channel part of the header, or in the role part
        "<|start|>assistant<|channel|>commentary to=functions.get_weather <|constrain|>json",
        "<|start|>assistant to=functions.get_weather<|channel|>commentary json",
    ):
        reply = f"<|channel|>analysis<|message|>Need the weather.<|end|>{header}<|message|>{call}"
        reasoning, answer, think = split(reply + "<|call|>")
        assert (reasoning, answer) == ("Need the weather.", "")
        assert think == "closed"  # it ended to call a tool, not cut off in its thinking
    preamble = HARMONY.replace(
        "<|start|>assistant<|channel|>final",
        "<|start|>assistant<|channel|>commentary<|message|>Plan: add.<|end|>"
        "<|start|>assistant<|channel|>final",
    )
    assert split(preamble) == (ANALYSIS, FINAL, "closed")


def test_split_reads_mistrals_think_tokens_as_the_think_block():
    assert split(MISTRAL.removesuffix("</s>")) == (ANALYSIS, FINAL, "closed")
    assert split(f"[THINK]{ANALYSIS}") == (ANALYSIS, "", "unclosed")  # cut off
    assert split(f"{ANALYSIS}[/THINK]{FINAL}") == (ANALYSIS, FINAL, "prefilled")
    # a server that returns the reasoning apart and also echoes the block into the content
    assert split(f"[THINK]{ANALYSIS}[/THINK]{FINAL}", ANALYSIS) == (ANALYSIS, FINAL, "api")
    # whichever pair opens the reply is its block: a <think> reply naming Mistral's tag
    assert split("<think>Mistral writes [THINK] there</think>4") == (
        "Mistral writes [THINK] there",
        "4",
        "closed",
    )


# =========================================================================== the hf teacher


def student(tmp_path, name: str):
    """A tiny model folder with family `name`'s tokenizer (its template, special tokens) whose
    generation config stops where the family's does (gpt-oss: <|return|> and <|call|>)."""
    from transformers import AutoModelForCausalLM, Qwen2Config

    torch.manual_seed(0)
    tok = tokenizer(name)
    stops = [tok.eos_token_id]
    if name == "gpt-oss":
        stops = tok.convert_tokens_to_ids(["<|return|>", "<|call|>"])
    config = Qwen2Config(
        vocab_size=len(tok), hidden_size=32, intermediate_size=64, num_hidden_layers=1,
        num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=512,
        eos_token_id=stops, pad_token_id=tok.pad_token_id,
    )  # fmt: skip
    model = AutoModelForCausalLM.from_config(config)
    model.generation_config.eos_token_id = stops
    path = tmp_path / name
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


def reply_ids(tok, text: str) -> list[int]:
    ids = tok(text, add_special_tokens=False)["input_ids"]
    assert tok.decode(ids, skip_special_tokens=False) == text  # the markers are one token each
    return ids


def _generate(tmp_path, model, max_tokens=64):
    from distill.generate import GenerateConfig, run

    out = tmp_path / "t.jsonl"
    cfg = GenerateConfig(
        data="builtin:arithmetic?n=1", teacher="hf", model=str(model), n=1,
        max_tokens=max_tokens, temperature=0.0, out=str(out),
    )  # fmt: skip
    run(cfg, progress=False)
    (rec,) = [json.loads(line) for line in out.open()]
    return rec


@pytest.mark.parametrize("name, reply", [("gpt-oss", HARMONY), ("ministral-3-reasoning", MISTRAL)])
def test_hf_teacher_records_the_templates_reasoning_apart_from_its_answer(
    tmp_path, writes, name, reply
):
    model, tok = student(tmp_path, name)
    writes(reply_ids(tok, reply))
    rec = _generate(tmp_path, model)
    assert (rec["reasoning"], rec["answer"], rec["think"]) == (ANALYSIS, FINAL, "closed")
    assert rec["finish_reason"] == "stop"


def test_hf_teacher_a_gpt_oss_sample_cut_in_its_analysis_has_no_answer(tmp_path, writes):
    model, tok = student(tmp_path, "gpt-oss")
    cut = reply_ids(tok, HARMONY)[:12]  # max_tokens: inside the analysis message
    writes(cut)
    rec = _generate(tmp_path, model, max_tokens=len(cut))
    assert rec["finish_reason"] == "length"
    assert (rec["answer"], rec["think"]) == ("", "unclosed")
    assert rec["reasoning"] and "analysis" not in rec["reasoning"]


@pytest.mark.parametrize("name, reply", [("gpt-oss", HARMONY), ("ministral-3-reasoning", MISTRAL)])
def test_eval_of_such_a_student_verifies_its_final_answer_not_its_reasoning(
    tmp_path, writes, name, reply
):
    """The analysis drafts a wrong \\boxed{121}, the answer says 122: read as one text, the
    drafted box was verified and the right answer scored 0."""
    from distill.eval import EvalConfig, run

    model, tok = student(tmp_path, name)
    writes(reply_ids(tok, reply))
    out = tmp_path / "eval.json"
    cfg = EvalConfig(
        model=str(model), data="builtin:arithmetic?n=1", n=1, temperature=0.0, max_tokens=64,
        out=str(out), backend="hf",
    )  # fmt: skip
    run(cfg)
    assert json.loads(out.read_text())["student"]["pass@1"] == 1.0
    [samples] = [p for p in tmp_path.glob("eval*.jsonl")]
    [rec] = [json.loads(line) for line in samples.open()]
    assert (rec["reasoning"], rec["answer"]) == (ANALYSIS, FINAL)


# =========================================================================== vLLM, train's reward


class _Sink:
    def __init__(self):
        self.done_ = []

    def done(self, job, sample, c):
        self.done_.append(c)

    def failed(self, job, sample, why):
        raise AssertionError(why)


def _vllm_read(tok, text: str, token_ids: list[int]):
    """The Completion the vLLM teacher makes of one output (text as vLLM detokenized it)."""
    from types import SimpleNamespace

    from distill.teachers.base import Job
    from distill.teachers.vllm import VLLMTeacher

    t = VLLMTeacher.__new__(VLLMTeacher)
    t.cfg = SimpleNamespace(logprobs=None)
    t.llm = SimpleNamespace(get_tokenizer=lambda: tok)
    t.tokenizer = None
    o = SimpleNamespace(text=text, finish_reason="stop", token_ids=token_ids, logprobs=None)
    out = SimpleNamespace(prompt="<|start|>assistant", prompt_token_ids=[1, 2], outputs=[o])
    job = Job(prompt_id="p", messages=[{"role": "user", "content": "q"}], samples=[0])
    sink = _Sink()
    t._write([job], [out], sink)
    return sink.done_[0]


@pytest.mark.parametrize("name, reply", [("gpt-oss", HARMONY), ("ministral-3-reasoning", MISTRAL)])
def test_vllm_teacher_reads_the_markers_its_skipping_decode_dropped(name, reply):
    tok = tokenizer(name)
    ids = reply_ids(tok, reply)  # vLLM keeps the stop token in token_ids, not in the text
    vllm_text = tok.decode(ids, skip_special_tokens=True)  # SamplingParams' default
    c = _vllm_read(tok, vllm_text, ids)
    assert split(c.text, c.reasoning, c.extra.get("in_think", False)) == (
        ANALYSIS,
        FINAL,
        "closed",
    )
    # vLLM's own Mistral tokenizer (not a Hugging Face one) keeps [THINK] in its text already
    plain = type("MistralTokenizer", (), {"decode": lambda self, ids, **kw: "unused"})()
    assert _vllm_read(plain, "[THINK]R[/THINK]A", [5, 6]).text == "[THINK]R[/THINK]A"


def test_train_reward_of_a_gpt_oss_students_rollout_reads_its_final_answer():
    """train --reward math (on-policy rollouts decoded as the hf teacher decodes them): a
    gpt-oss student's right answer after a drafted wrong box scored 0."""
    from distill.train.kd.reward import score_rollouts

    tok = tokenizer("gpt-oss")
    ids = reply_ids(tok, HARMONY)
    wrong = reply_ids(tok, harmony("59 + 63 = 121."))
    labels = torch.full((2, max(len(ids), len(wrong))), -100)
    labels[0, : len(ids)] = torch.tensor(ids)
    labels[1, : len(wrong)] = torch.tensor(wrong)
    _, rewards = score_rollouts(tok, labels, ["122"] * 2, ["{}"] * 2, 2, "math", None)
    assert rewards == [1.0, 0.0]
