"""generate with a local R1-Distill-style teacher: its chat template ends the prompt with
`<think>`, so a sample is reasoning until `</think>`; one cut off before it has no answer."""

from __future__ import annotations

import json

from distill.generate import GenerateConfig, run
from distill.teachers.hf import prompt_opens_think
from tests.test_third_read_eval import R1_DISTILL
from tests.tiny import CHATML, make_tiny_model


def _generate(tmp_path, template):
    from transformers import AutoTokenizer

    model = make_tiny_model(tmp_path / "teacher")
    tok = AutoTokenizer.from_pretrained(model)
    tok.chat_template = template
    tok.save_pretrained(model)
    out = tmp_path / "t.jsonl"
    cfg = GenerateConfig(
        data="builtin:arithmetic?n=2", teacher="hf", model=str(model), n=2, max_tokens=6,
        temperature=1.0, seed=0, out=str(out),
    )  # fmt: skip
    run(cfg, progress=False)
    return [json.loads(line) for line in out.open()]


def test_a_sample_cut_off_inside_the_prompts_think_block_is_all_reasoning(tmp_path):
    """The real hf teacher (a tiny random model: 6 tokens, never a </think>) after a prompt
    that opened <think>: each sample was recorded as think 'none' with its draft as the answer,
    so the filter (truncated check off, or a model that ended inside the block) verified a
    \\boxed{} drafted in the thinking and trained the chain of thought as the answer."""
    recs = _generate(tmp_path, R1_DISTILL)
    assert len(recs) == 4
    for r in recs:
        assert r["think"] == "unclosed" and r["answer"] == "", r
        assert r["reasoning"] is not None


def test_a_template_that_opens_no_think_block_keeps_a_plain_answer(tmp_path):
    recs = _generate(tmp_path, CHATML)
    # a sample that writes no <think> is a plain answer; the random model opens one of its own
    # in one of the four (its tags kept: tests/test_hf_think_s12c.py), which is reasoning
    plain = [r for r in recs if r["think"] == "none"]
    assert plain and all(r["reasoning"] is None and r["answer"] for r in plain)
    assert all(r["reasoning"] is not None for r in recs if r["think"] != "none")


def test_prompt_opens_think_reads_the_rendered_prompt():
    assert prompt_opens_think("<|im_start|>assistant\n<think>\n")
    assert not prompt_opens_think("<|im_start|>assistant\n<think>\n\n</think>\n\n")
    assert not prompt_opens_think("<|im_start|>assistant\n")


def test_selects_student_samples_read_the_prompts_think_block_too():
    """select --student samples through generate's teachers with a sink of its own: a student
    cut off inside its template's <think> had its draft \\boxed{} verified, and the prompt read
    as easier than it is."""
    from types import SimpleNamespace

    from distill.select.difficulty import _Sink
    from distill.teachers import Completion

    written = []
    writer = SimpleNamespace(write=written.append, written=0)  # a RecordWriter's count
    tcfg = SimpleNamespace(teacher="hf", model="m", params={})
    sink = _Sink(writer, tcfg)
    job = SimpleNamespace(
        payload=(SimpleNamespace(gold="122", meta={}), ["id0"]), prompt_id="p", messages=[]
    )
    c = Completion(text="59 + 63 = \\boxed{122}, but let me ch", finish_reason="length")
    c.extra["in_think"] = True
    sink.done(job, 0, c)
    assert written[0]["answer"] == "" and written[0]["reasoning"].startswith("59 + 63")
