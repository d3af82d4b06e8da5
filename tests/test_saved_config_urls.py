"""A server URL's token is written nowhere, train.yaml included (README, publish):
generate's, eval's, filter's and select's saved yaml wrote `--base-url` as given, so
`https://h/v1?key=SECRET` or `https://user:SECRET@h/v1` sat in <out>.generate.yaml beside the
traces (and went wherever the run folder went)."""

import yaml

from distill.config import save_config


def test_a_stage_yaml_names_the_server_without_its_token(tmp_path):
    from distill.generate import GenerateConfig

    cfg = GenerateConfig(
        teacher="openai",
        model="m",
        data="builtin:arithmetic",
        base_url="https://user:SECRET1@h.example/v1?key=SECRET2",
        system_prompt="See https://docs.example/page?x=1 first.",  # text, not a server: as given
        out=str(tmp_path / "t.jsonl"),
    )
    path = save_config(cfg, tmp_path / "t.generate.yaml")
    text = path.read_text()
    assert "SECRET" not in text
    saved = yaml.safe_load(text)
    assert saved["base_url"] == "https://h.example/v1"
    assert saved["system_prompt"] == "See https://docs.example/page?x=1 first."


def test_train_yaml_names_the_server_without_its_token_too(tmp_path):
    """train.yaml (which a run folder shares and publish uploads) keeps no token either: a
    --resume compares URLs without them (tests/test_owned_s11.py)."""
    from dataclasses import dataclass

    @dataclass
    class T:
        teacher_url: str = "https://h.example/v1?key=SECRET"

    path = save_config(T(), tmp_path / "train.yaml")
    assert yaml.safe_load(path.read_text())["teacher_url"] == "https://h.example/v1"
