"""Left from the s16 reviews: eval's cap from a served model's GET /models of an odd shape;
the output checks resolving each path once; MMMU's options (a Python-literal list); a `choices`
column that is not options in any row."""

from __future__ import annotations

import json
import os
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
import yaml

from distill.pipeline import run as pipeline_run

# --------------------------------------------------------------------------- 1. GET /models


class Listing:
    """A server whose GET /v1/models answers `body` as it is (any JSON); nothing else."""

    def __init__(self, body: object):
        outer = self
        self.body = body

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):  # quiet
                pass

            def do_GET(self):
                status, data = (200, outer.body) if self.path == "/v1/models" else (404, {})
                raw = json.dumps(data).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(raw)))
                self.end_headers()
                self.wfile.write(raw)

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/v1"

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def planned(monkeypatch):
    """The eval configs distill run hands the eval stage (which runs nothing here)."""
    import distill.eval as eval_stage

    seen = []

    def fake_run(cfg):
        seen.append(cfg)
        Path(cfg.out).parent.mkdir(parents=True, exist_ok=True)
        Path(cfg.out).write_text(json.dumps({"student": {"pass@1": 1.0}}))

    monkeypatch.setattr(eval_stage, "run", fake_run)
    return seen


def card(**fields: object) -> dict:
    return {"id": "student", "object": "model", **fields}


ODD = {
    "data an object": {"object": "list", "data": {"id": "student", "max_model_len": 2048}},
    "data a number": {"object": "list", "data": 5},
    "data a string": {"object": "list", "data": "student"},
    "data null": {"object": "list", "data": None},
    "a list body": [card(max_model_len=2048)],
    "a string body": "student",
    "id a list": {"data": [{"id": ["student"], "max_model_len": 2048}]},
    "id an object": {"data": [{"id": {"name": "student"}, "max_model_len": 2048}]},
    "parent a list": {"data": [card(parent=["base"]), {"id": "base", "max_model_len": 64}]},
    "root an object": {"data": [card(root={"path": "/m"}), {"id": "base", "max_model_len": 64}]},
    "parent a number": {"data": [card(parent=7), {"id": "base", "max_model_len": 64}]},
    "max_model_len a string": {"data": [card(max_model_len="2048")]},
    "max_model_len a list": {"data": [card(max_model_len=[2048])]},
    "max_model_len an object": {"data": [card(max_model_len={"tokens": 2048})]},
    "max_model_len true": {"data": [card(max_model_len=True)]},
    "a card not an object": {"data": ["student", 2048, None]},
}


@pytest.mark.parametrize("shape", list(ODD))
def test_an_odd_models_listing_is_no_cap_never_a_traceback(tmp_path, planned, capsys, shape):
    """Some of these stopped `distill run` with a TypeError (an unhashable id or parent, a
    `data` that cannot be iterated); max_model_len: true was read as a context of 1 token (a
    note of "context True tokens"). A listing that names no context distill can read is as a
    server that lists none: generate's max_tokens, uncapped, and no note of a context."""
    server = Listing(ODD[shape])
    data = tmp_path / "q.jsonl"
    data.write_text(json.dumps({"problem": "What is 2 + 2?", "answer": "4"}) + "\n")
    sections = {
        "run": {"dir": str(tmp_path / "run")},
        "generate": {"teacher": "openai", "model": "teacher", "base_url": server.url,
                     "data": "builtin:arithmetic?n=2", "out": "{run_dir}/traces.jsonl"},
        "eval": {"model": "student", "backend": "openai", "base_url": server.url,
                 "data": str(data), "out": "{run_dir}/eval.json"},
    }  # fmt: skip
    recipe = tmp_path / "r.yaml"
    recipe.write_text(yaml.safe_dump(sections))
    try:
        pipeline_run(recipe, only=["eval"])
    finally:
        server.stop()
    (cfg,) = planned
    assert cfg.max_tokens == 4096  # generate's, as where GET /models lists no context
    assert "max_model_len" not in capsys.readouterr().out


def test_a_well_formed_listing_still_caps(tmp_path, planned):
    """The same run against a listing of the usual shape is capped: the tests above test the
    shape, not a cap that never happens."""
    server = Listing({"object": "list", "data": [card(max_model_len=2048)]})
    data = tmp_path / "q.jsonl"
    data.write_text(json.dumps({"problem": "What is 2 + 2?", "answer": "4"}) + "\n")
    sections = {
        "run": {"dir": str(tmp_path / "run")},
        "generate": {"teacher": "openai", "model": "teacher", "base_url": server.url,
                     "data": "builtin:arithmetic?n=2", "out": "{run_dir}/traces.jsonl"},
        "eval": {"model": "student", "backend": "openai", "base_url": server.url,
                 "data": str(data), "out": "{run_dir}/eval.json"},
    }  # fmt: skip
    recipe = tmp_path / "r.yaml"
    recipe.write_text(yaml.safe_dump(sections))
    try:
        pipeline_run(recipe, only=["eval"])
    finally:
        server.stop()
    (cfg,) = planned
    assert 0 < cfg.max_tokens < 2048


# --------------------------------------------------------------------------- 2. paths resolved once


def _realpaths(monkeypatch, check) -> int:
    calls = []
    real = os.path.realpath

    def counted(path, *args, **kwargs):
        calls.append(path)
        return real(path, *args, **kwargs)

    monkeypatch.setattr(os.path, "realpath", counted)
    check()
    monkeypatch.setattr(os.path, "realpath", real)
    return len(calls)


@pytest.mark.parametrize("n", [10, 40])
def test_check_outputs_resolves_each_path_once(tmp_path, monkeypatch, n):
    """Every output was compared with every input and every other output, both resolved
    anew each time: n outputs, ~n*n realpath calls (10 -> ~200, 40 -> ~2,500), for every guard
    of every stage. Now each path once: a few per output, whatever n."""
    from distill.paths import check_outputs, outputs

    ins = {f"--in{i}": str(tmp_path / f"in{i}.jsonl") for i in range(3)}
    side = [tmp_path / f"out.side{i}.json" for i in range(n - 1)]
    outs = outputs("--out", str(tmp_path / "out.jsonl"), *side, trees=[tmp_path / "logprobs"])
    calls = _realpaths(monkeypatch, lambda: check_outputs(ins, outs))
    assert calls <= 2 * (n + 1 + len(ins))  # each path (its output and its value) once


def test_check_stages_resolves_each_path_once(tmp_path, monkeypatch):
    """distill run's check of its stages against each other, the same: n stages of one input
    and one output each were ~n*n calls."""
    import distill.paths as paths

    n = 30
    monkeypatch.setitem(paths.STAGE_PATHS, "publish", lambda cfg: cfg)
    stages = [
        (
            "publish",
            ({"--in": str(tmp_path / f"in{i}")}, paths.outputs("--out", tmp_path / f"o{i}")),
        )
        for i in range(n)
    ]
    calls = _realpaths(monkeypatch, lambda: paths.check_stages(stages))
    assert calls <= 3 * n


def test_the_checks_still_refuse_what_they_refused(tmp_path):
    """Resolved once, the answers are those of each comparison: an output through a symlink
    to an input, a side file that is another flag's output, a tree holding an input."""
    from distill.errors import DistillError
    from distill.paths import check_outputs, outputs

    data = tmp_path / "data.jsonl"
    data.write_text("{}\n")
    (tmp_path / "link.jsonl").symlink_to(data)
    with pytest.raises(DistillError, match="is the input --data .* \\(through a link\\)"):
        check_outputs({"--data": str(data)}, outputs("--out", str(tmp_path / "link.jsonl")))
    outs = outputs("--out", str(tmp_path / "k.jsonl"), tmp_path / "k.report.json")
    outs += outputs("--report", str(tmp_path / "k.report.json"))
    with pytest.raises(DistillError, match="is the same file as"):
        check_outputs({}, outs)
    tree = outputs("--dir", str(tmp_path / "d"), trees=[tmp_path / "d"])
    with pytest.raises(DistillError, match="holds the input"):
        check_outputs({"--data": str(tmp_path / "d" / "x.jsonl")}, tree)


# --------------------------------------------------------------------------- 3. MMMU's options

HEAD = (
    "Answer the following multiple choice question. The last line of your response should be "
    "of the following format: 'Answer: $LETTER' (without quotes) where LETTER is one of ABCD. "
    "Think step by step before answering.\n\n"
)
MMMU_CHOICE = {  # MMMU/MMMU validation, Accounting: options kept as the Python list's repr
    "id": "validation_Accounting_1",
    "question": "Each of the following situations relates to a different company. <image 1> "
    "For company B, find the missing amounts.",
    "options": "['$63,020', '$58,410', '$71,320', '$77,490']",
    "explanation": "",
    "image_1": None,
    "img_type": "['Tables']",
    "answer": "D",
    "topic_difficulty": "Medium",
    "question_type": "multiple-choice",
    "subfield": "Financial Accounting",
}
MMMU_OPEN = {
    **MMMU_CHOICE,
    "id": "validation_Accounting_3",
    "question": "A company's current ratio is 1.5. What is its quick ratio? <image 1>",
    "options": "[]",
    "answer": "0.75",
    "question_type": "open",
}


def _jsonl(tmp_path: Path, *rows: dict) -> str:
    path = tmp_path / "mmmu.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return str(path)


def _lettered(question: str, options: list[str]) -> str:
    return HEAD + question + "\n\n" + "\n".join(f"{x}) {o}" for x, o in zip("ABCD", options))


@pytest.mark.parametrize("open_first", [False, True])
def test_mmmu_multiple_choice_rows_are_asked_with_their_options(tmp_path, open_first):
    """MMMU's options column is Python's repr of a list ("['$6', '$7']"), which JSON cannot
    read: every row was a plain prompt, asked without its options and its reply judged
    against "D". Its multiple-choice rows are asked with their lettered options now, the
    letter the gold; its open rows (options "[]") as their question, the answer the gold."""
    from distill.examples import Columns, load_examples
    from distill.generate import prompt_messages

    quoted = {**MMMU_CHOICE, "id": "validation_Art_2", "answer": "B",
              "options": """["It's a 'dome'", 'A "vault"', 'An arch', 'A lintel']"""}  # fmt: skip
    rows = [MMMU_OPEN, MMMU_CHOICE, quoted] if open_first else [MMMU_CHOICE, quoted, MMMU_OPEN]
    data = _jsonl(tmp_path, *rows)
    asked = {r.row_id: (r.gold, m[-1]["content"]) for r, m in prompt_messages(data)}
    options = ["$63,020", "$58,410", "$71,320", "$77,490"]
    assert asked == {
        "validation_Accounting_1": ("D", _lettered(MMMU_CHOICE["question"], options)),
        "validation_Art_2": (
            "B",
            _lettered(
                MMMU_CHOICE["question"], ["It's a 'dome'", 'A "vault"', "An arch", "A lintel"]
            ),
        ),
        "validation_Accounting_3": ("0.75", MMMU_OPEN["question"]),
    }
    columns = Columns(prompt_field="question", answer_field="answer")
    completions = [e.completion for e in load_examples(data, columns=columns)]
    assert completions == (
        ["0.75", "Answer: D", "Answer: B"] if open_first else ["Answer: D", "Answer: B", "0.75"]
    )


def test_a_python_list_of_other_values_is_never_evaluated(tmp_path):
    """Only a literal list of texts is read (ast.literal_eval: parsed, never run): a call in
    the options is no list of options, the row refused in one line."""
    from distill.data import load_rows
    from distill.errors import DistillError

    marker = tmp_path / "ran"
    odd = {**MMMU_CHOICE, "options": f"['$6', __import__('os').mkdir({str(marker)!r})]"}
    with pytest.raises(DistillError, match="mmmu.jsonl.* field 'options' holds no list of options"):
        list(load_rows(_jsonl(tmp_path, MMMU_CHOICE, odd)))
    assert not marker.exists()


# --------------------------------------------------------------------------- 4. no options at all

REPLY = {"index": 0, "message": {"role": "assistant", "content": "4"}, "finish_reason": "stop"}
COMPLETION = {"text": " 4", "index": 0, "logprobs": None, "finish_reason": "stop"}


@pytest.mark.parametrize("replies", [[REPLY], [REPLY, {**REPLY, "index": 1}], [COMPLETION]])
def test_a_choices_column_of_replies_reads_plain_after_an_empty_first_row(tmp_path, replies):
    """A chat log (question, answer and the API's `choices`: its replies) whose first row has
    none: since each row decides (5f3e9ba) the second row was refused as 'holds no list of
    options'; before, the set read as plain prompts, as it does again: a column that holds no
    options is no multiple choice."""
    from distill.data import load_rows
    from distill.examples import Columns, load_examples

    rows = [
        {"question": "What is 2 + 2?", "answer": "4", "choices": None},
        {"question": "What is 3 + 3?", "answer": "6", "choices": replies},
        {"question": "What is 4 + 4?", "answer": "8", "choices": []},
    ]
    path = tmp_path / "log.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    read = [(r.prompt, r.gold, r.choices) for r in load_rows(str(path))]
    assert read == [(r["question"], r["answer"], None) for r in rows]
    columns = Columns(prompt_field="question", answer_field="answer")
    examples = load_examples(str(path), columns=columns)
    assert [(e.prompt[-1]["content"], e.completion) for e in examples] == [
        (r["question"], r["answer"]) for r in rows
    ]


@pytest.mark.parametrize(
    "options", [["only one"], "[cut short", {"text": ["a"], "label": ["A", "B"]}, ["a", None]]
)
def test_options_that_cannot_be_read_are_still_refused_after_an_empty_first_row(tmp_path, options):
    from distill.data import load_rows
    from distill.errors import DistillError

    rows = [
        {"question": "What is 2 + 2?", "answer": "4", "choices": None},
        {"question": "What is 3 + 3?", "answer": 1, "choices": options},
    ]
    path = tmp_path / "set.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    with pytest.raises(
        DistillError, match=r"set.jsonl:2: field 'choices' holds no list of options"
    ):
        list(load_rows(str(path)))
