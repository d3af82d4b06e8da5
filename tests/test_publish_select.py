"""The model card of a student trained on `distill select`'s output: the lineage goes through the
select report (its criteria, how many traces each removed) back to the filter's and generate's."""

from __future__ import annotations

import json

import yaml

from distill.publish import PublishConfig, build_card
from distill.select.config import SelectConfig
from distill.select.stage import run
from tests.test_select import planted, trace, write


def test_card_lists_selects_criteria_and_how_many_each_removed(tmp_path):
    # the filter's part: generate summary + filter report of kept.jsonl
    (tmp_path / "traces.jsonl").write_text("")
    (tmp_path / "traces.summary.json").write_text(
        json.dumps({"prompts": 45, "samples": 90, "by_teacher": {"openai:t": 90}})
    )
    report = {"input": str(tmp_path / "traces.jsonl"), "total": 90, "kept": 47,
              "reject_reasons": {"verify": 43}, "verify": {}}  # fmt: skip
    (tmp_path / "kept.report.json").write_text(json.dumps(report))
    src = planted(tmp_path, {"geometry": 30, "probability": 10, "algebra": 5})
    # two long second traces of one prompt: per-prompt 1 (length) removes them
    extra = [trace("geometry0", "x", 1, tokens=99), trace("algebra0", "y", 1, tokens=99)]
    write(src, [json.loads(line) for line in src.read_text().splitlines()] + extra)
    sel = SelectConfig(input=str(src), out=str(tmp_path / "sel.jsonl"), budget=9, clusters=3,
                       per_prompt=1, prefer="short")  # fmt: skip
    run(sel, quiet=True)
    student = tmp_path / "student"
    student.mkdir()
    (student / "adapter_config.json").write_text("{}")
    (student / "train.yaml").write_text(yaml.safe_dump({"data": sel.out, "model": "m"}))

    card = str(build_card(student, student, PublishConfig(dir=str(student), local_dir="x")))
    assert "Selected with `distill select` (criteria: length, diversity; budget 9; seed 0)" in card
    assert "| kept by the filter | | 47 |" in card
    assert "| length | 2 | 45 |" in card
    assert "| budget | 36 | 9 |" in card
    assert "| **selected for training** | | **9** |" in card
    assert "Diversity: round-robin over 3 groups (tfidf-kmeans (k=3)), 3 represented." in card
    # and, through the select report, the filter's and generate's lineage as before
    assert "| **kept for training** | | **47** |" in card
    assert "- Teacher(s): `openai:t` (90 samples)" in card


def test_card_counts_what_the_judges_and_students_servers_refused():
    """select leaves a trace a judge's server refuses (HTTP 400: longer than its context)
    unscored and a student's refused samples unrated, counted in its report as `refused`: the
    card said "N of M scored, 0 replies without a score" and nothing of them."""
    from distill.publish import _select_lines

    sel = {"total": 10, "selected": 4, "criteria": ["judge", "difficulty"], "budget": 4, "seed": 0,
           "judge": {"model": "j", "judged": 10, "scored": 7, "malformed": 1, "refused": 2},
           "difficulty": {"student": "s", "refused": 3}}  # fmt: skip
    text = "\n".join(_select_lines(sel))
    assert "7 of 10 scored, 1 replies without a score, 2 refused by the server" in text
    assert "3 student samples refused by the server, unrated" in text
    quiet = {**sel, "judge": {**sel["judge"], "refused": 0}, "difficulty": {"student": "s"}}
    assert "refused" not in "\n".join(_select_lines(quiet))


def test_card_counts_the_prompts_difficulty_could_not_rate():
    """select leaves a prompt with no gold that parses (or no tests) unrated, counted in its
    report's difficulty as `unverifiable` (distill.eval.verifiable): the card says so."""
    from distill.publish import _select_lines

    sel = {"total": 10, "selected": 4, "criteria": ["difficulty"], "budget": 4, "seed": 0,
           "difficulty": {"student": None, "unverifiable": 2}}  # fmt: skip
    text = "\n".join(_select_lines(sel))
    assert "2 prompts unverifiable (no gold that parses, no tests), unrated" in text
    assert "unverifiable" not in "\n".join(_select_lines({**sel, "difficulty": {}}))
