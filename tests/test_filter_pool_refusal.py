"""filter --num-proc > 1 with a --decontam set that does not load (a missing file, a set with no
problem as text): the Decontaminator was built in the pool's initializer, whose DistillError
killed each worker; multiprocessing started another, forever (a hang printing tracebacks).
Now it is one line, as with --num-proc 1."""

import json

import pytest

from distill.errors import DistillError
from distill.filter import FilterConfig
from distill.filter import run as filter_run


@pytest.mark.timeout(60)
def test_a_decontam_set_that_does_not_load_is_one_line_with_several_processes(tmp_path):
    traces = tmp_path / "t.jsonl"
    recs = [
        {"id": f"p{i}-0", "prompt_id": f"p{i}", "sample": 0, "answer": "\\boxed{1}",
         "messages": [{"role": "user", "content": f"q {i}"}], "finish_reason": "stop"}
        for i in range(4)
    ]  # fmt: skip
    traces.write_text("".join(json.dumps(r) + "\n" for r in recs))
    bench = tmp_path / "bench.jsonl"
    bench.write_text('{"problem": null}\n')
    cfg = FilterConfig(
        input=str(traces),
        out=str(tmp_path / "kept.jsonl"),
        decontam=[str(bench)],
        num_proc=2,
        verify="none",
    )
    with pytest.raises(DistillError, match="bench"):
        filter_run(cfg)
    assert not (tmp_path / "kept.jsonl").exists()
