"""--context-field on a prompt source: generate, eval and on-policy ask the prompt train trains.

Train maps a context column with --context-field (Alpaca's input, dolly's `context`): after
the prompt and a blank line in a chat turn (r1), the `### Input:` section under --format
alpaca. Generate, eval and on-policy had no such option: eval of a dolly-style set (instruction,
context, response) dropped the context under --format alpaca and could only put it inside the
Instruction with a template; generate could send it through a template alone. Each case here
runs one dolly-style row through generate (what the teacher got), train (the tokens before the
first loss token: of generate's traces, and of the dataset row mapped with --context-field),
eval (what the student was asked) and on-policy's prompt source, under both formats: one
prompt, byte for byte.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from distill.errors import DistillError
from distill.eval import EvalConfig
from distill.eval import run as run_eval
from distill.examples import Columns, Renderer, load_examples, tokenize_examples
from distill.generate import GenerateConfig
from distill.generate import run as run_generate
from distill.pipeline import run as pipeline_run
from distill.templates import load_template
from distill.train.config import TrainConfig
from tests.inproc import distill
from tests.test_alpaca_parity_s14 import tok  # noqa: F401 (a fixture)

INSTRUCTION = "Which city is the capital?"
PASSAGE = "Paris is the capital of France."
DOLLY = dict(instruction=INSTRUCTION, context=PASSAGE, response="Paris", category="closed_qa")
CASES = {
    # (row, prompt field, context column, template)
    "dolly": (DOLLY, "instruction", "context", None),
    "dolly-empty-context": ({**DOLLY, "context": ""}, "instruction", "context", None),
    "dolly-null-context": ({**DOLLY, "context": None}, "instruction", "context", None),
    # no instruction column: the prompt sent (a template's wording) is the Alpaca instruction
    "question+passage": (
        dict(question="Which city?", passage=PASSAGE, answer="Paris"),
        "question",
        "passage",
        None,
    ),
    "template": (
        dict(question="Which city?", passage=PASSAGE, answer="Paris"),
        "question",
        "passage",
        "Answer briefly: {prompt}",
    ),
}


def _write(tmp_path: Path, *rows: dict) -> Path:
    data = tmp_path / "data.jsonl"
    data.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return data


def _trained(path: Path, fmt: str, tokenizer, columns: Columns | None = None) -> str:
    """Train's prompt: the text before the first loss token."""
    (ex,) = load_examples(str(path), columns=columns)
    cols, _ = tokenize_examples([ex], Renderer(tokenizer, fmt), 8192)
    ids, mask = cols["input_ids"][0], cols["completion_mask"][0]
    return tokenizer.decode(ids[: mask.index(1)])


def _rendered(sent: list[dict], fmt: str, tokenizer) -> str:
    """The prompt a sent request is: the raw text (alpaca), or the chat template's (r1)."""
    if fmt == "alpaca":
        (message,) = sent
        return message["content"]
    return tokenizer.apply_chat_template(sent, tokenize=False, add_generation_prompt=True)


@pytest.mark.parametrize("fmt", ["alpaca", "r1"])
@pytest.mark.parametrize("name", list(CASES))
def test_teacher_train_eval_and_onpolicy_ask_one_prompt(fmt, name, tok, server, tmp_path):  # noqa: F811
    row, field, column, template = CASES[name]
    data = _write(tmp_path, row)
    if template is not None:
        (tmp_path / "mine.txt").write_text(template)
        template = str(tmp_path / "mine.txt")
    common = dict(
        data=str(data), prompt_field=field, context_field=column, template=template, model="fake-r1"
    )
    traces = tmp_path / "traces.jsonl"
    server.log.clear()
    run_generate(
        GenerateConfig(**common, teacher="openai", base_url=server.url, out=str(traces), n=1),
        progress=False,
    )
    # the teacher got the context after the prompt and a blank line (none where it is empty)
    ((teacher,),) = [[m["content"] for m in e["messages"]] for e in server.log]
    wording = row[field] if template is None else f"Answer briefly: {row[field]}"
    context = row[column] or ""
    assert teacher == (f"{wording}\n\n{context}" if context else wording)
    (record,) = [json.loads(line) for line in traces.read_text().splitlines()]
    assert record["meta"]["context_field"] == column  # what train --format alpaca reads

    trained = _trained(traces, fmt, tok)
    if template is None:  # the dataset row itself, mapped as train maps it: the same prompt
        answer = "response" if "response" in row else "answer"
        mapped = Columns(prompt_field=field, context_field=column, answer_field=answer)
        assert _trained(data, fmt, tok, mapped) == trained

    server.log.clear()
    run_eval(
        EvalConfig(
            **common,
            backend="openai",
            base_url=server.url,
            format=fmt,
            verify="exact",
            answer_field="response" if "response" in row else "answer",
            out=str(tmp_path / "eval.json"),
        )
    )
    (sent,) = [e["messages"] for e in server.log]
    assert _rendered(sent, fmt, tok) == trained

    # on-policy train on the same prompt source samples after the same prompt (and its reward
    # finds the row's gold by those tokens)
    from distill.train.kd.data import prompt_dataset
    from distill.train.kd.reward import _references

    cfg = TrainConfig(
        data=str(data),
        model="fake-r1",
        output_dir=str(tmp_path / "o"),
        method="onpolicy",
        teacher_model="t",
        lmbda=1.0,
        format=fmt,
        prompt_field=field,
        context_field=column,
        template=template,
        max_length=512,
    )
    ds, _ = prompt_dataset(cfg, tok, None)
    assert tok.decode(ds[0]["input_ids"]) == trained
    assert tuple(ds[0]["input_ids"]) in _references(cfg, tok, None)

    if fmt == "alpaca":  # Alpaca's recipe: the context is the Input section, none if empty
        want = dict(instruction=wording, input=context)
        assert trained == load_template("alpaca" if context else "alpaca-no-input").render(want)


def test_an_alpaca_eval_of_dolly_rows_asks_each_with_its_own_context(server, tmp_path):
    # one composed prompt per row: a row with a context in the Input section, one without none
    rows = [
        dict(question="Which city?", passage=PASSAGE, answer="Paris"),
        dict(question="What is 2 + 3?", passage="", answer="5"),
    ]
    data = _write(tmp_path, *rows)
    run_eval(
        EvalConfig(
            data=str(data),
            prompt_field="question",
            context_field="passage",
            model="fake-r1",
            backend="openai",
            base_url=server.url,
            format="alpaca",
            verify="exact",
            out=str(tmp_path / "eval.json"),
        )
    )
    asked = sorted(e["messages"][0]["content"] for e in server.log)
    assert asked == sorted(
        [
            load_template("alpaca").render(dict(instruction="Which city?", input=PASSAGE)),
            load_template("alpaca-no-input").render(dict(instruction="What is 2 + 3?")),
        ]
    )
    assert json.loads((tmp_path / "eval.json").read_text())["context_field"] == "passage"


@pytest.mark.parametrize("command", ["generate", "eval"])
def test_a_missing_context_column_is_one_line_naming_it(command, server, tmp_path):
    data = _write(tmp_path, dict(instruction=INSTRUCTION, response="Paris"))
    argv = [command, "--data", data, "--context-field", "context", "--base-url", server.url]
    if command == "generate":
        argv += ["--teacher", "openai", "--model", "fake-r1", "--out", tmp_path / "t.jsonl"]
    else:
        argv += ["--backend", "openai", "--model", "fake-r1", "--answer-field", "response"]
        argv += ["--verify", "exact", "--out", tmp_path / "eval.json"]
    res = distill(*argv)
    assert res.returncode == 1 and "Traceback" not in res.stderr
    (line,) = res.stderr.strip().splitlines()
    assert "no column 'context' (--context-field)" in line and "row 1" in line, line
    assert server.log == []  # nothing asked


def test_onpolicy_refuses_a_missing_context_column_in_one_line(tmp_path):
    from distill.train.kd.data import prompt_chats

    data = _write(tmp_path, dict(instruction=INSTRUCTION))
    cfg = TrainConfig(
        data=str(data),
        model="fake-r1",
        output_dir=str(tmp_path / "o"),
        method="onpolicy",
        teacher_model="t",
        lmbda=1.0,
        context_field="context",
    )
    with pytest.raises(DistillError, match=r"row 1: no column 'context' \(--context-field\)"):
        list(prompt_chats(cfg))


@pytest.mark.parametrize(
    "row,template,says",
    [
        # a chat is sent as it is: no place for the column
        (dict(prompt=[{"role": "user", "content": "Hi"}], passage="x"), None, "is a chat"),
        # a template that shows the column itself would ask it twice
        (dict(question="Q", passage="x"), "{prompt}\n\n{passage}", "shows column 'passage'"),
        (dict(question="Q", passage=3), None, "must be text, got int"),
    ],
)
def test_a_context_with_no_place_is_refused(row, template, says, tmp_path):
    from distill.generate import prompt_messages

    data = _write(tmp_path, row)
    if template is not None:
        (tmp_path / "t.txt").write_text(template)
        template = str(tmp_path / "t.txt")
    with pytest.raises(DistillError, match=says):
        list(prompt_messages(str(data), template=template, context_field="passage"))


def _recipe(
    tmp_path: Path, url: str, ev: dict, train: dict | None = None, row: dict = DOLLY
) -> Path:
    data = _write(tmp_path, row)
    sections = {
        "run": {"dir": str(tmp_path / "run")},
        "generate": {
            "data": str(data),
            "context_field": "context",
            "teacher": "openai",
            "model": "fake-r1",
            "base_url": url,
            "out": "{run_dir}/traces.jsonl",
        },
        "eval": {
            "model": "fake-r1",
            "backend": "openai",
            "base_url": url,
            "data": str(data),
            "answer_field": "response",
            "verify": "exact",
            "out": "{run_dir}/eval.json",
            **ev,
        },
    }
    if train is not None:
        sections["train"] = {"model": "fake-r1", "output_dir": "{run_dir}/student", **train}
    path = tmp_path / "r.yaml"
    path.write_text(yaml.safe_dump(sections))
    return path


def test_run_asks_eval_on_generates_set_with_its_context_field(server, tmp_path):
    pipeline_run(_recipe(tmp_path, server.url, {}), only=["eval"])
    (sent,) = [e["messages"][-1]["content"] for e in server.log]
    assert sent == f"{INSTRUCTION}\n\n{PASSAGE}"  # as generate asked the teacher


def test_run_keeps_an_eval_sections_own_context_field(server, tmp_path, capsys):
    path = _recipe(tmp_path, server.url, {"context_field": "category"})
    pipeline_run(path, only=["eval"])
    (sent,) = [e["messages"][-1]["content"] for e in server.log]
    assert sent == f"{INSTRUCTION}\n\nclosed_qa"
    assert "note: eval.context_field is not context" in capsys.readouterr().out


def test_run_asks_eval_on_trains_set_with_trains_context_field(server, tmp_path):
    # train maps the dataset itself (no generate): eval of its rows takes train's column
    path = _recipe(
        tmp_path,
        server.url,
        {},
        train={
            "data": str(tmp_path / "data.jsonl"),
            "prompt_field": "instruction",
            "context_field": "context",
            "answer_field": "response",
        },
    )
    recipe = yaml.safe_load(path.read_text())
    del recipe["generate"]
    path.write_text(yaml.safe_dump(recipe))
    pipeline_run(path, only=["eval"])
    (sent,) = [e["messages"][-1]["content"] for e in server.log]
    assert sent == f"{INSTRUCTION}\n\n{PASSAGE}"


def test_run_samples_onpolicy_on_generates_prompts_with_its_context_field(
    server, tmp_path, monkeypatch
):
    import distill.train.kd.data as kd_data

    seen = []
    monkeypatch.setattr(kd_data, "prompt_chats", lambda c: seen.append(c.context_field) or [])
    prompts = dict(instruction=INSTRUCTION, context=PASSAGE)  # no completion: a prompt source
    train = {"method": "onpolicy", "teacher_model": "t", "lmbda": 1.0}
    path = _recipe(
        tmp_path, server.url, {}, {**train, "data": str(tmp_path / "data.jsonl")}, prompts
    )
    pipeline_run(path, only=["train"], dry_run=True)
    assert seen == ["context"]
