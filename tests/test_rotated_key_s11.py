"""A rotated API key in a server URL is the same server: `distill run` must not redo a stage
(and pay its judge or student again) because the key in `--judge-base-url` changed. The stage's
manifest decides through its config hash; another host must still count as a change."""

from __future__ import annotations

from distill.eval import EvalConfig
from distill.manifest import config_hash
from distill.select.config import SelectConfig
from distill.select.stage import config_hash as select_hash


def _select(url: str) -> SelectConfig:
    return SelectConfig(
        input="kept.jsonl",
        out="selected.jsonl",
        budget=4,
        criteria=["judge"],
        judge="j",
        judge_base_url=url,
    )


def test_select_judge_key_rotation_is_no_change_but_another_host_is():
    a = select_hash(_select("https://me:KEY-one@judge.example/v1?api_key=k1"))
    b = select_hash(_select("https://me:KEY-two@judge.example/v1?api_key=k2"))
    other = select_hash(_select("https://me:KEY-one@judge2.example/v1?api_key=k1"))
    assert a == b
    assert a != other


def test_eval_base_url_key_rotation_is_no_change():
    def cfg(url: str) -> EvalConfig:
        return EvalConfig(
            model="m", data="d.jsonl", out="eval.json", backend="openai", base_url=url
        )

    assert config_hash(cfg("http://u:old@127.0.0.1:8000/v1")) == config_hash(
        cfg("http://u:new@127.0.0.1:8000/v1")
    )
    assert config_hash(cfg("http://127.0.0.1:8000/v1")) != config_hash(
        cfg("http://127.0.0.1:8001/v1")
    )
