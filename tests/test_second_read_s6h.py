"""Second read (s6h) of distill run's up-front checks (23f8f14 .. 4f97d80): a run that worked
must not be refused before its first stage."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from distill.errors import DistillError
from distill.pipeline import run as pipeline_run


def _recipe(tmp_path: Path, **sections) -> Path:
    path = tmp_path / "r.yaml"
    path.write_text(yaml.safe_dump({"run": {"dir": str(tmp_path / "run")}, **sections}))
    return path


GEN = {
    "data": "builtin:arithmetic?n=6",
    "teacher": "openai",
    "model": "fake-r1",
    "n": 2,
    "out": "{run_dir}/traces.jsonl",
}
FILTER = {"input": "{run_dir}/traces.jsonl", "out": "{run_dir}/kept.jsonl", "verify": "code"}


@pytest.fixture
def server(monkeypatch):
    from tests.fakeserver import FakeServer

    monkeypatch.setenv("OPENAI_API_KEY", "sk-test")
    s = FakeServer().start()
    try:
        yield s
    finally:
        s.stop()


def test_a_finished_code_filter_is_skipped_on_a_rerun_where_no_isolation_works(
    tmp_path, monkeypatch, capsys, server
):
    # 0d10394 refuses --verify code with no isolation before the first stage; a rerun whose
    # filter is done (its manifest matches: skipped, no code runs) was refused too, and the
    # way out it names (--unsafe-sandbox) changes filter's settings: filtered again, unisolated.
    import distill.filter.sandbox

    if distill.filter.sandbox.isolation() is None:
        pytest.skip("the first run needs isolation")
    r = _recipe(tmp_path, generate={**GEN, "base_url": server.url}, filter=FILTER)
    pipeline_run(r)
    kept = tmp_path / "run" / "kept.jsonl"
    stamp = kept.stat().st_mtime_ns
    monkeypatch.setattr(distill.filter.sandbox, "isolation", lambda: None)
    capsys.readouterr()
    pipeline_run(r, dry_run=True)
    pipeline_run(r)
    assert "== filter: done" in capsys.readouterr().out
    assert kept.stat().st_mtime_ns == stamp
    # a filter that would run code is still refused before the first stage
    with pytest.raises(DistillError, match="needs OS isolation"):
        pipeline_run(r, sets=["filter.max_per_prompt=1"], dry_run=True)


def test_a_done_code_filter_whose_input_generate_adds_to_is_still_refused_up_front(
    tmp_path, monkeypatch, server
):
    # The rerun above goes on because filter is skipped; one whose generate adds samples to
    # filter's input (a raised n, prompts that failed before) filters again, running code:
    # refused before generate buys them, as 0d10394 meant.
    import distill.filter.sandbox
    import distill.generate

    if distill.filter.sandbox.isolation() is None:
        pytest.skip("the first run needs isolation")
    r = _recipe(tmp_path, generate={**GEN, "base_url": server.url}, filter=FILTER)
    pipeline_run(r)
    monkeypatch.setattr(distill.filter.sandbox, "isolation", lambda: None)
    ran = []
    monkeypatch.setattr(distill.generate, "run", lambda c, progress=True: ran.append(c))
    for dry in (True, False):
        with pytest.raises(DistillError, match="needs OS isolation"):
            pipeline_run(r, sets=["generate.n=3"], dry_run=dry)
    assert ran == []
