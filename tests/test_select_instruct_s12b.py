"""distill select and distill instruct on input their earlier tests did not give: a source
column named `select`, a negative --seed, and non-English instructions under --language any."""

from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

from distill.cli import app
from distill.instruct import Filters, InstructConfig
from tests.test_select import trace, write


def cli(*args: str) -> tuple[int, str]:
    res = CliRunner().invoke(app, ["select", *args])
    return res.exit_code, res.output


def traces(tmp_path: Path, meta: dict | None = None) -> Path:
    recs = [
        trace(f"p{i}", f"What is {i} + {i % 3}?", s, tokens=10 + s, meta=dict(meta or {}))
        for i in range(8)
        for s in range(2)
    ]
    return write(tmp_path / "kept.jsonl", recs)


# =========================================================================== select


def test_a_source_column_named_select_is_one_line_and_nothing_is_written(tmp_path):
    # meta.select is where select writes each trace's scores; a source row's own `select`
    # field (a string) crashed pass 2 with ValueError from dict("yes")
    src = traces(tmp_path, meta={"select": "yes"})
    code, out = cli(str(src), "--out", str(tmp_path / "sel.jsonl"), "--budget", "3")
    assert code == 1
    assert "kept.jsonl:1: meta.select is a str" in out and "rename that column" in out
    assert "ValueError" not in out and "Traceback" not in out
    assert not (tmp_path / "sel.jsonl").exists()


def test_an_earlier_selections_scores_in_meta_select_are_kept(tmp_path):
    src = traces(tmp_path, meta={"select": {"judge": 7, "judge_model": "j"}})
    code, out = cli(str(src), "--out", str(tmp_path / "sel.jsonl"), "--budget", "3")
    assert code == 0, out
    rec = json.loads((tmp_path / "sel.jsonl").read_text().splitlines()[0])
    assert rec["meta"]["select"]["judge"] == 7 and rec["meta"]["select"]["rank"] >= 1


def test_a_negative_seed_selects_and_is_as_deterministic_as_any(tmp_path):
    # k-means' numpy generator refused a negative seed: ValueError, no selection
    src = traces(tmp_path)
    picked = []
    for run in range(2):
        out = tmp_path / f"sel{run}.jsonl"
        code, text = cli(str(src), "--out", str(out), "--budget", "5", "--seed", "-1")
        assert code == 0, text
        picked.append([json.loads(x)["id"] for x in out.read_text().splitlines()])
    assert len(picked[0]) == 5 and picked[0] == picked[1]


# =========================================================================== instruct


def test_rouge_filter_drops_a_near_copy_in_a_script_rouge_scores_ascii_only(tmp_path):
    # rouge-score's tokenizer keeps [a-z0-9] only: two Russian instructions one word apart
    # scored ROUGE-L 0 against each other and both were kept under --language any
    f = Filters(
        InstructConfig(model="m", out=str(tmp_path / "o.jsonl"), teacher="hf", language="any")
    )
    first = "Объясните, почему небо голубое, пожалуйста, простыми словами для ребёнка."
    near = "Объясните, почему небо голубое, пожалуйста, простыми словами для детей."
    other = "Напишите короткое стихотворение о море и кораблях на закате дня."
    assert f.apply({"instruction": first, "input": "", "output": ""})
    why, score = f.reason({"instruction": near, "input": "", "output": ""})
    assert why == "rouge" and score >= 0.8
    assert f.reason({"instruction": other, "input": "", "output": ""})[0] is None


def test_rouge_on_english_is_rouge_scores_own(tmp_path):
    from rouge_score import rouge_scorer

    from distill.instruct import RougeIndex, rouge_tokens

    a = "Describe the water cycle for a ten-year-old student, in 3 steps."
    b = "Describe the water_cycle to a ten year old child in three steps!"
    index = RougeIndex(0.99)
    index.add(rouge_tokens(a))
    want = rouge_scorer.RougeScorer(["rougeL"], use_stemmer=False).score(a, b)["rougeL"].fmeasure
    assert abs(index.score(rouge_tokens(b)) - want) < 1e-12


def test_a_blacklisted_word_ending_in_a_symbol_drops_its_instruction(tmp_path):
    # the words were matched as \bWORD\b: "c++" and "c#" end in no word character, so an
    # instruction naming them was never dropped; whole words only still ("images" is not "image")
    c = InstructConfig(
        model="m", out=str(tmp_path / "o.jsonl"), teacher="hf", blacklist=["c++", "c#", "image"]
    )
    f = Filters(c)
    for inst in ("Write c++ code that sorts a list.", "Explain how C# delegates work, briefly."):
        assert f.reason({"instruction": inst, "input": "", "output": ""})[0] == "keyword", inst
    for inst in ("Write a short story about two images.", "Compare the cc++ toolchain to others."):
        assert f.reason({"instruction": inst, "input": "", "output": ""})[0] is None, inst


def test_a_trace_with_fields_of_the_wrong_type_is_one_line_or_read(tmp_path):
    # usage a list and messages a string crashed with AttributeError ('list' object has no
    # attribute 'get'); a usage select cannot read counts ~4 characters a token, as none does
    recs = [trace(f"p{i}", f"What is {i} + 1?") for i in range(4)]
    recs[0]["usage"], recs[1]["usage"], recs[1]["reasoning"] = [1, 2], None, 5
    src = write(tmp_path / "kept.jsonl", recs)
    code, out = cli(str(src), "--out", str(tmp_path / "sel.jsonl"), "--budget", "2")
    assert code == 0, out
    recs[2]["messages"] = "What is 2 + 1?"
    src = write(tmp_path / "bad.jsonl", recs)
    code, out = cli(str(src), "--out", str(tmp_path / "sel2.jsonl"), "--budget", "2")
    assert code == 1 and "bad.jsonl:3: not a trace record: field 'messages'" in out, out
    assert not (tmp_path / "sel2.jsonl").exists()
