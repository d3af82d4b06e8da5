"""Second read (s6h) of distill run's up-front checks (23f8f14 .. 4f97d80): a run that worked
must not be refused before its first stage."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from distill.errors import DistillError
from distill.pipeline import run as pipeline_run


def _recipe(tmp_path: Path, **sections) -> Path:
    path = tmp_path / "r.yaml"
    path.write_text(yaml.safe_dump({"run": {"dir": str(tmp_path / "run")}, **sections}))
    return path


GEN = {
    "data": "builtin:arithmetic?n=6",
    "teacher": "openai",
    "model": "fake-r1",
    "n": 2,
    "out": "{run_dir}/traces.jsonl",
}
FILTER = {"input": "{run_dir}/traces.jsonl", "out": "{run_dir}/kept.jsonl", "verify": "code"}


@pytest.fixture
def server(monkeypatch):
    from tests.fakeserver import FakeServer

    monkeypatch.setenv("OPENAI_API_KEY", "sk-test")
    s = FakeServer().start()
    try:
        yield s
    finally:
        s.stop()


def test_a_finished_code_filter_is_skipped_on_a_rerun_where_no_isolation_works(
    tmp_path, monkeypatch, capsys, server
):
    # 0d10394 refuses --verify code with no isolation before the first stage; a rerun whose
    # filter is done (its manifest matches: skipped, no code runs) was refused too, and the
    # way out it names (--unsafe-sandbox) changes filter's settings: filtered again, unisolated.
    import distill.filter.sandbox

    if distill.filter.sandbox.isolation() is None:
        pytest.skip("the first run needs isolation")
    r = _recipe(tmp_path, generate={**GEN, "base_url": server.url}, filter=FILTER)
    pipeline_run(r)
    kept = tmp_path / "run" / "kept.jsonl"
    stamp = kept.stat().st_mtime_ns
    monkeypatch.setattr(distill.filter.sandbox, "isolation", lambda: None)
    capsys.readouterr()
    pipeline_run(r, dry_run=True)
    pipeline_run(r)
    assert "== filter: done" in capsys.readouterr().out
    assert kept.stat().st_mtime_ns == stamp
    # a filter that would run code is still refused before the first stage
    with pytest.raises(DistillError, match="needs OS isolation"):
        pipeline_run(r, sets=["filter.max_per_prompt=1"], dry_run=True)


def test_a_done_code_filter_whose_input_generate_adds_to_is_still_refused_up_front(
    tmp_path, monkeypatch, server
):
    # The rerun above goes on because filter is skipped; one whose generate adds samples to
    # filter's input (a raised n, prompts that failed before) filters again, running code:
    # refused before generate buys them, as 0d10394 meant.
    import distill.filter.sandbox
    import distill.generate

    if distill.filter.sandbox.isolation() is None:
        pytest.skip("the first run needs isolation")
    r = _recipe(tmp_path, generate={**GEN, "base_url": server.url}, filter=FILTER)
    pipeline_run(r)
    monkeypatch.setattr(distill.filter.sandbox, "isolation", lambda: None)
    ran = []
    monkeypatch.setattr(distill.generate, "run", lambda c, progress=True: ran.append(c))
    for dry in (True, False):
        with pytest.raises(DistillError, match="needs OS isolation"):
            pipeline_run(r, sets=["generate.n=3"], dry_run=dry)
    assert ran == []


def test_only_publish_drops_the_numbers_of_a_student_retrained_since(tmp_path, monkeypatch):
    # 3d62f04 keeps the eval numbers in RUN_DIR/NAME.json when a call runs only publish; a
    # student retrained outside distill run since (make r1-distill's accelerate launch of
    # train, --overwrite) kept the old student's numbers beside the new one's publish.
    import json

    import distill.eval
    import distill.publish
    import distill.train

    def fake_train(cfg):
        Path(cfg.output_dir).mkdir(parents=True, exist_ok=True)
        Path(cfg.output_dir, "adapter_config.json").write_text("{}")
        Path(cfg.output_dir, "adapter_model.safetensors").write_text("w1")

    def fake_eval(cfg):  # as eval.json holds them: the student and the weights it evaluated
        Path(cfg.out).write_text(
            json.dumps(
                {
                    "student": {"model": cfg.model, "pass@1": 0.5},
                    "baseline": {"pass@1": 0.25},
                    "weights": {"student": distill.eval.weights_stamp(cfg.model)},
                }
            )
        )

    monkeypatch.setattr(distill.train, "run", fake_train)
    monkeypatch.setattr(distill.eval, "run", fake_eval)
    monkeypatch.setattr(distill.publish, "run", lambda cfg: None)
    train = {"data": "{run_dir}/kept.jsonl", "model": "builtin:smollm2",
             "output_dir": "{run_dir}/student", "max_length": 64}  # fmt: skip
    r = _recipe(
        tmp_path,
        train=train,
        eval={"model": "{run_dir}/student", "data": "builtin:arithmetic?n=4",
              "out": "{run_dir}/eval.json"},
        publish={"dir": "{run_dir}/student", "local_dir": "{run_dir}/published"},
    )  # fmt: skip
    (tmp_path / "run").mkdir()
    (tmp_path / "run" / "kept.jsonl").write_text("")
    result = tmp_path / "run" / "r.json"
    pipeline_run(r)
    pipeline_run(r, only=["publish"])  # the same student: its numbers stay
    assert json.loads(result.read_text())["student_pass@1"] == 0.5
    (tmp_path / "run" / "student" / "adapter_model.safetensors").write_text("w2 retrained")
    pipeline_run(r, only=["publish"])
    assert "student_pass@1" not in json.loads(result.read_text())
