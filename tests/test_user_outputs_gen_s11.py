"""Nothing the user owns is destroyed by generate's, instruct's or eval's side files: these keep
no manifest (written anew each run from the records), so a file at `notes.summary.json`,
`notes.generate.yaml`, `notes.jsonl.batches.json` (generate), `notes.instruct.yaml`,
`notes.report.json`, `notes.requests.jsonl` (instruct) or eval's sample stamp, config and
summary is replaced only when it has the shape distill writes there. Else one line, nothing
opened or written; a rerun over distill's own (edited or not) goes on.

OMP_NUM_THREADS=1 .venv/bin/python -m pytest -q tests/test_user_outputs_gen_s11.py
"""

from __future__ import annotations

import json

import pytest
import yaml

from tests.inproc import distill
from tests.test_user_outputs_s11 import MINE, files, one_error_line

NOWHERE = "http://127.0.0.1:9/v1"  # nothing listens: a run that got that far fails
MY_JSON = b'{"id": "n1", "note": "my own record, not distill\'s"}\n'


def gen_args(base_url: str, *extra: str) -> list[str]:
    return [
        "generate", "--data", "builtin:arithmetic", "--limit", "3", "--teacher", "openai",
        "--model", "fake-r1", "--base-url", base_url, "--max-retries", "0", "--out", "notes.jsonl",
        *extra,
    ]  # fmt: skip


@pytest.mark.parametrize(
    "name, content, extra",
    [
        ("notes.generate.yaml", MINE, ()),
        ("notes.generate.yaml", b"data: builtin:arithmetic\nout: notes.jsonl\n", ()),  # a recipe
        ("notes.summary.json", MINE, ()),
        ("notes.summary.json", b'{"samples": 3, "mine": true}\n', ()),
        ("notes.jsonl.batches.json", b'{"batches": "mine"}\n', ("--batch",)),
    ],
)
def test_generate_leaves_a_users_side_file_alone(tmp_path, monkeypatch, name, content, extra):
    monkeypatch.setenv("OPENAI_API_KEY", "x")
    (tmp_path / name).write_bytes(content)
    before = files(tmp_path)
    res = distill(*gen_args(NOWHERE, *extra), cwd=tmp_path)
    one_error_line(res, f"{name}, beside --out notes.jsonl, exists", "distill did not write it")
    assert files(tmp_path) == before  # byte for byte, and notes.jsonl not even created


def test_generate_reruns_over_its_own_side_files_edited_or_older(tmp_path, server):
    args = gen_args(server.url)
    assert distill(*args, cwd=tmp_path).returncode == 0
    summary = tmp_path / "notes.summary.json"
    assert json.loads(summary.read_text())["samples"] == 3
    # the user's note in the summary, and a config as an older distill wrote it (fewer fields)
    summary.write_text(summary.read_text().replace("{", '{"my note": 1,', 1))
    config = tmp_path / "notes.generate.yaml"
    saved = yaml.safe_load(config.read_text())
    later = ("batch", "batch_discount", "batch_max_rounds", "batch_poll", "batch_requests",
             "batch_window", "logprobs_shard")  # fmt: skip
    old = {k: v for k, v in saved.items() if k not in later}  # batch_size: the hf backend's
    config.write_text(yaml.safe_dump(old, sort_keys=False))
    res = distill(*args[:-2], "--limit", "4", "--out", "notes.jsonl", cwd=tmp_path)
    assert res.returncode == 0, res.stderr
    assert json.loads(summary.read_text())["samples"] == 4  # written anew from the records
    assert yaml.safe_load(config.read_text())["limit"] == 4


def inst_args(base_url: str) -> list[str]:
    return [
        "instruct", "--teacher", "openai", "--model", "m", "--base-url", base_url,
        "--num-instructions", "4", "--max-retries", "0", "--out", "notes.jsonl",
    ]  # fmt: skip


@pytest.mark.parametrize(
    "name, content",
    [
        ("notes.instruct.yaml", MINE),
        ("notes.report.json", MINE),
        ("notes.report.json", b'{"method": "mine"}\n'),
        ("notes.requests.jsonl", MY_JSON),
        ("notes.requests.jsonl", b'{"note": "no id"}\n'),  # was a KeyError traceback
    ],
)
def test_instruct_leaves_a_users_side_file_alone(tmp_path, monkeypatch, name, content):
    monkeypatch.setenv("OPENAI_API_KEY", "x")
    (tmp_path / name).write_bytes(content)
    before = files(tmp_path)
    res = distill(*inst_args(NOWHERE), cwd=tmp_path)
    one_error_line(res, f"{name}, beside --out notes.jsonl, exists", "distill did not write it")
    assert files(tmp_path) == before


def test_instruct_reruns_over_its_own_side_files(tmp_path, tasks_server):
    args = inst_args(tasks_server.url)
    assert distill(*args, cwd=tmp_path).returncode == 0
    report = tmp_path / "notes.report.json"
    report.write_text(report.read_text().replace("{", '{"my note": 1,', 1))  # still distill's
    res = distill(*args[:-4], "--num-instructions", "8", *args[-2:], cwd=tmp_path)
    assert res.returncode == 0, res.stderr
    assert json.loads(report.read_text())["kept"] == 8
    assert len((tmp_path / "notes.jsonl").read_text().splitlines()) == 8


@pytest.mark.parametrize(
    "name",
    [
        "ev.student.traces.weights.json",
        "ev.student.traces.generate.yaml",
        "ev.student.traces.summary.json",
    ],
)
def test_eval_leaves_a_users_file_at_its_samples_side_files_alone(tmp_path, monkeypatch, name):
    monkeypatch.setenv("OPENAI_API_KEY", "x")
    (tmp_path / "p.jsonl").write_text('{"id": "a", "problem": "1 + 1?", "answer": "2"}\n')
    (tmp_path / name).write_bytes(MY_JSON)
    before = files(tmp_path)
    argv = ["eval", "--backend", "openai", "--model", "m", "--base-url", NOWHERE]
    res = distill(*argv, "--data", "p.jsonl", "--out", "ev.json", cwd=tmp_path)
    one_error_line(res, f"{name}, beside --out ev.json, exists", "distill did not write it")
    assert files(tmp_path) == before
