"""generate with a local R1-Distill-style teacher: its chat template ends the prompt with
`<think>`, so a sample is reasoning until `</think>`; one cut off before it has no answer."""

from __future__ import annotations

import json

from distill.generate import GenerateConfig, run
from distill.teachers import TEACHERS
from tests.test_third_read_eval import R1_DISTILL, fake_local_teacher, model_folder
from tests.tiny import CHATML


def _generate(tmp_path, monkeypatch, template, teacher="hf"):
    model = model_folder(tmp_path / "teacher", template)
    monkeypatch.setitem(
        TEACHERS,
        teacher,
        fake_local_teacher(
            [
                ("59 + 63 = \\boxed{122}, but let me check that ag", "length"),  # cut off
                ("59 + 63 = 122.\n</think>\n\nThe answer is \\boxed{122}.", "stop"),
            ]
        ),
    )
    out = tmp_path / "t.jsonl"
    run(
        GenerateConfig(
            data="builtin:arithmetic?n=1", teacher=teacher, model=str(model), n=2, out=str(out)
        ),
        progress=False,
    )
    return sorted((json.loads(line) for line in out.open()), key=lambda r: r["sample"])


def test_a_sample_cut_off_inside_the_prompts_think_block_is_all_reasoning(tmp_path, monkeypatch):
    """It was recorded as think 'none' with its draft as the answer: the filter (with the
    truncated check off, or a model that ended inside the block) verified the drafted \\boxed{}
    and trained the chain of thought as the answer, with no <think> around it."""
    cut, closed = _generate(tmp_path, monkeypatch, R1_DISTILL)
    assert cut["think"] == "unclosed" and cut["answer"] == ""
    assert cut["reasoning"] == "59 + 63 = \\boxed{122}, but let me check that ag"
    assert closed["think"] == "prefilled" and closed["answer"] == "The answer is \\boxed{122}."


def test_a_template_that_opens_no_think_block_keeps_a_plain_answer(tmp_path, monkeypatch):
    cut, _ = _generate(tmp_path, monkeypatch, CHATML)
    assert cut["think"] == "none" and cut["answer"].startswith("59 + 63")
