"""Second read of f992506 (export of trace records with earlier assistant turns)."""

from __future__ import annotations

import json

import pytest

from distill.errors import DistillError


def _record(rid, turns):
    return {
        "id": rid,
        "prompt_id": rid,
        "sample": 0,
        "messages": [{"role": r, "content": c} for r, c in turns],
        "reasoning": "R",
        "answer": "A",
        "teacher": {"backend": "openai", "model": "m"},
    }


def _write(path, rows):
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


CHAT = {
    "messages": [
        {"role": "user", "content": "u1"},
        {"role": "assistant", "content": "a1"},
        {"role": "user", "content": "u2"},
        {"role": "assistant", "content": "a2"},
    ]
}


@pytest.mark.parametrize("suffix", [".jsonl", ".parquet"])
def test_a_chat_beside_a_record_with_history_exports_one_layout_that_reads_back(tmp_path, suffix):
    # The chat (its earlier turn trained) was written as `messages` beside prompt/completion
    # rows: the Parquet file read back with messages None for the record ("'messages' must be a
    # list"), and TRL, seeing a 'prompt' column, read the chat's row as prompt None.
    from distill.examples import load_examples
    from distill.train import ExportConfig, export

    hist = _record("h", [("user", "Q1"), ("assistant", "A1"), ("user", "Q2")])
    kept = _write(tmp_path / "kept.jsonl", [hist, CHAT])
    out = tmp_path / f"d{suffix}"
    export(ExportConfig(data=str(kept), out=str(out)))
    if suffix == ".jsonl":
        rows = [json.loads(x) for x in out.read_text().splitlines()]
        assert all(sorted(r) == ["completion", "prompt"] for r in rows)
    got = [(len(e.prompt), e.completion) for e in load_examples(str(out))]
    # the record's reply; the chat's two replies, each trained once with its history
    assert [c for _, c in got][1:] == ["a1", "a2"] and got[1:] == [(1, "a1"), (3, "a2")]
    assert "A1" not in [c for _, c in got]


def test_a_text_row_beside_a_record_with_history_is_refused_in_one_line_for_parquet(tmp_path):
    # A text prompt (str) and a conversational one (list) in Parquet's one 'prompt' column:
    # pyarrow's ArrowInvalid ("cannot mix list and non-list"), naming no row or way out.
    from distill.train import ExportConfig, export

    hist = _record("h", [("user", "Q1"), ("assistant", "A1"), ("user", "Q2")])
    kept = _write(tmp_path / "kept.jsonl", [hist, {"prompt": "p", "completion": "c"}])
    with pytest.raises(DistillError, match=r"row 2: a text prompt/completion row .*\.jsonl"):
        export(ExportConfig(data=str(kept), out=str(tmp_path / "d.parquet")))
    export(ExportConfig(data=str(kept), out=str(tmp_path / "d.jsonl")))  # each row as it is


# Second read of 1666d9e: whether a code prompt whose samples all gave no answer has tests.

TESTS = {"tests": {"inputs": ["1\n"], "outputs": ["1\n"]}}


def _code_trace(pid, meta):
    return {
        "id": f"{pid}-0",
        "prompt_id": pid,
        "sample": 0,
        "messages": [{"role": "user", "content": "write it"}],
        "answer": "I could not finish.",
        "gold": None,
        "meta": meta,
        "checks": {"verify": "no_answer (no code block)"},
        "teacher": {"backend": "openai", "model": "t", "params": {}},
    }


def test_a_code_prompt_with_no_answer_is_rated_by_reading_its_tests_without_running_code(
    tmp_path, monkeypatch
):
    # Asked by running a probe against its tests, a kept file whose every trace holds the
    # filter's verdict made select refuse without OS isolation ("running model-written code
    # needs OS isolation"), though no model-written code ran, and cost a sandbox run a prompt.
    import distill.filter.sandbox as sandbox
    from distill.select.difficulty import prompt_rate, runs_code

    def no_run(*a, **k):
        raise AssertionError("code ran")

    monkeypatch.setattr(sandbox, "run_code", no_run)
    assert prompt_rate(["no_answer"], _code_trace("p", TESTS), "code") == 0.0
    assert prompt_rate(["no_answer"], _code_trace("q", {}), "code") is None
    stdin_none = {"tests": {"inputs": [], "outputs": []}}
    assert prompt_rate(["no_answer"], _code_trace("r", stdin_none), "code") is None
    path = _write(tmp_path / "t.jsonl", [_code_trace("p", TESTS), _code_trace("q", {})])
    assert runs_code(path) is False
