"""distill run: what a stage takes from another, one source of truth per setting.

1. eval and select took filter's --verify code but not its --unsafe-sandbox: on a machine where
   no OS isolation works the user who set filter.unsafe_sandbox was refused at eval and select.
2. A hub dataset and another config of it (`org/x`, `org/x:cfgB`) were one source: eval on
   cfgB took generate's template and columns, written for the default config's rows.
3. generate's prompt_field taken by eval on a set without that column: the refusal said
   `pass --prompt-field` (a flag of `distill eval`), not that the column was generate's, nor
   which recipe key sets eval's own.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

import distill.filter.sandbox
from distill.errors import DistillError
from distill.pipeline import run as pipeline_run

URL = "http://127.0.0.1:9/v1"  # (nothing is asked: dry runs and planned configs)


def write_rows(path: Path, rows: list[dict]) -> str:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return str(path)


def write_recipe(tmp_path: Path, **sections) -> Path:
    path = tmp_path / "r.yaml"
    path.write_text(yaml.safe_dump({"run": {"dir": str(tmp_path / "run")}, **sections}))
    return path


def generate(data: str, **kw) -> dict:
    return {"teacher": "openai", "model": "t", "base_url": URL, "data": data,
            "out": "{run_dir}/traces.jsonl", **kw}  # fmt: skip


def evaluate(data: str, **kw) -> dict:
    return {"model": "s", "backend": "openai", "base_url": URL, "data": data,
            "out": "{run_dir}/eval.json", **kw}  # fmt: skip


# --------------------------------------------------------------------------- 1. unsafe_sandbox

TESTS = {"inputs": ["2\n"], "outputs": ["4\n"]}


@pytest.fixture
def no_isolation(monkeypatch):
    monkeypatch.setattr(distill.filter.sandbox, "isolation", lambda: None)


def code_recipe(tmp_path: Path, ev: dict | None = None, select: dict | None = None) -> Path:
    data = write_rows(
        tmp_path / "code.jsonl",
        [{"problem": f"Print twice the number read, {i}.", "tests": TESTS} for i in range(3)],
    )
    filt = {"input": "{run_dir}/traces.jsonl", "out": "{run_dir}/kept.jsonl", "verify": "code",
            "unsafe_sandbox": True}  # fmt: skip
    sections = {"generate": generate(data), "filter": filt}
    if ev is not None:
        sections["eval"] = evaluate(data, **ev)
    if select is not None:
        sections["select"] = {"input": "{run_dir}/kept.jsonl", "out": "{run_dir}/sel.jsonl",
                              "budget": 2, "criteria": ["difficulty"], "student": "s",
                              "student_base_url": URL, **select}  # fmt: skip
    return write_recipe(tmp_path, **sections)


def test_eval_takes_filters_unsafe_sandbox_with_its_verify(tmp_path, no_isolation, capsys):
    pipeline_run(code_recipe(tmp_path, ev={}), dry_run=True)  # refused at eval before the fix
    assert "== eval:" in capsys.readouterr().out
    # a section's own verify names its own sandbox: refused, as before
    with pytest.raises(DistillError, match="needs OS isolation"):
        pipeline_run(code_recipe(tmp_path, ev={"verify": "code"}), dry_run=True)
    with pytest.raises(DistillError, match="needs OS isolation"):
        pipeline_run(code_recipe(tmp_path, ev={"unsafe_sandbox": False}), dry_run=True)


def test_select_takes_filters_unsafe_sandbox_with_its_verify(tmp_path, no_isolation, capsys):
    pipeline_run(code_recipe(tmp_path, select={}), dry_run=True)  # refused before the fix
    said = capsys.readouterr().out
    assert "verify=code" in next(x for x in said.splitlines() if x.startswith("== select:"))


def test_distill_run_eval_runs_the_code_unisolated_as_filter_did(
    tmp_path, no_isolation, monkeypatch
):
    import distill.eval as eval_stage

    seen = []

    def fake_run(cfg):
        seen.append(cfg)
        Path(cfg.out).parent.mkdir(parents=True, exist_ok=True)
        Path(cfg.out).write_text(json.dumps({"student": {"pass@1": 1.0}}))

    monkeypatch.setattr(eval_stage, "run", fake_run)
    pipeline_run(code_recipe(tmp_path, ev={}), only=["eval"])
    assert seen[0].verify == "code" and seen[0].unsafe_sandbox is True


# --------------------------------------------------------------------------- 2. hub configs


@pytest.fixture
def planned_eval(tmp_path, monkeypatch):
    """The eval config distill run would run with (no hub here)."""
    import distill.eval as eval_stage

    seen = []

    def fake_run(cfg):
        seen.append(cfg)
        Path(cfg.out).parent.mkdir(parents=True, exist_ok=True)
        Path(cfg.out).write_text(json.dumps({"student": {"pass@1": 1.0}}))

    monkeypatch.setattr(eval_stage, "run", fake_run)
    monkeypatch.setattr(eval_stage, "check_data", lambda cfg: None)

    def plan(gen: str, ev: str):
        import shutil

        import distill.pipeline

        distill.pipeline._default_config.cache_clear()  # (each test's hub)
        shutil.rmtree(tmp_path / "run", ignore_errors=True)
        seen.clear()
        gen_section = generate(gen, template="plain", prompt_field="question")
        path = write_recipe(tmp_path, generate=gen_section, eval=evaluate(ev))
        pipeline_run(path, only=["eval"])
        return seen[0]

    return plan


@pytest.mark.parametrize(
    ("gen", "ev"),
    [("org/x", "org/x:cfgB"), ("org/x:cfgB", "org/x")],
)
def test_a_hub_dataset_and_another_config_of_it_are_two_sources(planned_eval, monkeypatch, gen, ev):
    import datasets

    # org/x's default config is cfgA: org/x is cfgA's rows
    monkeypatch.setattr(datasets, "get_dataset_default_config_name", lambda name, **kw: "cfgA")
    cfg = planned_eval(gen, ev)
    assert cfg.template is None and cfg.prompt_field is None


def test_a_config_not_known_to_be_the_default_is_another_source(planned_eval, monkeypatch):
    import datasets

    def offline(name, **kw):
        raise ConnectionError("offline, not cached")

    monkeypatch.setattr(datasets, "get_dataset_default_config_name", offline)
    assert planned_eval("org/y", "org/y:cfgB").template is None


def test_a_hub_dataset_and_its_default_config_are_one_source(planned_eval, monkeypatch):
    import datasets

    monkeypatch.setattr(datasets, "get_dataset_default_config_name", lambda name, **kw: "cfgA")
    cfg = planned_eval("org/z", "org/z:cfgA")
    assert cfg.template == "plain" and cfg.prompt_field == "question"
    assert planned_eval("org/z:cfgB", "org/z:cfgB").template == "plain"


# --------------------------------------------------------------------------- 3. a taken column


def test_generates_prompt_field_eval_set_lacks_names_where_it_came_from(tmp_path):
    folder = tmp_path / "data"
    write_rows(folder / "train.jsonl", [{"question": "What is 1 + 2?", "answer": "3"}])
    write_rows(folder / "test.jsonl", [{"problem": "What is 3 + 4?", "answer": "7"}])
    path = write_recipe(
        tmp_path,
        generate=generate(str(folder), prompt_field="question"),
        eval=evaluate(str(folder), split="test"),
    )
    with pytest.raises(DistillError) as e:
        pipeline_run(path, only=["eval"])
    said = str(e.value)
    assert "\n" not in said and "no field 'question'" in said
    assert "pass --prompt-field" not in said
    assert "eval.prompt_field question is generate's prompt_field" in said
    assert "set eval.prompt_field to a column of" in said and "--set eval.prompt_field=" in said
    # set in the recipe, the column of eval's own set: no refusal
    sections = yaml.safe_load(path.read_text())
    sections["eval"]["prompt_field"] = "problem"
    path.write_text(yaml.safe_dump(sections))
    pipeline_run(path, dry_run=True)


def test_an_eval_sections_own_missing_prompt_field_is_refused_as_before(tmp_path):
    data = write_rows(tmp_path / "q.jsonl", [{"problem": "What is 3 + 4?", "answer": "7"}])
    path = write_recipe(tmp_path, eval=evaluate(data, prompt_field="question"))
    with pytest.raises(DistillError, match="pass --prompt-field$"):
        pipeline_run(path, only=["eval"])
