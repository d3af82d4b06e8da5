"""One source of truth per setting: the value a stage uses is the one the user gave (flag, recipe
key, --set) or the documented default, never another one chosen without a word."""

import pytest
from typer.testing import CliRunner

from distill.cli import app
from distill.config import load_config
from distill.errors import DistillError
from distill.generate.config import GenerateConfig, TeacherConfig, cost_of
from distill.train.config import TrainConfig


def _write(tmp_path, text, name="r.yaml"):
    p = tmp_path / name
    p.write_text(text)
    return p


def test_a_text_key_left_blank_in_a_recipe_is_one_line_naming_it(tmp_path, monkeypatch):
    """`api_key_env:` with no value was None, and generate died on it with 'TypeError: str
    expected, not NoneType'; `split:` ran with split None (saved so in generate.yaml)."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("DISTILL_DEBUG", raising=False)
    _write(
        tmp_path,
        "data: builtin:arithmetic\nmodel: m\nout: t.jsonl\nlimit: 1\n"
        "base_url: http://127.0.0.1:9/v1\napi_key_env:\n",
        "g.yaml",
    )
    res = CliRunner().invoke(app, ["generate", "--recipe", "g.yaml"])
    lines = [ln for ln in res.stderr.splitlines() if ln.strip()]
    assert res.exit_code == 1 and len(lines) == 1, res.stderr
    assert "api_key_env" in lines[0] and "g.yaml" in lines[0], lines[0]
    assert "rerun with --debug" not in lines[0]
    assert not (tmp_path / "t.jsonl").exists()
    r = _write(tmp_path, "data: builtin:arithmetic\nmodel: m\nout: t.jsonl\nsplit:\n")
    with pytest.raises(DistillError, match=r"key 'split': expected str, got no value"):
        load_config(GenerateConfig, "generate", r, {})


def test_a_text_key_that_may_be_unset_still_takes_no_value(tmp_path):
    r = _write(tmp_path, "data: builtin:arithmetic\nmodel: m\nout: t.jsonl\nsystem_prompt:\n")
    assert load_config(GenerateConfig, "generate", r, {}).system_prompt is None


def test_one_price_given_keeps_the_list_price_of_the_other():
    """--price-input alone for gpt-4o priced its completion tokens at $0 (the table's $10/1M
    dropped): the cost and the budget line said a tenth of what was spent."""
    usage = {"prompt_tokens": 1_000_000, "completion_tokens": 1_000_000}
    given_in = TeacherConfig(model="gpt-4o", price_input=1.0).prices()
    assert given_in[:2] == (1.0, 10.0)
    assert cost_of(usage, given_in) == pytest.approx(11.0)
    given_out = TeacherConfig(model="gpt-4o", price_output=3.0).prices()
    assert given_out == (2.5, 3.0, 1.25)  # the input price and its cached price: the table's
    assert TeacherConfig(model="gpt-4o", price_input=1.0, price_output=2.0).prices() == (1.0, 2.0)
    # a model not in the table: what is given, the other free (as before)
    assert TeacherConfig(model="local", price_output=2.0).prices() == (0.0, 2.0)


def test_a_teacher_key_every_ensemble_entry_replaces_is_refused(tmp_path):
    """`--model gpt-4o` (or a top-level `model:`) beside a `teachers:` list whose every entry
    names its own model was used by no teacher, without a word."""
    r = _write(
        tmp_path,
        "data: builtin:arithmetic\nout: t.jsonl\nbase_url: http://x/v1\n"
        "teachers:\n  - model: a\n    temperature: 0.2\n  - model: b\n    temperature: 0.3\n",
    )
    with pytest.raises(DistillError, match=r"--model gpt-4o: .*every teachers entry"):
        load_config(GenerateConfig, "generate", r, {"model": "gpt-4o"})
    with pytest.raises(DistillError, match=r"--temperature 0\.9: .*every teachers entry"):
        load_config(GenerateConfig, "generate", r, {"temperature": 0.9})
    # a key some entry leaves out is that entry's (inherited), as documented
    cfg = load_config(GenerateConfig, "generate", r, {"base_url": "http://y/v1"})
    assert [t.base_url for t in cfg.resolved_teachers()] == ["http://y/v1"] * 2
    # a value an entry repeats is used (a recipe's model, and --set teachers naming it again;
    # a local folder however it is spelled): not refused
    load_config(GenerateConfig, "generate", r, {"model": "a", "temperature": 0.3})
    (tmp_path / "ckpt").mkdir()
    spelled = _write(
        tmp_path,
        "data: builtin:arithmetic\nout: t.jsonl\n"
        f"teachers:\n  - model: {tmp_path / 'ckpt'}\n  - model: b\n",
    )
    load_config(GenerateConfig, "generate", spelled, {"model": str(tmp_path / "ckpt") + "/"})


def test_no_lora_with_qlora_is_refused_not_turned_back_on(tmp_path):
    """`lora: false` with `qlora: true` trained a LoRA adapter (qlora switched lora back on), the
    opposite of the full fine-tune the user asked for."""
    r = _write(
        tmp_path,
        "data: k.jsonl\nmodel: builtin:smollm2\noutput_dir: o\nlora: false\nqlora: true\n",
    )
    with pytest.raises(DistillError, match=r"--qlora .*--no-lora"):
        load_config(TrainConfig, "train", r, {})
    cfg = load_config(TrainConfig, "train", r, {"lora": True})
    assert cfg.lora and cfg.qlora


def test_the_model_card_names_a_qlora_base():
    """The card's hyperparameter table (setting(card=True)) said `lora | True` for a 4-bit QLoRA
    run, the same as for a bf16 LoRA: qlora is in it."""
    from distill.config import keys_where

    assert "qlora" in keys_where(TrainConfig, "card")


@pytest.mark.parametrize("value", ["true", "True", "yes", "1"])
def test_distill_debug_env_true_shows_the_traceback(tmp_path, monkeypatch, value):
    """DISTILL_DEBUG=true (as HF_HUB_OFFLINE, TRANSFORMERS_VERBOSITY-style switches are written)
    was ignored: only the exact text 1 turned it on."""
    monkeypatch.chdir(tmp_path)
    res = CliRunner().invoke(
        app, ["filter", "missing.jsonl", "--out", "k.jsonl"], env={"DISTILL_DEBUG": value}
    )
    assert isinstance(res.exception, DistillError), (res.exception, res.stderr)
    res = CliRunner().invoke(
        app, ["filter", "missing.jsonl", "--out", "k.jsonl"], env={"DISTILL_DEBUG": "0"}
    )
    assert res.exit_code == 1 and res.stderr.startswith("error: traces file not found")


def test_the_refused_top_level_url_is_shown_without_its_token(tmp_path):
    r = _write(
        tmp_path,
        "data: builtin:arithmetic\nout: t.jsonl\n"
        "teachers:\n  - {model: a, base_url: 'http://h/v1'}\n  - {model: b, base_url: 'http://h/v1'}\n",
    )
    with pytest.raises(DistillError, match=r"--base-url .*every teachers entry") as e:
        load_config(GenerateConfig, "generate", r, {"base_url": "http://me:sekrit@x/v1?key=k2"})
    assert "sekrit" not in str(e.value) and "k2" not in str(e.value)
