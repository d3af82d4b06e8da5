"""make smoke-select's driver: a rerun resumes a student whose training set is the same bytes and
starts over one whose set changed (another selection), whatever the file is called."""

from __future__ import annotations

import importlib.util
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def driver():
    spec = importlib.util.spec_from_file_location("select_smoke", ROOT / "scripts/select_smoke.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def test_a_student_resumes_on_the_same_data_and_starts_over_on_other_data(tmp_path):
    resume_keys = driver()._resume_keys
    data = tmp_path / "selected.jsonl"
    data.write_text('{"id": "a"}\n')
    out = tmp_path / "selected"
    assert resume_keys(out, data) == {"overwrite": True}  # first run: nothing to resume
    assert resume_keys(out, data) == {"resume": True}
    data.write_text('{"id": "b"}\n')  # another selection into the same path
    assert resume_keys(out, data) == {"overwrite": True}
    assert resume_keys(out, data) == {"resume": True}
