"""Second read of --split on local sources (617f46f): a split a source cannot honour is refused
by `distill run` (and its --dry-run) before any stage buys anything, as eval's and train's are;
a --decontam set's missing split names --decontam; and a folder whose files name their split
in another case (Train.jsonl, Test.jsonl), which `datasets` reads as ONE train split, is
refused instead of its test rows being trained on."""

from __future__ import annotations

import json

import pytest

from distill.data import iter_source
from distill.errors import DistillError
from distill.filter.decontam import Decontaminator
from distill.pipeline import run as run_recipe


def write_jsonl(path, problems):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(json.dumps({"problem": p, "answer": "1"}) + "\n" for p in problems))
    return path


GENERATE = """
generate:
  data: "{data}"
  split: {split}
  teacher: openai
  base_url: {url}
  model: fake-r1
  out: "{{run_dir}}/traces.jsonl"
"""
INSTRUCT = """
instruct:
  teacher: openai
  base_url: {url}
  model: fake-r1
  num_instructions: 4
  out: "{{run_dir}}/instructions.jsonl"
"""
FILTER = """
filter:
  input: "{{run_dir}}/traces.jsonl"
  out: "{{run_dir}}/kept.jsonl"
  verify: math
  decontam: ["{bench}"]
"""


def test_run_refuses_generates_split_before_any_stage(tmp_path, server):
    problems = write_jsonl(tmp_path / "problems.jsonl", ["What is 1 + 1?"])
    recipe = tmp_path / "r.yaml"
    recipe.write_text(GENERATE.format(data=problems, split="test", url=server.url))
    for dry_run in (True, False):
        with pytest.raises(DistillError, match=r"--split test: .*problems.jsonl has no splits"):
            run_recipe(recipe, run_dir=str(tmp_path / "run"), dry_run=dry_run)
    # instruct before it: its output (not written yet) is one file, refused before instruct asks
    recipe.write_text(
        INSTRUCT.format(url=server.url)
        + GENERATE.format(data="{run_dir}/instructions.jsonl", split="test", url=server.url)
    )
    with pytest.raises(DistillError, match=r"--split test: .*instructions.jsonl has no splits"):
        run_recipe(recipe, run_dir=str(tmp_path / "run"))
    assert server.answered == 0
    assert not (tmp_path / "run" / "instructions.jsonl").exists()


def test_run_refuses_a_decontam_split_before_generate_buys(tmp_path, server):
    problems = write_jsonl(tmp_path / "problems.jsonl", ["What is 1 + 1?"])
    bench = write_jsonl(tmp_path / "bench.jsonl", ["a benchmark problem of many words here"])
    recipe = tmp_path / "r.yaml"
    recipe.write_text(
        GENERATE.format(data=problems, split="train", url=server.url)
        + FILTER.format(bench=f"{bench}@train")
    )
    for dry_run in (True, False):
        with pytest.raises(DistillError, match=r"--decontam .*bench.jsonl@train: .* no splits"):
            run_recipe(recipe, run_dir=str(tmp_path / "run"), dry_run=dry_run)
    assert server.answered == 0
    assert not (tmp_path / "run" / "traces.jsonl").exists()


def test_a_decontam_folder_without_the_split_names_decontam(tmp_path):
    folder = tmp_path / "bench"
    write_jsonl(folder / "train.jsonl", ["a benchmark problem of many words here"])
    with pytest.raises(DistillError, match=r"^--decontam .*bench: .*no such split") as e:
        Decontaminator([str(folder)])  # test, by default: the user typed no --split
    assert "--split" not in str(e.value)
    with pytest.raises(DistillError, match=r"^--decontam .*bench@validation: .*no such split"):
        Decontaminator([f"{folder}@validation"])


@pytest.mark.parametrize("test_name", ["Test.jsonl", "TEST/part.jsonl", "Eval-00000.jsonl"])
def test_a_split_named_in_another_case_is_not_read_as_train(tmp_path, test_name):
    folder = tmp_path / "set"
    write_jsonl(folder / "Train.jsonl", ["train problem"])
    write_jsonl(folder / test_name, ["held-out problem"])
    # datasets reads both files as its one train split (its split names are lower case)
    with pytest.raises(DistillError, match=r"--split train: .*set: .*(Test|TEST|Eval)"):
        list(iter_source(str(folder), "train"))


def test_files_without_split_names_are_still_one_train_split(tmp_path):
    folder = tmp_path / "set"
    write_jsonl(folder / "Problems.jsonl", ["p1"])
    write_jsonl(folder / "more/Latest.jsonl", ["p2"])  # (no split word: 'latest' is not 'test')
    assert sorted(r["problem"] for r in iter_source(str(folder), "train")) == ["p1", "p2"]
    # a file named by split in lower case beside one in another case: datasets' split
    write_jsonl(folder / "Test.jsonl", ["t"])
    write_jsonl(folder / "train.jsonl", ["tr"])
    assert [r["problem"] for r in iter_source(str(folder), "train")] == ["tr"]
