"""`distill run` refuses a generate or eval model that cannot load before the first stage runs
(an eval refused when it starts came after generate had paid for its samples)."""

from __future__ import annotations

import pytest
from huggingface_hub import constants

from distill.errors import DistillError
from distill.pipeline import run
from distill.teachers import TEACHERS

RECIPE = """
generate:
  data: builtin:arithmetic?n=2
  teacher: hf
  model: {gen}
  out: "{{run_dir}}/traces.jsonl"
filter:
  input: "{{run_dir}}/traces.jsonl"
  out: "{{run_dir}}/kept.jsonl"
train:
  data: "{{run_dir}}/kept.jsonl"
  model: builtin:smollm2
  output_dir: "{{run_dir}}/student"
eval:
  model: "{{run_dir}}/student{merged}"
  baseline: {base}
  data: builtin:arithmetic?start=1000&n=2
  out: "{{run_dir}}/eval.json"
"""


class GenerateStarted(Exception):
    pass


@pytest.fixture
def offline_generate(monkeypatch):
    """Offline; the hf teacher stops the run the moment generate builds it."""
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", True)

    def started(cfg):
        raise GenerateStarted

    monkeypatch.setitem(TEACHERS, "hf", started)


def _run(tmp_path, gen="builtin:smollm2", base="builtin:smollm2", merged=""):
    p = tmp_path / "r.yaml"
    p.write_text(RECIPE.format(gen=gen, base=base, merged=merged))
    return run(p, run_dir=str(tmp_path / "r"))


def test_an_eval_baseline_not_in_the_offline_cache_is_refused_before_generate(
    tmp_path, offline_generate
):
    with pytest.raises(DistillError, match="--baseline nobody/not-cached: not in the Hugging Face"):
        _run(tmp_path, base="nobody/not-cached")
    assert not (tmp_path / "r" / "traces.jsonl").exists()


def test_a_generate_teacher_not_in_the_offline_cache_is_refused(tmp_path, offline_generate):
    with pytest.raises(DistillError, match="--model nobody/not-cached: not in the Hugging Face"):
        _run(tmp_path, gen="nobody/not-cached")


@pytest.mark.parametrize("merged", ["", "/merged"])
def test_the_student_train_writes_is_checked_when_eval_runs(tmp_path, offline_generate, merged):
    with pytest.raises(GenerateStarted):
        _run(tmp_path, merged=merged)
