"""select's likelihood judge caches each score under the reading of the reply's ids it was
scored with: a score of session 18's reading (2; an R1 trace without its <think> read with a
lone </think> on templates that do not split at the tag) is scored again under the reading train
uses now, never ranked beside it."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from distill.records import stable_hash


def test_a_likelihood_score_of_reading_2_is_scored_again(tmp_path):
    from distill.select.reward import chat_of, model_stamp
    from tests.test_select import select, trace, write
    from tests.tiny import make_tiny_model

    judge = make_tiny_model(tmp_path / "lm", "qwen2", seed=3)
    rec = trace("p1", "What is 1 + 1?", answer="R\n</think>\n\n\\boxed{2}")
    src = write(tmp_path / "kept.jsonl", [rec])
    kw = dict(judge=str(judge), judge_backend="likelihood", criteria=["judge"])
    kept, _, rep = select(tmp_path, src, **kw)
    cache = Path(rep["judge"]["cache"])
    [row] = [json.loads(line) for line in cache.read_text().splitlines()]
    before = {"trace": "p1-0", "judge": str(judge), "backend": "likelihood",
              "chat": stable_hash(chat_of(rec), 32), "weights": model_stamp(str(judge)),
              "reading": 2}  # fmt: skip
    assert stable_hash(before) != row["id"]
    cache.write_text(
        json.dumps({"id": stable_hash(before), "trace_id": "p1-0", "score": -0.5}) + "\n"
    )
    kept, _, rep = select(tmp_path, src, out="b.jsonl", **kw)
    assert rep["judge"]["requests_this_run"] == 1
    assert kept[0]["meta"]["select"]["judge"] == pytest.approx(row["score"], abs=1e-5)
