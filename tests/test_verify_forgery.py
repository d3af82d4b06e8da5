"""A solution must not be able to pass assert tests it fails: the verdict comes from the
guard's exit after the tests ran in the solution's namespace, not from a mark the program
prints (a mark in the program is a constant the solution can reach through its frames, its
code objects, tracebacks or gc, and print before it exits)."""

import textwrap

import pytest

from distill.filter.code import verify_code
from distill.filter.sandbox import MODES, probe, run_code

ISOLATED = [m for m in MODES if probe(m) is None]
BEST = ISOLATED[0] if ISOLATED else "none"
TESTS = ["assert add(1, 2) == 3", "assert add(2, 2) == 4"]

# Every string and bytes constant the solution can reach from its own frames, printed as the
# old done-mark was; then a clean exit before the tests.
LEAK = """
def _leak(frames):
    for f in frames:
        while f is not None:
            for c in f.f_code.co_consts:
                if isinstance(c, (bytes, str)) and len(c) < 200:
                    os.write(1, c if isinstance(c, bytes) else c.encode())
                    os.write(1, b"\\n")
            for v in list(f.f_globals.values()) + list(f.f_locals.values()):
                if isinstance(v, (bytes, str)) and len(v) < 200:
                    os.write(1, (v if isinstance(v, bytes) else v.encode()) + b"\\n")
            f = f.f_back
"""

FORGERIES = {
    "co_consts of its own frame": """
        for c in sys._getframe().f_code.co_consts:
            if isinstance(c, bytes) and c.startswith(bytes([10]) + b"distill-tests"):
                os.write(1, c); os._exit(0)
        os._exit(0)
        """,
    "inspect.currentframe": """
        import inspect
        _leak([inspect.currentframe()])
        os._exit(0)
        """,
    "traceback.walk_stack": """
        import traceback
        _leak([f for f, _ in traceback.walk_stack(None)])
        os._exit(0)
        """,
    "an exception's tb_frame": """
        try:
            1 / 0
        except ZeroDivisionError as e:
            _leak([e.__traceback__.tb_frame])
        os._exit(0)
        """,
    "gc": """
        import gc, types
        _leak([o for o in gc.get_objects() if isinstance(o, types.FrameType)])
        for o in gc.get_objects():
            if isinstance(o, types.CodeType):
                _leak([])
        os._exit(0)
        """,
    "SystemExit before the tests": "raise SystemExit(0)",
    "sys.exit before the tests": "sys.exit()",
    "exit() before the tests": "exit()",
    "os._exit(0) before the tests": "os._exit(0)",
    "posix._exit(0) before the tests": "import posix\nposix._exit(0)",
    "os._exit in a thread": """
        import threading
        t = threading.Thread(target=os._exit, args=(0,)); t.start(); t.join()
        """,
    # The real _exit behind the guard's own functions: os.fork is replaced by a closure.
    "the guard's closures": """
        seen, todo = set(), [getattr(os, n) for n in dir(os)] + [sys.excepthook]
        while todo:
            f = todo.pop()
            if id(f) in seen:
                continue
            seen.add(id(f))
            if getattr(f, "__name__", "") == "_exit" and type(f).__name__ == "builtin_function_or_method":
                f(0)
            for c in getattr(f, "__closure__", None) or ():
                try:
                    todo.append(c.cell_contents)
                except ValueError:
                    pass
            todo.extend(getattr(f, "__defaults__", None) or ())
            todo.extend((getattr(f, "__kwdefaults__", None) or {}).values())
        """,
    # A second posix module: _exit comes back with it.
    "a fresh posix module": """
        import _imp, importlib.util
        _imp.create_builtin(importlib.util.find_spec("posix"))._exit(0)
        """,
    "posix imported again": """
        del sys.modules["posix"]
        import posix
        posix._exit(0)
        """,
    # A subinterpreter has a posix of its own and none of the guard's hooks.
    "a subinterpreter": """
        import _xxsubinterpreters as i
        i.run_string(i.create(), "import os; os._exit(0)")
        """,
    "_testcapi's subinterpreter": """
        import _testcapi
        _testcapi.run_in_subinterp("import os; os._exit(0)")
        """,
    # A trace function writes the frame's locals back (Python < 3.13): the guard's tests,
    # swapped for nothing.
    "settrace": """
        def tracer(frame, event, arg):
            if "tests" in frame.f_code.co_varnames and event == "line":
                frame.f_locals["tests"] = compile("pass", "tests.py", "exec")
            return tracer
        sys._getframe(1).f_trace = tracer
        sys.settrace(lambda *a: None)
        """,
    "setprofile": """
        def profiler(frame, event, arg):
            if "tests" in frame.f_code.co_varnames:
                frame.f_locals["tests"] = compile("pass", "tests.py", "exec")
        sys.setprofile(profiler)
        """,
    # A failing assert goes to sys.excepthook; one that raises SystemExit(0) ended the program
    # with status 0.
    "excepthook raises SystemExit": """
        def hook(*a):
            raise SystemExit(0)
        sys.excepthook = hook
        """,
    "builtins.exec replaced": """
        import builtins
        builtins.exec = lambda *a, **k: None
        builtins.compile = lambda *a, **k: compile("pass", "x", "exec")
        """,
}


def _solution(attack: str) -> str:
    body = textwrap.dedent(attack).strip()
    return f"```python\nimport os, sys\ndef add(a, b):\n    return a - b\n{LEAK}\n{body}\n```\n"


@pytest.mark.parametrize("mode", sorted({BEST, "none"}))
@pytest.mark.parametrize("name", list(FORGERIES))
def test_a_wrong_solution_cannot_forge_passing_tests(name, mode):
    verdict, detail = verify_code(_solution(FORGERIES[name]), TESTS, isolation=mode)
    assert verdict == "wrong", (name, detail)


def test_the_reviewers_forgery_is_wrong():
    code = (
        "```python\nimport sys, os\ndef add(a, b): return a - b\n"
        "for c in sys._getframe().f_code.co_consts:\n"
        '    if isinstance(c, bytes) and c.startswith(bytes([10]) + b"distill-tests"):\n'
        "        os.write(1, c); os._exit(0)\n```\n"
    )
    verdict, detail = verify_code(code, ["assert add(1, 2) == 3"], isolation=BEST)
    assert verdict == "wrong", detail


@pytest.mark.parametrize(
    "body",
    [
        "raise SystemExit(0)",
        "os._exit(0)",
        "import posix\nposix._exit(0)",
        "sys.exit(0)",
    ],
)
def test_exiting_from_inside_the_tests_is_wrong(body):
    # The function the tests call ends the program: the asserts after it never ran.
    code = "```python\nimport os, sys\ndef add(a, b):\n" + textwrap.indent(body, "    ") + "\n```\n"
    verdict, detail = verify_code(code, TESTS, isolation=BEST)
    assert verdict == "wrong", detail


def test_the_reasons_say_what_happened():
    early = verify_code(_solution("os._exit(0)"), TESTS, isolation=BEST)
    assert early == ("wrong", "exited before the tests ran")
    failed = verify_code("```python\ndef add(a, b):\n    return a - b\n```", TESTS, isolation=BEST)
    assert failed == ("wrong", "tests failed")
    broken = verify_code("```python\ndef add(a, b):\n    return a +\n```", TESTS, isolation=BEST)
    assert broken[0] == "wrong"
    raises = verify_code("```python\nraise ValueError\n```", TESTS, isolation=BEST)
    assert raises == ("wrong", "error before the tests ran")
    spy = verify_code(_solution("import gc\ngc.get_objects()"), TESTS, isolation=BEST)
    assert spy == ("wrong", "sandbox violation")


@pytest.mark.parametrize("mode", sorted({BEST, "none"}))
def test_correct_solutions_are_still_correct(mode):
    code = textwrap.dedent(
        """
        ```python
        import sys, os, inspect, traceback, threading, collections
        from functools import lru_cache
        sys.setrecursionlimit(5000)
        @lru_cache(None)
        def fib(n):
            return n if n < 2 else fib(n - 1) + fib(n - 2)
        def add(a, b):
            inspect.currentframe()  # frames are not forbidden, only forging with them
            return a + b
        def main():
            pass
        if __name__ == "__main__":
            main()
        ```
        """
    )
    tests = TESTS + [
        "assert fib(30) == 832040",
        "import math\nassert math.isclose(add(0.1, 0.2), 0.3)",
    ]
    assert verify_code(code, tests, isolation=mode) == ("correct", "asserts passed")


def test_stdin_solutions_may_still_exit():
    # Competitive solutions end with sys.exit() or os._exit(0) after printing: the output
    # decides, as before.
    for end in ("sys.exit(0)", "sys.stdout.flush(); os._exit(0)", "exit()"):
        code = f"```python\nimport os, sys\nprint(int(input()) * 2)\n{end}\n```"
        assert verify_code(code, {"inputs": ["21\n"], "outputs": ["42\n"]}, isolation=BEST) == (
            "correct",
            "1 tests",
        ), end


def test_run_code_keeps_the_tests_apart():
    r = run_code("def add(a, b):\n    return a + b", tests="assert add(1, 2) == 3", isolation=BEST)
    assert r.ok, r
    r = run_code("def add(a, b):\n    return a - b", tests="assert add(1, 2) == 3", isolation=BEST)
    assert not r.ok and r.reason == "tests failed", r
    with pytest.raises(ValueError):
        run_code("pass", tests="assert True", isolation=BEST, guard=False)
