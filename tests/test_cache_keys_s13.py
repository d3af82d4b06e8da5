"""A Hub id and a local folder of the same name (`Qwen/Qwen2.5-0.5B` and ./Qwen/Qwen2.5-0.5B, a
student trained into a folder named like its base) are two models, but their cached samples were
one: generate's ids hash the name as typed, and a sample recorded without a folder (a Hub load)
was taken for the folder's as soon as the name named a folder here, and a folder's samples for
the Hub model's once the folder was gone; select's student samples drawn from a served model
were taken for a same-named local folder's. Now a Hub load's record says so (`hub`), each finds
only its own, and samples recorded before `hub` resume as they did."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from types import SimpleNamespace

import pytest

from distill.generate import GenerateConfig, build_jobs, generate_planned
from distill.records import read_records
from distill.teachers import Completion

NAME = "Qwen/Qwen2.5-0.5B"


@pytest.fixture
def drawn(monkeypatch):
    """generate's hf teacher replaced by one that answers without a model (a Hub id cannot be
    downloaded here): the models it was built for, and the samples each was asked for."""
    from distill.generate import stage

    asked: list[tuple[str, int]] = []

    class Fake:
        def __init__(self, cfg):
            self.cfg = cfg

        def run(self, jobs, sink):
            asked.append((self.cfg.model, sum(len(j.samples) for j in jobs)))
            for j in jobs:
                for s in j.samples:
                    sink.done(j, s, Completion(text=f"{self.cfg.model}: 2"))

    monkeypatch.setitem(stage.TEACHERS, "hf", Fake)
    monkeypatch.setattr(stage, "check_teacher", lambda *a, **k: None)
    return asked


def gen(model=NAME, out="traces.jsonl"):
    return GenerateConfig(
        data="builtin:arithmetic", limit=2, n=2, teacher="hf", model=model, seed=0, out=out
    )


def to_do(cfg) -> int:
    return sum(len(j.samples) for _, jobs in build_jobs(cfg)[0] for j in jobs)


def test_a_folder_named_like_a_hub_id_does_not_take_the_hub_models_samples(
    tiny_qwen, tmp_path, monkeypatch, drawn
):
    monkeypatch.chdir(tmp_path)
    generate_planned(gen(), progress=False)  # the Hub model (no such folder here)
    hub = list(read_records("traces.jsonl"))
    assert len(hub) == 4 and all(r["teacher"].get("hub") is True for r in hub)
    shutil.copytree(tiny_qwen, NAME)  # a student trained into ./Qwen/Qwen2.5-0.5B
    assert to_do(gen()) == 4  # another model: none of the Hub model's samples are its own
    generate_planned(gen(), progress=False)
    assert drawn[-1] == (str((tmp_path / NAME).resolve()), 4)
    assert to_do(gen()) == 0 and to_do(gen(f"./{NAME}/")) == 0  # its own, found again
    shutil.rmtree(tmp_path / "Qwen")
    assert to_do(gen()) == 0  # the Hub model's, found again
    assert len(list(read_records("traces.jsonl"))) == 8


def test_the_hub_model_does_not_take_a_same_named_folders_samples(
    tiny_qwen, tmp_path, monkeypatch, drawn
):
    monkeypatch.chdir(tmp_path)
    shutil.copytree(tiny_qwen, NAME)
    generate_planned(gen(), progress=False)  # the folder, typed as the Hub id
    assert drawn == [(NAME, 4)]
    shutil.move(tmp_path / "Qwen", tmp_path / "elsewhere")  # the name is the Hub id's now
    assert to_do(gen()) == 4
    planned = generate_planned(gen(), progress=False)
    assert drawn[-1] == (NAME, 4)  # loaded by its name, from the Hub
    records = list(read_records("traces.jsonl"))
    assert len(records) == 8 and planned == {r["id"] for r in records[4:]}
    assert to_do(gen()) == 0
    shutil.move(tmp_path / "elsewhere", tmp_path / "Qwen")
    assert to_do(gen()) == 0  # the folder back: its own samples, as written


def test_samples_recorded_before_hub_resume_as_they_did(tiny_qwen, tmp_path, monkeypatch, drawn):
    # a traces file of a distill before `hub`: neither key says whose a sample is; the name
    # decides, as it did (test_generate_paths_s10)
    monkeypatch.chdir(tmp_path)
    generate_planned(gen(), progress=False)
    old = [json.loads(line) for line in Path("traces.jsonl").read_text().splitlines()]
    for r in old:
        del r["teacher"]["hub"]
    Path("traces.jsonl").write_text("".join(json.dumps(r) + "\n" for r in old))
    assert to_do(gen()) == 0


def test_select_does_not_take_a_served_students_samples_for_a_local_folders(
    tiny_qwen, tmp_path, monkeypatch
):
    import distill.teachers as teachers
    from distill.select.difficulty import PromptInfo, student_rates

    monkeypatch.chdir(tmp_path)
    shutil.copytree(tiny_qwen, NAME)
    asked: list[tuple[str, int]] = []

    def fake(backend):
        class Fake:
            def __init__(self, cfg):
                pass

            def run(self, jobs, sink):
                asked.append((backend, sum(len(j.samples) for j in jobs)))
                for j in jobs:
                    for s in j.samples:
                        sink.done(j, s, Completion(text="\\boxed{2}"))

        return Fake

    for b in ("openai", "hf"):
        monkeypatch.setitem(teachers.TEACHERS, b, fake(b))
    prompts = {
        f"p{i}": PromptInfo([{"role": "user", "content": f"1 + 1 ({i})"}], "2", {})
        for i in range(3)
    }

    def cfg(backend):
        return student_cfg(NAME, backend)

    cache = tmp_path / "student.jsonl"
    student_rates(cfg("openai"), prompts, cache)  # a server's model of that name
    student_rates(cfg("hf"), prompts, cache)  # the folder ./Qwen/Qwen2.5-0.5B
    assert asked == [("openai", 6), ("hf", 6)]
    student_rates(cfg("openai"), prompts, cache)
    student_rates(cfg("hf"), prompts, cache)
    assert asked == [("openai", 6), ("hf", 6)]  # each found its own again


def student_cfg(student: str, backend: str) -> SimpleNamespace:
    """A stand-in of select's config for `student_rates`: `student` sampled 2 times a prompt
    through `backend` (a server at 127.0.0.1:9 for openai), verified as math, filter's limits."""
    return SimpleNamespace(
        student=student,
        student_backend=backend,
        student_base_url="http://127.0.0.1:9/v1" if backend == "openai" else None,
        api_key_env="OPENAI_API_KEY",
        student_temperature=0.7,
        student_max_tokens=16,
        student_seed=0,
        concurrency=1,
        max_retries=0,
        request_timeout=600.0,
        samples=2,
        verify="math",
        verify_timeout=5,
        code_memory_mb=512,
    )
