"""Every bad input, across every command, gets one line on stderr that names it, before any work.

    .venv/bin/python -m pytest tests/test_bad_input.py -q

Each case runs the real CLI (in process, so the ~90 cases take seconds) in a folder of valid
inputs plus the case's own, and checks what issue 30 asks of a refusal: exit != 0, exactly one
non-empty stderr line, that line names the flag/file/field at fault, no traceback, not the
last-resort `error: SomeError: ... (rerun with --debug ...)` line (kept for what is truly
unexpected), and the folder byte-identical afterwards: every input unchanged (sha256), no
output written. No case loads a model: each fails before.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

import pytest
from typer.testing import CliRunner

from distill.cli import app

TRACE = {
    "id": "t0",
    "prompt_id": "p0",
    "sample": 0,
    "messages": [{"role": "user", "content": "What is 1 + 1?"}],
    "reasoning": "1 + 1 = 2",
    "answer": "The answer is \\boxed{2}.",
    "gold": "2",
    "teacher": {"backend": "openai", "model": "m", "params": {"temperature": 0.6}},
    "finish_reason": "stop",
    "usage": {"prompt_tokens": 5, "completion_tokens": 9},
    "meta": {},
}
SEED = {
    "id": "seed_task_0",
    "name": "sum",
    "instruction": "Add the two numbers given.",
    "instances": [{"input": "2 and 3", "output": "5"}],
    "is_classification": False,
}


def jsonl(*rows: dict) -> str:
    return "".join(json.dumps(r) + "\n" for r in rows)


# Present in every case's folder: valid inputs, so that each case's one bad input is the reason.
BASE_FILES: dict[str, str | None] = {
    "p.jsonl": jsonl({"id": "a", "problem": "What is 1 + 1?", "answer": "2"}),
    "traces.jsonl": jsonl(TRACE),
    "seeds.jsonl": jsonl(SEED),
    "model/config.json": "{}",  # passes the model-folder check; never loaded (cases fail first)
    "student/adapter_config.json": json.dumps({"base_model_name_or_path": "model"}),
    "student/adapter_model.safetensors": "not really weights",
    "empty_dir/": None,
    "recipe.yaml": (
        "generate:\n  data: p.jsonl\n  model: m\n  out: '{run_dir}/t.jsonl'\n"
        "filter:\n  input: '{run_dir}/t.jsonl'\n  out: '{run_dir}/kept.jsonl'\n"
    ),
}

GEN = ["generate", "--data", "p.jsonl", "--model", "m", "--out", "t.jsonl"]
INS = ["instruct", "--seed-tasks", "seeds.jsonl", "--model", "m", "--out", "ins.jsonl"]
FIL = ["filter", "traces.jsonl", "--out", "kept.jsonl"]
TRAIN = ["train", "--data", "traces.jsonl", "--model", "model", "--output-dir", "out"]
EXPORT = ["export", "traces.jsonl", "--out", "data.jsonl"]
EVAL = ["eval", "--model", "model", "--data", "p.jsonl", "--out", "eval.json"]
PUB = ["publish", "student"]
RUN = ["run", "--recipe", "recipe.yaml", "--run-dir", "runs"]

# (id, extra files, argv, substrings the one stderr line must hold, extra env)
CASES: list[tuple[str, dict[str, str | None], list[str], list[str], dict[str, str]]] = [
    # ---------------------------------------------------------------- generate: the prompt file
    ("gen-empty-file", {"e.jsonl": ""}, [*GEN, "--data", "e.jsonl"], ["e.jsonl", "no rows"], {}),
    ("gen-blank-file", {"b.jsonl": "\n  \n\n"}, [*GEN, "--data", "b.jsonl"], ["b.jsonl"], {}),
    (
        "gen-torn-last-line",
        {"torn.jsonl": '{"problem": "a"}\n{"problem": "b'},
        [*GEN, "--data", "torn.jsonl"],
        ["torn.jsonl:2", "not valid JSON"],
        {},
    ),
    (
        "gen-bad-middle-line",
        {"bad.jsonl": '{"problem": "a"}\n{oops\n{"problem": "c"}\n'},
        [*GEN, "--data", "bad.jsonl"],
        ["bad.jsonl:2"],
        {},
    ),
    (
        "gen-not-an-object",
        {"arr.jsonl": '{"problem": "a"}\n[1, 2]\n'},
        [*GEN, "--data", "arr.jsonl"],
        ["arr.jsonl:2", "object"],
        {},
    ),
    (
        "gen-duplicate-id",
        {
            "dup.jsonl": jsonl({"id": "x", "problem": "a"}, {"id": "y", "problem": "b"})
            + "\n"
            + jsonl({"id": "x", "problem": "c"})
        },  # fmt: skip
        [*GEN, "--data", "dup.jsonl"],
        ["dup.jsonl:4", "dup.jsonl:1", "'x'", "field 'id'"],
        {},
    ),
    (
        "gen-duplicate-id-field",
        {"dup2.jsonl": jsonl({"key": 7, "q": "a"}, {"key": 7, "q": "b"})},
        [*GEN, "--data", "dup2.jsonl", "--id-field", "key", "--prompt-field", "q"],
        ["dup2.jsonl:2", "dup2.jsonl:1", "field 'key'"],
        {},
    ),
    (
        "gen-duplicate-id-json",
        {"dup.json": json.dumps([{"id": 1, "problem": "a"}, {"id": 1, "problem": "b"}])},
        [*GEN, "--data", "dup.json"],
        ["dup.json row 2", "dup.json row 1", "'1'"],
        {},
    ),
    ("gen-missing-file", {}, [*GEN, "--data", "nope.jsonl"], ["nope.jsonl"], {}),
    ("gen-data-is-a-folder", {}, [*GEN, "--data", "empty_dir"], ["--data empty_dir"], {}),
    ("gen-no-prompt-field", {}, [*GEN, "--prompt-field", "body"], ["'body'"], {}),
    ("gen-temperature", {}, [*GEN, "--temperature", "-1"], ["--temperature -1: must be >= 0"], {}),
    (
        "gen-temperature-inf",
        {},
        [*GEN, "--temperature", "inf"],
        ["--temperature inf: must be a finite number"],
        {},
    ),
    ("gen-top-p-zero", {}, [*GEN, "--top-p", "0"], ["--top-p 0: must be"], {}),
    ("gen-top-p-big", {}, [*GEN, "--top-p", "1.5"], ["--top-p 1.5"], {}),
    ("gen-max-tokens", {}, [*GEN, "--max-tokens", "0"], ["--max-tokens 0: must be >= 1"], {}),
    ("gen-n", {}, [*GEN, "--n", "0"], ["--n 0: must be >= 1"], {}),
    ("gen-concurrency", {}, [*GEN, "--concurrency", "0"], ["--concurrency 0"], {}),
    ("gen-max-retries", {}, [*GEN, "--max-retries", "-1"], ["--max-retries -1"], {}),
    ("gen-request-timeout", {}, [*GEN, "--request-timeout", "0"], ["--request-timeout 0"], {}),
    ("gen-rpm", {}, [*GEN, "--rpm", "0"], ["--rpm 0"], {}),
    ("gen-limit", {}, [*GEN, "--limit", "-1"], ["--limit -1"], {}),
    ("gen-logprobs", {}, [*GEN, "--logprobs", "0"], ["--logprobs 0"], {}),
    (
        "gen-gpu-memory",
        {},
        [*GEN, "--gpu-memory-utilization", "1.5"],
        ["--gpu-memory-utilization 1.5"],
        {},
    ),
    ("gen-batch-size", {}, [*GEN, "--batch-size", "0"], ["--batch-size 0"], {}),
    ("gen-batch-poll", {}, [*GEN, "--batch", "--batch-poll", "0"], ["--batch-poll 0"], {}),
    ("gen-price", {}, [*GEN, "--price-input", "-2"], ["--price-input -2"], {}),
    ("gen-unknown-teacher", {}, [*GEN, "--teacher", "gpt"], ["'gpt'"], {}),
    (
        "gen-hf-teacher-not-a-model",
        {},
        [*GEN, "--teacher", "hf", "--model", "empty_dir"],
        ["--model empty_dir is not a model folder (no config.json)"],
        {},
    ),
    ("gen-template", {}, [*GEN, "--template", "nope"], ["nope"], {}),
    ("gen-builtin-option", {}, [*GEN, "--data", "builtin:arithmetic?n=abc"], ["'n'"], {}),
    ("gen-n-not-int", {}, [*GEN, "--n", "abc"], ["--n"], {}),
    ("gen-missing-out", {}, GEN[:-2], ["--out"], {}),
    ("gen-out-is-input", {}, [*GEN, "--out", "p.jsonl"], ["p.jsonl"], {}),
    ("gen-out-is-folder", {}, [*GEN, "--out", "empty_dir"], ["empty_dir", "directory"], {}),
    ("gen-out-under-file", {}, [*GEN, "--out", "p.jsonl/t.jsonl"], ["p.jsonl"], {}),
    # ---------------------------------------------------------------- unknown flags
    (
        "flag-typo-suggests",
        {},
        [*GEN, "--temprature", "1"],
        ["--temprature", "did you mean --temperature?"],
        {},
    ),
    ("flag-unrelated-no-suggestion", {}, [*GEN, "--foo", "1"], ["no such option: --foo"], {}),
    ("flag-unknown-command", {}, ["generat"], ["generat"], {}),
    ("flag-unknown-global", {}, ["--bogus", "generate"], ["no such option: --bogus"], {}),
    # ---------------------------------------------------------------- instruct: the seed file
    ("ins-empty-seeds", {"s.jsonl": ""}, [*INS, "--seed-tasks", "s.jsonl"], ["s.jsonl"], {}),
    ("ins-blank-seeds", {"s.jsonl": "\n \n"}, [*INS, "--seed-tasks", "s.jsonl"], ["s.jsonl"], {}),
    (
        "ins-torn-last-seed",
        {"s.jsonl": jsonl(SEED) + '{"instruction": "Say'},
        [*INS, "--seed-tasks", "s.jsonl"],
        ["s.jsonl:2"],
        {},
    ),
    (
        "ins-duplicate-seed-id",
        {"s.jsonl": jsonl(SEED, {**SEED, "instruction": "Subtract them."})},
        [*INS, "--seed-tasks", "s.jsonl"],
        ["s.jsonl:2", "line 1", "'seed_task_0'", "field 'id'"],
        {},
    ),
    ("ins-seeds-missing", {}, [*INS, "--seed-tasks", "nope.jsonl"], ["nope.jsonl"], {}),
    ("ins-temperature", {}, [*INS, "--temperature", "-1"], ["--temperature -1"], {}),
    ("ins-num-instructions", {}, [*INS, "--num-instructions", "0"], ["--num-instructions 0"], {}),
    ("ins-max-rouge", {}, [*INS, "--max-rouge", "0"], ["--max-rouge 0"], {}),
    (
        "ins-prompt-generated",
        {},
        [*INS, "--num-prompt-generated", "5"],
        ["--num-prompt-generated 5"],
        {},
    ),
    ("ins-max-words", {}, [*INS, "--min-words", "9", "--max-words", "5"], ["--max-words 5"], {}),
    ("ins-magpie-openai", {}, [*INS, "--method", "magpie"], ["--method magpie"], {}),
    ("ins-out-is-seeds", {}, [*INS, "--out", "seeds.jsonl"], ["seeds.jsonl"], {}),
    # ---------------------------------------------------------------- filter
    (
        "fil-empty-traces",
        {"e.jsonl": ""},
        ["filter", "e.jsonl", "--out", "k.jsonl"],
        ["e.jsonl"],
        {},
    ),
    (
        "fil-bad-line",
        {"bt.jsonl": "{oops\n" + jsonl(TRACE)},
        ["filter", "bt.jsonl", "--out", "k.jsonl"],
        ["bt.jsonl:1"],
        {},
    ),
    ("fil-missing-traces", {}, ["filter", "nope.jsonl", "--out", "k.jsonl"], ["nope.jsonl"], {}),
    ("fil-dedup-threshold", {}, [*FIL, "--dedup-threshold", "0"], ["--dedup-threshold 0"], {}),
    (
        "fil-pass-rates",
        {},
        [*FIL, "--min-pass-rate", "0.8", "--max-pass-rate", "0.2"],
        ["--max-pass-rate 0.2"],
        {},
    ),
    ("fil-max-per-prompt", {}, [*FIL, "--max-per-prompt", "0"], ["--max-per-prompt 0"], {}),
    ("fil-min-agreement", {}, [*FIL, "--min-agreement", "2"], ["--min-agreement 2"], {}),
    ("fil-verify", {}, [*FIL, "--verify", "bogus"], ["--verify", "bogus"], {}),
    ("fil-check", {}, [*FIL, "--checks", "bogus"], ["bogus"], {}),
    ("fil-out-is-input", {}, [*FIL, "--out", "traces.jsonl"], ["traces.jsonl"], {}),
    ("fil-rejects-is-out", {}, [*FIL, "--rejects", "kept.jsonl"], ["kept.jsonl"], {}),
    # ---------------------------------------------------------------- train
    ("train-zero-epochs", {}, [*TRAIN, "--num-train-epochs", "0"], ["--num-train-epochs 0"], {}),
    ("train-zero-steps", {}, [*TRAIN, "--max-steps", "0"], ["--max-steps 0"], {}),
    ("train-lora-r", {}, [*TRAIN, "--lora-r", "0"], ["--lora-r 0: must be >= 1"], {}),
    ("train-lora-alpha", {}, [*TRAIN, "--lora-alpha", "0"], ["--lora-alpha 0: must be > 0"], {}),
    ("train-lr-negative", {}, [*TRAIN, "--learning-rate", "-1"], ["--learning-rate -1"], {}),
    ("train-lr-zero", {}, [*TRAIN, "--learning-rate", "0"], ["--learning-rate 0"], {}),
    (
        "train-lr-inf",
        {},
        [*TRAIN, "--learning-rate", "inf"],
        ["--learning-rate inf: must be a finite"],
        {},
    ),
    ("train-lora-dropout", {}, [*TRAIN, "--lora-dropout", "1"], ["--lora-dropout 1"], {}),
    ("train-batch-size", {}, [*TRAIN, "--batch-size", "0"], ["--batch-size 0"], {}),
    ("train-max-length", {}, [*TRAIN, "--max-length", "4"], ["--max-length 4"], {}),
    ("train-warmup", {}, [*TRAIN, "--warmup-ratio", "2"], ["--warmup-ratio 2"], {}),
    (
        "train-model-not-a-model",
        {},
        [*TRAIN, "--model", "empty_dir"],
        ["--model empty_dir is not a model folder (no config.json)"],
        {},
    ),
    ("train-model-is-a-file", {}, [*TRAIN, "--model", "p.jsonl"], ["--model p.jsonl"], {}),
    (
        "train-teacher-not-a-model",
        {},
        [*TRAIN, "--method", "kd", "--teacher-model", "empty_dir"],
        ["--teacher-model empty_dir is not a model folder"],
        {},
    ),
    ("train-format", {}, [*TRAIN, "--format", "bogus"], ["--format", "bogus"], {}),
    ("train-resume-overwrite", {}, [*TRAIN, "--resume", "--overwrite"], ["--resume"], {}),
    ("train-missing-output-dir", {}, TRAIN[:-2], ["--output-dir"], {}),
    ("train-output-dir-is-data", {}, [*TRAIN, "--output-dir", "model"], ["--output-dir"], {}),
    # ---------------------------------------------------------------- export
    ("export-missing-data", {}, ["export", "nope.jsonl", "--out", "d.jsonl"], ["nope.jsonl"], {}),
    ("export-out-suffix", {}, [*EXPORT[:-1], "d.txt"], ["--out", "d.txt"], {}),
    ("export-format", {}, [*EXPORT, "--format", "bogus"], ["--format", "bogus"], {}),
    ("export-out-is-input", {}, [*EXPORT[:-1], "traces.jsonl"], ["traces.jsonl"], {}),
    ("export-missing-out", {}, EXPORT[:2], ["--out"], {}),
    # ---------------------------------------------------------------- eval
    ("eval-n", {}, [*EVAL, "--n", "0"], ["--n 0"], {}),
    ("eval-temperature", {}, [*EVAL, "--temperature", "-0.5"], ["--temperature -0.5"], {}),
    ("eval-top-p", {}, [*EVAL, "--top-p", "0"], ["--top-p 0"], {}),
    ("eval-max-tokens", {}, [*EVAL, "--max-tokens", "0"], ["--max-tokens 0"], {}),
    ("eval-verify", {}, [*EVAL, "--verify", "bogus"], ["--verify", "bogus"], {}),
    (
        "eval-model-not-a-model",
        {},
        [*EVAL, "--model", "empty_dir"],
        ["--model empty_dir is not a model folder"],
        {},
    ),
    (
        "eval-baseline-not-a-model",
        {},
        [*EVAL, "--baseline", "empty_dir"],
        ["--baseline empty_dir is not a model folder"],
        {},
    ),
    ("eval-empty-data", {"e.jsonl": ""}, [*EVAL, "--data", "e.jsonl"], ["e.jsonl"], {}),
    ("eval-out-is-data", {}, [*EVAL, "--out", "p.jsonl"], ["p.jsonl"], {}),
    # ---------------------------------------------------------------- publish
    (
        "pub-offline-hub",
        {},
        [*PUB, "--repo-id", "me/student"],
        ["HF_HUB_OFFLINE is set: publish to --local-dir, or unset it"],
        {"HF_HUB_OFFLINE": "1"},
    ),
    (
        "pub-both-targets",
        {},
        [*PUB, "--repo-id", "me/s", "--local-dir", "pub"],
        ["--local-dir"],
        {},
    ),
    ("pub-repo-id", {}, [*PUB, "--repo-id", "student"], ["--repo-id"], {}),
    ("pub-not-a-folder", {}, ["publish", "nope", "--local-dir", "pub"], ["nope"], {}),
    ("pub-not-a-model", {}, ["publish", "empty_dir", "--local-dir", "pub"], ["empty_dir"], {}),
    ("pub-into-student", {}, [*PUB, "--local-dir", "student"], ["--local-dir"], {}),
    # ---------------------------------------------------------------- run
    ("run-empty-only", {}, [*RUN, "--only", ""], ["--only"], {}),
    ("run-unknown-only", {}, [*RUN, "--only", "train"], ["--only train"], {}),
    ("run-set-not-yaml", {}, [*RUN, "--set", "generate.n=[1, 2"], ["--set generate.n=[1, 2"], {}),
    ("run-set-no-stage", {}, [*RUN, "--set", "n=2"], ["--set n=2"], {}),
    ("run-set-out-of-range", {}, [*RUN, "--set", "generate.n=0"], ["--n 0", "[generate]"], {}),
    ("run-set-unknown-key", {}, [*RUN, "--set", "filter.verfy=math"], ["'verfy'", "'verify'"], {}),
    ("run-missing-recipe", {}, ["run", "--recipe", "nope.yaml"], ["nope.yaml"], {}),
    (
        "run-recipe-not-yaml",
        {"bad.yaml": "generate:\n  n: [1, 2\n"},
        ["run", "--recipe", "bad.yaml"],
        ["bad.yaml:"],
        {},
    ),
    (
        "run-recipe-value",
        {"neg.yaml": "generate:\n  data: p.jsonl\n  model: m\n  out: t.jsonl\n  top_p: 2\n"},
        ["run", "--recipe", "neg.yaml"],
        ["neg.yaml", "--top-p 2"],
        {},
    ),
    (
        "run-recipe-section",
        {"sec.yaml": "generat:\n  n: 1\n"},
        ["run", "--recipe", "sec.yaml"],
        ["'generat'"],
        {},
    ),
    # a key given no value (`n:` in YAML, `--set generate.n=`): named, not a TypeError
    ("run-set-empty-number", {}, [*RUN, "--set", "generate.n=", "--dry-run"], ["'n'"], {}),
    (
        "run-recipe-empty-number",
        {"recipe.yaml": "generate:\n  data: p.jsonl\n  model: m\n  out: t.jsonl\n  temperature:\n"},
        [*RUN, "--dry-run"],
        ["recipe.yaml", "'temperature'"],
        {},
    ),
]


def _snapshot(root: Path) -> dict[str, str]:
    """Every file's sha256 and every folder, so both a changed input and a new output show."""
    seen = {}
    for p in sorted(root.rglob("*")):
        rel = str(p.relative_to(root))
        seen[rel] = hashlib.sha256(p.read_bytes()).hexdigest() if p.is_file() else "dir"
    return seen


def _write(root: Path, files: dict[str, str | None]) -> None:
    for name, text in files.items():
        p = root / name
        if text is None:
            p.mkdir(parents=True, exist_ok=True)
        else:
            p.parent.mkdir(parents=True, exist_ok=True)
            p.write_text(text)


@pytest.mark.parametrize(
    "files, argv, expect, env", [c[1:] for c in CASES], ids=[c[0] for c in CASES]
)
def test_bad_input_is_one_named_line_and_nothing_written(
    tmp_path, monkeypatch, files, argv, expect, env
):
    _write(tmp_path, {**BASE_FILES, **files})
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("DISTILL_DEBUG", raising=False)
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test")  # the key is never what a case is about
    before = _snapshot(tmp_path)
    res = CliRunner().invoke(app, argv, env=env)
    # an exception that escaped the CLI would be a traceback for a user
    assert res.exception is None or isinstance(res.exception, SystemExit), repr(res.exception)
    assert res.exit_code != 0, (res.stdout, res.stderr)
    lines = [ln for ln in res.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1, res.stderr
    line = lines[0]
    assert line.startswith("error: "), line
    assert "Traceback" not in res.stderr + res.stdout
    assert "rerun with --debug" not in line, f"reached the last-resort line: {line}"
    for part in expect:
        assert part in line, f"{part!r} not in {line!r}"
    assert _snapshot(tmp_path) == before, "an input changed or an output was written"


def test_there_are_at_least_60_cases_and_each_command_has_some():
    assert len(CASES) >= 60
    assert len({c[0] for c in CASES}) == len(CASES)
    commands = {c[2][0] for c in CASES}
    for cmd in ("generate", "instruct", "filter", "train", "export", "eval", "publish", "run"):
        assert cmd in commands, cmd


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes into read-only folders")
def test_read_only_output_folder_is_one_line(tmp_path, monkeypatch):
    _write(tmp_path, BASE_FILES)
    ro = tmp_path / "ro"
    ro.mkdir()
    ro.chmod(0o555)
    monkeypatch.chdir(tmp_path)
    try:
        res = CliRunner().invoke(app, [*GEN, "--out", "ro/t.jsonl"])
    finally:
        ro.chmod(0o755)
    lines = [ln for ln in res.stderr.splitlines() if ln.strip()]
    assert res.exit_code == 1 and len(lines) == 1 and "ro" in lines[0], res.stderr
    assert not list(ro.iterdir())


def test_a_failed_run_says_why_in_its_one_line(server, tmp_path, monkeypatch):
    """A teacher that fails every request: the summary carries the first failure's reason
    (`N samples failed: HTTP 500 ...`), the status lines are on stdout."""
    _write(tmp_path, BASE_FILES)
    monkeypatch.chdir(tmp_path)
    server.faults.extend([{"status": 500}] * 5)
    res = CliRunner().invoke(
        app,
        [*GEN, "--base-url", server.url, "--max-retries", "0", "--quiet"],
        env={"OPENAI_API_KEY": "sk-test"},
    )
    lines = [ln for ln in res.stderr.splitlines() if ln.strip()]
    assert res.exit_code == 1 and len(lines) == 1, res.stderr
    assert "1 samples failed: HTTP 500" in lines[0], lines[0]
    assert "rerun with --debug" not in lines[0]


@pytest.mark.parametrize(
    "argv, expect",
    [
        ([*GEN, "--top-p", "0"], "error: generate: --top-p 0: must be in (0, 1]"),
        ([*GEN, "--foo", "1"], "error: no such option: --foo (see: distill generate --help)"),
    ],
)
def test_a_real_process_prints_the_same_one_line(tmp_path, argv, expect):
    """The console script's own process (not the in-process runner above): the same line."""
    import subprocess
    import sys

    _write(tmp_path, BASE_FILES)
    before = _snapshot(tmp_path)
    code = "import sys; from distill.cli import app; sys.argv[0] = 'distill'; app()"
    res = subprocess.run(
        [sys.executable, "-c", code, *argv],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, "PYTHONPATH": str(Path(__file__).parents[1])},
    )
    assert res.returncode != 0 and res.stderr.splitlines() == [expect], res.stderr
    assert _snapshot(tmp_path) == before


def test_a_filesystem_error_names_its_path_not_its_class(tmp_path, capsys):
    """What no check foresaw but the OS refused: the path and the reason, not `error:
    FileNotFoundError: ... (rerun with --debug ...)`."""
    import typer

    from distill.cli import _run

    missing = tmp_path / "gone" / "x.jsonl"
    with pytest.raises(typer.Exit) as e:
        _run(lambda: open(missing))
    assert e.value.exit_code == 1
    assert capsys.readouterr().err.splitlines() == [f"error: {missing}: No such file or directory"]


# ---------------------------------------------------------------- files that are fine (second read)


@pytest.mark.parametrize("name", ["p.csv", "p.json"])
def test_a_utf8_bom_file_is_read(tmp_path, name):
    """Excel and Notepad write CSV/JSON with a UTF-8 BOM: the first column is `problem`, not
    `\\ufeffproblem`, and the JSON parses."""
    from distill.data import load_rows

    text = (
        "problem,answer\nWhat is 1 + 1?,2\n"
        if name.endswith(".csv")
        else json.dumps([{"problem": "What is 1 + 1?", "answer": "2"}])
    )
    (tmp_path / name).write_text("\ufeff" + text, encoding="utf-8")
    rows = list(load_rows(str(tmp_path / name)))
    assert [(r.prompt, r.gold) for r in rows] == [("What is 1 + 1?", "2")]


def test_a_list_answer_with_an_id_is_read(tmp_path):
    """A gold that is a list (several accepted answers) under an id: the duplicate-id check
    must not stop on `unhashable type: 'list'`; the same id with the same content is fine."""
    from distill.data import load_rows

    row = {"id": "a", "problem": "Name a prime below 4.", "answer": ["2", "3"]}
    (tmp_path / "l.jsonl").write_text(jsonl(row, row))
    assert [r.row_id for r in load_rows(str(tmp_path / "l.jsonl"))] == ["a", "a"]
    (tmp_path / "d.jsonl").write_text(jsonl(row, {**row, "answer": ["2"]}))
    with pytest.raises(Exception, match="id 'a'.*already used by"):
        list(load_rows(str(tmp_path / "d.jsonl")))


@pytest.mark.parametrize("name", ["bad.csv", "bad.json"])
def test_a_file_that_is_not_utf8_is_one_named_line(tmp_path, monkeypatch, name):
    _write(tmp_path, BASE_FILES)
    body = b"problem,answer\n\xe9t\xe9,2\n" if name.endswith(".csv") else b'[{"problem": "\xe9"}]'
    (tmp_path / name).write_bytes(body)
    monkeypatch.chdir(tmp_path)
    res = CliRunner().invoke(app, [*GEN, "--data", name])
    lines = [ln for ln in res.stderr.splitlines() if ln.strip()]
    assert res.exit_code == 1 and len(lines) == 1, res.stderr
    assert name in lines[0] and "UTF-8" in lines[0] and "rerun with --debug" not in lines[0]


def test_debug_after_the_command_shows_the_traceback(tmp_path, monkeypatch):
    """The last-resort line says 'rerun with --debug': `distill filter ... --debug`, where a
    user appends it, shows the traceback instead of 'no such option: --debug'."""
    from distill.errors import DistillError

    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("DISTILL_DEBUG", raising=False)
    res = CliRunner().invoke(app, ["filter", "missing.jsonl", "--out", "k.jsonl", "--debug"])
    assert isinstance(res.exception, DistillError), (res.exception, res.stderr)
    res = CliRunner().invoke(app, ["filter", "missing.jsonl", "--out", "k.jsonl"])
    assert res.exit_code == 1 and res.stderr.startswith("error: traces file not found")


def test_a_seed_file_with_a_bom_or_a_repeated_task_in_other_spacing_is_read(tmp_path):
    """Seed tasks saved with a UTF-8 BOM parse; the same task twice under one id, written with
    other spacing or key order, is the same content (once is enough), not 'different content'."""
    from distill.instruct.stage import load_seed_tasks

    other = json.dumps(dict(reversed(list(SEED.items()))), separators=(",", ":"))
    (tmp_path / "s.jsonl").write_text("\ufeff" + jsonl(SEED) + other + "\n", encoding="utf-8")
    tasks = load_seed_tasks(str(tmp_path / "s.jsonl"))
    assert [t["id"] for t in tasks] == ["seed_task_0"]


def test_a_seed_file_that_is_not_utf8_is_one_named_line(tmp_path, monkeypatch):
    _write(tmp_path, BASE_FILES)
    (tmp_path / "s.jsonl").write_bytes(jsonl(SEED).replace("sum", "s\xe9").encode("latin-1"))
    monkeypatch.chdir(tmp_path)
    res = CliRunner().invoke(app, [*INS, "--seed-tasks", "s.jsonl"])
    lines = [ln for ln in res.stderr.splitlines() if ln.strip()]
    assert res.exit_code == 1 and len(lines) == 1, res.stderr
    assert "s.jsonl" in lines[0] and "UTF-8" in lines[0] and "rerun with --debug" not in lines[0]


def test_blank_ids_are_no_ids_not_one_id_for_two_rows(tmp_path):
    """A CSV whose id column has empty cells: generate names such rows by their prompt's hash
    (`row_id or messages_hash`), so two blank ids are not 'one id for two rows'."""
    from distill.data import load_rows

    (tmp_path / "p.csv").write_text(
        "id,problem,answer\n,What is 1 + 1?,2\n,What is 2 + 2?,4\nc,x,1\n"
    )
    rows = list(load_rows(str(tmp_path / "p.csv")))
    assert [(r.row_id, r.gold) for r in rows] == [(None, "2"), (None, "4"), ("c", "1")]


def test_a_row_repeated_under_its_id_is_sampled_once(server, tmp_path, monkeypatch):
    """The same id with the same content is fine (not refused), and it is one prompt: its
    samples are requested and written once, not once per copy (same sample ids twice)."""
    from distill.records import read_records

    row = {"id": "a", "problem": "What is 1 + 1?", "answer": "2"}
    (tmp_path / "p.jsonl").write_text(jsonl(row, {"id": "b", "problem": "2 + 2?"}, row))
    monkeypatch.chdir(tmp_path)
    res = CliRunner().invoke(
        app,
        [*GEN, "--model", server.model, "--base-url", server.url, "--quiet"],
        env={"OPENAI_API_KEY": "sk-test"},
    )
    assert res.exit_code == 0, res.stderr
    ids = [r["id"] for r in read_records(tmp_path / "t.jsonl")]
    assert len(ids) == len(set(ids)) == 2, ids
    assert len(server.log) == 2
