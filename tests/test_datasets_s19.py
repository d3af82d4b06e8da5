"""Public sets' rows as their copies save them, read as their authors meant (session 19):

- Renderer: a DeepSeek-R1 trace stored without its opening `<think>` with CRLF line ends
  ("R\\r\\n</think>\\r\\n\\r\\nA") under Qwen3's and GLM's templates trained an empty think
  block, then R (and a stray `</think>`) as the answer; it reads as its LF twin now.
"""

from __future__ import annotations

import pytest

from distill.examples import Example, Renderer
from tests.test_reply_ids_s18 import USER, qwen_like

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
