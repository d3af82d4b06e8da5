import pytest

from distill.config import load_config, read_recipe
from distill.errors import DistillError
from distill.generate import GenerateConfig


def write(tmp_path, text):
    p = tmp_path / "r.yaml"
    p.write_text(text)
    return p


def test_cli_overrides_recipe_overrides_defaults(tmp_path):
    r = write(
        tmp_path, "data: builtin:arithmetic\nmodel: m\nout: t.jsonl\nn: 4\ntemperature: 0.9\n"
    )
    cfg = load_config(GenerateConfig, "generate", r, {"n": 8, "temperature": None})
    assert cfg.n == 8  # CLI wins
    assert cfg.temperature == 0.9  # recipe wins over the default
    assert cfg.top_p == 0.95  # default


def test_unknown_key_is_named_with_a_suggestion(tmp_path):
    r = write(tmp_path, "data: builtin:arithmetic\nmodel: m\nout: t.jsonl\ntemprature: 0.9\n")
    with pytest.raises(
        DistillError, match=r"unknown key 'temprature' \(did you mean 'temperature'\?\)"
    ):
        load_config(GenerateConfig, "generate", r, {})


def test_bad_value_type_is_named(tmp_path):
    r = write(tmp_path, "data: builtin:arithmetic\nmodel: m\nout: t.jsonl\nn: eight\n")
    with pytest.raises(DistillError, match=r"key 'n': expected int"):
        load_config(GenerateConfig, "generate", r, {})


def test_sectioned_recipe_reads_its_own_stage(tmp_path):
    r = write(
        tmp_path,
        "generate:\n  data: builtin:arithmetic\n  model: m\n  out: t.jsonl\ntrain:\n  anything: 1\n",
    )
    assert read_recipe(r, "generate")["model"] == "m"
    cfg = load_config(GenerateConfig, "generate", r, {})
    assert cfg.data == "builtin:arithmetic"


def test_ensemble_entries_inherit_and_are_validated(tmp_path):
    r = write(
        tmp_path,
        (
            "data: builtin:arithmetic\nout: t.jsonl\nteacher: openai\nbase_url: http://x/v1\ntemperature: 0.7\n"
            "teachers:\n  - model: a\n  - model: b\n    temperature: 0.2\n"
        ),
    )
    cfg = load_config(GenerateConfig, "generate", r, {})
    a, b = cfg.resolved_teachers()
    assert (a.model, a.temperature, a.base_url) == ("a", 0.7, "http://x/v1")
    assert (b.model, b.temperature) == ("b", 0.2)
    bad = write(
        tmp_path, "data: builtin:arithmetic\nout: t.jsonl\nteachers:\n  - model: a\n    temp: 1\n"
    )
    with pytest.raises(DistillError, match=r"teachers\[0\]: unknown key 'temp'"):
        load_config(GenerateConfig, "generate", bad, {})


def test_invalid_values_fail_before_any_work():
    with pytest.raises(DistillError, match="unknown teacher 'gpt'"):
        GenerateConfig(data="builtin:arithmetic", model="m", out="t.jsonl", teacher="gpt")
    with pytest.raises(DistillError, match="missing --out"):
        GenerateConfig(data="builtin:arithmetic", model="m")
