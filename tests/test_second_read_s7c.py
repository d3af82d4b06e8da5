"""Second read of 25ffd17/79c8950 (a sample after a prompt that opened <think>), cd64f68 (distill
run checks its models first) and 530a186 (instruct's round size on a rerun)."""

from __future__ import annotations

import json
from types import SimpleNamespace

import pytest

from distill.teachers.base import Job
from tests.test_pipeline_models_s7 import GenerateStarted, _run, offline_generate  # noqa: F401
from tests.test_third_read_eval import R1_DISTILL
from tests.tiny import make_tiny_model, make_tokenizer

DRAFT = "12 plus 34 is 46."
ANSWER = "The answer is \\boxed{46}."


class _Sink:
    def __init__(self):
        self.done_ = []

    def done(self, job, sample, c):
        self.done_.append(c)

    def failed(self, job, sample, why):
        raise AssertionError(why)


def test_hf_a_think_close_added_as_a_special_token_is_not_dropped(tmp_path, monkeypatch):
    """A tokenizer whose </think> is an added token with special=True (tests/tiny.py builds it
    so; `add_tokens(..., special_tokens=True)` does) but not in all_special_tokens: the hf
    teacher's decode (skip_special_tokens) dropped the </think> the model wrote, and 79c8950
    marked every sample of such an R1-Distill-style teacher 'unclosed', its answer "" (the
    filter rejects them all as think_tags)."""
    import torch
    from transformers import AutoTokenizer

    from distill.generate import GenerateConfig, run

    model = make_tiny_model(tmp_path / "teacher")
    tok = AutoTokenizer.from_pretrained(model)
    assert "</think>" not in tok.all_special_tokens  # the case the old test missed
    tok.chat_template = R1_DISTILL
    tok.save_pretrained(model)
    reply = tok.encode(f" {DRAFT} </think> {ANSWER}", add_special_tokens=False)
    reply.append(tok.eos_token_id)
    from transformers import Qwen2ForCausalLM

    def generate(self, input_ids=None, attention_mask=None, **kw):
        tail = torch.tensor([reply] * input_ids.shape[0], dtype=input_ids.dtype)
        return torch.cat([input_ids, tail], dim=1)

    monkeypatch.setattr(Qwen2ForCausalLM, "generate", generate)
    out = tmp_path / "t.jsonl"
    cfg = GenerateConfig(
        data="builtin:arithmetic?n=1", teacher="hf", model=str(model), n=1, max_tokens=64,
        temperature=0.0, out=str(out),
    )  # fmt: skip
    run(cfg, progress=False)
    (rec,) = [json.loads(line) for line in out.open()]
    assert rec["think"] == "prefilled", rec
    assert rec["answer"] == ANSWER and rec["reasoning"] == DRAFT


def _vllm_teacher(tok):
    from distill.teachers.vllm import VLLMTeacher

    t = VLLMTeacher.__new__(VLLMTeacher)
    t.cfg = SimpleNamespace(logprobs=None)
    t.llm = SimpleNamespace(get_tokenizer=lambda: tok)
    t.tokenizer = None
    return t


def _out(prompt, ids, text):
    o = SimpleNamespace(text=text, finish_reason="length", token_ids=[5, 6], logprobs=None)
    return SimpleNamespace(prompt=prompt, prompt_token_ids=ids, outputs=[o])


def _plain_think_tokenizer(tmp_path):
    """The tiny tokenizer with <think>/</think> as ordinary added tokens (special: false), as
    the real Qwen3 / R1-Distill-Qwen tokenizer.json has them."""
    from transformers import AutoTokenizer

    make_tokenizer("qwen2").save_pretrained(tmp_path / "tok")
    f = tmp_path / "tok" / "tokenizer.json"
    spec = json.loads(f.read_text())
    for t in spec["added_tokens"]:
        if t["content"] in ("<think>", "</think>"):
            t["special"] = False
    f.write_text(json.dumps(spec))
    tok = AutoTokenizer.from_pretrained(tmp_path / "tok")
    ids = tok.encode("a </think> b", add_special_tokens=False)
    assert "</think>" in tok.decode(ids, skip_special_tokens=True)
    return tok


def test_vllm_a_think_close_its_decode_drops_is_not_read_as_unclosed():
    """vLLM decodes with skip_special_tokens: a </think> added with special=True is gone from
    o.text, so 'no tag' says nothing: the sample must not be marked in_think."""
    tok = make_tokenizer("qwen2")
    job = Job(prompt_id="p", messages=[{"role": "user", "content": "q"}], samples=[0])
    sink = _Sink()
    prompt = "<|im_start|>user\nq<|im_end|>\n<|im_start|>assistant\n<think>\n"
    _vllm_teacher(tok)._write([job], [_out(prompt, [1, 2, 3], f"{DRAFT} {ANSWER}")], sink)
    assert not sink.done_[0].extra.get("in_think")


def test_vllm_a_prompt_given_as_token_ids_is_read_from_them(tmp_path):
    """A vLLM whose RequestOutput.prompt is None (llm.chat handing the engine token ids): the
    prompt's tail is read from prompt_token_ids instead of silently recording 'none'."""
    tok = _plain_think_tokenizer(tmp_path)
    prompt = "<|im_start|>user\nq<|im_end|>\n<|im_start|>assistant\n<think>\n"
    ids = tok.encode(prompt, add_special_tokens=False)
    job = Job(prompt_id="p", messages=[{"role": "user", "content": "q"}], samples=[0])
    sink = _Sink()
    _vllm_teacher(tok)._write([job], [_out(None, ids, DRAFT)], sink)
    assert sink.done_[0].extra.get("in_think")
    sink = _Sink()
    _vllm_teacher(tok)._write([job], [_out(prompt, ids, DRAFT)], sink)
    assert sink.done_[0].extra.get("in_think")


# ------------------------------------------------------------------ cd64f68: distill run's check


@pytest.mark.usefixtures("offline_generate")
def test_an_eval_of_a_checkpoint_folder_this_runs_train_writes_is_not_refused_first(tmp_path):
    """eval: model: {run_dir}/student/checkpoint-2 (a step of this run's train, written by
    train): cd64f68 checked only --output-dir and its merged/, so the folder not there yet was
    refused ('model not found') before generate, on every fresh run of such a recipe."""
    with pytest.raises(GenerateStarted):
        _run(tmp_path, merged="/checkpoint-2")
