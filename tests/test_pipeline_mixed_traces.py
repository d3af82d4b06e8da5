"""`distill run` again in the same run dir with another generate setting (temperature): generate
appends the new samples beside the earlier run's, and filter would keep both (train learning a
mix nobody asked for). The run stops after generate in one line; the same settings rerun fine."""

import pytest
import yaml

from distill.errors import DistillError
from tests.fakeserver import FakeServer


def recipe(tmp_path, url):
    path = tmp_path / "r.yaml"
    path.write_text(yaml.safe_dump({
        "run": {"dir": str(tmp_path / "run")},
        "generate": {"data": "builtin:arithmetic?n=6", "teacher": "openai", "base_url": url,
                     "model": "fake-r1", "n": 2, "temperature": 0.7,
                     "out": "{run_dir}/traces.jsonl"},
        "filter": {"input": "{run_dir}/traces.jsonl", "out": "{run_dir}/kept.jsonl",
                   "verify": "math"},
    }))  # fmt: skip
    return path


def test_a_rerun_with_other_generate_settings_is_refused_before_filter(tmp_path, monkeypatch):
    from distill.pipeline import run

    monkeypatch.setenv("OPENAI_API_KEY", "sk-test")
    server = FakeServer().start()
    try:
        r = recipe(tmp_path, server.url)
        run(r)
        kept = (tmp_path / "run" / "kept.jsonl").read_text()
        run(r)  # the same settings: nothing new, nothing refused
        with pytest.raises(
            DistillError,
            match="holds 12 samples this generate section does not plan.*nothing was generated",
        ):
            run(r, sets=["generate.temperature=0.5"])
        assert (tmp_path / "run" / "kept.jsonl").read_text() == kept  # filter did not run
    finally:
        server.stop()
