"""Refusals that came after work or files (review s7): each is one `error:` line, exit 1, and
nothing written, before any model loads where only the data decides.

    .venv/bin/python -m pytest tests/test_refusals_s7.py -q

README: "Every refusal is one `error: ...` line on stderr and exit 1 ..., with nothing written";
"a value out of range, named by its flag".
"""

from __future__ import annotations

import types
from pathlib import Path

import pytest

from tests.inproc import distill


def _files(root: Path) -> list[str]:
    return sorted(str(p.relative_to(root)) for p in root.rglob("*"))


def _one_error(res, *needles: str) -> str:
    assert res.returncode == 1, (res.stdout, res.stderr)
    lines = [ln for ln in res.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: "), res.stderr
    for needle in needles:
        assert needle in lines[0], lines[0]
    return lines[0]


# 1. A local teacher's model that cannot load (a hub name not in the offline cache, a local path
# that does not exist) was refused by the load, after generate had written t.generate.yaml, an
# empty t.jsonl and t.summary.json (eval: the samples' files; eval --baseline: after the whole
# student eval).
_DATA = "builtin:arithmetic?n=2"
MODEL_CASES = [
    ("generate-hub", ["generate", "--teacher", "hf", "--model", "nobody/not-cached", "--data",
                      _DATA, "--out", "o/t.jsonl"], "--model nobody/not-cached", "HF_HUB_OFFLINE"),
    ("generate-path", ["generate", "--teacher", "hf", "--model", "./no/such/model", "--data",
                       _DATA, "--out", "o/t.jsonl"], "--model", "./no/such/model"),
    ("eval-hub", ["eval", "--model", "nobody/not-cached", "--data", _DATA,
                  "--out", "o/eval.json"], "--model nobody/not-cached", "HF_HUB_OFFLINE"),
    ("eval-baseline-hub", ["eval", "--model", "student", "--baseline", "nobody/not-cached",
                           "--data", _DATA, "--out", "o/eval.json"],
     "--baseline nobody/not-cached", "HF_HUB_OFFLINE"),
    ("eval-baseline-path", ["eval", "--model", "student", "--baseline", "./no/such/model",
                            "--data", _DATA, "--out", "o/eval.json"], "--baseline", "no such"),
]  # fmt: skip


@pytest.mark.parametrize(
    "argv, flag, why", [c[1:] for c in MODEL_CASES], ids=[c[0] for c in MODEL_CASES]
)
def test_a_model_that_cannot_load_is_refused_before_any_write(tmp_path, argv, flag, why):
    (tmp_path / "student").mkdir()
    (tmp_path / "student" / "config.json").write_text("{}")  # a folder: passes the check
    before = _files(tmp_path)
    res = distill(*argv, cwd=tmp_path)  # the suite runs with HF_HUB_OFFLINE=1 (conftest)
    _one_error(res, flag, why)
    assert "Traceback" not in res.stderr
    assert _files(tmp_path) == before, "a refused model left files behind"


def _cache_with(root: Path, repo: str, filename: str) -> Path:
    """A Hugging Face hub cache holding one file of `repo` (its layout: models--org--name)."""
    repo_dir = root / f"models--{repo.replace('/', '--')}"
    commit = "0" * 40
    (repo_dir / "refs").mkdir(parents=True)
    (repo_dir / "refs" / "main").write_text(commit)
    snap = repo_dir / "snapshots" / commit
    snap.mkdir(parents=True)
    (snap / filename).write_text("{}")
    return root


def test_a_cached_hub_model_a_folder_and_a_builtin_pass_offline(tmp_path, monkeypatch):
    from huggingface_hub import constants

    from distill.errors import DistillError
    from distill.teachers import check_teacher

    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", True)
    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(tmp_path / "hub"))
    _cache_with(tmp_path / "hub", "org/cached", "config.json")
    _cache_with(tmp_path / "hub", "org/adapter", "adapter_config.json")
    (tmp_path / "folder").mkdir()
    (tmp_path / "folder" / "config.json").write_text("{}")
    for model in ("org/cached", "org/adapter", str(tmp_path / "folder"), "builtin:smollm2"):
        check_teacher("hf", types.SimpleNamespace(model=model))
    with pytest.raises(DistillError, match="--model org/missing: not in the Hugging Face cache"):
        check_teacher("hf", types.SimpleNamespace(model="org/missing"))


def test_online_a_hub_name_is_left_to_the_load_with_no_network_call(monkeypatch):
    import huggingface_hub
    from huggingface_hub import constants

    from distill.teachers import check_teacher

    def no_lookup(*a, **k):
        raise AssertionError("looked the model up")

    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", False)
    monkeypatch.setattr(huggingface_hub, "try_to_load_from_cache", no_lookup)
    check_teacher("hf", types.SimpleNamespace(model="org/anything"))  # the load downloads it


def test_vllm_teacher_checks_the_model_it_would_load(monkeypatch):
    import distill.teachers.vllm as backend
    from distill.errors import DistillError
    from distill.teachers import check_teacher

    monkeypatch.setattr(backend, "_import_vllm", lambda: types.ModuleType("vllm"))
    with pytest.raises(DistillError, match="--model org/missing: not in the Hugging Face cache"):
        check_teacher("vllm", types.SimpleNamespace(model="org/missing"))
    with pytest.raises(DistillError, match="no such folder"):
        check_teacher("vllm", types.SimpleNamespace(model="./no/such/model"))


def test_a_replaced_teacher_brings_its_own_model():
    """TEACHERS' entry replaced by a class without `check` (an in-process stand-in) is not
    asked about a model it does not load."""
    from distill import teachers

    class Stand:
        def __init__(self, cfg):
            pass

    saved = teachers.TEACHERS["hf"]
    teachers.TEACHERS["hf"] = Stand
    try:
        teachers.check_teacher("hf", types.SimpleNamespace(model="fake"))
    finally:
        teachers.TEACHERS["hf"] = saved
