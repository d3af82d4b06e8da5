"""Review of 28f9031 (Renderer._read_on): the added tokens a text is cut at were found by
comparing every added token with every other one (is it part of a longer one?), once per
Renderer on its first row: ~8 s for Gemma-3's 6,384 added tokens (builtin:gemma3-270m, the
google/gemma-3 checkpoints), on every train / kd / export run of such a student, more than the
O(n^2) reading 28f9031 removed saved on a long chat. Each token's pieces are looked up now.

    .venv/bin/python -m pytest tests/test_render_review_s17.py -q
"""

from __future__ import annotations

import time

from distill.examples import Example, Renderer
from tests.tiny import make_tokenizer


def test_a_student_with_many_added_tokens_renders_its_first_row_at_once():
    tok = make_tokenizer("qwen2")
    # as Gemma-3's <unused0>..<unused6241>, its image tokens and its runs of newlines
    unused = [f"<unused{i}>" for i in range(20000)]
    tok.add_special_tokens({"additional_special_tokens": unused})
    tok.add_tokens(["\n" * n for n in range(2, 32)])
    ex = Example(prompt=[{"role": "user", "content": "What is 12 + 34?"}], completion="46")
    r = Renderer(tok, "r1")
    t0 = time.perf_counter()
    ids, completion = r.encode(ex)
    took = time.perf_counter() - t0
    full = tok.apply_chat_template(
        [*ex.prompt, {"role": "assistant", "content": "46"}], tokenize=False
    )
    assert ids + completion == tok(full, add_special_tokens=False)["input_ids"]
    # a hang guard, generous for a loaded machine: ~40 s before, ~0.2 s now
    assert took < 10.0
