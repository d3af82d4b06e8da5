"""A third read of `distill run` and its settings: one source of truth per setting, --dry-run
refusing what a run would refuse, reruns with --only, secrets in --set, recipes' {run_dir}."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
import yaml

import distill.generate
from distill.errors import DistillError
from distill.pipeline import run as pipeline_run

SECRET = "s3cr3tTok"


def _recipe(tmp_path: Path, **sections) -> Path:
    path = tmp_path / "r.yaml"
    path.write_text(yaml.safe_dump({"run": {"dir": str(tmp_path / "run")}, **sections}))
    return path


GEN = {
    "data": "builtin:arithmetic?n=6",
    "teacher": "openai",
    "base_url": "http://127.0.0.1:9/v1",
    "model": "fake-r1",
    "n": 2,
    "out": "{run_dir}/traces.jsonl",
}
FILTER = {"input": "{run_dir}/traces.jsonl", "out": "{run_dir}/kept.jsonl", "verify": "math"}


@pytest.mark.parametrize(
    "sets",
    [
        [f"generat.base_url=https://me:{SECRET}@host/v1"],  # a typo in the stage
        [f"generate.baseurl=https://me:{SECRET}@host/v1"],  # a typo in the key
        [f"generate.teachers=[{{base_url: https://me:{SECRET}@host/v1"],  # not valid YAML
        [f"generate.max_tokens=https://h/v1?api_key={SECRET}"],  # a value in the wrong key
    ],
)
def test_a_secret_in_a_set_value_is_not_echoed_by_its_error_line(tmp_path, sets):
    # `--set generate.baseurl=https://user:TOKEN@host/v1` (a typo) printed the token on the
    # error line, into the terminal and any CI log.
    r = _recipe(tmp_path, generate=GEN)
    with pytest.raises(DistillError) as e:
        pipeline_run(r, sets=sets, dry_run=True)
    assert SECRET not in str(e.value)
    assert "host" in str(e.value) or "h/v1" in str(e.value)  # still names what was typed


@pytest.mark.parametrize(
    "key, pattern",
    [
        ("report", r"--report .*kept\.jsonl is the same file as --out"),
        ("rejects", r"--rejects .*traces\.jsonl is (the input traces|also written by generate)"),
    ],
)
def test_a_path_a_later_stage_refuses_is_refused_before_the_first_stage(
    tmp_path, monkeypatch, key, pattern
):
    # filter's --report is its --out (or --rejects generate's traces): filter's own check
    # refuses it, but only when filter starts, after generate bought every sample; --dry-run
    # said "valid".
    r = _recipe(tmp_path, generate=GEN, filter={**FILTER, key: "{run_dir}/" + Path(
        FILTER["out"] if key == "report" else GEN["out"]).name})  # fmt: skip
    with pytest.raises(DistillError, match=pattern):
        pipeline_run(r, dry_run=True)
    ran = []
    monkeypatch.setattr(distill.generate, "run", lambda c, progress=True: ran.append(c))
    with pytest.raises(DistillError, match=pattern):
        pipeline_run(r)
    assert ran == []


@pytest.mark.parametrize(
    "where", ["{run_dir}/traces.jsonl", "{run_dir}/kept.jsonl", "{run_dir}/student/config.json"]
)
def test_a_later_stage_writing_over_an_earlier_stages_file_is_refused(tmp_path, where):
    # eval.out naming the traces generate bought (or the kept set train reads, or a file in
    # the student's folder) replaced them with eval.json; no stage's own check compares its
    # outputs with another stage's.
    r = _recipe(
        tmp_path,
        generate=GEN,
        filter=FILTER,
        train={
            "data": "{run_dir}/kept.jsonl",
            "model": "builtin:smollm2",
            "output_dir": "{run_dir}/student",
            "max_length": 64,
        },
        eval={
            "model": "{run_dir}/student",
            "data": "builtin:arithmetic?start=1000&n=4",
            "out": where,
        },
    )
    with pytest.raises(DistillError, match=r"eval's --out .* (is|in) .*(generate|filter|train)"):
        pipeline_run(r, dry_run=True)


def test_a_rerun_of_generate_alone_at_other_settings_is_refused_too(tmp_path, monkeypatch):
    # `distill run --only generate --set generate.temperature=0.5` in a run dir whose filter
    # reads the traces appended the new samples beside the run's (refused only when filter ran
    # in the same call); `--only filter,train` then trained on the mix. --dry-run said valid.
    from tests.fakeserver import FakeServer

    monkeypatch.setenv("OPENAI_API_KEY", "sk-test")
    server = FakeServer().start()
    try:
        r = _recipe(tmp_path, generate={**GEN, "base_url": server.url}, filter=FILTER)
        pipeline_run(r)
        traces = (tmp_path / "run" / "traces.jsonl").read_text()
        other = ["generate.temperature=0.5"]
        for dry in (True, False):
            with pytest.raises(DistillError, match="holds 12 samples this generate section"):
                pipeline_run(r, sets=other, only=["generate"], dry_run=dry)
        assert (tmp_path / "run" / "traces.jsonl").read_text() == traces
        pipeline_run(r, only=["generate"])  # the run's own settings: nothing new, not refused
    finally:
        server.stop()


TRAIN = {
    "data": "{run_dir}/kept.jsonl",
    "model": "builtin:smollm2",
    "output_dir": "{run_dir}/student",
    "max_length": 64,
}


def test_a_key_of_another_stage_is_named_as_such_with_its_line(tmp_path):
    # `temperature: 0.6` under train: (meant for eval) was refused with "did you mean
    # 'kd_temperature'?" -- the distillation softmax's temperature, another setting
    # altogether -- and no line of the recipe.
    r = tmp_path / "r.yaml"
    r.write_text(
        "run:\n  dir: run\n"
        "train:\n"
        '  data: "{run_dir}/kept.jsonl"\n'
        "  model: builtin:smollm2\n"
        "  temperature: 0.6\n"
        '  output_dir: "{run_dir}/student"\n'
    )
    want = r"r\.yaml \[train\] line 6: unknown key 'temperature': a key of .*generate, eval.*not of train"
    with pytest.raises(DistillError, match=want):
        pipeline_run(r, dry_run=True)
    from distill.config import load_config
    from distill.train.config import TrainConfig

    with pytest.raises(DistillError, match=want):
        load_config(TrainConfig, "train", r, {})
    # a typo is still a typo, on its line; a bad value too; and a --set names the --set
    r.write_text(r.read_text().replace("temperature: 0.6", "lora_rr: 8"))
    with pytest.raises(
        DistillError, match=r"r\.yaml \[train\] line 6: unknown key 'lora_rr' .*'lora_r'"
    ):
        pipeline_run(r, dry_run=True)
    r.write_text(r.read_text().replace("lora_rr: 8", "lora_r: eight"))
    with pytest.raises(DistillError, match=r"r\.yaml \[train\] line 6: key 'lora_r': expected int"):
        pipeline_run(r, dry_run=True)
    r.write_text(r.read_text().replace("lora_r: eight", "lora_r: 8"))
    with pytest.raises(
        DistillError, match=r"--set train\.top_p=0\.9: unknown key 'top_p': a key of"
    ):
        pipeline_run(r, sets=["train.top_p=0.9"], dry_run=True)


@pytest.mark.parametrize("name", sorted(p.name for p in Path("recipes").glob("*.yaml")))
def test_every_recipe_writes_and_reads_under_its_run_dir(tmp_path, name, capsys):
    # recipes/*-lora.yaml named runs/alpaca/... and runs/r1/... outright: `distill run
    # --recipe recipes/alpaca-llama-7b-lora.yaml --run-dir runs/a2` trained on and wrote into
    # runs/alpaca regardless (its {run_dir} placeholder appeared nowhere).
    from distill.config import load_recipe

    recipe = Path("recipes") / name
    pipeline_run(recipe, run_dir=str(tmp_path), dry_run=True)
    printed = capsys.readouterr().out
    for stage, section in load_recipe(recipe).items():
        if stage == "run":
            continue
        for key in ("data", "input", "out", "output_dir", "dir", "local_dir"):
            value = (section or {}).get(key)
            if isinstance(value, str) and value.startswith("runs/"):
                pytest.fail(f"{name}: {stage}.{key} {value} ignores --run-dir")
    assert "runs/" not in printed.replace(str(tmp_path), "")


def test_a_rerun_at_other_train_settings_is_refused_before_the_first_stage(tmp_path, monkeypatch):
    # `distill run --set train.learning_rate=...` over a student with checkpoints: train
    # refuses it (its checkpoints are another run's), but only when train starts, after
    # generate; --dry-run said valid.

    from distill.config import load_config, save_config
    from distill.train.config import TrainConfig

    r = _recipe(tmp_path, generate=GEN, filter=FILTER, train=TRAIN)
    run = tmp_path / "run"
    ckpt = run / "student" / "checkpoint-2"
    ckpt.mkdir(parents=True)
    (ckpt / "trainer_state.json").write_text(json.dumps({"global_step": 2, "max_steps": 4}))
    save_config(load_config(TrainConfig, "train", r, {}), ckpt / "train.yaml")
    assert pipeline_run(r, dry_run=True)["stages"] == ["generate", "filter", "train"]
    other = ["train.learning_rate=1e-3"]
    with pytest.raises(
        DistillError, match=r"checkpoint-2 belongs to a different run.*learning_rate"
    ):
        pipeline_run(r, sets=other, dry_run=True)
    ran = []
    monkeypatch.setattr(distill.generate, "run", lambda c, progress=True: ran.append(c))
    with pytest.raises(
        DistillError, match=r"checkpoint-2 belongs to a different run.*learning_rate"
    ):
        pipeline_run(r, sets=other)
    assert ran == []
    # starting over is allowed; the check left the checkpoint as it was
    assert pipeline_run(r, sets=[*other, "train.overwrite=true"], dry_run=True)
    assert (ckpt / "trainer_state.json").is_file()
    # the data it trained on changed (and no stage of this call writes it again): refused too
    (run / "kept.jsonl").write_text('{"id": "a"}\n')
    (run / "student" / "train_data.json").write_text(json.dumps({"data_sha256": "0" * 64}))
    with pytest.raises(DistillError, match=r"kept\.jsonl changed after .* began training"):
        pipeline_run(r, only=["train"], dry_run=True)


def test_only_a_stage_whose_input_no_stage_of_the_call_writes_is_refused_before_any_runs(
    tmp_path, monkeypatch, capsys
):
    # `distill run --only generate,train` before filter ever ran bought generate's samples,
    # then stopped on "data file not found" (`--only eval`: a student never trained;
    # `--only publish`: "not a folder"); --dry-run said nothing of it.
    r = _recipe(
        tmp_path,
        generate=GEN,
        filter=FILTER,
        train=TRAIN,
        eval={"model": "{run_dir}/student", "data": "builtin:arithmetic?n=4",
              "out": "{run_dir}/eval.json"},
        publish={"dir": "{run_dir}/student", "local_dir": "{run_dir}/published"},
    )  # fmt: skip
    ran = []
    monkeypatch.setattr(distill.generate, "run", lambda c, progress=True: ran.append(c))
    cases = {
        "generate,train": r"train\.data .*kept\.jsonl: no such file: filter writes it.*"
        r"--only filter,train",
        "filter": r"filter\.input .*traces\.jsonl: no such file: generate writes it",
        "eval": r"eval\.model .*student: no such folder: train writes it",
        "publish": r"publish\.dir .*student: no such folder: train writes it",
    }
    for only, pattern in cases.items():
        with pytest.raises(DistillError, match=pattern):
            pipeline_run(r, only=only.split(","))
        # a dry run is valid (a call before the run may write it) and says what is missing
        pipeline_run(r, only=only.split(","), dry_run=True)
        assert re.search("note: .*" + pattern, capsys.readouterr().out)
    assert ran == []
    # run with the stage that writes it: nothing missing
    both = ["generate", "filter", "train"]
    assert pipeline_run(r, only=both, dry_run=True)["stages"] == both
    assert "note:" not in capsys.readouterr().out


def test_a_rerun_skips_a_select_whose_manifest_matches(tmp_path, monkeypatch, capsys):
    # A rerun after a crash in train selected again from scratch (filter, beside it, is skipped
    # when its manifest vouches for its outputs): selected.jsonl rewritten, every criterion's
    # work redone.
    from tests.fakeserver import FakeServer

    monkeypatch.setenv("OPENAI_API_KEY", "sk-test")
    server = FakeServer().start()
    try:
        select = {"input": "{run_dir}/kept.jsonl", "out": "{run_dir}/selected.jsonl",
                  "criteria": ["length"], "per_prompt": 1}  # fmt: skip
        r = _recipe(tmp_path, generate={**GEN, "base_url": server.url}, filter=FILTER,
                    select=select)  # fmt: skip
        pipeline_run(r)
        out = tmp_path / "run" / "selected.jsonl"
        stamp = out.stat().st_mtime_ns
        capsys.readouterr()
        pipeline_run(r)
        assert "== select: done" in capsys.readouterr().out
        assert out.stat().st_mtime_ns == stamp
        pipeline_run(r, sets=["select.per_prompt=2"])  # another setting: selected again
        assert out.stat().st_mtime_ns != stamp
    finally:
        server.stop()


def test_run_dir_in_a_stage_commands_flag_is_the_recipes_run_dir(tmp_path):
    # `distill train --recipe r.yaml --output-dir "{run_dir}/s2"` (as --set takes it) wrote
    # into a folder literally named "{run_dir}"; a flat recipe's "{run_dir}/kept.jsonl" too.
    from distill.config import load_config
    from distill.train.config import TrainConfig

    r = _recipe(tmp_path, train=TRAIN)
    run = str(tmp_path / "run")
    cfg = load_config(TrainConfig, "train", r, {"output_dir": "{run_dir}/s2", "lora": None})
    assert (cfg.output_dir, cfg.data) == (f"{run}/s2", f"{run}/kept.jsonl")
    flat = tmp_path / "flat.yaml"
    flat.write_text(yaml.safe_dump(TRAIN))
    cfg = load_config(TrainConfig, "train", flat, {})
    assert cfg.output_dir == "runs/flat/student"  # runs/<recipe name>, as distill run's default
    with pytest.raises(DistillError, match=r"--output-dir \{run_dir\}/x: .*recipe"):
        load_config(
            TrainConfig,
            "train",
            None,
            {"data": "k.jsonl", "model": "builtin:smollm2", "output_dir": "{run_dir}/x"},
        )


def test_a_run_dir_under_home_is_expanded(tmp_path, monkeypatch):
    # run: {dir: ~/runs/x} (or --run-dir=~/x, which the shell leaves as typed) became paths
    # "~/runs/x/traces.jsonl" that no stage expands: "traces file not found" for a file that is
    # there, or a folder named "~" under the current one.
    from distill.config import read_recipe

    monkeypatch.setenv("HOME", str(tmp_path))
    r = tmp_path / "r.yaml"
    r.write_text(yaml.safe_dump({"run": {"dir": "~/runs/x"}, "filter": FILTER}))
    assert read_recipe(r, "filter")["input"] == f"{tmp_path}/runs/x/traces.jsonl"
    res = pipeline_run(r, dry_run=True)
    assert res["run_dir"] == f"{tmp_path}/runs/x"
    res = pipeline_run(r, run_dir="~/y", dry_run=True)
    assert res["run_dir"] == f"{tmp_path}/y"


def test_a_call_that_runs_only_publish_keeps_the_runs_numbers(tmp_path, monkeypatch):
    # `distill run --recipe R --only publish --set publish.repo_id=me/x` after a full run (the
    # r1 recipe's "push to the Hub instead" line) rewrote RUN_DIR/NAME.json without the eval
    # numbers; a call that trains again drops them (they are another student's).
    import distill.eval
    import distill.publish
    import distill.train

    def fake_train(cfg):
        Path(cfg.output_dir).mkdir(parents=True, exist_ok=True)
        Path(cfg.output_dir, "adapter_config.json").write_text("{}")

    def fake_eval(cfg):
        Path(cfg.out).write_text(
            json.dumps({"student": {"pass@1": 0.5}, "baseline": {"pass@1": 0.25}})
        )

    monkeypatch.setattr(distill.train, "run", fake_train)
    monkeypatch.setattr(distill.eval, "run", fake_eval)
    monkeypatch.setattr(distill.publish, "run", lambda cfg: None)
    r = _recipe(
        tmp_path,
        train=TRAIN,
        eval={"model": "{run_dir}/student", "data": "builtin:arithmetic?n=4",
              "out": "{run_dir}/eval.json"},
        publish={"dir": "{run_dir}/student", "local_dir": "{run_dir}/published"},
    )  # fmt: skip
    (tmp_path / "run").mkdir()
    (tmp_path / "run" / "kept.jsonl").write_text("")
    result = tmp_path / "run" / "r.json"
    pipeline_run(r)
    assert json.loads(result.read_text())["student_pass@1"] == 0.5
    pipeline_run(r, only=["publish"])
    kept = json.loads(result.read_text())
    assert (kept["student_pass@1"], kept["base_pass@1"]) == (0.5, 0.25)
    # (a student without checkpoints is trained over only when asked: the stand-in leaves none)
    pipeline_run(r, only=["train"], sets=["train.overwrite=true"])
    assert "student_pass@1" not in json.loads(result.read_text())


@pytest.mark.parametrize("name", ["r1/distill", "..", "x/"])
def test_a_run_name_that_is_no_file_name_is_refused_before_any_stage(tmp_path, name):
    # run: {name: r1/distill} made RUN_DIR/r1/distill.json the result file: every stage ran,
    # then writing it failed (no such folder) and the final line was never printed.
    r = tmp_path / "r.yaml"
    r.write_text(yaml.safe_dump({"run": {"dir": str(tmp_path / "run"), "name": name},
                                 "train": TRAIN}))  # fmt: skip
    with pytest.raises(DistillError, match=r"run\.name .*: a file name"):
        pipeline_run(r, dry_run=True)


@pytest.mark.parametrize(
    "value", ["You are #1. Be brief", "Answer: yes", "{run_dir} is where", "[x] marks it", "007"]
)
def test_a_set_text_value_is_the_text_typed_as_its_flag_takes_it(tmp_path, value):
    # `--set generate.system_prompt=You are #1. Be brief` was read as YAML: '#1...' a comment,
    # cut without a word ("You are"); "Answer: yes" a mapping, refused; 007 the number 7.
    # `distill generate --system-prompt` takes the text as typed.
    r = _recipe(tmp_path, generate=GEN)
    res = pipeline_run(r, sets=[f"generate.system_prompt={value}"], dry_run=True)
    assert res["stages"] == ["generate"]
    from distill import pipeline

    seen = []
    real = pipeline.from_dict
    pipeline.from_dict = lambda cls, data, *a: seen.append(data) or real(cls, data, *a)
    try:
        pipeline_run(r, sets=[f"generate.system_prompt={value}"], dry_run=True)
    finally:
        pipeline.from_dict = real
    want = value.replace("{run_dir}", str(tmp_path / "run"))
    assert seen[-1]["system_prompt"] == want
    # null still clears a text setting, and a quoted value is YAML's
    pipeline_run(r, sets=["generate.system_prompt=null"], dry_run=True)
    assert pipeline.parse_sets(["generate.system_prompt='a #b'"]) == {
        "generate": {"system_prompt": "a #b"}
    }


def test_a_set_list_value_given_as_its_flag_takes_it_is_a_list(tmp_path):
    # `--lora-target-modules q_proj,v_proj` is a list; `--set train.lora_target_modules=q_proj,v_proj`
    # was refused ("expected a list, got 'q_proj,v_proj'"): the same setting, another syntax.
    r = _recipe(tmp_path, train=TRAIN)
    from distill import pipeline

    seen = []
    real = pipeline.from_dict
    pipeline.from_dict = lambda cls, data, *a: seen.append(data) or real(cls, data, *a)
    try:
        pipeline_run(r, sets=["train.lora_target_modules=q_proj, v_proj"], dry_run=True)
        assert seen[-1]["lora_target_modules"] == ["q_proj", "v_proj"]
        pipeline_run(r, sets=["train.lora_target_modules=[k_proj]"], dry_run=True)  # YAML too
        assert seen[-1]["lora_target_modules"] == ["k_proj"]
    finally:
        pipeline.from_dict = real


def test_a_publish_that_would_be_refused_is_refused_before_the_first_stage(tmp_path, monkeypatch):
    # --set publish.repo_id=me/x with no $HF_TOKEN (or a --local-dir holding the user's own
    # files) was refused by publish at the end of the run, after train and eval; --dry-run
    # said valid.
    import distill.train

    trained = []
    monkeypatch.setattr(distill.train, "run", lambda cfg: trained.append(cfg))
    monkeypatch.delenv("HF_TOKEN", raising=False)
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    publish = {"dir": "{run_dir}/student", "local_dir": "{run_dir}/published"}
    r = _recipe(tmp_path, train=TRAIN, publish=publish)
    (tmp_path / "run").mkdir()
    (tmp_path / "run" / "kept.jsonl").write_text("")
    hub = ["publish.local_dir=null", "publish.repo_id=me/student"]
    for dry in (True, False):
        with pytest.raises(DistillError, match=r"needs a token: set \$HF_TOKEN"):
            pipeline_run(r, sets=hub, dry_run=dry)
    (tmp_path / "run" / "published").mkdir()
    (tmp_path / "run" / "published" / "notes.txt").write_text("mine")
    for dry in (True, False):
        with pytest.raises(DistillError, match=r"published is a non-empty folder"):
            pipeline_run(r, dry_run=dry)
    assert trained == []


def test_code_verification_with_no_isolation_is_refused_before_the_first_stage(
    tmp_path, monkeypatch
):
    # filter (and eval) --verify code where no OS isolation works was refused when filter
    # started, after generate bought the samples (eval's: after train).
    import distill.filter.sandbox

    monkeypatch.setattr(distill.filter.sandbox, "isolation", lambda: None)
    r = _recipe(tmp_path, generate=GEN, filter={**FILTER, "verify": "code"})
    ran = []
    monkeypatch.setattr(distill.generate, "run", lambda c, progress=True: ran.append(c))
    for dry in (True, False):
        with pytest.raises(DistillError, match=r"needs OS isolation and none works here"):
            pipeline_run(r, dry_run=dry)
    assert ran == []
    pipeline_run(r, sets=["filter.unsafe_sandbox=true"], dry_run=True)  # asked for: valid
