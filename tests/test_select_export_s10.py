"""select's pass rate of a prompt that cannot be verified, and export of a trace record whose
teacher was sent earlier assistant turns.

    .venv/bin/python -m pytest tests/test_select_export_s10.py -q
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from distill.records import read_records
from distill.select.config import SelectConfig
from distill.select.stage import run as select_run


def trace(pid, sample, answer, gold="4", meta=None):
    return {
        "id": f"{pid}-{sample}",
        "prompt_id": pid,
        "sample": sample,
        "messages": [{"role": "user", "content": f"problem {pid}"}],
        "reasoning": "thinking",
        "answer": answer,
        "gold": gold,
        "teacher": {"backend": "openai", "model": "t", "params": {}},
        "finish_reason": "stop" if answer else "length",
        "usage": {"prompt_tokens": 5, "completion_tokens": 10},
        "meta": meta or {},
    }


def write(path: Path, recs: list[dict]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in recs))
    return path


# =========================================================================== select


def unreadable_gold_traces(tmp_path):
    # bad: a gold math-verify cannot parse; one sample answered (unverifiable), one cut off in
    # its reasoning (no_answer: verify_math says so before it reads the gold)
    return write(
        tmp_path / "traces.jsonl",
        [
            trace("bad", 0, "\\boxed{7}", gold="@@@"),
            trace("bad", 1, "", gold="@@@"),
            trace("half", 0, "\\boxed{4}"),
            trace("half", 1, "\\boxed{5}"),
            trace("easy", 0, "\\boxed{4}"),
            trace("easy", 1, "\\boxed{4}"),
        ],
    )


def select(tmp_path, src, out, **kw):
    cfg = SelectConfig(input=str(src), out=str(tmp_path / out), **kw)
    select_run(cfg, quiet=True)
    kept = list(read_records(cfg.out))
    rejects = list(read_records(cfg.rejects))
    return kept, rejects, json.loads(Path(cfg.report).read_text())


def test_a_cut_off_sample_does_not_make_an_unverifiable_prompt_the_hardest(tmp_path):
    # The cut-off sample gave 'bad' pass rate 0: --prefer-failed picked it first, a prompt
    # nobody can check, over 'half' (solved 1 of 2).
    src = unreadable_gold_traces(tmp_path)
    kept, _, rep = select(
        tmp_path,
        src,
        "pf.jsonl",
        prefer_failed=True,
        per_prompt=1,
        budget=1,
        criteria=["difficulty", "length"],
    )
    assert [r["prompt_id"] for r in kept] == ["half"]
    assert kept[0]["meta"]["select"]["pass_rate"] == 0.5
    # left unrated, as a prompt all of whose samples are unverifiable, and counted
    assert rep["difficulty"]["prompts_rated"] == 2
    assert rep["difficulty"]["unverifiable"] == 1


def test_an_unverifiable_prompt_is_out_of_a_low_pass_rate_band(tmp_path):
    src = unreadable_gold_traces(tmp_path)
    kept, rejects, rep = select(tmp_path, src, "band.jsonl", pass_rate="0:0.6")
    assert sorted({r["prompt_id"] for r in kept}) == ["half"]
    bad = [r for r in rejects if r["prompt_id"] == "bad"]
    assert len(bad) == 2 and {r["reject_reason"] for r in bad} == {"difficulty"}
    assert all("pass_rate" not in r["meta"]["select"] for r in bad)


def test_a_code_prompt_without_tests_has_no_pass_rate_whatever_its_samples_wrote():
    # verify_code says no_answer ("no code block") before it looks for tests
    from distill.select.difficulty import prompt_rate

    rec = trace("p", 0, "I could not solve it.", gold=None)
    assert prompt_rate(["no_answer"], rec, "code") is None


def test_a_checkable_prompt_whose_samples_gave_no_answer_still_rates_zero():
    from distill.select.difficulty import prompt_rate

    assert prompt_rate(["no_answer", "no_answer"], trace("p", 0, ""), "math") == 0.0
    assert prompt_rate(["no_answer", "correct"], trace("p", 0, "", gold="@@@"), "math") == 0.5


# =========================================================================== export


def chat_record(rid, turns, reasoning="R2", answer="A2"):
    """A trace record whose teacher was sent the chat `turns` (DESIGN.md: `messages`)."""
    return {
        "id": rid,
        "prompt_id": rid,
        "sample": 0,
        "messages": [{"role": r, "content": c} for r, c in turns],
        "reasoning": reasoning,
        "answer": answer,
        "teacher": {"backend": "openai", "model": "m"},
    }


def trained(path, template):
    """Each row distill train makes of the file: its token ids and loss mask."""
    from distill.examples import Renderer, load_examples, tokenize_examples
    from tests.test_datasets import template_tokenizer

    tok = template_tokenizer(template)
    cols, _ = tokenize_examples(list(load_examples(str(path))), Renderer(tok, "r1"), 8192)
    return tok, list(zip(cols["input_ids"], cols["completion_mask"]))


@pytest.mark.parametrize("template", ["qwen2.5-instruct", "deepseek-r1-distill-qwen"])
@pytest.mark.parametrize("suffix", [".jsonl", ".parquet"])
def test_an_exported_record_with_earlier_turns_trains_what_the_record_trains(
    tmp_path, template, suffix
):
    # Written as `messages`, the earlier assistant turn (the history the teacher was sent, not
    # its reply) came back as a turn of a chat: distill train, TRL's assistant_only_loss and
    # LLaMA-Factory trained it; training on the record itself does not.
    from distill.train import ExportConfig, export

    kept = write(
        tmp_path / "kept.jsonl",
        [
            chat_record("h", [("user", "Q1 first"), ("assistant", "A1 earlier"), ("user", "Q2")]),
            chat_record("s", [("user", "Q3 single")], reasoning="R3", answer="A3"),
        ],
    )
    out = tmp_path / f"data{suffix}"
    export(ExportConfig(data=str(kept), out=str(out)))
    tok, want = trained(kept, template)
    got = trained(out, template)[1]
    assert got == want
    loss = [tok.decode([i for i, m in zip(ids, mask) if m]) for ids, mask in got]
    assert "A1" not in loss[0] and "A2" in loss[0] and "A3" in loss[1]
    if suffix == ".jsonl":  # TRL's conversational prompt/completion: it trains the completion
        rows = [json.loads(x) for x in out.read_text().splitlines()]
        assert [sorted(r) for r in rows] == [["completion", "prompt"]] * 2
        assert [m["content"] for m in rows[0]["prompt"]] == ["Q1 first", "A1 earlier", "Q2"]
        assert rows[0]["completion"] == [
            {"role": "assistant", "content": "<think>\nR2\n</think>\n\nA2"}
        ]


def test_a_file_of_single_turn_records_still_exports_messages(tmp_path):
    from distill.train import ExportConfig, export

    kept = write(tmp_path / "kept.jsonl", [chat_record("s", [("user", "Q3")])])
    export(ExportConfig(data=str(kept), out=str(tmp_path / "d.jsonl")))
    (row,) = [json.loads(x) for x in (tmp_path / "d.jsonl").read_text().splitlines()]
    assert list(row) == ["messages"]
