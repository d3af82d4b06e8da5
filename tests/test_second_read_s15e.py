"""Second read of 9f5f2b7 .. bfbfdb5 (one source of truth per setting, tests/test_one_source_s15).

1. distill run's _same_source read two files of one folder as one dataset when `datasets` read
   the folder's tree as splits holding both: gsm8k_train.jsonl beside math_test.jsonl were one
   source (eval took generate's prompt field and template: refused as having no 'question'
   column, or asked in generate's wording), while train.jsonl beside test.jsonl in a project
   folder (a package's train/ folder: no splits there) were two, after `datasets` had globbed
   the whole tree (.venv/, runs/: minutes) for each stage that asked. Two files are one source
   when their names are one name but for the split each names.
2. distill run checked eval's prompts against each model's chat template before the first
   stage on a local eval set only: a hub set (MATH-500, every shipped recipe's) under a Gemma-2
   baseline stopped the run after generate had bought its samples.
3. kd --resume on stored top-K refused a run whose teacher folder (the tokenizer a pointer
   names, which kd never reads) was gone or elsewhere: its files were in the fingerprint.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from distill.pipeline import run as pipeline_run
from tests.test_one_source_s15 import (  # noqa: F401 - fixtures
    KD,
    asked,
    gemma_like,
    kd_teacher,
    killed_after_checkpoint_1,
    no_weights,
    recipe,
    wording,
    write_rows,
)

# --------------------------------------------------------------------------- 1. _same_source


def two_datasets(folder: Path) -> Path:
    """gsm8k's train and test split files beside math's: two datasets, one folder."""
    for name in ("gsm8k_train", "gsm8k_test"):
        write_rows(folder / f"{name}.jsonl", [{"question": f"{name}: 1 + 2?", "answer": "3"}])
    for name in ("math_train", "math_test"):
        write_rows(folder / f"{name}.jsonl", [{"problem": f"{name}: 3 + 4?", "answer": "7"}])
    return folder


def test_another_datasets_split_file_in_the_folder_keeps_its_own_columns_and_wording(
    server, tmp_path
):
    folder = two_datasets(tmp_path / "data")
    gen = {"data": str(folder / "gsm8k_train.jsonl"), "prompt_field": "question",
           "template": wording(tmp_path)}  # fmt: skip
    path = recipe(tmp_path, server.url, gen, {"data": str(folder / "math_test.jsonl")})
    pipeline_run(path, only=["eval"])  # was: "no field 'question' (fields: problem, answer)"
    assert asked(server) == ["math_test: 3 + 4?"]
    # gsm8k's own test split: generate's column and wording
    path = recipe(tmp_path, server.url, gen, {"data": str(folder / "gsm8k_test.jsonl")})
    pipeline_run(path, only=["eval"])
    assert asked(server, 1) == ["Answer in one number. gsm8k_test: 1 + 2?"]


def test_split_files_in_a_project_folder_are_one_source_without_walking_it(
    server, tmp_path, monkeypatch
):
    """train.jsonl and test.jsonl at a project's root, beside its code (a train/ package, where
    `datasets` finds no data files) and its .venv: one dataset, known from the names alone."""
    import datasets

    project = tmp_path / "project"
    write_rows(project / "train.jsonl", [{"problem": "What is 1 + 2?", "answer": "3"}])
    write_rows(project / "test.jsonl", [{"problem": "What is 3 + 4?", "answer": "7"}])
    (project / "mypkg" / "train").mkdir(parents=True)
    (project / "mypkg" / "train" / "loop.py").write_text("pass\n")

    def walks(*a, **k):
        raise AssertionError("the folder's whole tree was globbed")

    monkeypatch.setattr(datasets, "load_dataset_builder", walks)
    path = recipe(
        tmp_path,
        server.url,
        {"data": str(project / "train.jsonl"), "template": wording(tmp_path)},
        {"data": str(project / "test.jsonl")},
    )
    pipeline_run(path, only=["eval"])
    assert asked(server) == ["Answer in one number. What is 3 + 4?"]


# --------------------------------------------------------------------------- 2. a hub eval set


def test_a_hub_eval_sets_prompts_meet_the_baselines_template_before_generate(
    server,
    tmp_path,
    monkeypatch,
    tiny_qwen,
    gemma_like,  # noqa: F811 (the imported fixture)
    no_weights,  # noqa: F811 (the imported fixture)
):
    import datasets

    from distill.errors import DistillError

    def hub(name, config=None, split=None, **kw):
        assert name == "org/sums"  # (no hub here: the set as the cache would give it)
        return [{"problem": "What is 3 + 4?", "answer": "7"}]

    monkeypatch.setattr(datasets, "load_dataset", hub)
    path = recipe(
        tmp_path,
        server.url,
        {"data": "builtin:arithmetic?n=2", "system_prompt": "Be brief."},
        {"data": "org/sums", "split": "test", "backend": "hf", "model": str(tiny_qwen),
         "baseline": str(gemma_like), "base_url": None, "device": "cpu"},
    )  # fmt: skip
    with pytest.raises(DistillError) as e:
        pipeline_run(path)
    said = str(e.value)
    assert "\n" not in said and said.startswith(f"org/sums row 1: {gemma_like}'s chat template")
    assert "System role not supported" in said
    assert server.log == [] and not (tmp_path / "run" / "traces.jsonl").exists()


# --------------------------------------------------------------------------- 3. kd's resume


def test_a_kd_resume_on_stored_top_k_goes_on_without_the_teacher_folder(
    tmp_path,
    tiny_qwen,
    kd_teacher,  # noqa: F811 (the imported fixture)
):
    """generate stored the teacher's top-K; the teacher folder (named in each pointer) was then
    removed, or the run resumes from another working folder: kd never reads it."""
    from distill.train import TrainConfig, run
    from tests.test_kd import write_stored_logprobs

    teacher = tmp_path / "teacher"
    shutil.copytree(kd_teacher, teacher)
    data = write_stored_logprobs(tmp_path, teacher, k=4)
    out = tmp_path / "out"

    def cfg(**kw):
        return TrainConfig(data=str(data), model=str(tiny_qwen), output_dir=str(out), **KD, **kw)

    run(cfg())
    killed_after_checkpoint_1(out)
    shutil.rmtree(teacher)
    run(cfg(resume=True))
    assert (out / "checkpoint-2").is_dir()
    # a record of ee697a1's, which kept that folder's files: resumes too
    killed_after_checkpoint_1(out)
    counts = json.loads((out / "train_data.json").read_text())
    counts["rendered"]["teacher"]["stored"]["tokenizer_files"] = {
        str(teacher): {"tokenizer_config.json": "0123456789abcdef"}
    }
    (out / "train_data.json").write_text(json.dumps(counts))
    run(cfg(resume=True))
    assert (out / "checkpoint-2").is_dir()
