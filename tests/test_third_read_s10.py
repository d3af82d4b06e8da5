"""Third read of 9b87553 / c4cc0c7 (URLs without a scheme), 04216fa (export of a file holding
trace records with earlier assistant turns) and 95add3e (has_tests, now distill.filter.code.has_tests)."""

from __future__ import annotations

import json

import pytest

from distill.errors import DistillError

# ----------------------------------------------------------------- has_tests == verify_code

INFO = {"language": "python", "test_cases": [{"input": "2\n", "output": "4\n"}]}
APPS = {"fn_name": "solve", "inputs": [[1, 2]], "outputs": [[3]]}
KOD = "from solution import add\n\ndef test_add():\n    assert add(1, 2) == 3\n"
LCB_FN = [{"input": "[1, 2]\n3", "output": "[4, 5]", "testtype": "functional"}]


def _layouts() -> dict[str, dict]:
    """Every test layout verify_code reads (tests/test_code_layouts.py), runnable or refused."""
    from tests.test_code_layouts import CONTESTS, HUMANEVAL, lcb_row

    stdin = [{"input": "3\n", "output": "6\n", "testtype": "stdin"}]
    return {
        "code_contests": CONTESTS,
        "code_contests empty": {"public_tests": {"input": [], "output": []}},
        "code_contests file": dict(CONTESTS, input_file="in.txt"),
        "lcb stdin": lcb_row(stdin, []),
        "lcb functional": lcb_row(LCB_FN, [], func_name="f"),
        "lcb functional unnamed": lcb_row(LCB_FN, []),
        "lcb functional not JSON": lcb_row([dict(LCB_FN[0], input="x")], [], func_name="f"),
        "lcb empty": lcb_row([], []),
        "humaneval": HUMANEVAL,
        "humaneval bad entry": dict(HUMANEVAL, entry_point="x y"),
        "mbpp": {"test_list": ["assert f() == 1"], "test_imports": ["import math"]},
        "mbpp empty": {"test_list": [], "test_imports": ["import math"]},
        "apps call": {"input_output": json.dumps(APPS)},
        "apps call not a list": {"input_output": json.dumps(dict(APPS, inputs=[1]))},
        "apps call empty": {"input_output": json.dumps(dict(APPS, inputs=[], outputs=[]))},
        "apps stdin": {"input_output": json.dumps({"inputs": ["1\n"], "outputs": ["1\n"]})},
        "apps stdin empty": {"input_output": json.dumps({"inputs": [], "outputs": []})},
        "open-r1": {"verification_info": json.dumps(INFO)},
        "open-r1 empty": {"verification_info": dict(INFO, test_cases=[])},
        "open-r1 cpp": {"verification_info": dict(INFO, language="cpp")},
        "codeforces": {"official_tests": [{"input": "1", "output": "1"}]},
        "codeforces empty": {"official_tests": []},
        "codeforces checker": {"official_tests": [{"input": "1", "output": "1"}], "generated_checker": "c"},
        "kodcode": {"test": KOD},
        "kodcode sft": {"test_code": KOD},
        "kodcode numpy": {"test": "import numpy\n" + KOD},
        "tests asserts": {"tests": ["assert f() == 1"]},
        "tests blank": {"tests": " "},
        "tests []": {"tests": []},
        "tests lcb list": {"tests": stdin},
        "tests io JSON": {"tests": json.dumps({"inputs": ["1"], "outputs": ["1"]})},
        "tests io uneven": {"tests": {"inputs": ["1"], "outputs": []}},
        "tests bad fn_name": {"tests": dict(APPS, fn_name="a b")},
        "none": {},
    }  # fmt: skip


@pytest.mark.parametrize("name", list(_layouts()))
def test_has_tests_says_what_verify_code_does_for_every_layout(name, monkeypatch):
    """select/eval ask has_tests (read, not run) whether a prompt whose samples gave no answer
    can be verified: it must say what the probe verify_code used to run would have said, for
    every layout (a run stubbed to fail: any run is a verdict, not 'unverifiable')."""
    import distill.filter.sandbox as sandbox
    from distill.eval import PROBE
    from distill.filter.code import has_tests
    from distill.filter.verify import judge

    class Failed:
        ok, reason, stdout, stderr, returncode, timed_out = False, "stub", "", "", 1, False

    monkeypatch.setattr(sandbox, "run_code", lambda *a, **k: Failed())
    meta = _layouts()[name]
    verdict = judge({"answer": PROBE, "meta": meta}, "code", sandbox="none")[0]
    assert has_tests(meta) == (verdict != "unverifiable"), verdict


# ----------------------------------------------------------------- export: ordinary chats


def _chat(*turns):
    return {"messages": [{"role": r, "content": c} for r, c in turns]}


ORDINARY = [
    _chat(("system", "s"), ("user", "u1"), ("assistant", "a1"), ("user", "u2"), ("assistant", "a2")),
    _chat(("assistant", "hi"), ("user", "u1"), ("assistant", "a1")),
    _chat(("user", "x"), ("assistant", "y")),
]  # fmt: skip


@pytest.mark.parametrize("suffix", [".jsonl", ".parquet"])
@pytest.mark.parametrize("train_on", ["all", "last"])
def test_a_file_of_ordinary_multi_turn_chats_exports_as_before(tmp_path, suffix, train_on):
    """04216fa writes a chat as prompt/completion rows only where the file holds a trace record
    with earlier assistant turns: a file of ordinary chats is `messages` rows, one a chat, as
    before (59a6384)."""
    from distill.train import ExportConfig, export

    src = tmp_path / "chats.jsonl"
    src.write_text("".join(json.dumps(r) + "\n" for r in ORDINARY))
    out = tmp_path / f"d{suffix}"
    export(ExportConfig(data=str(src), out=str(out), train_on=train_on))
    if suffix == ".jsonl":
        rows = [json.loads(x) for x in out.read_text().splitlines()]
    else:
        import pyarrow.parquet as pq

        rows = pq.read_table(out).to_pylist()
    assert rows == ORDINARY


def test_the_parquet_refusal_counts_its_records_in_words(tmp_path):
    """The refusal of a text row beside chat rows said 'since 1 records answer a chat'."""
    from distill.train import ExportConfig, export

    hist = {
        "id": "h", "prompt_id": "h", "sample": 0, "reasoning": "R", "answer": "A",
        "messages": [{"role": "user", "content": "Q1"}, {"role": "assistant", "content": "A1"},
                     {"role": "user", "content": "Q2"}],
        "teacher": {"backend": "openai", "model": "m"},
    }  # fmt: skip
    src = tmp_path / "kept.jsonl"
    src.write_text(json.dumps(hist) + "\n" + json.dumps({"prompt": "p", "completion": "c"}) + "\n")
    with pytest.raises(DistillError) as e:
        export(ExportConfig(data=str(src), out=str(tmp_path / "d.parquet")))
    assert "row 2:" in str(e.value) and "since 1 record answers a chat" in str(e.value)
    src.write_text(
        json.dumps(hist) + "\n" + json.dumps(hist) + "\n" + '{"prompt": "p", "completion": "c"}\n'
    )
    with pytest.raises(DistillError, match="row 3: .* since 2 records answer a chat"):
        export(ExportConfig(data=str(src), out=str(tmp_path / "d.parquet")))


# ----------------------------------------------------------------- URLs: shown, never sent


def test_a_url_without_its_scheme_is_redacted_where_shown_only(tmp_path):
    """train.yaml names a URL without its token (one typed without its scheme too) and compares
    equal on reload; the served teacher's client is given the URL whole, only its error lines
    name it without the token."""
    import yaml

    from distill.config import save_config
    from distill.teachers.scorers import ServedTeacher
    from distill.train import sft
    from distill.train.config import TrainConfig

    url = "me:sk-SECRET123@127.0.0.1:1/v1"
    cfg = TrainConfig(
        data="kept.jsonl", model="S", output_dir=str(tmp_path / "o"), method="kd",
        teacher_model="T", teacher_url=url,
    )  # fmt: skip
    saved = yaml.safe_load(save_config(cfg, tmp_path / "train.yaml").read_text())
    assert saved["teacher_url"] == "127.0.0.1:1/v1" and sft.changed_run_keys(cfg, saved) == []
    t = ServedTeacher("http://u:pw@127.0.0.1:1/v1?api_key=sk-SECRET123", "T", 4, None, "S")
    assert t.shown == "http://127.0.0.1:1/v1" and "sk-SECRET123" in t.url
    assert "u:pw@" in str(t.client.base_url) and t.client._custom_query == {
        "api_key": "sk-SECRET123"
    }
