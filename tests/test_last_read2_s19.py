"""Last read of c7b59db/423541f (an R1 trace stored without its `<think>` is read only where its
`</think>` opens its line outside a code fence), 9a7f48d, 5a656a9, 1392de2 (a JSON value nested
too deep), 25f0be3, e19b54a and 08bda01 (smoke-xtok's on-policy start).

- 1392de2 named the file of a .json list or a JSONL line nested too deep, but a .json file of
  objects one after another (JSON Lines under a .json name, which data.py reads in turn) still
  ended in 'error: RecursionError: maximum recursion depth exceeded ...' naming no file: now
  'FILE:LINE: ... nested too deep', as its JSONL twin.

Old vs new fuzz (this reader's, 623817b against these commits): 34 tokenizer/template pairs (the
fixtures' chat and reasoning templates, distill/chat_templates/gemma3.jinja, Qwen3-Thinking-2507,
GLM-4.6) x train_on all/last x 900 chats with system / multi-turn turns, '```' and '~~~' fences
(closed, unclosed, indented in lists, after the tag), quotes, lists, CRLF, plus 60 raw rows each:
every row with no `</think>` lacking a `<think>` before it has the same ids, loss mask and
prompt ids; rows whose answers name the tag differ only under Qwen3's and GLM's templates (the
empty reasoning 423541f gives them).
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from distill.cli import app
from distill.examples import lone_close

DEEP = "[" * 100_000 + "]" * 100_000


def test_json_objects_one_after_another_nested_too_deep_name_the_file_and_line(tmp_path):
    data = tmp_path / "data.json"
    good = json.dumps({"prompt": "What is 2 + 2?"})
    data.write_text(f'{good}\n{{"prompt": "q", "x": {DEEP}}}\n')
    res = CliRunner().invoke(
        app,
        ["generate", "--teacher", "openai", "--model", "m", "--base-url", "http://127.0.0.1:9/v1",
         "--data", str(data), "--out", str(tmp_path / "traces.jsonl")],
    )  # fmt: skip
    out = res.output + str(res.exception or "")
    assert res.exit_code == 1, out
    # (was: 'error: RecursionError: maximum recursion depth exceeded ...', no file named)
    assert "RecursionError" not in out and "Traceback" not in out
    assert f"{data}:2: " in out and "nested too deep" in out
    assert not (tmp_path / "traces.jsonl").exists()


@pytest.mark.parametrize(
    "content, reasoning",
    [
        ("R\n~~~\nx\n~~~\n</think>\n\nA", "R\n~~~\nx\n~~~"),  # a closed '~~~' fence
        ("R\n  ```\n  x\n  ```\n</think>\n\nA", "R\n  ```\n  x\n  ```"),  # indented, closed
        ("R\n````\n```\n````\n</think>\n\nA", "R\n````\n```\n````"),  # a shorter one inside
        ("R\r\n```\r\nx\r\n```\r\n</think>\r\n\r\nA", "R\r\n```\r\nx\r\n```"),  # CRLF
        ("R\n</think>\n\n```\ncode", "R"),  # a fence after the tag, unclosed: the answer's
        ("R\n~~~\n```\n~~~\n</think>\n\nA", "R\n~~~\n```\n~~~"),  # '```' inside '~~~'
    ],
)
def test_a_trace_whose_reasoning_closes_its_fences_is_read(content, reasoning):
    whole = lone_close(content)
    assert whole is not None and whole.startswith(f"<think>\n{reasoning}\n</think>\n\n")


@pytest.mark.parametrize(
    "content",
    [
        "Close it so:\n~~~\n</think>\n~~~\nthen answer.",  # a '~~~' fence
        "1. Close it so:\n   ```\n   </think>\n   ```\n2. Answer.",  # a list's fence
        "- Close it so:\n  ```\n  </think>\n  ```",
        "Close it so:\n```\n</think>\n",  # an unclosed fence
        "Close it so:\n````\n```\n</think>\n",  # a shorter '```' closes no '````'
        "Close it so:\n```\n~~~\n</think>\n```",  # '~~~' closes no '```'
        "Close it so:\n```\n``` x\n</think>\n```",  # a closing fence has nothing after it
        "Close it so:\r\n```\r\n</think>\r\n```\r\n",  # CRLF
        "Close it so:\n\t</think>\n",  # a tab: an indented code block
    ],
)
def test_an_answer_naming_the_tag_in_a_code_block_is_no_trace(content):
    assert lone_close(content) is None


def test_smoke_xtok_warmup_flags_still_choose_the_on_policy_start(tmp_path, monkeypatch, capsys):
    """08bda01: by default the on-policy student's SFT start is sft's own (every planned prompt,
    the recipe's steps); --warmup-steps / --warmup-prompts given still choose another."""
    from scripts import xtok_smoke
    from scripts.kd_smoke import planned_ids

    recipe = str(Path(__file__).parents[1] / "recipes" / "xtok-smoke.yaml")
    run = tmp_path / "run"
    p = xtok_smoke.plan(recipe, str(run))
    every = planned_ids(p["generate"], p["warmup_prompts"])
    assert len(every) == 200 and planned_ids(p["generate"], 64) < every
    p = xtok_smoke.plan(recipe, str(run), warmup_prompts=64)
    assert p["warmup_prompts"] == 64 and p["train"]["xtok_onpolicy_sft"].max_steps == 30
    argv = ["xtok_smoke.py", recipe, "--run-dir", str(run), "--dry-run"]
    monkeypatch.setattr("sys.argv", [*argv, "--warmup-steps", "10", "--warmup-prompts", "64"])
    xtok_smoke.main()
    out = capsys.readouterr().out
    assert "train xtok_onpolicy_sft: method=sft model=builtin:gemma3-270m" in out
    assert f"data={run}/xtok_onpolicy-sft.jsonl teacher=None steps=10 " in out
    assert f"train xtok_onpolicy: method=onpolicy model={run}/xtok_onpolicy-sft/merged" in out
    assert not run.exists()
