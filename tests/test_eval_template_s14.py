"""distill run: eval on generate's own dataset asks in generate's template.

generate's `template: plain` on builtin:arithmetic trains the student on 'What is 59 + 63?';
eval on the set's held-out slice (`?start=1000&n=2`) asked the student and the baseline after
the set's own r1-math instruction, a wording neither was distilled on, in the chat template and
in the Alpaca prompt alike. eval takes generate's template now when its section names none and
its data is generate's dataset (builtin:NAME without its query, one file or folder, one hub
name, whatever the split); another dataset keeps its own default, an eval section's own
template is kept. eval.json and the card say which template asked. A run dir evaluated before
asks afresh: the new wording's samples alone are scored."""

from __future__ import annotations

import json
from pathlib import Path

import yaml

from distill.generate.stage import prompt_messages
from distill.pipeline import run as pipeline_run

HELD_OUT = "builtin:arithmetic?start=1000&n=2"


def recipe(tmp_path: Path, url: str, ev: dict, generate: dict | None = None) -> Path:
    gen = {
        "data": "builtin:arithmetic?n=2",
        "template": "plain",  # the problem alone, not the set's r1-math instruction
        "teacher": "openai",
        "model": "fake-r1",
        "base_url": url,
        "out": "{run_dir}/traces.jsonl",
        **(generate or {}),
    }
    student = {"model": "fake-r1", "backend": "openai", "base_url": url}
    sections = {
        "run": {"dir": str(tmp_path / "run")},
        "generate": gen,
        "eval": {**student, "data": HELD_OUT, "out": "{run_dir}/eval.json", **ev},
    }
    path = tmp_path / "r.yaml"
    path.write_text(yaml.safe_dump(sections))
    return path


def asked(server, since: int = 0) -> list[str]:
    """The last user message of each request the served student got."""
    return [e["messages"][-1]["content"] for e in server.log[since:]]


def default_wording(data: str, **kw) -> list[str]:
    return [m[-1]["content"] for _, m in prompt_messages(data, "test", **kw)]


def test_eval_on_generates_held_out_slice_asks_in_generates_template(server, tmp_path):
    path = recipe(tmp_path, server.url, {"baseline": "fake-r1"})
    pipeline_run(path, only=["eval"])
    # the student and the baseline, each problem as the student trained on it
    assert sorted(asked(server)) == sorted(["What is 66 + 83?", "What is 81 + 58?"] * 2)
    ev = json.loads((tmp_path / "run" / "eval.json").read_text())
    assert ev["template"] == "plain"
    assert ev["student"]["samples"] == 2 and ev["baseline"]["samples"] == 2


def test_an_alpaca_eval_on_generates_set_wraps_generates_wording(server, tmp_path):
    path = recipe(tmp_path, server.url, {"format": "alpaca"})
    pipeline_run(path, only=["eval"])
    sent = asked(server)
    assert len(sent) == 2 and all("step by step" not in t for t in sent), sent
    # as train --format alpaca renders the trace's prompt: the Alpaca prompt around it
    assert any("### Instruction:\nWhat is 66 + 83?\n\n### Response:" in t for t in sent), sent


def test_eval_on_another_dataset_keeps_its_own_default(server, tmp_path):
    countdown = "builtin:countdown?n=2"
    path = recipe(tmp_path, server.url, {"data": countdown, "verify": "countdown"})
    pipeline_run(path, only=["eval"])
    assert sorted(asked(server)) == sorted(default_wording(countdown))  # not 'plain's bare rows
    assert "template" not in json.loads((tmp_path / "run" / "eval.json").read_text())


def test_eval_on_another_split_of_generates_folder_takes_its_template(server, tmp_path):
    folder = tmp_path / "sums"
    folder.mkdir()
    for split, (a, b) in (("train", (1, 2)), ("test", (3, 4))):
        row = {"problem": f"What is {a} + {b}?", "answer": str(a + b)}
        (folder / f"{split}.jsonl").write_text(json.dumps(row) + "\n")
    other = tmp_path / "other.jsonl"
    other.write_text(json.dumps({"problem": "What is 5 + 6?", "answer": "11"}) + "\n")
    mine = tmp_path / "ask.txt"
    mine.write_text("Answer in one number. {prompt}\n")
    path = recipe(
        tmp_path,
        server.url,
        {"data": str(folder), "split": "test"},
        {"data": str(folder), "template": str(mine)},
    )
    pipeline_run(path, only=["eval"])
    assert asked(server) == ["Answer in one number. What is 3 + 4?"]
    # another file is another dataset: its rows as they are
    path = recipe(
        tmp_path,
        server.url,
        {"data": str(other), "out": "{run_dir}/other.json"},
        {"data": str(folder), "template": str(mine)},
    )
    before = len(server.log)
    pipeline_run(path, only=["eval"])
    assert asked(server, before) == ["What is 5 + 6?"]


def test_an_eval_sections_own_template_is_kept(server, tmp_path, capsys):
    path = recipe(tmp_path, server.url, {"template": "r1-math"})
    pipeline_run(path, only=["eval"])
    assert sorted(asked(server)) == sorted(default_wording(HELD_OUT, template="r1-math"))
    assert "eval.template is not generate.template (plain)" in capsys.readouterr().out
    assert json.loads((tmp_path / "run" / "eval.json").read_text())["template"] == "r1-math"


def test_a_run_dir_evaluated_in_the_sets_default_asks_again_not_mixed(server, tmp_path):
    """A run dir evaluated before eval took generate's template (its samples asked in r1-math
    beside eval.json): the rerun asks each problem again in generate's wording and scores
    those samples alone; the old ones are not counted with them."""
    path = recipe(tmp_path, server.url, {"template": "r1-math"})
    pipeline_run(path, only=["eval"])
    old = json.loads((tmp_path / "run" / "eval.json").read_text())
    assert old["student"]["samples"] == 2
    path = recipe(tmp_path, server.url, {})
    before = len(server.log)
    pipeline_run(path, only=["eval"])
    assert sorted(asked(server, before)) == ["What is 66 + 83?", "What is 81 + 58?"]
    ev = json.loads((tmp_path / "run" / "eval.json").read_text())
    assert ev["template"] == "plain" and ev["student"]["samples"] == 2


def test_the_card_says_which_template_eval_asked_in(tmp_path):
    from tests.test_review_eval_publish import card, student_folder

    student = student_folder(tmp_path / "student")
    ev = {
        "data": HELD_OUT,
        "verify": "math",
        "n": 1,
        "temperature": 0.0,
        "max_tokens": 64,
        "format": "r1",
        "template": "plain",
        "student": {"model": str(student), "pass@1": 0.5},
    }
    (student / "eval.json").write_text(json.dumps(ev))
    assert "template `plain`" in card(student).split("## Evaluation")[1]
