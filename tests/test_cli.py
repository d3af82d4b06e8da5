"""Bad input: one clear line on stderr, exit 1, no traceback, nothing a rerun would trust."""

import subprocess
import sys

import pytest

from tests import inproc


def distill(*args, env=None, timeout=120):
    import os

    return subprocess.run(
        [sys.executable, "-m", "distill.cli", *args],
        capture_output=True,
        text=True,
        env={**os.environ, **(env or {})},
        timeout=timeout,
    )


def one_line_error(res, pattern):
    import re

    assert res.returncode == 1, res.stderr
    assert "Traceback" not in res.stderr
    lines = [ln for ln in res.stderr.splitlines() if ln.startswith("error:")]
    assert len(lines) == 1 and re.search(pattern, lines[0]), res.stderr


def test_help_lists_commands_and_flags():
    res = distill("generate", "--help")
    assert res.returncode == 0
    for flag in (
        "--data",
        "--prompt-field",
        "--answer-field",
        "--id-field",
        "--teacher",
        "--base-url",
        "--template",
        "--n",
        "--temperature",
        "--top-p",
        "--max-tokens",
        "--concurrency",
        "--limit",
        "--out",
    ):
        assert flag in res.stdout


# The refusals below run the CLI in this process (tests/inproc.py): what they assert is the exit
# code, the one `error:` line and the files on disk, which a subprocess gave the same way after
# paying python's start and imports (~0.5-1 CPU s) each time; `--help` above is the subprocess.
@pytest.mark.parametrize(
    "args, pattern",
    [
        (["--data", "missing.jsonl"], r"data file not found: missing\.jsonl"),
        (["--data", "builtin:arithmetic", "--template", "nope"], r"template not found: nope"),
        (["--data", "builtin:arithmetic", "--teacher", "gpt"], r"unknown teacher 'gpt'"),
        (["--data", "builtin:nothing"], r"unknown built-in dataset 'nothing'"),
        (
            ["--data", "builtin:arithmetic?n=abc"],
            r"builtin:arithmetic: option 'n' must be an integer, got 'abc'",
        ),
    ],
)
def test_bad_input_is_one_line(tmp_path, args, pattern):
    res = inproc.distill("generate", "--model", "m", "--out", str(tmp_path / "t.jsonl"), *args)
    one_line_error(res, pattern)


def test_filter_on_an_empty_traces_file_is_an_error(tmp_path):
    empty = tmp_path / "t.jsonl"
    empty.write_text("")
    res = inproc.distill("filter", str(empty), "--out", str(tmp_path / "k.jsonl"))
    one_line_error(res, r"t\.jsonl holds no traces")
    assert not (tmp_path / "k.jsonl").exists()


def test_broken_jsonl_and_missing_field(tmp_path):
    bad = tmp_path / "d.jsonl"
    bad.write_text('{"question": "a"}\n{oops\n')
    one_line_error(
        inproc.distill(
            "generate", "--data", str(bad), "--model", "m", "--out", str(tmp_path / "t.jsonl")
        ),
        r"d\.jsonl:2: not valid JSON",
    )
    good = tmp_path / "e.jsonl"
    good.write_text('{"text": "a", "label": 1}\n')
    one_line_error(
        inproc.distill(
            "generate", "--data", str(good), "--model", "m", "--out", str(tmp_path / "t.jsonl")
        ),
        r"no prompt field found \(fields: text, label\)",
    )
    assert not (tmp_path / "t.jsonl").exists()


def test_unknown_recipe_key_and_template_placeholder(tmp_path):
    r = tmp_path / "r.yaml"
    r.write_text("data: builtin:arithmetic\nmodel: m\nconcurency: 3\n")
    one_line_error(
        inproc.distill("generate", "--recipe", str(r), "--out", str(tmp_path / "t.jsonl")),
        r"unknown key 'concurency' \(did you mean 'concurrency'\?\)",
    )
    t = tmp_path / "t.txt"
    t.write_text("Solve {problme}\n")
    one_line_error(
        inproc.distill(
            "generate",
            "--data",
            "builtin:arithmetic",
            "--template",
            str(t),
            "--model",
            "m",
            "--out",
            str(tmp_path / "t.jsonl"),
        ),
        r"placeholder '\{problme\}' has no value",
    )


def test_missing_api_key_for_the_openai_default_url(tmp_path):
    res = inproc.distill(
        "generate",
        "--data",
        "builtin:arithmetic",
        "--limit",
        "1",
        "--model",
        "gpt-4o-mini",
        "--out",
        str(tmp_path / "t.jsonl"),
        env={"OPENAI_API_KEY": ""},
    )
    one_line_error(res, r"no API key: set \$OPENAI_API_KEY")


def test_recipe_with_cli_override_runs(tmp_path, server):
    r = tmp_path / "r.yaml"
    r.write_text(
        f"data: builtin:arithmetic\nlimit: 3\nteacher: openai\nmodel: fake-r1\nbase_url: {server.url}\nn: 1\n"
    )
    res = inproc.distill(
        "generate", "--recipe", str(r), "--n", "2", "--out", str(tmp_path / "t.jsonl"), "--quiet"
    )
    assert res.returncode == 0, res.stderr
    assert len((tmp_path / "t.jsonl").read_text().splitlines()) == 6


def test_filter_bad_input_is_one_line(tmp_path):
    t = tmp_path / "t.jsonl"
    t.write_text(
        '{"id": "a", "prompt_id": "p", "messages": [], "answer": "x", "gold": null}\n{"id": "b"}\n'
    )
    one_line_error(
        inproc.distill("filter", str(t), "--out", str(tmp_path / "k.jsonl")),
        r"t\.jsonl:2: not a trace record: missing field 'prompt_id'",
    )
    t.write_text('{"id": "a", "prompt_id": "p", "messages": [], "answer": "x", "gold": null}\n')
    one_line_error(
        inproc.distill("filter", str(t), "--out", str(tmp_path / "k.jsonl"), "--verify", "math"),
        r"no gold answer for --verify math; use --verify majority",
    )
    one_line_error(
        inproc.distill(
            "filter", str(t), "--out", str(tmp_path / "k.jsonl"), "--checks", "truncated,nope"
        ),
        r"unknown check 'nope'",
    )
    one_line_error(
        inproc.distill(
            "filter", str(tmp_path / "missing.jsonl"), "--out", str(tmp_path / "k.jsonl")
        ),
        r"traces file not found",
    )
    assert not (tmp_path / "k.jsonl").exists()


def test_generate_then_filter_on_builtin_arithmetic(tmp_path, server):
    # both commands in this process (tests/inproc.py): what is asserted is their exit codes,
    # distill's own lines and the report; a subprocess each paid ~2 CPU s of start and imports
    from tests.inproc import distill

    t = tmp_path / "t.jsonl"
    res = distill(
        "generate",
        "--data",
        "builtin:arithmetic",
        "--limit",
        "50",
        "--teacher",
        "openai",
        "--base-url",
        server.url,
        "--model",
        "fake-r1",
        "--n",
        "2",
        "--out",
        str(t),
        "--quiet",
    )
    assert res.returncode == 0, res.stderr
    res = distill(
        "filter",
        str(t),
        "--out",
        str(tmp_path / "kept.jsonl"),
        "--verify",
        "math",
        "--dedup",
        "near",
    )
    assert res.returncode == 0, res.stderr
    report = __import__("json").loads((tmp_path / "kept.report.json").read_text())
    # The fake teacher is wrong exactly when the sum is divisible by 7.
    from distill.data import arithmetic

    wrong = sum(int(r["answer"]) % 7 == 0 for r in list(arithmetic())[:50])
    assert report["verify"]["wrong"] == 2 * wrong and report["kept"] == 100 - 2 * wrong
    assert "filter: kept" in res.stderr
