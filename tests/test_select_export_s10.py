"""select's pass rate of a prompt that cannot be verified, and export of a trace record whose
teacher was sent earlier assistant turns.

    .venv/bin/python -m pytest tests/test_select_export_s10.py -q
"""

from __future__ import annotations

import json
from pathlib import Path

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
