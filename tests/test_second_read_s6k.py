"""Second read of the sandbox guard's fixes 5687693, 7ebc236, ed11828, cc3601c.

5687693 made reading the code of any function the tests define a violation. A KodCode test
hands the solution functions of its own (a decorator's target, a callback, a lambda), and an
honest solution asks for their signature (inspect.signature, asyncio.iscoroutinefunction,
__code__.co_argcount): that killed it as a violation, and the correct sample was dropped.
What the tests define inside a test function or as a lambda is a value they pass around; the
code that holds the expected values (the tests' module, their top-level functions, their
frames) stays out of reach."""

import functools
from pathlib import Path

import pytest

from distill.filter import sandbox
from distill.filter.code import _pytest_suite, verify_code
from distill.filter.sandbox import MODES, probe

ISOLATED = [m for m in MODES if probe(m) is None]
BEST = ISOLATED[0] if ISOLATED else "none"
# the interpreters solutions run under in practice, where this host has them
PYTHONS = [None] + [
    str(p)
    for p in (
        Path("/root/.pyenv/versions/3.10.13/bin/python3"),
        Path("/root/.pyenv/versions/3.13.0/bin/python3"),
    )
    if p.exists()
]


def _verify(monkeypatch, python, code, test_file):
    if python is not None:
        monkeypatch.setattr(sandbox, "run_code", functools.partial(sandbox.run_code, python=python))
    return verify_code(f"```python\n{code}\n```", _pytest_suite(test_file), isolation=BEST)


HONEST = {
    # a type-checking decorator: the test decorates a function of its own
    "signature": (
        "import functools, inspect\n"
        "def checked(f):\n"
        "    sig = inspect.signature(f)\n"
        "    @functools.wraps(f)\n"
        "    def w(*a, **k):\n"
        "        sig.bind(*a, **k)\n"
        "        return f(*a, **k)\n"
        "    return w\n",
        "from solution import checked\n"
        "def test_checked():\n"
        "    @checked\n"
        "    def add(a, b):\n"
        "        return a + b\n"
        "    assert add(1, 2) == 3\n",
    ),
    # a callback taking as many arguments as it declares
    "argcount": (
        "def apply(f, *args):\n    return f(*args[: f.__code__.co_argcount])\n",
        "from solution import apply\ndef test_apply():\n    assert apply(lambda x: x * 2, 3, 4) == 6\n",
    ),
    # sync or async callback (asyncio.run would open a socketpair: a violation of its own)
    "coroutine": (
        "import inspect\n"
        "def run(f):\n"
        "    if not inspect.iscoroutinefunction(f):\n"
        "        return f()\n"
        "    try:\n"
        "        f().send(None)\n"
        "    except StopIteration as e:\n"
        "        return e.value\n",
        "from solution import run\n"
        "def test_run():\n"
        "    async def g():\n"
        "        return 5\n"
        "    assert run(g) == 5\n"
        "    assert run(lambda: 4) == 4\n",
    ),
}


@pytest.mark.parametrize("python", PYTHONS)
@pytest.mark.parametrize("name", sorted(HONEST))
def test_an_honest_solution_may_read_the_code_of_functions_the_tests_pass_it(
    name, python, monkeypatch
):
    code, tests = HONEST[name]
    assert _verify(monkeypatch, python, code, tests) == ("correct", "asserts passed")


def test_the_tests_own_functions_stay_out_of_reach():
    # the test function, found among the globals the tests share with the solution: its
    # constants are the expected values
    code = (
        "def add(a, b):\n"
        "    import sys\n"
        "    g = sys._getframe(0).f_globals\n"
        "    f = next(v for k, v in g.items() if k.startswith('test_'))\n"
        "    return max(c for c in f.__code__.co_consts if type(c) is int)\n"
    )
    tests = "from solution import add\ndef test_add():\n    assert add(1, 2) == 7\n"
    assert _verify(None, None, code, tests)[0] == "wrong"
