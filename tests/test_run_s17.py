"""distill run / eval / publish / train --resume, session 17:

1. distill run: eval's max_tokens (generate's, taken) was capped at the least any model's context
   leaves, so a baseline of a shorter context than the student's capped the student too: its
   pass@1 measured on a budget it did not need. Each model is now capped by its own context, and
   eval.json, the printed table and the card name both budgets where they differ.
2. publish --repo-id: whether a file at a marker's `earlier` hash was committed before the marker
   (a publish cut between its commits, which may replace it) or since (the user's, put back to
   those bytes) compared the commits' dates; a commit pushed from a machine whose clock is
   behind was dated before the marker's, and the user's file was replaced or deleted. Now the
   repo's commit order (list_repo_commits) decides.
3. train --resume (kd/onpolicy): a served teacher named by a Hub id was fingerprinted as its name
   alone (no folder of files here): a resume against another model served under the same name
   went on, mixing two teachers' targets. Its fingerprint now holds what its server's
   GET /models lists under the name (root, parent, max_model_len), its URL and the tokenizer
   files the HF cache holds for it; a local teacher named by a Hub id, the cached revision.
4. eval --backend openai (a neighbour of 3): a student retrained in place and served again under
   the same name (vLLM --lora-modules student=DIR) had its old samples resumed and scored as the
   new student's: their ids hash the name. The samples' stamp now holds what the server's card
   says it serves (root/parent, and that folder's weights where it is here).
"""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path
from types import SimpleNamespace

import pytest
import yaml
from aiohttp import web

from distill.errors import DistillError
from distill.pipeline import run as pipeline_run
from tests.fakeserver import FakeServer
from tests.test_publish_earlier_s16 import T0, DatedHub, publish, two_publishes, user_commit
from tests.test_third_read_eval import hub
from tests.test_user_files_s15 import Killed

__all__ = ["hub"]  # the fixture, used by name

# --------------------------------------------------------------------------- 1. eval budgets


class TwoContextServer(FakeServer):
    """vLLM serving two models, each at its own --max-model-len: GET /v1/models lists both, and a
    request whose prompt and max_tokens do not fit its model's context is a 400."""

    contexts = {"student": 8192, "base": 2048}

    async def models(self, request: web.Request) -> web.Response:
        listed = [
            {"id": m, "object": "model", "max_model_len": n} for m, n in self.contexts.items()
        ]
        return web.json_response({"object": "list", "data": listed})

    async def fitted(self, request: web.Request) -> web.Response:
        body = await request.json()
        context = self.contexts[body["model"]]
        prompt = sum(len(m["content"]) for m in body["messages"]) // 2 + 16
        asked = int(body.get("max_tokens") or 0)
        if asked + prompt > context:
            self.log.append({"model": body["model"], "max_tokens": asked, "refused": True})
            return web.json_response({"error": {"message": "too long"}}, status=400)
        self.model = body["model"]  # (chat answers the model it serves; concurrency 1)
        return await self.chat(request)

    def _app(self) -> web.Application:
        app = web.Application()
        app.router.add_post("/v1/chat/completions", self.fitted)
        app.router.add_get("/v1/models", self.models)
        return app


@pytest.fixture
def two_contexts():
    s = TwoContextServer().start()
    yield s
    s.stop()


def _two_model_recipe(tmp_path: Path, url: str, student: str, base: str) -> Path:
    sections = {
        "run": {"dir": str(tmp_path / "run")},
        "generate": {"teacher": "openai", "model": "fake-r1", "base_url": url,
                     "data": "builtin:arithmetic?n=2", "out": "{run_dir}/traces.jsonl"},
        "eval": {"model": student, "baseline": base, "backend": "openai", "base_url": url,
                 "concurrency": 1, "data": "builtin:arithmetic?start=100&n=2",
                 "out": "{run_dir}/eval.json"},
    }  # fmt: skip
    path = tmp_path / "r.yaml"
    path.write_text(yaml.safe_dump(sections))
    return path


def _asked(server: FakeServer, model: str) -> set[int]:
    return {e["max_tokens"] for e in server.log if e.get("model") == model}


def test_a_baseline_of_a_shorter_context_does_not_cap_the_student(tmp_path, two_contexts, capsys):
    recipe = _two_model_recipe(tmp_path, two_contexts.url, "student", "base")
    result = pipeline_run(recipe, only=["eval"])
    assert not any(e.get("refused") for e in two_contexts.log)
    # the student is asked generate's length, which its context holds (it got the base's cap)
    assert _asked(two_contexts, "student") == {4096}
    (base,) = _asked(two_contexts, "base")
    assert base < 2048
    ev = result["eval"]
    assert ev["max_tokens"] == 4096
    assert ev["student"]["max_tokens"] == 4096 and ev["baseline"]["max_tokens"] == base
    said = capsys.readouterr()
    assert "not the same budget" in said.out  # the run's note
    assert "not the same budget" in " ".join(said.err.split())  # eval's table caption


def test_a_student_of_a_shorter_context_does_not_cap_the_baseline(tmp_path, two_contexts):
    recipe = _two_model_recipe(tmp_path, two_contexts.url, "base", "student")
    ev = pipeline_run(recipe, only=["eval"])["eval"]
    (capped,) = _asked(two_contexts, "base")
    assert capped < 2048 and _asked(two_contexts, "student") == {4096}
    assert ev["student"]["max_tokens"] == capped and ev["baseline"]["max_tokens"] == 4096


def test_two_models_of_one_context_share_one_budget_said_once(tmp_path, two_contexts, capsys):
    two_contexts.contexts = {"student": 2048, "base": 2048}
    ev = pipeline_run(
        _two_model_recipe(tmp_path, two_contexts.url, "student", "base"), only=["eval"]
    )["eval"]
    assert _asked(two_contexts, "student") == _asked(two_contexts, "base")
    assert "max_tokens" not in ev["student"] and "max_tokens" not in ev["baseline"]
    assert "not the same budget" not in capsys.readouterr().out


def test_the_card_names_both_budgets(tmp_path):
    from tests.test_review_eval_publish import card, eval_json, student_folder

    student = student_folder(tmp_path / "student")
    path = eval_json(tmp_path / "eval.json", student, 0.5)
    ev = json.loads(path.read_text())
    ev.update({"max_tokens": 4096, "delta_pass@1": 0.44, "delta_problems": 100})
    ev["student"]["max_tokens"], ev["baseline"]["max_tokens"] = 4096, 1900
    path.write_text(json.dumps(ev))
    text = " ".join(card(student).split())
    assert "max 4096 tokens (the baseline's max 1900)" in text
    assert "at different max_tokens (student 4096, baseline 1900): not the same budget" in text


# --------------------------------------------------------------------------- 2. publish order


class OrderedHub(DatedHub):
    """DatedHub whose listing names each file's last commit by its id too (`last_commit.oid`,
    as the Hub's), dated by the clock of the machine that made it (`skewed`: a commit pushed
    from a machine whose clock is a day behind), and lists its commits newest first."""

    skewed: set[int] = set()

    def get_paths_info(self, repo_id, paths, revision=None, expand=False, **kw):
        found = super().get_paths_info(repo_id, paths, revision=revision, expand=expand, **kw)
        made = self.repos[repo_id].get("dates", {})
        for f in found:
            if expand and f.path in made:
                n = made[f.path]
                date = T0 - timedelta(days=1) if n in self.skewed else T0 + timedelta(seconds=n)
                f.last_commit = SimpleNamespace(oid=f"{n:040x}", date=date)
        return found

    def list_repo_commits(self, repo_id, revision=None, **kw):
        head = self.repos[repo_id].get("commits", 0)
        assert revision in (None, f"{head:040x}")
        return [SimpleNamespace(commit_id=f"{n:040x}") for n in range(head, 0, -1)]


@pytest.fixture
def ordered_hub(hub, monkeypatch):
    import huggingface_hub

    monkeypatch.setattr(huggingface_hub, "HfApi", OrderedHub)
    monkeypatch.setattr(OrderedHub, "commits_before_kill", None)
    monkeypatch.setattr(OrderedHub, "skewed", set())
    return hub


def _user_commit_from_a_slow_clock(hub, name, data):
    user_commit(hub, "me/s", name, data)
    OrderedHub.skewed.add(hub["me/s"]["commits"])


def test_a_file_put_back_by_a_commit_dated_in_the_past_is_not_replaced(tmp_path, ordered_hub):
    student, a = two_publishes(tmp_path, ordered_hub)
    _user_commit_from_a_slow_clock(
        ordered_hub, "adapter_model.safetensors", a["adapter_model.safetensors"]
    )
    (student / "adapter_model.safetensors").write_bytes(b"adapter C")
    with pytest.raises(DistillError, match="adapter_model.safetensors is already in the repo"):
        publish(dir=str(student), repo_id="me/s")  # replaced before the fix
    assert (
        ordered_hub["me/s"]["files"]["adapter_model.safetensors"] == a["adapter_model.safetensors"]
    )


def test_a_file_put_back_by_a_commit_dated_in_the_past_is_not_deleted(tmp_path, ordered_hub):
    student, a = two_publishes(tmp_path, ordered_hub)
    _user_commit_from_a_slow_clock(ordered_hub, "loss.png", a["loss.png"])
    (student / "loss.png").unlink()  # C writes no loss.png: B's would be deleted
    (student / "adapter_model.safetensors").write_bytes(b"adapter C")
    publish(dir=str(student), repo_id="me/s")
    files = ordered_hub["me/s"]["files"]
    assert files["adapter_model.safetensors"] == b"adapter C"
    assert files["loss.png"] == b"PNG of A"  # the user's: deleted before the fix


def test_a_cut_publish_completes_by_the_commit_order(tmp_path, ordered_hub, monkeypatch):
    """The files the cut publish had yet to commit come before its marker in the history."""
    student, _ = two_publishes(tmp_path, ordered_hub)
    (student / "adapter_model.safetensors").write_bytes(b"adapter C")
    (student / "train.yaml").write_text("model: Qwen/Qwen2.5-1.5B\nlora_r: 32\n")
    monkeypatch.setattr(OrderedHub, "commits_before_kill", 1)  # [marker, README.md] landed
    monkeypatch.setattr(OrderedHub, "skewed", {1, 2, 3, 4, 5, 6, 7, 8})  # every clock behind
    with pytest.raises(Killed):
        publish(dir=str(student), repo_id="me/s")
    monkeypatch.setattr(OrderedHub, "commits_before_kill", None)
    publish(dir=str(student), repo_id="me/s")
    files = ordered_hub["me/s"]["files"]
    assert files["adapter_model.safetensors"] == b"adapter C"
    assert files["train.yaml"] == (student / "train.yaml").read_bytes()


# --------------------------------------------------------------------------- 3. teacher prints


class CardServer(FakeServer):
    """A vLLM server's GET /v1/models: the model it serves as `teacher`, over `root`."""

    card = {"id": "Qwen/Qwen2.5-7B-Instruct", "object": "model",
            "root": "Qwen/Qwen2.5-7B-Instruct", "parent": None, "max_model_len": 32768}  # fmt: skip

    down = False  # answers 503: not up yet (a server loading its weights)

    async def models(self, request: web.Request) -> web.Response:
        if self.down:
            return web.json_response({"error": {"message": "loading"}}, status=503)
        return web.json_response({"object": "list", "data": [dict(self.card)]})

    def _app(self) -> web.Application:
        app = web.Application()
        app.router.add_get("/v1/models", self.models)
        return app


@pytest.fixture
def card_server(tmp_path, monkeypatch):
    monkeypatch.setenv("DISTILL_CACHE", str(tmp_path / "cache"))
    monkeypatch.setattr("huggingface_hub.constants.HF_HUB_CACHE", str(tmp_path / "hf"))
    s = CardServer().start()
    yield s
    s.stop()


def _served(url: str, name: str = "Qwen/Qwen2.5-7B-Instruct") -> SimpleNamespace:
    return SimpleNamespace(method="onpolicy", teacher_model=name, teacher_url=url,
                           teacher_weight=None, teacher_route_field=None)  # fmt: skip


def test_another_model_served_under_the_teachers_hub_id_differs(card_server):
    from distill.train.fingerprint import teacher_differences, teacher_record

    then = teacher_record(_served(card_server.url))
    card_server.card = {**card_server.card, "root": "/models/qwen-7b-sft-v2"}
    said = teacher_differences(then, teacher_record(_served(card_server.url)))
    assert said == [
        "teacher Qwen/Qwen2.5-7B-Instruct's server lists root /models/qwen-7b-sft-v2 now, "
        "not Qwen/Qwen2.5-7B-Instruct"
    ]  # [] before: the same name was the same teacher


def test_a_served_teachers_shorter_context_differs(card_server):
    from distill.train.fingerprint import teacher_differences, teacher_record

    then = teacher_record(_served(card_server.url))
    card_server.card = {**card_server.card, "max_model_len": 4096}
    (said,) = teacher_differences(then, teacher_record(_served(card_server.url)))
    assert "max_model_len 4096 now, not 32768" in said


def test_a_served_teacher_unchanged_or_its_server_not_up_yet_is_the_same(card_server):
    from distill.train.fingerprint import teacher_differences, teacher_record

    then = teacher_record(_served(card_server.url))
    assert then["teachers"][0]["card"]["root"] == "Qwen/Qwen2.5-7B-Instruct"
    assert teacher_differences(then, teacher_record(_served(card_server.url))) == []
    card_server.down = True  # not up when the resume starts: its own error when it scores
    assert teacher_differences(then, teacher_record(_served(card_server.url))) == []
    older = {"teachers": [{"model": "Qwen/Qwen2.5-7B-Instruct", "served": True, "files": {}}]}
    assert teacher_differences(older, then) == []  # a run fingerprinted before: goes on


def _cached_snapshot(root: Path, name: str, revision: str, files: dict[str, str]) -> None:
    repo = root / ("models--" + name.replace("/", "--"))
    (repo / "refs").mkdir(parents=True, exist_ok=True)
    (repo / "refs" / "main").write_text(revision)
    snap = repo / "snapshots" / revision
    snap.mkdir(parents=True, exist_ok=True)
    for f, text in files.items():
        (snap / f).write_text(text)


def test_a_served_hub_teachers_cached_chat_template_changed_differs(tmp_path, card_server):
    from distill.train.fingerprint import teacher_differences, teacher_record

    name, hf = "Qwen/Qwen2.5-7B-Instruct", tmp_path / "hf"
    _cached_snapshot(hf, name, "a" * 40, {"tokenizer_config.json": '{"chat_template": "A"}'})
    then = teacher_record(_served(card_server.url))
    _cached_snapshot(hf, name, "b" * 40, {"tokenizer_config.json": '{"chat_template": "B"}'})
    said = teacher_differences(then, teacher_record(_served(card_server.url)))
    assert said == [f"tokenizer_config.json of teacher {name} changed"]


def test_a_local_teacher_named_by_a_hub_id_at_another_cached_revision_differs(card_server):
    import huggingface_hub.constants

    from distill.train.fingerprint import teacher_differences, teacher_record

    hf, name = Path(huggingface_hub.constants.HF_HUB_CACHE), "Qwen/Qwen2.5-0.5B-Instruct"
    local = SimpleNamespace(method="kd", teacher_model=name, teacher_url=None,
                            teacher_weight=None, teacher_route_field=None)  # fmt: skip
    _cached_snapshot(hf, name, "a" * 40, {"config.json": "{}"})
    then = teacher_record(local)
    assert teacher_differences(then, teacher_record(local)) == []
    _cached_snapshot(hf, name, "b" * 40, {"config.json": "{}"})
    said = teacher_differences(then, teacher_record(local))
    assert said == [f"revision of teacher {name} changed (its weights)"]


# --------------------------------------------------------------------------- 4. served student


class ServedStudent(FakeServer):
    """vLLM serving a LoRA adapter folder as `student` (--lora-modules student=DIR)."""

    folder = ""

    async def models(self, request: web.Request) -> web.Response:
        listed = [
            {"id": "base", "object": "model", "root": "base", "max_model_len": 8192},
            {"id": "student", "object": "model", "root": self.folder, "parent": "base"},
        ]
        return web.json_response({"object": "list", "data": listed})

    def _app(self) -> web.Application:
        app = web.Application()
        app.router.add_post("/v1/chat/completions", self.chat)
        app.router.add_get("/v1/models", self.models)
        return app


def test_a_served_student_retrained_in_place_is_sampled_afresh(tmp_path, capsys):
    import os

    from distill.eval import EvalConfig
    from distill.eval import run as eval_run

    student = tmp_path / "student"
    student.mkdir()
    (student / "adapter_config.json").write_text("{}")
    (student / "adapter_model.safetensors").write_bytes(b"weights 1")
    server = ServedStudent(model="student")
    server.folder = str(student)
    server.start()
    try:
        cfg = EvalConfig(model="student", backend="openai", base_url=server.url,
                         data="builtin:arithmetic?start=100&n=3", max_tokens=256,
                         out=str(tmp_path / "eval.json"))  # fmt: skip
        eval_run(cfg)
        asked = len(server.log)
        assert asked == 3
        eval_run(cfg)  # the same weights: resumed, nothing asked again
        assert len(server.log) == asked
        (student / "adapter_model.safetensors").write_bytes(b"weights 2, trained again")
        os.utime(student / "adapter_model.safetensors", ns=(1, 10**18))
        eval_run(cfg)  # the old samples were scored as the new student's before
        assert len(server.log) == 2 * asked
    finally:
        server.stop()
    assert "those samples moved to" in capsys.readouterr().out
    assert list(tmp_path.glob("eval.student.traces.*.jsonl"))  # set aside, not deleted


def test_the_card_shows_what_failed_samples_cost_beside_the_records_cost(tmp_path):
    """A generate summary since e4fd6a5 carries the spend of billed samples that left no record
    (failed_tokens / failed_cost_usd / spent_usd); the card showed the records' cost alone."""
    import json

    from distill.publish import PublishConfig, build_card
    from tests.test_publish import run_folder

    student = run_folder(tmp_path)
    summary = json.loads((tmp_path / "traces.summary.json").read_text())
    summary.update(cost_usd=0.5, failed_tokens=1200, failed_cost_usd=0.25, spent_usd=0.75)
    (tmp_path / "traces.summary.json").write_text(json.dumps(summary))
    card = str(build_card(student, student, PublishConfig(dir=str(student), local_dir="x")))
    line = next(x for x in card.splitlines() if x.startswith("- Samples generated"))
    assert "$0.5000)" in line and "1,200 tokens ($0.2500) of failed samples" in line
    assert "$0.7500 spent in all" in line
    summary.update(failed_tokens=0, failed_cost_usd=0.0, spent_usd=0.5)
    (tmp_path / "traces.summary.json").write_text(json.dumps(summary))
    card = str(build_card(student, student, PublishConfig(dir=str(student), local_dir="x")))
    assert "failed samples" not in card
