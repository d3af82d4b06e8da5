"""Server URLs as a run records them (distill/urls.py): no userinfo, no query string, in the model
card, kd.json's per-teacher lines and the train.yaml / kd.json a publish uploads."""

import json
from types import SimpleNamespace

import pytest
import yaml

from distill.urls import redact_url, redact_urls

SECRET = "https://alice:tok3n@h.example:8443/v1?api_key=k3y#frag"


def test_a_url_keeps_scheme_host_port_and_path_only():
    assert redact_url(SECRET) == "https://h.example:8443/v1"
    assert redact_url("http://localhost:8000/v1") == "http://localhost:8000/v1"
    assert (
        redact_url("not a url") == "not a url"
        and redact_url("Qwen/Qwen2.5-7B") == "Qwen/Qwen2.5-7B"
    )
    # every URL inside strings, lists and dicts; NAME@URL keeps its name; other values as they are
    state = {"teacher": f"T@{SECRET}", "urls": [SECRET, None], "n": 3}
    assert redact_urls(state) == {
        "teacher": "T@https://h.example:8443/v1",
        "urls": ["https://h.example:8443/v1", None],
        "n": 3,
    }


def train_cfg(**kw):
    from distill.train.config import TrainConfig

    base = dict(data="kept.jsonl", model="S", output_dir="out", method="onpolicy")
    return TrainConfig(**{**base, **kw})


def test_the_card_names_a_served_teacher_without_its_secrets():
    from distill.train.kd import card_lines

    text = "\n".join(card_lines(train_cfg(teacher_model="T", teacher_url=SECRET), None))
    assert "served at https://h.example:8443/v1." in text
    assert "tok3n" not in text and "k3y" not in text and "alice" not in text


def test_several_served_teachers_card_and_kd_json_lines_hold_no_secrets():
    from distill.train.kd import card_lines
    from distill.train.kd.multi import Teachers, teacher_specs

    train = train_cfg(teacher_model=[f"A@{SECRET}", "B@http://u:p@h2:1/v1?key=z"])
    text = "\n".join(card_lines(train, None))
    assert "served at https://h.example:8443/v1)" in text and "served at http://h2:1/v1)" in text
    t = Teachers(train, [None, None], teacher_specs(train))
    urls = [e["url"] for e in t.state(0)["teachers"]]
    assert urls == ["https://h.example:8443/v1", "http://h2:1/v1"]


def test_publish_uploads_train_yaml_and_kd_json_without_url_secrets(tmp_path):
    from distill.publish import _stage

    model, dest = tmp_path / "model", tmp_path / "dest"
    model.mkdir()
    dest.mkdir()
    cfg = {"model": "S", "teacher_model": "T", "teacher_url": SECRET, "rollout_url": SECRET}
    (model / "train.yaml").write_text(yaml.safe_dump(cfg, sort_keys=False))
    (model / "kd.json").write_text(json.dumps({"teacher": SECRET, "teacher_url": SECRET}))
    (model / "train_data.json").write_text(json.dumps({"kept": 1}))
    _stage(model, model, SimpleNamespace(save=lambda p: open(p, "w").write("card")), dest)
    clean = "https://h.example:8443/v1"
    assert yaml.safe_load((dest / "train.yaml").read_text()) == {
        **cfg,
        "teacher_url": clean,
        "rollout_url": clean,
    }
    assert json.loads((dest / "kd.json").read_text()) == {"teacher": clean, "teacher_url": clean}
    for p in dest.iterdir():
        assert "tok3n" not in p.read_text() and "k3y" not in p.read_text()
    # the run's own train.yaml keeps the URL as given (a resume reaches the same server)
    assert yaml.safe_load((model / "train.yaml").read_text())["teacher_url"] == SECRET


def test_kd_json_names_a_served_teacher_without_its_secrets(tmp_path):
    """kd.json is written beside the student and read by people (and uploaded): a teacher URL
    with a token in it is recorded by scheme, host, port and path."""
    from distill.train.kd.trainer import KDState

    path = tmp_path / "kd.json"
    KDState(train_cfg(teacher_model="T", teacher_url=SECRET), path).write()
    text = path.read_text()
    assert "tok3n" not in text and "k3y" not in text and "alice" not in text
    state = json.loads(text)
    assert state["teacher"] == state["teacher_url"] == "https://h.example:8443/v1"


def test_a_password_or_query_with_sub_delimiters_is_not_left_behind():
    # RFC 3986 lets userinfo and the query hold ( ) ' ! * , ; unencoded: all of it goes
    assert redact_urls("https://user:pa(ss@h/v1") == "https://h/v1"
    assert redact_urls("T@https://user:p'w@h:1/v1") == "T@https://h:1/v1"
    assert redact_urls("http://h:8000/v1?api_key=ab(c)d") == "http://h:8000/v1"
    assert redact_urls("http://u:p@[::1]:8000/v1?k=(1)") == "http://[::1]:8000/v1"
    # a URL in a sentence keeps the text around it (the card's "served at URL." lines)
    assert (
        redact_urls("see (https://u:p@h/v1) and https://h2/x.")
        == "see (https://h/v1) and https://h2/x."
    )


def test_a_rotated_token_in_the_teacher_url_resumes_and_is_never_shown():
    """--resume compares the run config: a new token in the same server's URL is not another
    run, and a real change (another host) is named without either token."""
    from distill.train.sft import changed_run_keys

    old = "https://u:OLDTOK@h.example/v1?api_key=OLDKEY"
    saved = dict(train_cfg(teacher_model="T", teacher_url=old).__dict__)
    now = train_cfg(teacher_model="T", teacher_url="https://u:NEWTOK@h.example/v1?api_key=NEW")
    assert changed_run_keys(now, saved) == []
    moved = train_cfg(teacher_model="T@https://u:NEWTOK@other.example/v1")
    saved = dict(train_cfg(teacher_model=f"T@{old}").__dict__)
    (line,) = changed_run_keys(moved, saved)
    assert "other.example" in line and "h.example" in line
    assert "TOK" not in line and "KEY" not in line


def test_a_served_teachers_error_line_names_the_server_without_its_token(monkeypatch):
    """The served teacher connects with the URL as given (the client uses its userinfo) but its
    error lines name the server only."""
    import pytest
    from openai._base_client import BaseClient

    from distill.errors import DistillError
    from distill.teachers.scorers import ServedTeacher

    # the client's waits between its tries of the closed port (0.5 s, 1 s): not what is tested
    monkeypatch.setattr(BaseClient, "_calculate_retry_timeout", lambda *a, **k: 0.01)

    url = f"http://alice:tok3n@127.0.0.1:{_closed_port()}/v1?api_key=k3y"
    with pytest.raises(DistillError) as e:
        ServedTeacher(url, "T", 4, None, "S").score([[1, 2, 3]])
    assert "cannot connect" in str(e.value) and "127.0.0.1" in str(e.value)
    assert "tok3n" not in str(e.value) and "k3y" not in str(e.value)


def _closed_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_a_query_that_repeats_a_key_is_one_line_not_a_silently_dropped_value():
    from distill.errors import DistillError
    from distill.urls import split_query

    assert split_query("http://h:8000/v1?api-version=1&x=") == (
        "http://h:8000/v1",
        {"api-version": "1", "x": ""},
    )
    assert split_query("http://h:8000/v1") == ("http://h:8000/v1", None)
    with pytest.raises(DistillError, match="gives 'a' more than once") as e:
        split_query("http://h/v1?a=s3cret1&a=s3cret2")
    assert "s3cret" not in str(e.value) and "\n" not in str(e.value)
