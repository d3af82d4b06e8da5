"""Public sets' rows as their copies save them, read as their authors meant (session 19):

- SciQ (allenai/sciq) copied without its `support` column was read as a plain question (no
  options, no gold); it is SciQ all the same now.
- A set read as BoolQ from its first rows (yes/no answers) whose later row answers "Paris" was
  refused as if the row had mistyped one of options the user never gave; the line says how the
  set was read now.
- Renderer: a DeepSeek-R1 trace stored without its opening `<think>` with CRLF line ends
  ("R\\r\\n</think>\\r\\n\\r\\nA") under Qwen3's and GLM's templates trained an empty think
  block, then R (and a stray `</think>`) as the answer; it reads as its LF twin now.
"""

from __future__ import annotations

import pytest

from distill.data import load_rows
from distill.errors import DistillError
from distill.examples import Example, Renderer
from tests.test_datasets_s18 import (
    SCIQ,
    _asked,
    _options_of,
    _trained,
    _write,
    head,
    lettered,
)
from tests.test_reply_ids_s18 import USER, qwen_like

# ====================================================================================== SciQ


def test_sciq_without_its_support_column_is_still_sciq(tmp_path):
    ((gold, full),) = _asked(_write(tmp_path, SCIQ))
    options = list(_options_of(full).values())
    bare = head("ABCD") + SCIQ["question"] + "\n\n" + lettered(options)
    no_support = {k: v for k, v in SCIQ.items() if k != "support"}
    data = _write(tmp_path, no_support, name="no_support.jsonl")
    # was: the question alone, no options, no gold
    assert _asked(data) == [(gold, bare)]
    assert _trained(data, prompt_field="question", answer_field="correct_answer") == [
        (bare, f"Answer: {gold}")
    ]
    # an empty support reads alike
    assert _asked(_write(tmp_path, {**SCIQ, "support": ""}, name="empty.jsonl")) == [(gold, bare)]


# ===================================================================================== BoolQ


def test_a_later_free_form_answer_of_a_set_read_as_boolq_says_how_it_was_read(tmp_path):
    rows = [
        {"question": f"is it {i}", "answer": "yes" if i % 2 else "no", "passage": f"It is {i}."}
        for i in range(1001)
    ]
    rows.append({"question": "what is the capital", "answer": "Paris", "passage": "France."})
    data = _write(tmp_path, *rows)
    read = r"data.jsonl:1002: field 'answer' is 'Paris', not yes or no .*read as BoolQ .*first rows"
    with pytest.raises(DistillError, match=read) as e:
        list(load_rows(data))
    assert "\n" not in str(e.value)
    with pytest.raises(DistillError, match="row 1002: field 'answer' is 'Paris'.*read as BoolQ"):
        _trained(data, prompt_field="question", answer_field="answer")
    # google/boolq's bool answers, a JSONL whose later row writes a free-form one
    typed = [{"question": "is it", "answer": True, "passage": "It is."}] * 2
    typed.append({"question": "what is it", "answer": "Paris", "passage": "France."})
    with pytest.raises(DistillError, match=r"typed.jsonl:3: .*'Paris'.*read as BoolQ"):
        list(load_rows(_write(tmp_path, *typed, name="typed.jsonl")))
    # super_glue's boolq: `label` 0 or 1
    glue = [{"question": "is it", "passage": "It is.", "idx": 0, "label": 1},
            {"question": "is it", "passage": "It is.", "idx": 1, "label": 7}]  # fmt: skip
    with pytest.raises(DistillError, match=r"glue.jsonl:2: field 'label' is 7, not 0 \(no\) or 1"):
        list(load_rows(_write(tmp_path, *glue, name="glue.jsonl")))


# ================================================================= Renderer: an R1 trace, CRLF


@pytest.mark.parametrize("name", ["qwen3", "qwen3-thinking-2507", "glm-4.6"])
def test_an_r1_trace_stored_without_its_think_with_crlf_trains_as_its_lf_twin(name):
    tok = qwen_like(name)
    renderer = Renderer(tok, "r1")

    def trained(completion: str) -> str:
        ex = Example(prompt=[USER], completion=completion)
        return renderer.completion_text(ex, renderer.prompt_text(ex))

    lf = trained("six and six\n</think>\n\n12")
    crlf = trained("six and six\r\n</think>\r\n\r\n12")
    # was: an empty think block, then "six and six\r\n</think>\r\n\r\n12" as the answer
    assert crlf == lf
    assert crlf.count("</think>") == 1 and "six and six" in crlf.split("</think>")[0]


def test_an_r1_crlf_turn_in_a_qwen3_chats_history_reads_as_its_lf_twin():
    tok = qwen_like("qwen3")
    renderer = Renderer(tok, "r1")

    def rows(trace: str) -> list[str]:
        chat = [USER, {"role": "assistant", "content": trace}, {"role": "user", "content": "y?"}]
        ex = Example(prompt=chat, completion="<think>\nR\n</think>\n\nA")
        return [tok.decode(ids) for ids, _ in renderer.sequences(ex)]

    crlf = rows("six and six\r\n</think>\r\n\r\n12")
    assert crlf == rows("six and six\n</think>\n\n12")
    assert "<think>\nsix and six\n</think>\n\n12" in crlf[0]
