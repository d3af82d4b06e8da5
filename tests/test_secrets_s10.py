"""Secrets in server URLs, the paths the earlier reads (tests/test_urls.py,
test_review_query_secrets.py, test_saved_config_urls.py) missed: a URL typed without its scheme,
a query value or password written percent-encoded, a teacher list refused whole."""

import json
from pathlib import Path

import pytest

from distill.errors import DistillError
from tests.inproc import distill as in_process

KEY = "sk-test-SECRET123"


def _leaks(res, *folders: Path) -> list[str]:
    """Where KEY shows: the command's stdout/stderr and every file it wrote."""
    found = ["stdout/stderr"] if KEY in res.stdout + res.stderr else []
    for folder in folders:
        found += [
            str(f) for f in folder.rglob("*") if f.is_file() and KEY.encode() in f.read_bytes()
        ]
    return found


def _traces(path: Path) -> None:
    """Two trace records, as generate writes them, for select to judge."""
    rows = [
        {
            "id": f"t{i}",
            "prompt_id": f"p{i}",
            "sample": 0,
            "messages": [{"role": "user", "content": f"What is {i} + 1?"}],
            "reasoning": "add",
            "answer": f"\\boxed{{{i + 1}}}",
            "gold": str(i + 1),
            "teacher": {"backend": "openai", "model": "m", "params": {}},
            "finish_reason": "stop",
            "usage": {"prompt_tokens": 5, "completion_tokens": 5},
            "meta": {},
        }
        for i in range(2)
    ]
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))


# A server URL typed without http:// (a common slip: `localhost:8000/v1?api_key=...`) is no URL
# to redact_url, which returned it as it was: the client cannot reach it, and the error line
# ("cannot reach 127.0.0.1:1/v1?api_key=sk-... after 0 retries") and generate.yaml, written
# before the first request, held the key.
NO_SCHEME = [f"127.0.0.1:1/v1?api_key={KEY}", f"me:{KEY}@127.0.0.1:1/v1"]


@pytest.mark.parametrize("url", NO_SCHEME)
def test_generate_names_a_url_without_its_scheme_without_its_secret(tmp_path, url):
    # in the test's process (tests/inproc.py; the openai client logs nothing of its own without
    # OPENAI_LOG): the same error line, generate.yaml and files a subprocess gave, without its
    # python start and imports (~1.7 CPU s each)
    res = in_process(
        "generate", "--data", "builtin:arithmetic?n=2", "--teacher", "openai",
        "--model", "m", "--base-url", url, "--n", "1", "--max-retries", "0",
        "--out", str(tmp_path / "t.jsonl"),
        env={"OPENAI_API_KEY": "sk-other-0000"},
    )  # fmt: skip
    assert res.returncode == 1 and "127.0.0.1:1/v1" in res.stderr, res.stderr
    assert (tmp_path / "t.generate.yaml").is_file()
    assert _leaks(res, tmp_path) == []


@pytest.mark.parametrize("flag", ["--judge-base-url", "--student-base-url"])
def test_select_names_its_judge_and_student_url_without_its_secret(tmp_path, flag):
    # one try (the default 6 retries are ~20 s of backoff against a port that refuses), in the
    # test's process: the same error line and files
    _traces(tmp_path / "t.jsonl")
    which = (
        ["--criteria", "judge", "--judge", "m"]
        if flag == "--judge-base-url"
        else ["--criteria", "difficulty", "--student", "m", "--samples", "1"]
    )
    res = in_process(
        "select", str(tmp_path / "t.jsonl"), "--out", str(tmp_path / "s.jsonl"), *which,
        flag, NO_SCHEME[0], "--concurrency", "1", "--max-retries", "0",
        env={"OPENAI_API_KEY": "sk-other-0000"},
    )  # fmt: skip
    assert res.returncode == 1 and "127.0.0.1:1/v1" in res.stderr, res.stderr
    assert _leaks(res, tmp_path) == []


@pytest.mark.parametrize("url", NO_SCHEME)
def test_a_served_teachers_url_without_its_scheme_is_named_without_its_secret(url, monkeypatch):
    from openai._base_client import BaseClient

    from distill.teachers.scorers import ServedTeacher

    # the client's waits between its tries of the closed port (0.5 s, 1 s): not what is tested
    monkeypatch.setattr(BaseClient, "_calculate_retry_timeout", lambda *a, **k: 0.01)

    with pytest.raises(DistillError) as e:
        ServedTeacher(url, "T", 4, None, "S").score([[1, 2, 3]])
    assert "cannot connect" in str(e.value) and "127.0.0.1:1/v1" in str(e.value)
    assert KEY not in str(e.value)


def test_a_rollout_url_without_its_scheme_is_refused_without_its_secret():
    from distill.train.config import TrainConfig

    with pytest.raises(DistillError, match="--rollout-url must be http") as e:
        TrainConfig(
            data="kept.jsonl", model="S", output_dir="out", method="onpolicy",
            teacher_model="T", rollout="vllm", rollout_url=f"127.0.0.1:8000/v1?api_key={KEY}",
        )  # fmt: skip
    assert "127.0.0.1:8000/v1" in str(e.value) and KEY not in str(e.value)


def test_a_saved_stage_yaml_holds_a_url_without_its_scheme_without_its_secret(tmp_path):
    """Every stage's saved yaml (save_config; instruct's own copy too) names such a URL by host,
    port and path only."""
    from distill.config import save_config
    from distill.generate import GenerateConfig

    cfg = GenerateConfig(
        data="builtin:arithmetic", model="m", base_url=NO_SCHEME[1], out=str(tmp_path / "t.jsonl")
    )
    text = save_config(cfg, tmp_path / "t.generate.yaml").read_text()
    assert "base_url: 127.0.0.1:1/v1" in text and KEY not in text


def test_a_teacher_list_refused_whole_is_named_without_its_secrets():
    """--teacher-url with an empty entry (a recipe's `- ` line) was refused with the list's
    repr: the other entries' tokens in the line."""
    from distill.train.config import TrainConfig

    with pytest.raises(DistillError, match="teacher_url: expected a name") as e:
        TrainConfig(
            data="kept.jsonl", model="S", output_dir="out", method="kd",
            teacher_model=["A", "B"], teacher_url=[f"http://me:{KEY}@h.example/v1", ""],
        )  # fmt: skip
    assert "h.example" in str(e.value) and KEY not in str(e.value)


# A query value or password with characters a URL encodes (base64 keys: + / =) is written
# encoded; only its decoded form was scrubbed, while a server or proxy echoing the request's
# query shows it as sent, encoded.
ENCODED = "sk%2Btest%2FSECRET123%3D"


def test_a_percent_encoded_query_secret_echoed_by_the_provider_is_scrubbed(tmp_path, capsys):
    from distill.generate import run
    from tests.fakebatch import FakeBatchServer
    from tests.test_batch import cfg

    s = FakeBatchServer().start()
    try:
        s.plans.append({"fail": f"rejected POST /v1/batches?sig={ENCODED}"})
        c = cfg(s, tmp_path / "t.jsonl", base_url=f"{s.url}?sig={ENCODED}", limit=2, n=1)
        with pytest.raises(DistillError) as e:
            run(c, progress=False)
        assert "rejected" in str(e.value)
        for text in (str(e.value), capsys.readouterr().out):
            assert "SECRET123" not in text
    finally:
        s.stop()


def test_a_percent_encoded_password_is_scrubbed_in_both_forms():
    """The client sends a password decoded (basic auth): a server echoing it is scrubbed too."""
    from distill.teachers.openai import scrub
    from distill.urls import url_secrets

    secrets = url_secrets("http://me:pa%40ss%2BSECRET@h/v1?api_key=k%2Bey%3D")
    said = "auth pa@ss+SECRET failed for pa%40ss%2BSECRET, key k+ey= (k%2Bey%3D)"
    assert scrub(said, *secrets) == "auth *** failed for ***, key *** (***)"


def test_a_refused_set_names_a_url_without_its_scheme_without_its_secret(tmp_path):
    """`distill run --set` refused (a typo in the stage or the key) names the --set as typed: its
    URL went through redact_urls, which knows http(s) URLs only."""
    from distill.pipeline import parse_sets

    with pytest.raises(DistillError, match="--set generat.base_url=h/v1: expected") as e:
        parse_sets([f"generat.base_url=me:{KEY}@h/v1"])
    assert KEY not in str(e.value)
    recipe = tmp_path / "r.yaml"
    recipe.write_text("generate:\n  data: builtin:arithmetic\n  model: m\n  out: t.jsonl\n")
    res = in_process(  # a --dry-run refusal: distill's own line only, in the test's process
        "run", "--recipe", str(recipe), "--dry-run", "--set", f"generate.baseurl=me:{KEY}@h/v1"
    )
    assert res.returncode == 1 and "unknown key 'baseurl'" in res.stderr, res.stderr
    assert _leaks(res) == []
