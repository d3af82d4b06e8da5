"""select's judge and openai student reach their servers through generate's client: its retries
are `--max-retries` as generate's (it had none: six retries, ~20 s of backoff before a dead
server's one line)."""

import pytest

from distill.errors import DistillError
from distill.select.config import SelectConfig
from distill.select.stage import run
from tests.test_select import trace, write


@pytest.fixture(autouse=True)
def no_backoff(monkeypatch):
    """The openai client's wait between tries (0.5 s, 1 s, ...): these tests count requests,
    not the wait (tests/test_generate.py measures that)."""
    from openai._base_client import BaseClient

    monkeypatch.setattr(BaseClient, "_calculate_retry_timeout", lambda *a, **k: 0.01)


@pytest.mark.parametrize("retries", [0, 2])
def test_the_judge_is_asked_once_plus_max_retries(server, tmp_path, retries):
    server.faults.extend([{"status": 500}] * 5)
    src = write(tmp_path / "kept.jsonl", [trace("p0", "problem 0")])
    cfg = SelectConfig(input=str(src), out=str(tmp_path / "s.jsonl"), judge="judge",
                       judge_base_url=server.url, max_retries=retries, concurrency=1)  # fmt: skip
    with pytest.raises(DistillError):
        run(cfg, quiet=True)
    assert len(server.log) == 1 + retries


def test_max_retries_below_zero_is_one_line():
    with pytest.raises(DistillError, match="--max-retries -1: must be >= 0"):
        SelectConfig(input="k.jsonl", out="s.jsonl", judge="j", max_retries=-1)
