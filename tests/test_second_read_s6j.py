"""Second read s6j: select --unsafe-sandbox (9a2722e), eval's --verify code check (528dfe6)."""

import json

import pytest

import distill.filter.sandbox
from distill.errors import DistillError
from tests.test_select import select, trace, write

CODE = "```python\nprint(int(input()) * 2)\n```"
TESTS = {"tests": {"inputs": ["2\n"], "outputs": ["4\n"]}}


def _filtered_pool(tmp_path):
    """filter --verify code's kept traces: each holds the verdict the filter reached."""
    recs = [
        trace(f"p{i}", f"double {i}", answer=CODE, gold=None, meta=TESTS)
        | {"checks": {"verify": "correct (1/1 tests)" if i % 2 else "wrong (0/1 tests)"}}
        for i in range(4)
    ]
    return write(tmp_path / "kept.jsonl", recs)


def test_select_on_filtered_traces_runs_no_code_and_needs_no_isolation(tmp_path, monkeypatch):
    """9a2722e refused select --verify code up front where no OS isolation works, even when
    every teacher trace holds the filter's verdict (no code runs: the verdict is read). A
    filter run with --unsafe-sandbox followed by select on its kept traces worked before."""
    monkeypatch.setattr(distill.filter.sandbox, "isolation", lambda: None)
    from distill.filter import verify

    ran = []
    monkeypatch.setattr(verify, "verify_code", lambda *a, **k: ran.append(a))
    kept, _, report = select(
        tmp_path, _filtered_pool(tmp_path), criteria=["difficulty"], verify="code", budget=2
    )
    assert len(kept) == 2 and ran == []
    assert report["difficulty"]["pass_rate_all"]["mean"] == 0.5


def test_select_unsafe_sandbox_is_no_result_setting(tmp_path, monkeypatch):
    """--unsafe-sandbox changes where code runs, not the verdicts: a finished select stays done
    (distill run skips it) when it is passed, and a select an older distill finished (its
    settings without the flag) is not 'settings changed'."""
    import dataclasses

    from distill.manifest import config_hash as hash_of
    from distill.select.config import SelectConfig
    from distill.select.stage import config_hash, done

    pool = _filtered_pool(tmp_path)
    select(tmp_path, pool, criteria=["difficulty"], verify="code", budget=2)
    cfg = SelectConfig(
        input=str(pool), out=str(tmp_path / "sel.jsonl"), criteria=["difficulty"], budget=2
    )
    cfg.verify = "code"
    assert done(cfg) is None
    assert done(dataclasses.replace(cfg, unsafe_sandbox=True)) is None
    ignore = tuple(
        f.name for f in dataclasses.fields(cfg) if not f.metadata.get("result", True)
    ) + ("unsafe_sandbox",)  # the settings as an older distill hashed them
    assert config_hash(cfg) == hash_of(cfg, ignore=ignore)


def test_eval_verify_code_on_a_set_whose_tests_judge_refuses_is_refused(server, tmp_path):
    """528dfe6 let --verify code through when a row holds tests in any layout: a set of only
    tests judge refuses to run (C++ verification_info) sampled the student and scored every
    sample wrong (pass@1 0.0); the gold check refused it before, as --reward code does
    (f81a60d: verify.runnable_tests)."""
    from distill.eval import EvalConfig, run

    row = {
        "prompt": "Print the double of the number read.",
        "verification_info": {
            "language": "cpp",
            "test_cases": [{"input": "2\n", "output": "4\n"}],
        },
    }
    data = tmp_path / "cpp.jsonl"
    data.write_text(json.dumps(row) + "\n")
    cfg = EvalConfig(
        model="fake-r1",
        backend="openai",
        base_url=server.url,
        data=str(data),
        verify="code",
        unsafe_sandbox=True,
        out=str(tmp_path / "e.json"),
    )
    with pytest.raises(DistillError, match="no tests") as e:
        run(cfg)
    assert "\n" not in str(e.value)
    assert not (tmp_path / "e.json").exists()


def test_distill_run_select_on_a_code_filters_kept_traces_needs_no_isolation(tmp_path, monkeypatch):
    """generate -> filter --verify code --unsafe-sandbox -> select difficulty on filter's kept
    traces: select reads the filter's verdicts and runs no code, yet 9a2722e refused the run
    before its first stage where no OS isolation works. Select on generate's traces (no
    verdicts) is still refused."""
    import yaml

    import distill.generate
    from distill.pipeline import run as pipeline_run

    monkeypatch.setattr(distill.filter.sandbox, "isolation", lambda: None)
    gen = {"data": "builtin:arithmetic?n=6", "teacher": "openai", "model": "m", "n": 2}
    gen["out"] = "{run_dir}/traces.jsonl"
    filt = {"input": "{run_dir}/traces.jsonl", "out": "{run_dir}/kept.jsonl", "verify": "code"}
    filt["unsafe_sandbox"] = True
    sel = {"input": "{run_dir}/kept.jsonl", "out": "{run_dir}/sel.jsonl", "budget": 2}
    sel.update(criteria=["difficulty"], verify="code")
    recipe = tmp_path / "r.yaml"

    def write_recipe(**over):
        doc = {"run": {"dir": str(tmp_path / "run")}, "generate": gen, "filter": filt}
        doc["select"] = {**sel, **over}
        recipe.write_text(yaml.safe_dump(doc))

    monkeypatch.setattr(distill.generate, "run", lambda c, progress=True: None)
    write_recipe()
    pipeline_run(str(recipe), dry_run=True)
    write_recipe(teacher_traces="{run_dir}/traces.jsonl")  # generate's: verified by select
    with pytest.raises(DistillError, match="needs OS isolation"):
        pipeline_run(str(recipe), dry_run=True)


def test_distill_run_refuses_a_done_select_whose_teacher_traces_generate_adds_to(
    server, tmp_path, monkeypatch
):
    """The done-select exemption (9a2722e) asked whether generate adds to select's --input
    only: a finished select rating generate's --teacher-traces was let through, then ran again
    on the new samples (a raised generate.n), refused only after generate bought them."""
    import yaml

    import distill.generate
    from distill.generate import GenerateConfig
    from distill.pipeline import run as pipeline_run
    from distill.select.config import SelectConfig
    from distill.select.stage import done

    run_dir = tmp_path / "run"
    traces = run_dir / "traces.jsonl"
    gen = dict(data="builtin:arithmetic?n=4", teacher="openai", model="fake-r1", n=1)
    gen.update(base_url=server.url, out=str(traces))
    distill.generate.run(GenerateConfig(**gen), progress=False)
    kept = write(run_dir / "kept.jsonl", [trace(f"p{i}", f"double {i}") for i in range(4)])
    sel = {"input": str(kept), "out": str(run_dir / "sel.jsonl"), "budget": 2}
    sel.update(criteria=["difficulty"], verify="code", teacher_traces=str(traces))
    mine = {k: v for k, v in sel.items() if k not in ("input", "out")}
    select(run_dir, kept, **mine, unsafe_sandbox=True)
    assert done(SelectConfig(**sel)) is None  # finished: the exemption's case
    monkeypatch.setattr(distill.filter.sandbox, "isolation", lambda: None)
    recipe = tmp_path / "r.yaml"
    doc = {"run": {"dir": str(run_dir)}, "generate": {**gen, "n": 2}, "select": sel}
    recipe.write_text(yaml.safe_dump(doc))
    ran = []
    monkeypatch.setattr(distill.generate, "run", lambda c, progress=True: ran.append(c))
    with pytest.raises(DistillError, match="needs OS isolation"):
        pipeline_run(str(recipe), dry_run=True)
    assert ran == []


def test_a_sharegpt_chat_benchmark_is_decontaminated_by_its_human_turns(tmp_path):
    """528dfe6 read a chat benchmark's messages by role/content only: the ShareGPT form distill
    reads everywhere else ({"from": "human", "value": ...}) gave no text, and the set was
    refused as having 'no problem as text in any row'."""
    from distill.filter.decontam import Decontaminator

    problem = "a train leaves the station at noon going sixty miles per hour toward the city"
    turns = [
        {"from": "system", "value": "You are a helpful assistant"},
        {"from": "human", "value": problem},
        {"from": "gpt", "value": "the answer follows from distance over speed in this case"},
    ]
    bench = write(tmp_path / "sharegpt.jsonl", [{"prompt": turns}])
    dec = Decontaminator([str(bench)])
    assert dec.hit(f"Please solve: {problem}. Show your work.") == "sharegpt"
    assert dec.hit("the answer follows from distance over speed in this case, said he") is None
