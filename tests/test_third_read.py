"""Third read of c29de3a (run_code(tests=...) under the guard): honest solutions the old path
passed still pass, and the up-front import of every builtin module opens no way around the
guard's import refusals."""

import subprocess
import textwrap

import pytest

from distill.filter import sandbox
from distill.filter.code import verify_code
from distill.filter.sandbox import MODES, probe, run_code
from distill.filter.verify import CORRECT

ISOLATED = [m for m in MODES if probe(m) is None]
BEST = ISOLATED[0] if ISOLATED else "none"


def fenced(code):
    return "```python\n" + textwrap.dedent(code) + "```"


def test_a_solution_that_runs_its_doctests_under_main_still_passes_its_asserts():
    # doctest.testmod() restores the trace function it found (sys.settrace(None)): no tracer is
    # set by that, the honest solution passed before c29de3a and must pass now.
    answer = fenced(
        '''
        def add(a, b):
            """
            >>> add(1, 2)
            3
            """
            return a + b

        if __name__ == "__main__":
            import doctest
            doctest.testmod()
        '''
    )
    verdict, detail = verify_code(answer, ["assert add(1, 2) == 3"], isolation=BEST)
    assert (verdict, detail) == (CORRECT, "asserts passed")


def test_settrace_with_a_function_is_still_a_violation():
    code = "import sys\nsys.settrace(lambda *a: None)\ndef add(a, b): return a + b\n"
    r = run_code(code, tests="assert add(1, 2) == 3", isolation=BEST)
    assert (r.ok, r.reason) == (False, "sandbox violation")


def _subinterpreters_module():
    for name in ("_interpreters", "_xxsubinterpreters"):
        r = subprocess.run([sandbox._interpreter(None)[0], "-I", "-S", "-c", f"import {name}"])
        if r.returncode == 0:
            return name
    pytest.skip("no subinterpreter module in the sandbox's Python")


def test_a_builtin_subinterpreter_module_is_not_imported_before_the_hook(tmp_path):
    # Where _xxsubinterpreters (3.13: _interpreters) is built in (python-build-standalone, uv's
    # Pythons), the guard's import of every builtin module put it in sys.modules before the
    # audit hook: the solution's own import then raised no 'import' event, and a second
    # interpreter's real os._exit(0) ended the run as passed. Simulated here by naming the
    # module builtin in the child.
    name = _subinterpreters_module()
    (tmp_path / "guard.py").write_text(sandbox.GUARD)
    call = (
        "run_string(i, 'import os; os._exit(0)')"
        if name == "_xxsubinterpreters"
        else "exec(i, 'import os; os._exit(0)')"
    )
    (tmp_path / "solution.py").write_text(f"import {name} as I\ni = I.create()\nI.{call}\n")
    (tmp_path / "tests.py").write_text("assert False\n")
    work = tmp_path / "work"
    work.mkdir()
    boot = (
        f"import sys; sys.builtin_module_names = sys.builtin_module_names + ({name!r},); "
        f"sys.argv = [{str(tmp_path / 'guard.py')!r}] + sys.argv[1:]; "
        f"exec(compile(open(sys.argv[0]).read(), sys.argv[0], 'exec'), {{'__name__': '__main__'}})"
    )
    r = subprocess.run(
        [
            sandbox._interpreter(None)[0],
            "-I",
            "-S",
            "-c",
            boot,
            str(tmp_path / "solution.py"),
            str(tmp_path / "tests.py"),
        ],
        cwd=work,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert r.returncode != 0, r.stderr
    assert f"sandbox violation: import {name}" in r.stderr
