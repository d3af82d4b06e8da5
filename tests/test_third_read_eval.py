"""A third read of eval and publish: the numbers a user shows others (pass@1 / maj@k, the card)
are the student's own, on its own samples, and what goes to the Hub is what the card says."""

from __future__ import annotations

import json

from distill.eval import EvalConfig, run
from distill.teachers import TEACHERS
from distill.teachers.base import Completion

R1_DISTILL = (  # DeepSeek-R1-Distill's generation prompt opens the think block itself
    "{% for message in messages %}{{ '<|im_start|>' + message['role'] + '\n' + message['content'] + '<|im_end|>' + '\n' }}"
    "{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\n<think>\n' }}{% endif %}"
)


def model_folder(path, template):
    from tests.tiny import make_tokenizer

    tok = make_tokenizer("qwen2")
    tok.chat_template = template
    tok.save_pretrained(path)
    (path / "config.json").write_text('{"model_type": "qwen2"}')
    return path


def fake_local_teacher(texts):
    """An hf teacher that answers every prompt with texts[sample] = (text, finish_reason)."""

    class Fake:
        def __init__(self, cfg):
            pass

        def run(self, jobs, sink):
            for job in jobs:
                for s in job.samples:
                    text, finish = texts[s]
                    sink.done(job, s, Completion(text=text, finish_reason=finish))

    return Fake


def test_a_sample_cut_off_inside_a_prefilled_think_block_has_no_answer(tmp_path, monkeypatch):
    """An R1-distill model's prompt ends with <think>: its sample is reasoning until </think>.
    One cut off before it (max_tokens) gave its whole reasoning as the answer, and a \\boxed{}
    drafted in the thinking scored it correct (a served model with a reasoning parser: wrong)."""
    model = model_folder(tmp_path / "r1-distill", R1_DISTILL)
    monkeypatch.setitem(
        TEACHERS,
        "hf",
        fake_local_teacher(
            [
                ("59 + 63 = \\boxed{122}, but let me check that ag", "length"),  # cut off
                ("59 + 63 = 122.\n</think>\n\nThe answer is \\boxed{122}.", "stop"),
            ]
        ),
    )
    from tests.tiny import CHATML

    plain = model_folder(tmp_path / "plain", CHATML)  # no think block: all of it is the answer
    out = tmp_path / "eval.json"
    cfg = EvalConfig(
        model=str(model),
        baseline=str(plain),
        data="builtin:arithmetic?n=1",  # What is 59 + 63?
        n=2,
        temperature=0.6,
        out=str(out),
    )
    run(cfg)
    result = json.loads(out.read_text())
    assert result["student"]["samples"] == 2
    assert result["student"]["pass@1"] == 0.5  # the cut-off sample has no final answer
    assert result["baseline"]["pass@1"] == 1.0
