"""distill eval samples what the user trained: the ids the hf backend feeds the model are the
prompt ids train put before each completion (examples.Renderer), --format alpaca included."""

from __future__ import annotations

import json

import pytest

from distill.eval import EvalConfig, run
from distill.examples import Renderer, from_row
from distill.generate.stage import prompt_messages
from distill.models import load_tokenizer


@pytest.fixture
def fed(monkeypatch):
    """The prompt ids (padding left out) each generate call of the hf backend was given."""
    import transformers

    seen: list[list[int]] = []
    original = transformers.GenerationMixin.generate

    def spy(self, *args, **kwargs):
        ids, mask = kwargs["input_ids"], kwargs["attention_mask"]
        seen.extend(row[m.bool()].tolist() for row, m in zip(ids, mask))
        return original(self, *args, **kwargs)

    monkeypatch.setattr(transformers.GenerationMixin, "generate", spy)
    return seen


def trained_prompt_ids(model, data, fmt, split="test", **kw) -> list[list[int]]:
    """The prompt ids train renders for each problem's trace, as generate records it."""
    renderer = Renderer(load_tokenizer(str(model)), fmt)
    ids = []
    for i, (row, messages) in enumerate(prompt_messages(data, split, **kw)):
        record = {
            "messages": messages,
            "reasoning": None,
            "answer": "42",
            "teacher": {"backend": "hf", "model": "t"},
            "meta": row.fields,
        }
        ids.append(renderer.prompt_ids(from_row(record, f"row {i + 1}")))
    return ids


def test_alpaca_eval_of_a_builtin_set_prompts_as_train_did(tmp_path, tiny_llama, fed):
    # alpaca-no-input read {instruction}, which builtin:arithmetic's rows do not have: refused
    data = "builtin:arithmetic?n=3"
    out = tmp_path / "eval.json"
    run(EvalConfig(model=str(tiny_llama), data=data, format="alpaca", max_tokens=2, out=str(out)))
    assert json.loads(out.read_text())["student"]["samples"] == 3
    assert sorted(fed) == sorted(trained_prompt_ids(tiny_llama, data, "alpaca"))
    bos = load_tokenizer(str(tiny_llama)).bos_token_id
    assert all(ids[0] == bos and ids[1] != bos for ids in fed)  # one BOS, as train's


def test_alpaca_evals_template_file_never_replaces_a_users_file(tmp_path, tiny_llama):
    """The composed Alpaca template goes beside --out (<stem>.alpaca.txt): a user's file of that
    name is theirs, refused in one line; distill's own is written again."""
    from distill.errors import DistillError

    mine = tmp_path / "eval.alpaca.txt"
    mine.write_text("my notes\n")
    cfg = EvalConfig(
        model=str(tiny_llama), data="builtin:arithmetic?n=1", format="alpaca", max_tokens=2,
        out=str(tmp_path / "eval.json"),
    )  # fmt: skip
    with pytest.raises(DistillError, match="eval.alpaca.txt exists and distill did not write it"):
        run(cfg)
    assert mine.read_text() == "my notes\n"
    mine.unlink()
    run(cfg)
    written = mine.read_text()
    mine.write_text(written.replace("{prompt}", "{question}"))  # an older composition of ours
    run(cfg)
    assert mine.read_text() == written


def test_alpaca_eval_keeps_each_rows_input_as_train_did(tmp_path, tiny_llama, fed):
    # alpaca-no-input left the input out: "Add the numbers below." with no numbers below
    data = tmp_path / "held_out.jsonl"
    rows = [
        {"instruction": "Add the numbers below.", "input": "12 and 34", "output": "46"},
        {"instruction": "What is 2 + 2?", "input": "", "output": "4"},
    ]
    data.write_text("".join(json.dumps(r) + "\n" for r in rows))
    run(
        EvalConfig(
            model=str(tiny_llama),
            data=str(data),
            answer_field="output",
            verify="exact",
            format="alpaca",
            max_tokens=2,
            out=str(tmp_path / "eval.json"),
        )
    )
    expected = trained_prompt_ids(tiny_llama, str(data), "alpaca", answer_field="output")
    assert sorted(fed) == sorted(expected)
    tok = load_tokenizer(str(tiny_llama))
    assert any("12 and 34" in tok.decode(ids) for ids in fed)


def test_eval_asks_with_the_system_message_the_student_trained_with(tmp_path, tiny_qwen, fed):
    # traces generated with --system-prompt train the student after that message; eval had no
    # way to send it: every problem was asked without it
    data = "builtin:arithmetic?n=2"
    system = "You are a careful calculator."
    run(
        EvalConfig(
            model=str(tiny_qwen),
            data=data,
            system_prompt=system,
            max_tokens=2,
            out=str(tmp_path / "eval.json"),
        )
    )
    expected = trained_prompt_ids(tiny_qwen, data, "r1", system_prompt=system)
    assert sorted(fed) == sorted(expected)
    with pytest.raises(Exception, match="--system-prompt has no place in the Alpaca prompt"):
        EvalConfig(model=str(tiny_qwen), data=data, system_prompt=system, format="alpaca", out="e")
