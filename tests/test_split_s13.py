"""--split means on a local source what it means on a hub dataset: a local folder's splits (one
`save_to_disk` wrote, or data files named by split) are honoured as `datasets` honours them; a
source without splits (one file, builtin:) under a split other than the command's default is
one error line, not all of it read as if it were that split."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from distill.cli import app
from distill.data import iter_source, load_rows
from distill.errors import DistillError
from distill.eval import EvalConfig
from distill.filter.decontam import Decontaminator
from distill.generate import GenerateConfig
from distill.generate import run as generate
from distill.generate.stage import prompt_messages
from distill.train import ExportConfig, TrainConfig


def write_jsonl(path, problems):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(json.dumps({"problem": p, "answer": "1"}) + "\n" for p in problems))
    return path


def prompts(src, split):
    return [r.prompt for r in load_rows(str(src), split)]


@pytest.fixture
def one_file(tmp_path):
    return write_jsonl(tmp_path / "problems.jsonl", ["What is 1 + 0?", "What is 0 + 1?"])


def test_generate_split_test_of_one_file_is_one_line_naming_flag_and_file(
    tmp_path, one_file, monkeypatch
):
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("DISTILL_DEBUG", raising=False)
    args = ["generate", "--data", str(one_file), "--split", "test", "--model", "m",
            "--base-url", "http://127.0.0.1:9/v1", "--out", "t.jsonl"]  # fmt: skip
    res = CliRunner().invoke(app, args)
    lines = [ln for ln in res.stderr.splitlines() if ln.strip()]
    assert res.exit_code == 1 and len(lines) == 1, res.stderr
    assert "--split test" in lines[0] and str(one_file) in lines[0], lines[0]
    assert not (tmp_path / "t.jsonl").exists()


def test_generate_of_one_file_under_its_default_split_reads_all_of_it(server, tmp_path, one_file):
    out = tmp_path / "t.jsonl"
    cfg = GenerateConfig(data=str(one_file), teacher="openai", base_url=server.url,
                         model="fake-r1", out=str(out))  # fmt: skip
    generate(cfg)
    assert len(out.read_text().splitlines()) == 2


def test_a_builtin_set_has_no_test_split(tmp_path):
    cfg = GenerateConfig(data="builtin:arithmetic?n=3", split="test", teacher="openai",
                         base_url="http://127.0.0.1:9/v1", model="m", out=str(tmp_path / "t.jsonl"))  # fmt: skip
    with pytest.raises(DistillError, match=r"--split test: builtin:arithmetic\?n=3 has no splits"):
        generate(cfg)


def test_eval_train_and_export_refuse_a_split_one_file_does_not_have(tmp_path, one_file):
    data = str(one_file)
    with pytest.raises(DistillError, match=rf"--split validation: {data} has no splits"):
        EvalConfig(model="m", backend="openai", data=data, split="validation", out="e.json")
    # eval's own default (test) reads the whole file, as before
    assert EvalConfig(model="m", backend="openai", data=data, out="e.json").split == "test"
    with pytest.raises(DistillError, match=rf"--split test: {data} has no splits"):
        TrainConfig(data=data, split="test", model="m", output_dir=str(tmp_path / "o"))
    with pytest.raises(DistillError, match=rf"split test: {data} has no splits"):
        ExportConfig(data=data, split="test", out=str(tmp_path / "x.jsonl"))
    # a file a stage before writes (not there yet) is known by its name
    later = str(tmp_path / "run" / "kept.jsonl")
    with pytest.raises(DistillError, match="--split test: .*kept.jsonl has no splits"):
        TrainConfig(data=later, split="test", model="m", output_dir=str(tmp_path / "o"))


@pytest.mark.parametrize(
    "layout",
    [
        {"train": "train.jsonl", "test": "test.jsonl"},
        {"train": "data/train-00000-of-00001.jsonl", "test": "data/test-00000-of-00001.jsonl"},
        {"train": "train/part.jsonl", "test": "test/part.jsonl"},
    ],
)
def test_a_folder_of_data_files_named_by_split_gives_the_split_asked_for(tmp_path, layout):
    folder = tmp_path / "set"
    for split, name in layout.items():
        write_jsonl(folder / name, [f"{split} problem {i}" for i in range(2)])
    (folder / "README.md").write_text("# my set\n")
    assert prompts(folder, "test") == ["test problem 0", "test problem 1"]
    assert prompts(folder, "train") == ["train problem 0", "train problem 1"]
    with pytest.raises(DistillError, match=r"--split validation: .*set has no such split"):
        prompts(folder, "validation")


def test_a_folder_of_parquet_shards_gives_the_split_asked_for(tmp_path):
    import pyarrow as pa
    import pyarrow.parquet as pq

    folder = tmp_path / "set"
    (folder / "data").mkdir(parents=True)
    for split in ("train", "test"):
        table = pa.table({"problem": [f"{split} 1", f"{split} 2"], "answer": ["1", "2"]})
        pq.write_table(table, folder / "data" / f"{split}-00000-of-00001.parquet")
    assert prompts(folder, "test") == ["test 1", "test 2"]


def test_a_saved_dataset_dict_gives_the_split_asked_for(tmp_path):
    import datasets

    folder = tmp_path / "saved"
    datasets.DatasetDict(
        {
            s: datasets.Dataset.from_list(
                [{"problem": f"{s} {i}", "answer": "1"} for i in range(3)]
            )
            for s in ("train", "test")
        }
    ).save_to_disk(str(folder))
    assert prompts(folder, "test") == ["test 0", "test 1", "test 2"]
    # eval (default test) and generate (default train) each read their own split
    assert [r.prompt for r, _ in prompt_messages(str(folder), "test")][0] == "test 0"
    assert next(iter_source(str(folder)))["problem"] == "train 0"
    with pytest.raises(DistillError, match=r"--split validation: .*saved has no such split"):
        prompts(folder, "validation")


def test_a_saved_dataset_of_one_split_is_one_set(tmp_path):
    import datasets

    folder = tmp_path / "one"
    datasets.Dataset.from_list([{"problem": "p", "answer": "1"}]).save_to_disk(str(folder))
    assert prompts(folder, "train") == ["p"]
    with pytest.raises(DistillError, match=r"--split test: .*one has no splits"):
        TrainConfig(data=str(folder), split="test", model="m", output_dir=str(tmp_path / "o"))


def test_decontam_at_a_split_one_file_does_not_have_is_refused(tmp_path, one_file):
    Decontaminator([str(one_file)])  # the whole file, as before
    Decontaminator([f"{one_file}@test"])  # (test: what --decontam reads when none is named)
    with pytest.raises(DistillError, match=rf"--decontam {one_file}@train: .* has no splits"):
        Decontaminator([f"{one_file}@train"])


def test_decontam_reads_a_folders_split(tmp_path):
    folder = tmp_path / "bench"
    write_jsonl(folder / "test.jsonl", ["the benchmark problem about seven purple cats today"])
    write_jsonl(folder / "validation.jsonl", ["another problem about nine green dogs tomorrow"])
    d = Decontaminator([str(folder)])  # test, by default
    assert d.hit("solve: the benchmark problem about seven purple cats today") == "bench"
    assert d.hit("another problem about nine green dogs tomorrow") is None
    d = Decontaminator([f"{folder}@validation"])
    assert d.hit("another problem about nine green dogs tomorrow") == "bench"
