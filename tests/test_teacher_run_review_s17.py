"""Second read of session 17's teacher/cost and run/eval/publish/fingerprint commits:

1. generate --batch: a choice a batch's result line ended 'abort' (generated, billed, no record)
   has its spend counted, and since e4fd6a5 the summary carries it to every later run on the
   file. A run stopped while it collected that batch (Ctrl-C, a kill, an error on a later line)
   left the batch listed in flight; the rerun reads the same result file again and counted the
   same aborted choice a second time (spent_usd more than was paid).
2. train --resume: f44eaa0 fingerprinted a Hub-id teacher by what the HF cache holds (a served
   teacher's tokenizer files, a local teacher's cached revision). A run fingerprinted while the
   cache held none of it (every run before f44eaa0; a fresh cache, which the run's own teacher
   load fills after the fingerprint is made) was refused on its resume: 'tokenizer_config.json
   of teacher X changed', 'revision of teacher X changed (its weights)'.
3. distill run: 279bfa1 asks the student and the baseline each at the most its own context allows;
   eval.json, eval's table and the card say when the two budgets differ, but the run's closing
   line, which sets the two pass@1s side by side, did not.
4. eval --backend openai: 915dc7d stamps a served student's samples with its server's card
   (GET /models: the adapter folder it serves). An eval whose GET /models went unanswered that
   time (a timeout, a 503) rewrote the stamp without the card, and the next eval of the student
   retrained in place had nothing to compare: its old samples were scored as the new one's.
5. generate: e4fd6a5 refuses a served Gemma 4 whose replies come without its thought channel's
   markers where --model's name or its GET /models `root` says Gemma 4; a LoRA adapter of a
   Gemma 4 (vLLM --lora-modules teacher=DIR: `root` the adapter's folder, `parent` the base's
   served name) went on, its thinking recorded as its answer.
"""

from __future__ import annotations

import json
from pathlib import Path
from types import SimpleNamespace

import pytest
from aiohttp import web

from distill.errors import DistillError
from distill.generate import run
from distill.records import read_records
from tests.test_run_s17 import two_contexts
from tests.test_teacher_s17 import UNPARSED, message, models_server

__all__ = ["models_server", "two_contexts"]  # the fixtures, used by name

# ------------------------------------------------------------------ 1. --batch: a kill mid-collect


def _summary(out: Path) -> dict:
    return json.loads(out.with_name(out.stem + ".summary.json").read_text())


def test_a_batch_collect_stopped_and_read_again_counts_its_aborted_choice_once(
    tmp_path, monkeypatch
):
    """Three prompts of --n 2 in one batch; the first line's second choice ended 'abort' (10
    prompt + 30 completion tokens a line: the aborted choice 5 + 20). The run is stopped
    (Ctrl-C) as it takes the second line, after the first's failed spend is counted and the
    summary written; the rerun re-attaches and reads the whole result file again."""
    from distill.teachers.batch import BatchTeacher
    from tests.fakebatch import FakeBatchServer
    from tests.test_batch import cfg as batch_cfg

    class AbortsFirst(FakeBatchServer):
        async def chat(self, request):
            body = await request.json()
            self.bodies.append(body)
            n = body.get("n") or 1
            aborted = len(self.bodies) == 1
            texts = ["So 4."] * (n - 1) + ["So the sum" if aborted else "So 4."]
            return web.json_response(
                {
                    "choices": [
                        {
                            "index": k,
                            "message": {"content": t},
                            "finish_reason": "abort" if aborted and k == n - 1 else "stop",
                        }
                        for k, t in enumerate(texts)
                    ],
                    "usage": {"prompt_tokens": 10, "completion_tokens": 30},
                }
            )

    taken = BatchTeacher._take
    calls = {"n": 0}

    def stopped_at_the_second_line(self, *a, **kw):
        calls["n"] += 1
        if calls["n"] == 2:
            raise KeyboardInterrupt
        return taken(self, *a, **kw)

    server = AbortsFirst().start()
    out = tmp_path / "t.jsonl"
    prices = dict(price_input=1.0, price_output=2.0)
    try:
        monkeypatch.setattr(BatchTeacher, "_take", stopped_at_the_second_line)
        with pytest.raises(KeyboardInterrupt):
            run(batch_cfg(server, out, limit=3, n=2, **prices), progress=False)
        first = _summary(out)
        assert first["failed_tokens"] == 25  # counted once the line was read
        monkeypatch.setattr(BatchTeacher, "_take", taken)
        with pytest.raises(DistillError, match="1 samples failed"):
            run(batch_cfg(server, out, limit=3, n=2, **prices), progress=False)
    finally:
        server.stop()
    assert len(server.batches) == 1  # re-attached, not bought again
    assert len(list(read_records(out))) == 5
    second = _summary(out)
    # before: 50, the one aborted choice counted by each run that read the file
    assert second["failed_tokens"] == 25
    assert second["failed_cost_usd"] == pytest.approx(first["failed_cost_usd"])
    assert second["this_run"]["failed_tokens"] == 0  # paid by the first run, not this one
    spent = second["cost_usd"] + first["failed_cost_usd"]
    assert second["spent_usd"] == pytest.approx(spent, abs=2e-6)


# ------------------------------------------------------------------ 2. resume: a Hub-id teacher

HUB_ID = "Qwen/Qwen2.5-7B-Instruct"


@pytest.fixture
def hf_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("DISTILL_CACHE", str(tmp_path / "cache"))
    monkeypatch.setattr("huggingface_hub.constants.HF_HUB_CACHE", str(tmp_path / "hf"))
    return tmp_path / "hf"


def _teacher(served: bool) -> SimpleNamespace:
    return SimpleNamespace(
        method="onpolicy" if served else "kd",
        teacher_model=HUB_ID,
        teacher_url="http://127.0.0.1:9/v1" if served else None,  # no server: no card
        teacher_weight=None,
        teacher_route_field=None,
    )


@pytest.mark.parametrize("served", [True, False], ids=["served", "local"])
def test_a_hub_id_teachers_resume_goes_on_where_its_run_knew_no_cached_files(hf_cache, served):
    from distill.train.fingerprint import teacher_differences, teacher_record
    from tests.test_run_s17 import _cached_snapshot

    files = {"tokenizer_config.json": '{"chat_template": "A"}', "config.json": "{}"}
    # a train_data.json written before f44eaa0: the name (and URL), nothing of the HF cache
    older = {"model": HUB_ID, "files": {}}
    older.update({"served": True} if served else {"weights": {}})
    fresh = teacher_record(_teacher(served))  # a fresh cache: the run downloads it after this
    _cached_snapshot(hf_cache, HUB_ID, "a" * 40, files)
    now = teacher_record(_teacher(served))
    assert now != fresh  # the cache is read now
    # before: 'tokenizer_config.json of teacher ... changed' / 'revision of teacher ... changed'
    assert teacher_differences({"teachers": [older]}, now) == []
    assert teacher_differences(fresh, now) == []
    # read by the run, the cache's files are compared: another revision is another teacher
    _cached_snapshot(hf_cache, HUB_ID, "b" * 40, {**files, "tokenizer_config.json": "{}"})
    changed = "tokenizer_config.json of teacher" if served else "revision of teacher"
    assert changed in " ".join(teacher_differences(now, teacher_record(_teacher(served))))


# ------------------------------------------------------------------ 3. distill run's last line


def test_the_runs_closing_line_says_the_two_pass_at_1_had_two_budgets(
    tmp_path, two_contexts, capsys
):
    from distill.pipeline import run as pipeline_run
    from tests.test_run_s17 import _two_model_recipe

    recipe = _two_model_recipe(tmp_path, two_contexts.url, "student", "base")
    ev = pipeline_run(recipe, only=["eval"])["eval"]
    base = ev["baseline"]["max_tokens"]
    last = capsys.readouterr().out.strip().splitlines()[-1]
    assert last.startswith("r: base pass@1=")
    assert f"(not the same budget: max_tokens {base} and 4096) minutes=" in last


# ------------------------------------------------------------------ 4. eval: the served stamp


def test_a_served_students_card_unlisted_once_is_still_compared_after(tmp_path, capsys):
    import os

    from distill.eval import EvalConfig
    from distill.eval import run as eval_run
    from tests.test_run_s17 import ServedStudent

    class Flaky(ServedStudent):
        down = False

        async def models(self, request):
            if self.down:
                return web.json_response({"error": {"message": "busy"}}, status=503)
            return await super().models(request)

    student = tmp_path / "student"
    student.mkdir()
    (student / "adapter_config.json").write_text("{}")
    (student / "adapter_model.safetensors").write_bytes(b"weights 1")
    server = Flaky(model="student")
    server.folder = str(student)
    server.start()
    try:
        cfg = EvalConfig(
            model="student",
            backend="openai",
            base_url=server.url,
            data="builtin:arithmetic?start=100&n=3",
            max_tokens=256,
            out=str(tmp_path / "eval.json"),
        )
        eval_run(cfg)
        assert len(server.log) == 3
        server.down = True  # its card not listed this time: the samples resumed as they are
        eval_run(cfg)
        assert len(server.log) == 3
        server.down = False
        (student / "adapter_model.safetensors").write_bytes(b"weights 2, trained again")
        os.utime(student / "adapter_model.safetensors", ns=(1, 10**18))
        eval_run(cfg)  # before: resumed, the new student scored on the old one's samples
        assert len(server.log) == 6
    finally:
        server.stop()
    assert "those samples moved to" in capsys.readouterr().out


# ------------------------------------------------------------------ 5. a Gemma 4 LoRA, unparsed

GEMMA4_BASE = "google/gemma-4-31B-it"


@pytest.mark.parametrize(
    "models",
    [
        # the base served under its Hub id: the adapter's parent names it
        [{"id": GEMMA4_BASE, "root": GEMMA4_BASE}, {"id": "teacher", "root": "/lora/sft", "parent": GEMMA4_BASE}],
        # the base served as 'base' (--served-model-name): its card's root names it
        [{"id": "base", "root": GEMMA4_BASE}, {"id": "teacher", "root": "/lora/sft", "parent": "base"}],
    ],
    ids=["parent by hub id", "parent by served name"],
)  # fmt: skip
def test_a_gemma4_lora_served_without_its_reasoning_parser_is_refused(
    models_server, tmp_path, models
):
    from tests.test_teacher_replies_s16 import cfg

    server = models_server(lambda body: message(UNPARSED), models)
    out = tmp_path / "t.jsonl"
    with pytest.raises(DistillError, match=r"is Gemma 4 .*--reasoning-parser gemma4"):
        run(cfg(server.url, out, model="teacher", limit=2), progress=False)
    assert list(read_records(out)) == []  # before: each written, its thinking as its answer
