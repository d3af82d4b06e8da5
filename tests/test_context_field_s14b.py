"""--context-field with a --template that shows the column itself as its `{input}`: eval
--format alpaca asks the prompt train trained on.

Generate sends such a template's wording with the context in its `{input}` (nothing appended),
and train --format alpaca trains that wording as the instruction with no Input section (it does
not end with the context: examples.alpaca_parts). Eval composed Alpaca's prompt_input around
the same wording: the context twice (inside the instruction and again in an `### Input:`
section), a prompt the student never trained on.
"""

from __future__ import annotations

import json

from distill.eval import EvalConfig
from distill.eval import run as run_eval
from distill.generate import GenerateConfig
from distill.generate import run as run_generate
from tests.test_alpaca_parity_s14 import tok  # noqa: F401 (a fixture)
from tests.test_context_field_s14 import _trained


def test_eval_of_a_template_showing_the_context_asks_what_train_trained(tok, server, tmp_path):  # noqa: F811
    row = dict(question="Which city?", passage="Paris is the capital.", answer="Paris")
    data = tmp_path / "data.jsonl"
    data.write_text(json.dumps(row) + "\n")
    template = tmp_path / "mine.txt"
    template.write_text("Q: {prompt}\nContext: {input}")
    common = dict(
        data=str(data),
        prompt_field="question",
        context_field="passage",
        template=str(template),
        model="fake-r1",
    )
    traces = tmp_path / "traces.jsonl"
    server.log.clear()
    run_generate(
        GenerateConfig(**common, teacher="openai", base_url=server.url, out=str(traces), n=1),
        progress=False,
    )
    ((teacher,),) = [[m["content"] for m in e["messages"]] for e in server.log]
    assert teacher == "Q: Which city?\nContext: Paris is the capital."
    trained = _trained(traces, "alpaca", tok)

    server.log.clear()
    run_eval(
        EvalConfig(
            **common,
            backend="openai",
            base_url=server.url,
            format="alpaca",
            verify="exact",
            out=str(tmp_path / "eval.json"),
        )
    )
    ((asked,),) = [e["messages"] for e in server.log]
    assert asked["content"] == trained
    assert asked["content"].count("Paris is the capital.") == 1
