"""Second read of 2364916 / 316ea13 (distill run's mixed-traces check, the rerun's data hash)."""

import pytest

from distill.errors import DistillError
from tests.fakeserver import FakeServer
from tests.test_pipeline_mixed_traces import recipe


def test_other_generate_settings_are_refused_before_the_teacher_is_paid(tmp_path, monkeypatch):
    """The refused run (another temperature in the same run dir) sent no request and appended
    nothing: the run dir's own recipe, run again as it was, still goes through (it was refused
    for good once the refused run's samples sat in its traces file)."""
    from distill.pipeline import run

    monkeypatch.setenv("OPENAI_API_KEY", "sk-test")
    server = FakeServer().start()
    try:
        r = recipe(tmp_path, server.url)
        run(r)
        traces = tmp_path / "run" / "traces.jsonl"
        before, answered = traces.read_text(), server.answered
        with pytest.raises(
            DistillError,
            match="holds 12 samples this generate section does not plan.*nothing was generated",
        ):
            run(r, sets=["generate.temperature=0.5"])
        assert server.answered == answered  # nothing bought
        assert traces.read_text() == before  # nothing appended
        run(r)  # the run dir's own settings again: not refused
    finally:
        server.stop()


def test_a_raised_n_and_a_teacher_mix_are_not_refused(tmp_path, monkeypatch):
    from distill.pipeline import run

    monkeypatch.setenv("OPENAI_API_KEY", "sk-test")
    server = FakeServer().start()
    try:
        r = recipe(tmp_path, server.url)
        run(r)
        run(r, sets=["generate.n=4"])  # the first 2 samples of each prompt are this run's
        mix = '[{"model": "fake-r1"}, {"model": "fake-r1", "temperature": 0.2}]'
        run(r, sets=[f"generate.teachers={mix}", "generate.n=4"])
    finally:
        server.stop()
