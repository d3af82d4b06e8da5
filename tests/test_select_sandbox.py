"""select --verify code runs model-written code (the teacher's traces without a stored verdict,
the student's samples) to rate difficulty. Where no OS isolation works it failed mid-run
with "pass --unsafe-sandbox", a flag select did not have; now the flag exists, the refusal
comes before any sampling or verification, and distill run checks it before the first stage."""

import pytest

import distill.filter.sandbox
from distill.errors import DistillError
from tests.test_select import select, trace, write

CODE = "```python\nprint(int(input()) * 2)\n```"
TESTS = {"tests": {"inputs": ["2\n"], "outputs": ["4\n"]}}


def pool(tmp_path):
    recs = [trace(f"p{i}", f"double {i}", answer=CODE, gold=None, meta=TESTS) for i in range(4)]
    return write(tmp_path / "kept.jsonl", recs)


def test_select_verify_code_without_isolation_is_refused_before_it_runs_code(tmp_path, monkeypatch):
    monkeypatch.setattr(distill.filter.sandbox, "isolation", lambda: None)
    from distill.filter import verify

    ran = []
    monkeypatch.setattr(verify, "verify_code", lambda *a, **k: ran.append(a))
    with pytest.raises(DistillError, match="needs OS isolation .* --unsafe-sandbox"):
        select(tmp_path, pool(tmp_path), criteria=["difficulty"], verify="code", budget=2)
    assert ran == [] and not (tmp_path / "sel.jsonl").exists()


def test_select_unsafe_sandbox_rates_code_where_no_isolation_works(tmp_path, monkeypatch):
    monkeypatch.setattr(distill.filter.sandbox, "isolation", lambda: None)
    kept, _, report = select(
        tmp_path,
        pool(tmp_path),
        criteria=["difficulty"],
        verify="code",
        budget=2,
        unsafe_sandbox=True,
    )
    assert len(kept) == 2
    assert report["difficulty"]["pass_rate_all"]["mean"] == 1.0  # every program ran, passed


def test_distill_run_refuses_select_verify_code_before_the_first_stage(tmp_path, monkeypatch):
    import yaml

    import distill.generate
    from distill.pipeline import run as pipeline_run

    monkeypatch.setattr(distill.filter.sandbox, "isolation", lambda: None)
    gen = {"data": "builtin:arithmetic?n=6", "teacher": "openai", "model": "m", "n": 2}
    gen["out"] = "{run_dir}/traces.jsonl"
    sel = {"input": "{run_dir}/traces.jsonl", "out": "{run_dir}/sel.jsonl", "budget": 2}
    sel.update(criteria=["difficulty"], verify="code")
    recipe = tmp_path / "r.yaml"
    recipe.write_text(
        yaml.safe_dump({"run": {"dir": str(tmp_path / "run")}, "generate": gen, "select": sel})
    )
    ran = []
    monkeypatch.setattr(distill.generate, "run", lambda c, progress=True: ran.append(c))
    for dry in (True, False):
        with pytest.raises(DistillError, match="needs OS isolation"):
            pipeline_run(str(recipe), dry_run=dry)
    assert ran == []
    pipeline_run(str(recipe), sets=["select.unsafe_sandbox=true"], dry_run=True)
