"""One source of truth per setting: a setting given once means the same thing in every stage, and
a mistake is refused before anything is paid for.

1. distill run: eval on one split file of generate's folder dataset (generate `data/`, eval
   `data/test.jsonl`), on the folder generate read one file of, or on the other split file
   beside generate's, counted as another dataset: eval asked in the file's own wording, not in
   the template the student was distilled on. The same for a hub name with and without its
   config.
2. eval --baseline: the baseline's prompts met its chat template only when its turn came, after
   the student's eval was paid for; distill run checks them before its first stage.
3. instruct with an hf teacher: a request its chat template refuses was found after the weights
   loaded (magpie's --system-prompt on Gemma-2: a bare TemplateError); self-instruct dropped a
   --system-prompt without a word.
4. train --resume (kd): other stored top-K side files, or a local teacher's changed tokenizer,
   resumed silently; the fingerprint's static distill version is gone.
5. distill run: eval took its default prompt/answer columns and verifier on generate's dataset;
   on-policy train on another slice of generate's set missed its template, system prompt and
   prompt field; filter --verify majority over one sample a prompt filtered nothing.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml

from distill.pipeline import run as pipeline_run

# --------------------------------------------------------------------------- helpers


def write_rows(path: Path, rows: list[dict]) -> str:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return str(path)


def sums(folder: Path, names=("train", "test")) -> Path:
    """A folder dataset of one sum per file: train.jsonl 1 + 2, test.jsonl 3 + 4 (by default)."""
    for i, name in enumerate(names):
        a, b = 2 * i + 1, 2 * i + 2
        write_rows(
            folder / f"{name}.jsonl", [{"problem": f"What is {a} + {b}?", "answer": str(a + b)}]
        )
    return folder


def wording(tmp_path: Path) -> str:
    mine = tmp_path / "ask.txt"
    mine.write_text("Answer in one number. {prompt}\n")
    return str(mine)


def recipe(tmp_path: Path, url: str, gen: dict, ev: dict) -> Path:
    sections = {
        "run": {"dir": str(tmp_path / "run")},
        "generate": {
            "teacher": "openai",
            "model": "fake-r1",
            "base_url": url,
            "out": "{run_dir}/traces.jsonl",
            **gen,
        },
        "eval": {
            "model": "fake-r1",
            "backend": "openai",
            "base_url": url,
            "out": "{run_dir}/eval.json",
            **ev,
        },
    }
    path = tmp_path / "r.yaml"
    path.write_text(yaml.safe_dump(sections))
    return path


def asked(server, since: int = 0) -> list[str]:
    return [e["messages"][-1]["content"] for e in server.log[since:]]


# --------------------------------------------------------------------------- 1. _same_source


def test_eval_on_a_split_file_of_generates_folder_asks_in_generates_template(server, tmp_path):
    folder = sums(tmp_path / "data")
    mine = wording(tmp_path)
    path = recipe(
        tmp_path,
        server.url,
        {"data": str(folder), "template": mine},
        {"data": str(folder / "test.jsonl")},
    )
    pipeline_run(path, only=["eval"])
    assert asked(server) == ["Answer in one number. What is 3 + 4?"]
    assert json.loads((tmp_path / "run" / "eval.json").read_text())["template"] == mine


def test_eval_on_the_folder_of_generates_split_file_asks_in_its_template(server, tmp_path):
    folder = sums(tmp_path / "data")
    path = recipe(
        tmp_path,
        server.url,
        {"data": str(folder / "train.jsonl"), "template": wording(tmp_path)},
        {"data": str(folder), "split": "test"},
    )
    pipeline_run(path, only=["eval"])
    assert asked(server) == ["Answer in one number. What is 3 + 4?"]


def test_eval_on_the_split_file_beside_generates_asks_in_its_template(server, tmp_path):
    folder = sums(tmp_path / "data")
    path = recipe(
        tmp_path,
        server.url,
        {"data": str(folder / "train.jsonl"), "template": wording(tmp_path)},
        {"data": str(folder / "test.jsonl")},
    )
    pipeline_run(path, only=["eval"])
    assert asked(server) == ["Answer in one number. What is 3 + 4?"]


def test_two_datasets_in_one_folder_are_two_sources(server, tmp_path):
    """gsm8k.jsonl beside math.jsonl: `datasets` reads both as the folder's one train split, two
    datasets whose columns need not fit one template: eval keeps the file's own wording."""
    folder = sums(tmp_path / "data", names=("gsm8k", "math"))
    path = recipe(
        tmp_path,
        server.url,
        {"data": str(folder / "gsm8k.jsonl"), "template": wording(tmp_path)},
        {"data": str(folder / "math.jsonl")},
    )
    pipeline_run(path, only=["eval"])
    assert asked(server) == ["What is 3 + 4?"]


@pytest.mark.parametrize(
    ("gen", "ev", "same"),
    [
        ("org/sums:main", "org/sums", True),
        ("org/sums", "org/sums:main", True),
        ("org/sums:main", "org/sums:socratic", False),
        ("org/sums", "org/other", False),
    ],
)
def test_a_hub_name_with_or_without_its_config_is_one_source(tmp_path, monkeypatch, gen, ev, same):
    """Planned as distill run plans it: the eval config it would run with (no hub here; the
    bare name's default config is main: another config of it is another source, s16)."""
    import datasets

    import distill.eval as eval_stage
    import distill.pipeline

    monkeypatch.setattr(datasets, "get_dataset_default_config_name", lambda name, **kw: "main")
    distill.pipeline._default_config.cache_clear()
    seen = []

    def fake_run(cfg):
        seen.append(cfg)
        Path(cfg.out).parent.mkdir(parents=True, exist_ok=True)
        Path(cfg.out).write_text(json.dumps({"student": {"pass@1": 1.0}}))
        return Path(cfg.out)

    monkeypatch.setattr(eval_stage, "run", fake_run)
    monkeypatch.setattr(eval_stage, "check_data", lambda cfg: None)  # (the hub is not here)
    path = recipe(
        tmp_path, "http://127.0.0.1:9/v1", {"data": gen, "template": "plain"}, {"data": ev}
    )
    pipeline_run(path, only=["eval"])
    assert seen[0].template == ("plain" if same else None)


# --------------------------------------------------------------------------- 2. eval --baseline

GEMMA2 = Path(__file__).parent / "fixtures" / "chat_templates" / "gemma-2.jinja"


@pytest.fixture(scope="module")
def gemma_like(tmp_path_factory) -> Path:
    """The tiny Qwen2 model with Gemma-2's real chat template (no system turn)."""
    from transformers import AutoTokenizer

    from tests.tiny import make_tiny_model

    path = make_tiny_model(tmp_path_factory.mktemp("tiny-gemma-tmpl"), "qwen2")
    tok = AutoTokenizer.from_pretrained(path)
    tok.chat_template = GEMMA2.read_text()
    tok.save_pretrained(path)
    return path


@pytest.fixture
def no_weights(monkeypatch):
    """Loading a model's weights fails the test: the refusal must come before."""
    import distill.teachers.hf as hf

    def refuse(*a, **k):
        raise AssertionError("a model's weights were loaded")

    monkeypatch.setattr(hf, "load_causal_lm", refuse)


def test_a_baseline_whose_template_refuses_is_one_line_before_the_student_samples(
    tmp_path, tiny_qwen, gemma_like, no_weights
):
    """The student's template takes the system prompt, the baseline's (Gemma-2's) does not: the
    baseline's refusal came after the student's whole eval had been run (and paid for)."""
    from distill.errors import DistillError
    from distill.eval import EvalConfig, run

    data = write_rows(tmp_path / "q.jsonl", [{"question": "What is 1 + 1?", "answer": "2"}])
    cfg = EvalConfig(
        model=str(tiny_qwen),
        baseline=str(gemma_like),
        data=data,
        out=str(tmp_path / "eval.json"),
        system_prompt="Be brief.",
        max_tokens=2,
        device="cpu",
    )
    with pytest.raises(DistillError) as e:
        run(cfg)
    said = str(e.value)
    assert "\n" not in said and said.startswith(f"{data} row 1: {gemma_like}'s chat template")
    assert "System role not supported" in said and "drop --system-prompt" in said
    assert not (tmp_path / "eval.student.traces.jsonl").exists()  # the student sampled nothing
    assert not (tmp_path / "eval.json").exists()


# --------------------------------------------------------------------------- 3. instruct, hf


def test_magpie_with_a_system_prompt_gemma_refuses_is_one_line_before_anything(
    tmp_path, gemma_like, no_weights
):
    """Gemma-2's template takes no system turn: magpie's --system-prompt stopped on a bare
    `TemplateError: System role not supported`, naming no flag."""
    from distill.errors import DistillError
    from distill.instruct import InstructConfig, run

    out = tmp_path / "i.jsonl"
    cfg = InstructConfig(teacher="hf", model=str(gemma_like), method="magpie",
                         system_prompt="You write math problems.", num_instructions=2,
                         out=str(out), max_tokens=4, device="cpu")  # fmt: skip
    with pytest.raises(DistillError) as e:
        run(cfg)
    said = str(e.value)
    assert "\n" not in said and said.startswith(f"--model {gemma_like}: its chat template refuses")
    assert "System role not supported" in said and "drop --system-prompt" in said
    assert not list(tmp_path.glob("i.*"))  # nothing written


def test_a_self_instruct_request_the_teachers_template_refuses_is_refused_before_its_weights_load(
    tmp_path, tiny_qwen, no_weights
):
    """The hf teacher rendered instruct's requests only once its weights had loaded (minutes on a
    real model); rendered with its tokenizer first now, as generate does. (A stand-in template
    that asks for a system turn: self-instruct sends a user turn alone.)"""
    import shutil

    from transformers import AutoTokenizer

    from distill.errors import DistillError
    from distill.instruct import InstructConfig, run

    model = tmp_path / "teacher"
    shutil.copytree(tiny_qwen, model)
    tok = AutoTokenizer.from_pretrained(model)
    tok.chat_template = (
        "{% if messages[0]['role'] != 'system' %}"
        "{{ raise_exception('A system message is required') }}{% endif %}" + tok.chat_template
    )
    tok.save_pretrained(model)
    out = tmp_path / "i.jsonl"
    cfg = InstructConfig(teacher="hf", model=str(model), num_instructions=2, out=str(out),
                         max_tokens=4, device="cpu")  # fmt: skip
    with pytest.raises(DistillError) as e:
        run(cfg)
    said = str(e.value)
    assert "\n" not in said and said.startswith(f"--model {model}: its chat template refuses")
    assert "A system message is required" in said and "roles: user" in said
    assert not list(tmp_path.glob("i.*"))  # nothing written


def test_a_system_prompt_self_instruct_would_not_send_is_refused(tmp_path):
    """self-instruct's request is one user turn: --system-prompt (magpie's) was silently dropped."""
    from distill.errors import DistillError
    from distill.instruct import InstructConfig

    with pytest.raises(DistillError, match=r"^--system-prompt steers .* self-instruct sends none"):
        InstructConfig(teacher="openai", model="gpt-4o", system_prompt="Write math tasks.",
                       out=str(tmp_path / "i.jsonl"))  # fmt: skip


# --------------------------------------------------------------------------- 4. kd's resume

KD = dict(
    method="kd",
    max_length=128,
    per_device_train_batch_size=4,
    max_steps=2,
    save_steps=1,
    logging_steps=1,
    seed=0,
)


@pytest.fixture(scope="module")
def kd_teacher(tmp_path_factory):
    from tests.tiny import make_tiny_model

    return make_tiny_model(tmp_path_factory.mktemp("tiny-teacher"), "qwen2", seed=1)


def killed_after_checkpoint_1(out: Path) -> None:
    """The run as a kill after its checkpoint-1 left it."""
    import shutil

    shutil.rmtree(out / "checkpoint-2")
    for p in out.glob("adapter_*"):
        p.unlink()


def other_side_file(data: Path) -> None:
    """The stored top-K side file rewritten under its own name with other numbers (a copy of
    another generate run's): kept.jsonl, its pointers and its sha256 stay as they were."""
    from distill.logprobs import load_many, write_shard

    rows = [json.loads(x) for x in data.read_text().splitlines()]
    stored = load_many(rows, data)
    shard = data.parent / rows[0]["logprobs"]["file"]
    assert all(r["logprobs"]["file"] == rows[0]["logprobs"]["file"] for r in rows)
    other = [(r["id"], t) for r, t in zip(rows, stored, strict=True)]
    for _, t in other:
        t.topk_logprobs[:] = t.topk_logprobs[:, ::-1]  # the same tokens, other numbers
    write_shard(shard.parent, other, name=shard.name)


def test_a_kd_resume_on_other_stored_teacher_top_k_is_refused_in_one_line(
    tmp_path, tiny_qwen, kd_teacher
):
    from distill.errors import DistillError
    from distill.train import TrainConfig, run
    from tests.test_kd import write_stored_logprobs

    data = write_stored_logprobs(tmp_path, kd_teacher, k=4)
    out = tmp_path / "out"

    def cfg(**kw):
        return TrainConfig(data=str(data), model=str(tiny_qwen), output_dir=str(out), **KD, **kw)

    run(cfg())
    killed_after_checkpoint_1(out)
    kept_bytes = data.read_bytes()
    other_side_file(data)
    assert data.read_bytes() == kept_bytes  # the data file's sha256 cannot tell
    before = (out / "train_data.json").read_bytes()
    with pytest.raises(DistillError) as e:
        run(cfg(resume=True))
    said = str(e.value)
    assert "\n" not in said
    assert said.startswith(f"--resume: {out}/checkpoint-1 learned from other teacher data")
    assert "the stored top-K side files differ" in said and "--overwrite" in said
    assert (out / "train_data.json").read_bytes() == before
    assert not (out / "checkpoint-2").exists()


def test_a_kd_resume_on_the_same_teacher_data_goes_on_and_an_older_record_is_not_refused(
    tmp_path, tiny_qwen, kd_teacher
):
    from distill.train import TrainConfig, run
    from tests.test_kd import write_stored_logprobs

    data = write_stored_logprobs(tmp_path, kd_teacher, k=4)
    out = tmp_path / "out"

    def cfg(**kw):
        return TrainConfig(data=str(data), model=str(tiny_qwen), output_dir=str(out), **KD, **kw)

    run(cfg())
    counts = json.loads((out / "train_data.json").read_text())
    assert counts["rendered"]["teacher"]["stored"]["files"] == 1
    assert "distill" not in counts["rendered"]  # no static version string in the fingerprint
    killed_after_checkpoint_1(out)
    run(cfg(resume=True))  # the same teacher data: goes on
    assert (out / "checkpoint-2").is_dir()
    # a train_data.json written before the field, and other side data: nothing to compare
    killed_after_checkpoint_1(out)
    counts = json.loads((out / "train_data.json").read_text())
    del counts["rendered"]["teacher"]
    (out / "train_data.json").write_text(json.dumps(counts))
    other_side_file(data)
    run(cfg(resume=True))
    assert (out / "checkpoint-2").is_dir()


def test_a_kd_resume_after_the_local_teachers_tokenizer_changed_is_refused(
    tmp_path, tiny_qwen, kd_teacher
):
    import shutil

    from distill.errors import DistillError
    from distill.train import TrainConfig, run
    from tests.test_train import kept_file

    teacher = tmp_path / "teacher"
    shutil.copytree(kd_teacher, teacher)
    data = kept_file(tmp_path, n=8)
    out = tmp_path / "out"

    def cfg(**kw):
        return TrainConfig(data=str(data), model=str(tiny_qwen), output_dir=str(out),
                           teacher_model=str(teacher), **KD, **kw)  # fmt: skip

    run(cfg())
    killed_after_checkpoint_1(out)
    conf = teacher / "tokenizer_config.json"
    conf.write_text(json.dumps({**json.loads(conf.read_text()), "model_max_length": 77}))
    with pytest.raises(DistillError) as e:
        run(cfg(resume=True))
    said = str(e.value)
    assert "\n" not in said and "learned from other teacher data" in said
    assert f"tokenizer_config.json of teacher {teacher} changed" in said


# --------------------------------------------------------------------------- 5. distill run's hunt


def test_eval_on_generates_dataset_asks_and_judges_by_generates_columns(server, tmp_path):
    """generate asked each row's `question` and kept its `final` as the gold answer; eval on the
    set's test split, its section naming neither, asked `problem` (picked first among the
    default prompt columns) and judged against `answer`."""
    folder = tmp_path / "data"
    for split, (a, b) in (("train", (1, 2)), ("test", (3, 5))):
        row = {
            "problem": "Tell me a story.",
            "question": f"What is {a} + {b}?",
            "final": str(a + b),
            "answer": "no number here",
        }
        write_rows(folder / f"{split}.jsonl", [row])
    path = recipe(
        tmp_path,
        server.url,
        {"data": str(folder), "prompt_field": "question", "answer_field": "final"},
        {"data": str(folder), "split": "test"},
    )
    result = pipeline_run(path, only=["eval"])
    assert asked(server) == ["What is 3 + 5?"]
    assert result["student_pass@1"] == 1.0  # judged against `final`, the gold the traces hold


def test_an_eval_sections_own_prompt_field_is_kept_with_a_note(server, tmp_path, capsys):
    folder = tmp_path / "data"
    for split in ("train", "test"):
        row = {"problem": "What is 5 + 6?", "question": "What is 1 + 1?", "answer": "11"}
        write_rows(folder / f"{split}.jsonl", [row])
    path = recipe(
        tmp_path,
        server.url,
        {"data": str(folder), "prompt_field": "question"},
        {"data": str(folder), "split": "test", "prompt_field": "problem"},
    )
    pipeline_run(path, only=["eval"])
    assert asked(server) == ["What is 5 + 6?"]
    assert "eval.prompt_field is not question" in capsys.readouterr().out


def filtered_recipe(tmp_path: Path, url: str, verify: str, ev: dict, select: dict | None = None):
    path = recipe(tmp_path, url, {"data": "builtin:countdown?n=2"}, ev)
    sections = yaml.safe_load(path.read_text())
    sections["filter"] = {
        "input": "{run_dir}/traces.jsonl",
        "out": "{run_dir}/kept.jsonl",
        "verify": verify,
    }
    if select is not None:
        sections["select"] = {
            "input": "{run_dir}/kept.jsonl",
            "out": "{run_dir}/selected.jsonl",
            **select,
        }
    path.write_text(yaml.safe_dump(sections))
    return path


def test_eval_on_generates_dataset_judges_with_filters_verify(server, tmp_path, capsys):
    """filter kept the countdown traces by their expression; eval of the student on held-out
    countdown problems judged at its default, math (the target number boxed, no expression)."""
    held_out = "builtin:countdown?n=2&seed=7"
    path = filtered_recipe(tmp_path, server.url, "countdown", {"data": held_out})
    pipeline_run(path, only=["eval"])
    assert json.loads((tmp_path / "run" / "eval.json").read_text())["verify"] == "countdown"
    # another dataset keeps eval's own default; a section's own is kept, with a note
    other = filtered_recipe(tmp_path, server.url, "countdown", {"data": "builtin:arithmetic?n=2"})
    pipeline_run(other, only=["eval"])
    assert json.loads((tmp_path / "run" / "eval.json").read_text())["verify"] == "math"
    mine = filtered_recipe(tmp_path, server.url, "countdown", {"data": held_out, "verify": "math"})
    capsys.readouterr()
    pipeline_run(mine, only=["eval"])
    assert "eval.verify is not filter.verify (countdown)" in capsys.readouterr().out


def test_selects_difficulty_rates_filters_kept_traces_with_filters_verify(tmp_path, capsys):
    select = {"criteria": ["difficulty"], "student": "fake-r1", "student_base_url": "http://x/v1"}
    path = filtered_recipe(
        tmp_path, "http://x/v1", "countdown", {"data": "builtin:countdown"}, select
    )
    pipeline_run(path, dry_run=True)
    said = capsys.readouterr().out
    select_line = next(line for line in said.splitlines() if line.startswith("== select:"))
    assert "verify=countdown" in select_line, said


def test_onpolicy_train_on_a_slice_of_generates_set_samples_its_prompts_as_generate_sent_them(
    tmp_path, monkeypatch
):
    """On-policy train's prompt source, another slice of generate's built-in set (its own
    held-out problems): sampled after the set's r1-math instruction, not in generate's `plain`
    wording; and generate's --prompt-field on generate's own dataset."""
    import distill.train as train_stage

    seen = []
    monkeypatch.setattr(train_stage, "run", lambda cfg: seen.append(cfg))

    def planned(gen: dict, data: str) -> Any:
        sections = {
            "run": {"dir": str(tmp_path / "run")},
            "generate": {"teacher": "openai", "model": "t", "base_url": "http://x/v1",
                         "out": "{run_dir}/traces.jsonl", **gen},
            "train": {"data": data, "model": "student", "output_dir": "{run_dir}/student",
                      "method": "onpolicy", "lmbda": 1.0, "teacher_model": "Qwen/Qwen3-0.6B",
                      "max_length": 256},
        }  # fmt: skip
        path = tmp_path / "r.yaml"
        path.write_text(yaml.safe_dump(sections))
        seen.clear()
        pipeline_run(path, only=["train"])
        return seen[0]

    cfg = planned(
        {"data": "builtin:arithmetic?n=2", "template": "plain", "system_prompt": "Be brief."},
        "builtin:arithmetic?start=100&n=4",
    )
    assert cfg.template == "plain" and cfg.system_prompt == "Be brief."
    rows = write_rows(
        tmp_path / "q.jsonl", [{"problem": "Tell me a story.", "question": "What is 1 + 2?"}]
    )
    cfg = planned({"data": rows, "prompt_field": "question"}, rows)
    assert cfg.prompt_field == "question"


def test_distill_run_refuses_a_baseline_whose_template_refuses_before_generate_buys_anything(
    server, tmp_path, tiny_qwen, gemma_like, no_weights
):
    """eval asks each problem after generate's system prompt (the one the student trained
    after); a Gemma-2 baseline takes no system turn: the run stopped when eval's turn came,
    after generate had bought its samples (and train had run)."""
    from distill.errors import DistillError

    path = recipe(
        tmp_path,
        server.url,
        {"data": "builtin:arithmetic?n=2", "system_prompt": "Be brief."},
        {"data": "builtin:arithmetic?start=100&n=2", "backend": "hf", "model": str(tiny_qwen),
         "baseline": str(gemma_like), "base_url": None, "device": "cpu"},
    )  # fmt: skip
    with pytest.raises(DistillError) as e:
        pipeline_run(path)
    said = str(e.value)
    assert "\n" not in said and f"{gemma_like}'s chat template refuses" in said
    assert "System role not supported" in said
    assert server.log == [] and not (tmp_path / "run" / "traces.jsonl").exists()


def test_a_majority_filter_over_one_sample_a_prompt_is_refused_before_generate(server, tmp_path):
    """filter --verify majority on generate's n=1 traces kept every answer as its own majority:
    paid for, filtered nothing."""
    from distill.errors import DistillError

    path = recipe(tmp_path, server.url, {"data": "builtin:arithmetic?n=2"}, {"data": "x.jsonl"})
    sections = yaml.safe_load(path.read_text())
    del sections["eval"]
    sections["filter"] = {"input": "{run_dir}/traces.jsonl", "out": "{run_dir}/kept.jsonl",
                          "verify": "majority"}  # fmt: skip
    path.write_text(yaml.safe_dump(sections))
    with pytest.raises(DistillError, match=r"^filter.verify majority .* generate.n 1 draws one"):
        pipeline_run(path)
    assert server.log == []
    sections["generate"].update(n=3, temperature=0.7)
    path.write_text(yaml.safe_dump(sections))
    pipeline_run(path, dry_run=True)  # several samples a prompt: a vote
