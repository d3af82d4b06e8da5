"""Second read s6j: select --unsafe-sandbox (9a2722e), eval's --verify code check (528dfe6)."""

import json

import pytest

from distill.errors import DistillError


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
