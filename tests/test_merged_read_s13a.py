"""A last read of session 13's change to distill run and the standalone commands, together.

- cebd671 made `distill filter` (select, generate, instruct) on its own refuse to write over the
  data a trained student beside --out learned, saying `distill run` refused that already; the
  run refused it for the recipe's own student only. A recipe without train (or whose
  train.output_dir names another folder now) rewrote kept.jsonl under the student that
  `distill train` made of it: the student's lineage named data that was gone. The run looks
  for such students as the commands on their own do (distill/learned.py), before any stage.
- 35505b3 taught instruct's standalone guard that --include-seeds writes the seed tasks into a
  file written without them; `distill run`'s reading of an instruct before generate (the same
  rule, written twice) did not know it: the run went on, instruct wrote the seeds, generate
  bought their samples and only then was filter stopped before kept.jsonl (learned.instruct_adds
  is the one rule now)."""

from __future__ import annotations

import json

from tests import inproc
from tests.test_cli import one_line_error
from tests.test_filter_kill import make_traces
from tests.test_user_files_s13 import student_of

ENV = {"OPENAI_API_KEY": "sk-test"}


def answered(server) -> int:
    import urllib.request

    with urllib.request.urlopen(f"{server.url.removesuffix('/v1')}/stats") as r:
        return json.loads(r.read())["answered"]


def test_a_run_without_train_does_not_rewrite_the_data_a_student_beside_it_learned(tmp_path):
    run = tmp_path / "run"
    run.mkdir()
    traces, kept = run / "traces.jsonl", run / "kept.jsonl"
    make_traces(traces, 30)
    recipe = tmp_path / "r.yaml"
    recipe.write_text("filter:\n  input: '{run_dir}/traces.jsonl'\n  out: '{run_dir}/kept.jsonl'\n")
    res = inproc.distill("run", "--recipe", recipe, "--run-dir", run)
    assert res.returncode == 0, res.stderr
    student = student_of(run, kept)  # distill train --data run/kept.jsonl --output-dir run/student
    data, manifest = kept.read_bytes(), (run / "kept.manifest.json").read_bytes()

    res = inproc.distill("run", "--recipe", recipe, "--run-dir", run, "--set", "filter.verify=math")
    one_line_error(
        res,
        rf"filter would run again \(settings changed\) and rewrite {kept}, which {student} was "
        r"trained on .*move the student away first \(filter: verify none -> math\)",
    )
    assert kept.read_bytes() == data
    assert (run / "kept.manifest.json").read_bytes() == manifest

    # the same settings, the report deleted: the same data written again, as on its own
    (run / "kept.report.json").unlink()
    res = inproc.distill("run", "--recipe", recipe, "--run-dir", run)
    assert res.returncode == 0, res.stderr
    assert kept.read_bytes() == data and (run / "kept.report.json").is_file()


def test_a_run_whose_instruct_writes_seeds_under_a_students_data_buys_nothing(
    tmp_path, tasks_server
):
    run = tmp_path / "run"
    recipe = tmp_path / "r.yaml"
    recipe.write_text(
        f"instruct:\n  teacher: openai\n  model: m\n  base_url: {tasks_server.url}\n"
        "  num_instructions: 4\n  concurrency: 2\n  max_retries: 0\n"
        "  out: '{run_dir}/instructions.jsonl'\n"
        f"generate:\n  data: '{{run_dir}}/instructions.jsonl'\n  teacher: openai\n  model: m\n"
        f"  base_url: {tasks_server.url}\n  max_retries: 0\n  out: '{{run_dir}}/traces.jsonl'\n"
        "filter:\n  input: '{run_dir}/traces.jsonl'\n  out: '{run_dir}/kept.jsonl'\n"
    )
    res = inproc.distill("run", "--recipe", recipe, "--run-dir", run, env=ENV)
    assert res.returncode == 0, res.stderr
    kept, traces = run / "kept.jsonl", run / "traces.jsonl"
    student = student_of(run, kept)
    before, asked = traces.read_bytes(), answered(tasks_server)

    res = inproc.distill(
        "run", "--recipe", recipe, "--run-dir", run, "--set", "instruct.include_seeds=true", env=ENV
    )
    one_line_error(
        res,
        rf"generate would add samples to {traces}, so filter would run again and rewrite {kept}, "
        rf"which {student} was trained on",
    )
    assert answered(tasks_server) == asked  # no sample of a seed task bought
    assert traces.read_bytes() == before
