"""Session 11: server URLs' secrets in no file train writes (train.yaml included); a relative
local teacher typed in two working directories is two teachers in one traces file; a killed
`generate --logprobs` loses none of the samples it paid for."""

import json
import shutil

import pytest

from distill.generate import GenerateConfig, generate_planned
from distill.records import read_records

# ------------------------------------------------ generate: a relative folder in two cwds


def gen(model, out):
    return GenerateConfig(
        data="builtin:arithmetic", limit=2, n=2, teacher="hf", model=model, max_tokens=4,
        batch_size=4, seed=0, out=str(out),
    )  # fmt: skip


def two_projects(tiny_qwen, tmp_path, monkeypatch):
    """Two models, each `ckpt` in its own project (a, b), generating into one shared traces
    file, a then b: (a's sample ids, b's, the traces file); the working directory is b."""
    for side in ("a", "b"):
        shutil.copytree(tiny_qwen, tmp_path / side / "ckpt")
    traces = tmp_path / "shared" / "t.jsonl"
    monkeypatch.chdir(tmp_path / "a")
    first = generate_planned(gen("ckpt", traces), progress=False)
    monkeypatch.chdir(tmp_path / "b")
    second = generate_planned(gen("ckpt", traces), progress=False)
    return first, second, traces


def test_one_relative_name_in_two_working_directories_is_two_teachers(
    tiny_qwen, tmp_path, monkeypatch, paid, capsys
):
    first, second, traces = two_projects(tiny_qwen, tmp_path, monkeypatch)
    assert paid == [4, 4]  # b's samples bought, not taken for a's
    assert len(first) == len(second) == 4 and not first & second
    recs = list(read_records(traces))
    assert len(recs) == 8 and {r["id"] for r in recs} == first | second
    folders = {r["id"]: (tmp_path / "shared" / r["teacher"]["folder"]).resolve() for r in recs}
    assert {folders[i] for i in first} == {(tmp_path / "a" / "ckpt").resolve()}
    assert {folders[i] for i in second} == {(tmp_path / "b" / "ckpt").resolve()}
    summary = json.loads(traces.with_name("t.summary.json").read_text())
    assert sorted(summary["by_teacher"].values()) == [4, 4]  # two teachers, not one of 8
    # each reruns (as typed, or spelled another way) without paying or appending
    capsys.readouterr()
    for cwd, model, want in [
        ("a", "ckpt", first),
        ("b", "ckpt", second),
        ("b", "./ckpt/", second),
        ("a", str(tmp_path / "a" / "ckpt"), first),
        ("b", str(tmp_path / "b" / "ckpt"), second),
        (".", "b/ckpt", second),
        (".", "a/ckpt/", first),
    ]:
        monkeypatch.chdir(tmp_path / cwd)
        assert generate_planned(gen(model, traces), progress=False) == want, (cwd, model)
        assert "0 to do" in capsys.readouterr().out
    assert paid == [4, 4] and list(read_records(traces)) == recs


# ------------------------------------------- generate --logprobs: a kill loses nothing paid


def test_a_kill_loses_no_logprob_sample_paid_for_and_the_rerun_buys_none_again(tmp_path):
    import os
    import signal

    from distill.logprobs import load_many, side_dir
    from tests import forked, inproc
    from tests.fakeserver import FakeServer
    from tests.test_generate import GENERATE_IMPORTS

    def die_after_six() -> None:  # in the child: killed once 6 samples are bought (4 on disk)
        from distill.logprobs import ShardBuffer

        add, seen = ShardBuffer.add, []

        def counted(self, *a, **kw):
            full = add(self, *a, **kw)
            seen.append(1)
            if len(seen) == 6:
                os.kill(os.getpid(), signal.SIGKILL)
            return full

        ShardBuffer.add = counted

    s = FakeServer().start()
    try:
        out = tmp_path / "t.jsonl"
        cmd = ["generate", "--data", "builtin:arithmetic", "--limit", "10", "--teacher", "openai",
               "--base-url", s.url, "--model", "fake-r1", "--concurrency", "1", "--max-retries",
               "0", "--logprobs", "3", "--logprobs-shard", "4", "--out", str(out), "--quiet"]  # fmt: skip
        killed = forked.distill(*cmd, before=die_after_six, imports=GENERATE_IMPORTS)
        assert killed.returncode == -9
        assert len(list(read_records(out))) == 4 and len(s.log) == 6  # 2 held for a shard
        res = inproc.distill(*cmd)
        assert res.returncode == 0, res.stderr
        assert len(s.log) == 10  # every sample bought once across both runs
        recs = list(read_records(out))
        assert len(recs) == 10 and len({r["id"] for r in recs}) == 10
        assert all(len(lp) == r["logprobs"]["tokens"] for r, lp in zip(recs, load_many(recs, out)))
        import pyarrow.parquet as pq

        rows = [
            i for p in side_dir(out).glob("*.parquet") for i in pq.read_table(p)["id"].to_pylist()
        ]
        assert sorted(rows) == sorted(r["id"] for r in recs)  # complete, no row twice
        assert sorted(os.listdir(side_dir(out))) == sorted(
            p.name for p in side_dir(out).glob("*.parquet")
        )
        summary = json.loads(out.with_name("t.summary.json").read_text())
        assert summary["samples"] == 10 and summary["this_run"]["written"] == 4  # 4 bought now
        assert "2 samples a stopped run paid for written" in res.stdout
    finally:
        s.stop()


# ------------------------------------------------ train: no URL secret in any file it writes


def test_train_writes_no_url_secret_and_resume_asks_for_the_url_again(tmp_path, tiny_qwen, server):
    import dataclasses

    import yaml

    from distill.errors import DistillError
    from distill.train import run, sft
    from tests.test_kd import _scorer, kd_cfg

    server.model = "teacher"
    server.scorer = _scorer(tiny_qwen)
    host = server.url.split("://", 1)[1]
    secret = f"http://me:SECRET1@{host}?api_key=SECRET2"
    cfg = kd_cfg(
        tmp_path, tiny_qwen, method="onpolicy", teacher_url=secret, teacher_model="teacher",
        teacher_top_k=4, max_steps=2, save_steps=1, max_new_tokens=4,
    )  # fmt: skip
    out = run(cfg)
    written = [p for p in out.rglob("*") if p.is_file()]
    assert out / "train.yaml" in written and out / "kd.json" in written
    assert out / "loss.jsonl" in written and out / "checkpoint-2" / "kd.json" in written
    for p in written:
        assert b"SECRET" not in p.read_bytes(), p
    assert yaml.safe_load((out / "train.yaml").read_text())["teacher_url"] == server.url
    # --resume given the URL again (any token) is the same run; the URL left out: one line
    again = dataclasses.replace(cfg, resume=True, teacher_url=secret.replace("SECRET", "OTHER"))
    assert sft.check_output_dir(again) == str(out / "checkpoint-2")
    with pytest.raises(DistillError) as e:
        sft.check_output_dir(dataclasses.replace(cfg, resume=True, teacher_url=None))
    line = str(e.value)
    assert "\n" not in line and f"--teacher-url {server.url}" in line and "again" in line
    assert "SECRET" not in line


def test_several_served_teachers_name_at_url_are_saved_without_their_tokens(tmp_path):
    from distill.config import save_config
    from distill.train.config import TrainConfig

    cfg = TrainConfig(
        data="kept.jsonl", model="S", output_dir=str(tmp_path / "o"), method="kd",
        teacher_model=["A@https://u:SECRET1@h.example/v1", "B@http://h2:1/v1?key=SECRET2"],
    )  # fmt: skip
    saved = yaml_of(save_config(cfg, tmp_path / "train.yaml"))
    assert saved["teacher_model"] == ["A@https://h.example/v1", "B@http://h2:1/v1"]
    # a text that holds one is a text: as given
    text = "Mail me@https://docs.example/?x=1 first"
    gen = GenerateConfig(data="builtin:arithmetic", model="m", system_prompt=text, out="t.jsonl")
    assert yaml_of(save_config(gen, tmp_path / "t.generate.yaml"))["system_prompt"] == text


def yaml_of(path):
    import yaml

    return yaml.safe_load(path.read_text())
