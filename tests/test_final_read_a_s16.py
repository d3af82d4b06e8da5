"""Last read of this session's reading fixes (0db3446, 939b72f, 622ffec, d923889, f31a384).

1. A reply kept beside its reasoning (a trace's `reasoning` + `answer`, as `distill generate`
   writes it; a chat message's `reasoning_content`) whose answer names `</think>` (explains the
   tag): examples.with_markers_split took any `</think>` in the answer for the think block a
   server echoes into the content and kept only the text after the tag, so 'Use </think> to
   close.' trained as 'to close.' under every template (622ffec kept such a reply whole only
   where it had no reasoning). Only an answer that opens with the echoed block (a think block,
   or the reasoning itself / nothing before `</think>`) loses it now.
"""

from __future__ import annotations

import json

import pytest

from distill.examples import load_examples
from tests.test_reasoning_templates_s15 import USER, record, tokenizer, train_rows

NAMES_TAG = "Use </think> to close the block."


def completions(tmp_path, rows):
    data = tmp_path / "rows.jsonl"
    data.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return [ex.completion for ex in load_examples(str(data))]


def test_an_answer_beside_its_reasoning_that_names_the_tag_is_kept_whole(tmp_path):
    chat = {
        "messages": [
            USER,
            {"role": "assistant", "content": NAMES_TAG, "reasoning_content": "one and one"},
        ]
    }
    want = "<think>\none and one\n</think>\n\n" + NAMES_TAG
    assert completions(tmp_path, [record("one and one", NAMES_TAG), chat]) == [want, want]


@pytest.mark.parametrize(
    "echoed",
    [
        "<think>\none and one\n</think>\n\n",  # the block
        "<think>\n\n</think>\n\n",  # an empty one
        "one and one\n</think>\n\n",  # the reasoning, its <think> in the prompt
        "</think>\n\n",  # the close tag alone
    ],
)
def test_a_block_echoed_into_the_answer_is_still_trained_once(tmp_path, echoed):
    [got] = completions(tmp_path, [record("one and one", echoed + NAMES_TAG)])
    assert got == "<think>\none and one\n</think>\n\n" + NAMES_TAG


@pytest.mark.parametrize("name", ["qwen3", "glm-4.6", "gpt-oss", "ministral-3-reasoning"])
def test_the_student_trains_the_whole_answer_after_its_reasoning(tmp_path, name):
    [(_, _, trained)] = train_rows(tmp_path, tokenizer(name), [record("one and one", NAMES_TAG)])
    assert NAMES_TAG in "".join(trained)


# =========================================================================== 2. char_ends


@pytest.mark.parametrize("kind", ["strip", "metaspace"])
@pytest.mark.parametrize("pieces", [["▁"], ["▁▁"], ["▁▁", "▁"]])
def test_a_run_of_spaces_in_running_text_ends_where_its_spaces_do(kind, pieces):
    """939b72f read a text as its tokens decoded alone wherever that decoding was a prefix of
    it: a text of spaces alone (a sample of whitespace, Llama-2's / Mistral's tokens in running
    text) decoded alone to a shorter run, '' for a lone `▁`, and its tokens ended short of
    their spaces ([0] for ' '; before 939b72f [1])."""
    from distill.logprobs import char_ends
    from tests.test_xtok_spm_s10 import spm

    tok = spm(kind)
    ids = tok.convert_tokens_to_ids(pieces)
    text = "".join(pieces).replace("▁", " ")
    ends = char_ends(tok, ids, text)
    assert ends is not None and ends[-1] == len(text)
    assert ends == [len("".join(pieces[: k + 1])) for k in range(len(pieces))]
