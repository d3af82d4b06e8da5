"""A correct solution written with `from __future__ import annotations` (common in typed code)
was judged wrong in every layout that puts code before the solution (the assert- and call-based
ones, LiveCodeBench's stdin prelude): the import must be a file's first statement, and after the
harness it was a SyntaxError. It now goes first."""

import pytest

from tests.test_verify_main_block_s9 import FUNCTION_LAYOUTS, RIGHT, WRONG, _lcb, verdict

FUTURE = '"""A typed solution."""\nfrom __future__ import annotations\n\n'
TYPED = "def f(x: int) -> int:\n    return 2 * x\n"


@pytest.mark.parametrize("layout", FUNCTION_LAYOUTS)
def test_a_correct_solution_with_a_future_import_passes(layout):
    assert verdict(FUTURE + TYPED, FUNCTION_LAYOUTS[layout])[0] == "correct"
    assert verdict(FUTURE + RIGHT, FUNCTION_LAYOUTS[layout])[0] == "correct"


@pytest.mark.parametrize("layout", FUNCTION_LAYOUTS)
def test_a_wrong_one_stays_wrong(layout):
    assert verdict(FUTURE + WRONG, FUNCTION_LAYOUTS[layout])[0] == "wrong"


def test_the_livecodebench_stdin_prelude_too():
    meta = _lcb([{"input": "3\n", "output": "6\n", "testtype": "stdin"}])
    src = (
        FUTURE
        + "import sys\n\ndef main() -> None:\n    print(2 * int(sys.stdin.read()))\n\nmain()\n"
    )
    assert verdict(src, meta)[0] == "correct"
