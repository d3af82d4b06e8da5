"""eval's reading of a sample after a prompt that opened `<think>` agrees with the teacher that
sampled it: eval re-checked the model's template with a narrower rule than the vLLM teacher's
(`</think>` in all_special_tokens, not an added token marked special), so a vLLM-decoded sample
whose `</think>` the decode dropped was read as never closing its block, answer "", scored 0."""

from __future__ import annotations

import json

from distill.eval import EvalConfig, run
from distill.teachers import TEACHERS
from tests.test_third_read_eval import R1_DISTILL, fake_local_teacher, model_folder

# the model wrote "...46.</think> The answer is \boxed{46}."; a decode that skips special
# tokens (vLLM's, where the tokenizer marks </think> special) returns it without the tag
DROPPED = ("What is 59 + 63? 59 + 63 = 122. The answer is \\boxed{122}.", "stop")


def _eval(tmp_path, monkeypatch, backend):
    model = model_folder(tmp_path / "r1-distill", R1_DISTILL)  # </think>: added, special
    monkeypatch.setitem(TEACHERS, backend, fake_local_teacher([DROPPED]))
    out = tmp_path / "eval.json"
    cfg = EvalConfig(
        model=str(model), data="builtin:arithmetic?n=1", n=1, temperature=0.0, out=str(out),
        backend=backend,
    )  # fmt: skip
    run(cfg)
    return json.loads(out.read_text())["student"]["pass@1"]


def test_vllm_a_sample_whose_think_close_the_decode_dropped_keeps_its_answer(tmp_path, monkeypatch):
    """The vLLM teacher does not mark such samples in_think (drops_think); eval did, so every
    sample of an R1-Distill-style model whose tokenizer marks </think> special scored 0."""
    assert _eval(tmp_path, monkeypatch, "vllm") == 1.0


def test_hf_the_same_text_is_read_as_cut_off_inside_the_block(tmp_path, monkeypatch):
    """The hf teacher keeps the tags it decodes: no tag after a prompt that opened <think> is a
    sample cut off in its thinking, no answer (unchanged)."""
    assert _eval(tmp_path, monkeypatch, "hf") == 0.0
