# ruff: noqa: F811 - the server fixture, imported from tests/test_run_prompts_s13.py
"""Second read of abed10f/04aa686 (generate's system prompt carried into a run's eval and
on-policy train):

- on-policy train on generate's own data took generate's system prompt whenever the two named
  the same data, and a system prompt makes train read its data as prompts alone: a GKD mix
  (lmbda < 1) on a dataset with completions was refused when train started, after generate
  had bought its samples. Only data train reads as prompts takes it now.
- the system prompt a student was asked after was in eval.eval.yaml alone: eval.json (the run's
  result, the card's numbers) and the card did not say it, and the card's usage snippet asked
  without the system message the student trained after."""

from __future__ import annotations

import json

import yaml

from distill.pipeline import run as pipeline_run
from tests import inproc
from tests.test_publish import run_folder
from tests.test_run_prompts_s13 import SYSTEM, server  # noqa: F401 - the fixture


def test_a_gkd_mix_on_generates_own_dataset_keeps_its_completions(tmp_path, monkeypatch):
    import distill.train
    from distill.train.kd.data import prompt_source

    monkeypatch.setenv("OPENAI_API_KEY", "sk-test")
    data = tmp_path / "qa.jsonl"
    rows = [
        {
            "question": f"What is {i} + 1?",
            "answer": str(i + 1),
            "messages": [
                {"role": "user", "content": f"What is {i} + 1?"},
                {"role": "assistant", "content": str(i + 1)},
            ],
        }
        for i in range(3)
    ]
    data.write_text("".join(json.dumps(r) + "\n" for r in rows))
    given = []
    monkeypatch.setattr(distill.train, "run", lambda cfg: given.append(cfg))
    train = {
        "data": str(data),  # generate's prompts, and the dataset's own completions
        "model": "builtin:smollm2",
        "output_dir": "{run_dir}/student",
        "method": "onpolicy",
        "lmbda": 0.5,  # half the batches are the dataset's completions
        "teacher_model": "builtin:smollm2",
        "max_length": 64,
    }
    generate = {
        "data": str(data),
        "teacher": "openai",
        "base_url": "http://127.0.0.1:1/v1",
        "model": "fake-r1",
        "system_prompt": SYSTEM,
        "out": "{run_dir}/traces.jsonl",
    }
    recipe = tmp_path / "r.yaml"
    recipe.write_text(
        yaml.safe_dump(
            {"run": {"dir": str(tmp_path / "run")}, "generate": generate, "train": train}
        )
    )
    pipeline_run(recipe, only=["train"])
    # read as the dataset it is (not as prompts alone, which lmbda 0.5 is refused on)
    assert given[-1].system_prompt is None and not prompt_source(given[-1])
    # at lmbda 1 on the same data too: train samples after the chats' own prompts, as before
    recipe.write_text(recipe.read_text().replace("lmbda: 0.5", "lmbda: 1.0"))
    pipeline_run(recipe, only=["train"])
    assert given[-1].system_prompt is None


def test_eval_json_and_the_card_say_which_system_prompt_the_student_was_asked_after(
    tmp_path, server
):
    out = tmp_path / "eval.json"
    res = inproc.distill(
        "eval", "--backend", "openai", "--base-url", server.url, "--model", "fake-r1",
        "--data", "builtin:arithmetic?start=1000&n=2", "--max-tokens", "64",
        "--system-prompt", SYSTEM, "--out", out, env={"OPENAI_API_KEY": "sk-test"},
    )  # fmt: skip
    assert res.returncode == 0, res.stderr
    ev = json.loads(out.read_text())
    assert ev["system_prompt"] == SYSTEM
    assert yaml.safe_load((tmp_path / "eval.eval.yaml").read_text())["system_prompt"] == SYSTEM

    from distill.publish import PublishConfig, build_card

    student = run_folder(tmp_path)  # (its traces.generate.yaml: none)
    ev["student"]["model"] = str(student)
    ev.pop("weights", None)
    (student / "eval.json").write_text(json.dumps(ev))
    gen = yaml.safe_load((tmp_path / "traces.generate.yaml").read_text())
    (tmp_path / "traces.generate.yaml").write_text(yaml.safe_dump({**gen, "system_prompt": SYSTEM}))
    card = str(build_card(student, student, PublishConfig(dir=str(student), local_dir="x")))
    shown = json.dumps(SYSTEM)
    assert f"- System prompt: {shown}" in card  # the data lineage: every trace holds it
    assert f"system prompt {shown})" in card  # the numbers: asked after it
    use = next(ln for ln in card.splitlines() if "apply_chat_template" in ln)
    assert '{"role": "system", "content": ' + shown + "}" in use, use
