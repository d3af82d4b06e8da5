"""Second read of the train / kd / xtok fixes (e8520af, 329589a, 4aacac7, ...): what they left
broken in another path (Qwen3 with --keep-markers, kd's recount of the counts)."""

from __future__ import annotations

import json

import pytest

from distill.examples import Example, Renderer, spans, tokenize_examples
from tests.test_examples import real_template_tokenizer

USER = {"role": "user", "content": "What is 1 + 1?"}
MARKED = (
    "<|begin_of_thought|>\n\none and one\n\n<|end_of_thought|>\n\n"
    "<|begin_of_solution|>\n\n2\n\n<|end_of_solution|>"
)


# =========================================================================== e8520af, Qwen3


def test_qwen3_keep_markers_trains_the_markers_verbatim_and_passes_the_preflight():
    # --keep-markers trains thought/solution markers verbatim with a template that does not open
    # <think> itself (README); Qwen3's does not. e8520af put Qwen3's empty think block before
    # them, and the pre-flight then stopped every such run ("the think block is empty while the
    # answer holds thought/solution markers ... use a template that does not open <think>").
    from distill.preflight import problems

    tok = real_template_tokenizer("qwen3")
    renderer = Renderer(tok, "r1")
    cols, _ = tokenize_examples([Example(prompt=[USER], completion=MARKED)], renderer, 1024)
    ids, mask = cols["input_ids"][0], cols["completion_mask"][0]
    [(a, b)] = spans(mask)
    assert tok.decode(ids[a:b]) == MARKED + "<|im_end|>\n"
    assert problems(tok, ids, mask, renderer.stops) == []


def test_qwen3_answer_without_markers_still_trains_the_empty_think_block():
    tok = real_template_tokenizer("qwen3")
    renderer = Renderer(tok, "r1")
    assert (
        renderer.completion_text(Example(prompt=[USER], completion="2"))
        == "<think>\n\n</think>\n\n2<|im_end|>\n"
    )


# =========================================================================== 329589a, recount


def _r1_chat(second_user: str) -> Example:
    return Example(
        prompt=[
            USER,
            {"role": "assistant", "content": "2"},
            {"role": "user", "content": second_user},
        ],
        completion="4",
    )


@pytest.mark.parametrize("overlong", ["drop", "truncate"])
def test_kd_recount_keeps_examples_equal_to_kept_plus_dropped(tmp_path, overlong):
    # kd with a teacher of another tokenizer / stored top-K trains the last turn of each chat
    # (sft.recount rewrites train_data.json). A chat whose first turn fits but whose last turn
    # does not is kept by SFT's count (turns_left_out 1) and left out of kd's dataset: recount
    # wrote kept from kd's rows but SFT's drops, turns_left_out and prompt tokens, so
    # examples != kept + dropped and the card said "1 trained on (0 dropped)" of 2 examples.
    from types import SimpleNamespace

    from datasets import Dataset

    from distill.train.sft import recount

    tok = real_template_tokenizer("deepseek-r1-distill-qwen")
    long_answer = Example(prompt=[USER], completion="4 " * 200)  # cut, or dropped
    exs = [_r1_chat("And 2 + 2?"), _r1_chat("And 2 + 2? " + "0 1 2 3 " * 60), long_answer]
    _, st = tokenize_examples(exs, Renderer(tok, "r1"), 128, overlong)
    assert st.turns_left_out == 1
    # kd's dataset: the last turn of each chat, as xtok_dataset / stored_dataset build it
    last = Renderer(tok, "r1", train_on="last")
    cols, _ = tokenize_examples(exs, last, 128, overlong)
    assert len(cols["input_ids"]) == (2 if overlong == "truncate" else 1)
    cfg = SimpleNamespace(max_length=128, overlong=overlong)
    recount(tmp_path, Dataset.from_dict(cols), st.__dict__, cfg, last.stops)
    got = json.loads((tmp_path / "train_data.json").read_text())
    n = len(cols["input_ids"])
    assert got["examples"] == 3 == got["kept"] + got["dropped_overlong"] + got["dropped_all_masked"]
    assert got["kept"] == n and got["turns_left_out"] == 0
    assert got["truncated"] == (1 if overlong == "truncate" else 0)
    assert got["prompt_tokens"] == sum(len(m) - sum(m) for m in cols["completion_mask"])
