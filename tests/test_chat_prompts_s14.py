"""A prompt field holding a chat (TRL's conversational prompt-only rows: `prompt` a list of
role/content messages ending with the user's turn, or its JSON text in a CSV) is sent as that
chat: generate's teacher gets exactly those messages, the trace record keeps them, a rerun asks
nothing again, eval asks the student that chat, on-policy samples the same one. What has no
meaning with a chat is refused in one line; so is a prompt source's legacy `functions` column.

    .venv/bin/python -m pytest tests/test_chat_prompts_s14.py -q
"""

from __future__ import annotations

import csv
import json

import pytest

from distill.errors import DistillError
from distill.generate import GenerateConfig, run
from distill.records import read_records

SYSTEM = {"role": "system", "content": "Be brief."}
ASK = {"role": "user", "content": "What is 2 + 2?"}
# several turns: the teacher answers the last user turn
TURNS = [
    {"role": "user", "content": "What is 3 + 4?"},
    {"role": "assistant", "content": "7"},
    {"role": "user", "content": "What is 5 + 6?"},
]
ROWS = [{"prompt": [SYSTEM, ASK], "answer": "4"}, {"prompt": TURNS, "answer": "11"}]


def jsonl(path, rows):
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return str(path)


def as_csv(path, rows):
    """TRL's conversational rows written to a CSV: the chat as its JSON text."""
    with open(path, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["prompt", "answer"])
        for r in rows:
            w.writerow([json.dumps(r["prompt"]), r["answer"]])
    return str(path)


def gen(server, data, out, **kw):
    return GenerateConfig(
        **{
            "data": data,
            "teacher": "openai",
            "base_url": server.url,
            "model": "fake-r1",
            "n": 2,
            "out": str(out),
            "max_retries": 0,
            **kw,
        }
    )


def refused(call, match):
    with pytest.raises(DistillError, match=match) as e:
        call()
    assert "\n" not in str(e.value)
    return str(e.value)


@pytest.mark.parametrize("layout", ["jsonl", "csv"])
def test_generate_sends_the_chat_records_it_and_a_rerun_asks_nothing(server, tmp_path, layout):
    write = jsonl if layout == "jsonl" else as_csv
    data = write(tmp_path / f"p.{layout}", ROWS)
    out = tmp_path / "t.jsonl"
    run(gen(server, data, out), progress=False)
    # exactly those messages, the system turn and the earlier turns included
    assert sorted((req["messages"] for req in server.log), key=len) == [[SYSTEM, ASK], TURNS]
    recs = list(read_records(out))
    assert len(recs) == 4
    assert sorted((r["messages"] for r in recs), key=len) == [[SYSTEM, ASK]] * 2 + [TURNS] * 2
    assert {r["gold"] for r in recs} == {"4", "11"}
    # the sample id hashes the messages sent: a rerun asks nothing again
    asked = len(server.log)
    run(gen(server, data, out), progress=False)
    assert len(server.log) == asked and len(list(read_records(out))) == 4
    # the same chat kept as a list or as its JSON text is one prompt: the other file resumes
    other_layout = "csv" if layout == "jsonl" else "jsonl"
    other = (as_csv if layout == "jsonl" else jsonl)(tmp_path / f"q.{other_layout}", ROWS)
    run(gen(server, other, out), progress=False)
    assert len(server.log) == asked


def test_filter_verifies_the_answer_to_a_chat_prompt(server, tmp_path):
    # filter reads the problem from the record's user turns (problem_text), the gold from the
    # record: each sample of both chats (the multi-turn one answered for its last turn) is correct
    from distill.filter import FilterConfig
    from distill.filter import run as filter_run
    from distill.filter.verify import problem_text

    out = tmp_path / "t.jsonl"
    run(gen(server, jsonl(tmp_path / "p.jsonl", ROWS), out), progress=False)
    assert {problem_text(r) for r in read_records(out)} == {
        "What is 2 + 2?",
        "What is 3 + 4?\nWhat is 5 + 6?",
    }
    kept = tmp_path / "kept.jsonl"
    filter_run(FilterConfig(input=str(out), out=str(kept), verify="math", dedup="none"))
    recs = list(read_records(kept))
    assert len(recs) == 4 and {r["checks"]["verify"] for r in recs} == {"correct"}


def test_eval_asks_the_student_the_chat(server, tmp_path):
    from distill.eval import EvalConfig
    from distill.eval import run as eval_run

    out = tmp_path / "eval.json"
    cfg = EvalConfig(
        model="fake-r1",
        backend="openai",
        base_url=server.url,
        data=jsonl(tmp_path / "p.jsonl", ROWS),
        verify="math",
        n=1,
        max_tokens=512,
        out=str(out),
    )
    eval_run(cfg)
    assert sorted((req["messages"] for req in server.log), key=len) == [[SYSTEM, ASK], TURNS]
    assert json.loads(out.read_text())["student"]["pass@1"] == 1.0


def test_onpolicy_samples_the_chat_generate_sends(tmp_path):
    # distill run: on-policy train on generate's prompt source samples from the same messages
    from distill.generate.stage import prompt_messages
    from distill.train import TrainConfig
    from distill.train.kd.data import prompt_chats

    data = as_csv(tmp_path / "p.csv", ROWS)
    cfg = TrainConfig(
        data=data,
        model="m",
        output_dir=str(tmp_path / "o"),
        method="onpolicy",
        teacher_model="t",
        max_length=512,
    )
    sent = [m for _, m in prompt_messages(data)]
    assert [m for m, _ in prompt_chats(cfg)] == sent == [[SYSTEM, ASK], TURNS]
    # a --system-prompt before a chat without one, as generate sends it
    asked = [m for _, m in prompt_messages(data, system_prompt="Be brief.")]
    assert asked == [[SYSTEM, ASK], [SYSTEM, *TURNS]]


def test_a_template_with_a_chat_prompt_is_refused(server, tmp_path):
    # the chat is its own wording (TRL applies none); a template renders a text field
    data = jsonl(tmp_path / "p.jsonl", ROWS)
    line = refused(
        lambda: run(gen(server, data, tmp_path / "t.jsonl", template="r1-math"), progress=False),
        r"row 1: field 'prompt' is a chat, sent as it is: --template r1-math has no text",
    )
    assert "drop --template" in line
    assert not server.log and not (tmp_path / "t.jsonl").exists()


def test_a_system_prompt_beside_the_chats_own_is_refused_naming_both(server, tmp_path):
    from distill.train import TrainConfig
    from distill.train.kd.data import prompt_chats

    data = jsonl(tmp_path / "p.jsonl", ROWS)
    line = refused(
        lambda: run(
            gen(server, data, tmp_path / "t.jsonl", system_prompt="Think."), progress=False
        ),
        r"p.jsonl row 1: field 'prompt' has a system turn of its own \('Be brief.'\) and "
        "--system-prompt gives another",
    )
    assert "drop --system-prompt" in line and not server.log
    # the same text is one system turn, sent once
    run(gen(server, data, tmp_path / "t.jsonl", system_prompt="Be brief.", n=1), progress=False)
    assert sorted((req["messages"] for req in server.log), key=len)[0] == [SYSTEM, ASK]
    # on-policy kept the chat's own and dropped the flag without a word
    cfg = TrainConfig(
        data=data,
        model="m",
        output_dir=str(tmp_path / "o"),
        method="onpolicy",
        teacher_model="t",
        max_length=512,
        system_prompt="Think.",
    )
    refused(lambda: list(prompt_chats(cfg)), "has a system turn of its own")


@pytest.mark.parametrize(
    "chat, role",
    [([ASK, {"role": "assistant", "content": "4"}], "an assistant"), ([SYSTEM], "a system")],
)
def test_a_chat_that_does_not_end_with_the_users_turn_is_no_prompt(server, tmp_path, chat, role):
    data = jsonl(tmp_path / "p.jsonl", [{"prompt": chat}])
    refused(
        lambda: run(gen(server, data, tmp_path / "t.jsonl"), progress=False),
        f"row 1: field 'prompt' is a chat ending with {role} turn, not a prompt",
    )
    assert not server.log


def test_raw_prompt_refuses_a_chat_it_would_cut_to_its_last_turn(tmp_path):
    # --raw-prompt sends messages[-1] alone: the system turn and earlier turns were lost
    data = jsonl(tmp_path / "p.jsonl", ROWS)
    cfg = GenerateConfig(
        data=data,
        teacher="hf",
        model="Qwen/Qwen2.5-0.5B-Instruct",
        chat_template=False,
        out=str(tmp_path / "t.jsonl"),
    )
    refused(
        lambda: run(cfg, progress=False), r"row 1: the prompt is a chat of 2 turns.*--raw-prompt"
    )
    # a one-turn chat is the text prompt it holds
    one = jsonl(tmp_path / "one.jsonl", [{"prompt": [ASK]}])
    from distill.generate.stage import build_jobs

    cfg.data = one
    plan, _, _, _ = build_jobs(cfg)
    assert plan[0][1][0].messages == [ASK]


def test_eval_format_alpaca_refuses_a_chat_prompt(tmp_path):
    from distill.eval import EvalConfig, check_data

    cfg = EvalConfig(
        model="fake-r1",
        backend="openai",
        base_url="http://127.0.0.1:9/v1",
        data=jsonl(tmp_path / "p.jsonl", ROWS),
        format="alpaca",
        out=str(tmp_path / "eval.json"),
    )
    refused(lambda: check_data(cfg), r"row 1: the prompt is a chat, and --format alpaca")


def test_a_list_that_is_no_chat_is_still_refused(tmp_path):
    from distill.generate.stage import prompt_messages

    data = jsonl(tmp_path / "p.jsonl", [{"prompt": ["What is 2 + 2?", "And 3 + 3?"]}])
    refused(
        lambda: list(prompt_messages(data)), "field 'prompt' is a list, neither text nor a chat"
    )


@pytest.mark.parametrize("column", ["tools", "functions"])
def test_a_prompt_source_with_tool_definitions_is_refused(tmp_path, column):
    # OpenAI's legacy `functions` column (read as tools by train since c2cc19f) was sent without
    # them: the teacher answered without the functions the row is about
    from distill.generate.stage import prompt_messages

    spec = {"name": "weather", "description": "Weather of a city", "parameters": {}}
    data = jsonl(tmp_path / "p.jsonl", [{"prompt": "Weather in Paris?", column: [spec]}])
    refused(lambda: list(prompt_messages(data)), f"row 1: column '{column}' lists tool definitions")
    # a template that shows the column is the prompt holding them
    tmpl = tmp_path / "t.txt"
    tmpl.write_text(f"{{prompt}}\nTools: {{{column}}}")
    [(_, msgs)] = prompt_messages(data, template=str(tmpl))
    assert "weather" in msgs[-1]["content"]
