"""Third read of the code sandbox (distill/filter/sandbox.py).

The tests of a solution run in its process, so what the tests know (the expected values of
assert lines, a call harness's cases) must not be reachable from the solution's frames: a
wrong solution that reads them returns the right answers."""

import shutil
import textwrap
from pathlib import Path

import pytest

from distill.filter.sandbox import MODES, probe, run_code

ISOLATED = [m for m in MODES if probe(m) is None]
BEST = ISOLATED[0] if ISOLATED else "none"
MODES_RUN = sorted({BEST, "none"})

# A wrong add() that answers with the largest int constant of the code calling it: the tests'
# expected value, read from the caller's frame (sys._getframe(1).f_code.co_consts).
CALLER_CONSTS = """
import sys
def add(a, b):
    consts = sys._getframe(1).f_code.co_consts
    return max(c for c in consts if type(c) is int)
"""
# The same through a traceback: the frame the exception passed through.
TB_CONSTS = """
import sys
def add(a, b):
    try:
        raise ValueError
    except ValueError as e:
        f = e.__traceback__.tb_frame.f_back
    return max(c for c in f.f_code.co_consts if type(c) is int)
"""
# Every code object and string reachable from the frames' locals and globals (the guard kept
# the compiled tests as its global _tests and _check's local tests): their int constants.
REACHABLE_CODE = """
import sys, types
def _ints(code, out):
    for c in code.co_consts:
        if type(c) is int:
            out.append(c)
        elif isinstance(c, types.CodeType):
            _ints(c, out)
def add(a, b):
    out = []
    f = sys._getframe(1)
    while f is not None:
        for v in list(f.f_locals.values()) + list(f.f_globals.values()):
            if isinstance(v, types.CodeType):
                _ints(v, out)
            if isinstance(v, (list, tuple)):
                for x in v:
                    if isinstance(x, types.CodeType):
                        _ints(x, out)
        f = f.f_back
    return max(out)
"""
# The tests as a function the solution could call: run them with guesses until one passes.
ORACLE = """
import sys
GUESS = [0]
def add(a, b):
    return GUESS[0]
f = sys._getframe(1)
while f is not None:
    for v in list(f.f_locals.values()) + list(f.f_globals.values()):
        if callable(v) and getattr(v, "__name__", "") in ("_check", "_run_tests", "_tests"):
            for g in range(2000):
                GUESS[0] = g
                try:
                    v(compile("pass", "x", "exec"), globals())
                    break
                except BaseException:
                    pass
    f = f.f_back
"""
FORGERIES = {
    "the caller's co_consts": CALLER_CONSTS,
    "a traceback's frame": TB_CONSTS,
    "code reachable from frame locals/globals": REACHABLE_CODE,
    "the tests as an oracle": ORACLE,
}


@pytest.mark.parametrize("mode", MODES_RUN)
@pytest.mark.parametrize("name", list(FORGERIES))
def test_a_solution_cannot_read_the_expected_values_of_its_asserts(name, mode):
    r = run_code(FORGERIES[name], tests="assert add(1, 2) == 1003", isolation=mode)
    assert not r.ok, (name, r)


HONEST = """
import collections, enum, dataclasses, logging, typing, inspect, traceback, sys, io
from typing import NamedTuple, TypeVar
T = TypeVar("T")
P = collections.namedtuple("P", "x y")
class Q(NamedTuple):
    x: int
Color = enum.Enum("Color", "RED GREEN")
@dataclasses.dataclass(frozen=True)
class D:
    x: int = 0
D2 = dataclasses.make_dataclass("D2", ["x"])
log = logging.getLogger("s")
logging.basicConfig(stream=io.StringIO(), format="%(filename)s:%(lineno)d %(funcName)s %(message)s")
def add(a, b):
    P2 = collections.namedtuple("P2", "a b")  # sys._getframe(1) from inside a test's call
    log.warning("adding %s %s", a, b)  # findCaller walks the frames from logging's
    inspect.signature(add)
    try:
        int("x")
    except ValueError:
        traceback.format_exc()  # its own exception, caught in its own frame
    E = enum.Enum("E", "A B")
    return P2(a, b).a + Q(b).x + D(0).x + D2(0).x + len(Color) - 2 + E.A.value - 1
if __name__ == "__main__":
    import doctest
    doctest.testmod()
"""


@pytest.mark.parametrize("mode", MODES_RUN)
def test_honest_solutions_that_use_frames_through_the_stdlib_still_pass(mode):
    r = run_code(
        HONEST,
        tests="assert add(1, 2) == 3\ndef check(f):\n    assert f(2, 2) == 4\ncheck(add)",
        isolation=mode,
    )
    assert r.ok, r
    r = run_code(HONEST.replace("a + Q", "a - Q"), tests="assert add(1, 2) == 3", isolation=mode)
    assert not r.ok and r.reason == "tests failed", r


@pytest.mark.parametrize("mode", MODES_RUN)
def test_failures_still_show_their_traceback(mode):
    r = run_code(
        "def add(a, b):\n    return a - b",
        tests="x = 1\nassert add(1, 2) == 3, 'nope'",
        isolation=mode,
    )
    assert r.reason == "tests failed", r
    assert 'File "tests.py", line 2' in r.stderr and "AssertionError: nope" in r.stderr, r.stderr
    r = run_code("def f():\n    1 / 0\nf()", tests="assert True", isolation=mode)
    assert r.reason == "error before the tests ran", r
    assert 'File "solution.py", line 2, in f' in r.stderr and "ZeroDivisionError" in r.stderr, (
        r.stderr
    )


# What the guard's own functions hold, rewritten by the solution: the guard ran on. os._exit's
# closure was _check's own _die (a test failed, nothing killed the run: exit 0, "ok");
# sys.settrace's closure held the hook's stop, whose _die went the same way (every violation
# then went on: gc.get_objects, a second interpreter's real _exit ...).
REWRITES = {
    "os._exit's closure": """
        import os, signal
        for c in os._exit.__closure__ or ():
            if c.cell_contents is signal.raise_signal:
                c.cell_contents = lambda s: None
    """,
    "the hook's stop through sys.settrace": """
        import sys, signal, gc
        for c in sys.settrace.__closure__ or ():
            for d in getattr(c.cell_contents, "__closure__", None) or ():
                if d.cell_contents is signal.raise_signal:
                    d.cell_contents = lambda s: None
        import _xxsubinterpreters as i
        i.run_string(i.create(), "import os; os._exit(0)")
    """,
    "the defaults of what os.fork calls": """
        import os, signal
        for f in list((os.fork.__kwdefaults__ or {}).values()) + list(os.fork.__defaults__ or ()):
            if callable(f) and getattr(f, "__defaults__", None):
                f.__defaults__ = tuple(
                    (lambda s: None) if d is signal.raise_signal else d for d in f.__defaults__)
        import _xxsubinterpreters as i
        i.run_string(i.create(), "import os; os._exit(0)")
    """,
    # The hook asked builtins.isinstance whether the module was a str
    "builtins.isinstance rebound": """
        import builtins
        builtins.isinstance = lambda o, t: False
        import _xxsubinterpreters as i
        i.run_string(i.create(), "import os; os._exit(0)")
    """,
}


@pytest.mark.parametrize("mode", MODES_RUN)
@pytest.mark.parametrize("name", list(REWRITES))
def test_a_wrong_solution_cannot_rewrite_the_guard(name, mode):
    code = "def add(a, b):\n    return a - b\n" + textwrap.dedent(REWRITES[name])
    r = run_code(code, tests="assert add(1, 2) == 3", isolation=mode)
    assert not r.ok, (name, r)


# --unsafe-sandbox has the guard alone: what it lets a solution open decides what it reads and
# writes on the host. Each of these opened the file for reading (the user's home) or writing.
ESCAPES = {
    "builtins.isinstance rebound": """
        import builtins
        _i = builtins.isinstance
        builtins.isinstance = lambda o, t: True if t is int else _i(o, t)
    """,
    "builtins.any rebound": """
        import builtins
        builtins.any = lambda it: True
    """,
    "posixpath's helpers rebound": """
        import posixpath
        import os
        here = os.getcwd() + "/x"
        posixpath._joinrealpath = lambda path, rest, strict, seen: (here, True)
        posixpath.realpath = lambda p, strict=False: here
    """,
    "a str subclass answering the hook's questions": """
        class P(str):
            def startswith(self, *a):
                return True
            def __eq__(self, o):
                return True
            __hash__ = str.__hash__
        import builtins
        _open = builtins.open
        builtins.open = lambda p, *a, **k: _open(P(p), *a, **k)
    """,
}


@pytest.mark.parametrize("name", list(ESCAPES))
def test_the_guard_alone_keeps_files_outside_the_work_dir(name, tmp_path):
    secret = tmp_path / "secret.txt"
    secret.write_text("sk-canary")
    target = tmp_path / "written.txt"
    code = textwrap.dedent(ESCAPES[name]) + (
        f"try:\n    print(open({str(secret)!r}).read(), flush=True)\nexcept BaseException:\n    pass\n"
        f"open({str(target)!r}, 'w').write('x')\n"
    )
    r = run_code(code, isolation="none")
    assert "sk-canary" not in r.stdout and not target.exists(), (name, r)
    assert r.reason == "sandbox violation", r


def test_the_guard_lets_honest_code_open_its_files(tmp_path):
    code = textwrap.dedent(
        """
        import os, json, pathlib
        os.mkdir("d")
        with open("d/../d/./a.txt", "w") as f:
            f.write("1")
        os.symlink("d/a.txt", "link")
        print(open("link").read(), open(b"d/a.txt").read(), open(os.getcwd() + "/d/a.txt").read())
        import collections.abc, decimal, fractions  # the standard library, through its links
        print(len(open(json.__file__).read()) > 0)
        """
    )
    for mode in MODES_RUN:
        r = run_code(code, isolation=mode)
        assert r.ok and r.stdout.split() == ["1", "1", "1", "True"], (mode, r)


# Python 3.13 (PEP 667): frame.f_locals writes through to a running frame's locals. _check's
# locals were what it ran after the solution: rebound there, the tests were a no-op or a
# failing test killed nothing. The guard runs in the interpreter it is given.
PY313 = Path("/root/.pyenv/versions/3.13.0/bin/python3")
PY313 = next(
    (p for p in (PY313, Path(shutil.which("python3.13") or "/nonexistent")) if p.exists()), None
)
PEP667 = {
    "_check's tests rebound": (
        "class G:\n    def send(self, ns):\n        return None\n    __next__ = send\n"
        "for n in list(sys._getframe(1).f_locals):\n"
        "    if 'tests' in n:\n        sys._getframe(1).f_locals[n] = G()\n"
    ),
    "_check's kill rebound": (
        "for n, v in list(sys._getframe(1).f_locals.items()):\n"
        "    if v is signal.raise_signal:\n        sys._getframe(1).f_locals[n] = lambda s: None\n"
    ),
    "the tests generator's exec rebound": (
        "for n, v in list(sys._getframe(1).f_locals.items()):\n"
        "    if hasattr(v, 'gi_frame') and v.gi_frame is not None:\n"
        "        for m, w in list(v.gi_frame.f_locals.items()):\n"
        "            if w is exec:\n                v.gi_frame.f_locals[m] = lambda *a: None\n"
    ),
}


@pytest.mark.skipif(PY313 is None, reason="no Python 3.13 here")
@pytest.mark.parametrize("name", list(PEP667))
def test_python_313_f_locals_cannot_rewrite_the_guard(name):
    code = "import sys, signal\ndef add(a, b):\n    return a - b\n" + PEP667[name]
    r = run_code(code, tests="assert add(1, 2) == 3", isolation=BEST, python=str(PY313))
    assert not r.ok, (name, r)
    honest = run_code(HONEST, tests="assert add(1, 2) == 3", isolation=BEST, python=str(PY313))
    assert honest.ok, honest


def test_unittest_cases_still_report_their_failures():
    # unittest formats a failed case's traceback (its frames' code, the tests' own) and goes
    # on: an expectedFailure passes, a failure is "tests failed", not a violation.
    from distill.filter.code import _pytest_suite, verify_code

    src = (
        "import unittest\nfrom solution import add\nclass TestAdd(unittest.TestCase):\n"
        "    def test_a(self):\n        self.assertEqual(add(1, 2), 3)\n"
        "    @unittest.expectedFailure\n    def test_b(self):\n        self.assertEqual(add(1, 2), 4)\n"
    )
    good = "```python\ndef add(a, b):\n    return a + b\n```"
    bad = "```python\ndef add(a, b):\n    return a - b\n```"
    assert verify_code(good, _pytest_suite(src), isolation=BEST) == ("correct", "asserts passed")
    assert verify_code(bad, _pytest_suite(src), isolation=BEST) == ("wrong", "tests failed")


@pytest.mark.parametrize("mode", MODES_RUN)
def test_stdin_opened_by_its_bytes_path_is_read(mode):
    r = run_code("print(open(b'/dev/stdin').read().strip())", stdin="hi", isolation=mode)
    assert r.ok and r.stdout.strip() == "hi", r
