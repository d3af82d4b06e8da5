"""A correct solution ending with the usual demo block

    if __name__ == "__main__":
        n = int(input())
        print(f(n))

was judged wrong in the function / assert layouts ("error before the tests ran": stdin held the
harness's token, or nothing): the solution ran as `__main__`. Their graders never run that
block (KodCode imports the file as `solution`, human-eval and MBPP exec it in a fresh dict,
APPS's and LiveCodeBench's call-based graders make it a module `tmp_sol`); now neither does the
verifier. The stdin layouts still run the solution as `__main__`: it reads its input there."""

import json
import textwrap

import pytest

from distill.filter.sandbox import MODES, probe
from distill.filter.verify import judge

ISOLATED = [m for m in MODES if probe(m) is None]
BEST = ISOLATED[0] if ISOLATED else "none"


def verdict(src: str, meta: dict) -> tuple[str, str]:
    answer = f"```python\n{textwrap.dedent(src).strip()}\n```\n"
    return judge({"answer": answer, "meta": meta}, "code", timeout=5, sandbox=BEST)


def _lcb(cases: list, fn: str | None = None) -> dict:
    meta = {"public_test_cases": json.dumps(cases), "private_test_cases": ""}
    if fn:
        meta["metadata"] = json.dumps({"func_name": fn})
    return meta


# every layout's tests of f(x) == 2 * x, as its dataset holds them
FUNCTION_LAYOUTS = {
    "MBPP": {"test_list": ["assert f(3) == 6", "assert f(0) == 0"]},
    "HumanEval": {
        "test": "def check(candidate):\n    assert candidate(3) == 6\n    assert candidate(0) == 0\n",
        "entry_point": "f",
        "prompt": "",
    },
    "KodCode pytest": {
        "test": "from solution import f\n\ndef test_f():\n    assert f(3) == 6\n    assert f(0) == 0\n"
    },
    "KodCode unittest": {
        "test": "import unittest\nfrom solution import f\n\n"
        "class TestF(unittest.TestCase):\n    def test_f(self):\n"
        "        self.assertEqual(f(3), 6)\n        self.assertEqual(f(0), 0)\n"
    },
    "APPS/TACO fn_name": {
        "input_output": json.dumps({"fn_name": "f", "inputs": [[3], [0]], "outputs": [[6], [0]]})
    },
    "LiveCodeBench functional": _lcb(
        [
            {"input": "3", "output": "6", "testtype": "functional"},
            {"input": "0", "output": "0", "testtype": "functional"},
        ],
        "f",
    ),
}

RIGHT = "def f(x):\n    return 2 * x\n"
WRONG = "def f(x):\n    return x + 3\n"  # right for 3, wrong for 0
# the demo blocks teachers append: one reads the input, one prints an example and ends the
# program (sys.exit(main()), as scripts do)
READS = '\nif __name__ == "__main__":\n    n = int(input())\n    print(f(n))\n'
PRINTS = (
    "\nimport sys\n\ndef main():\n    print(f(21))  # Output: 42\n    return 0\n\n"
    'if __name__ == "__main__":\n    sys.exit(main())\n'
)


@pytest.mark.parametrize("layout", FUNCTION_LAYOUTS)
@pytest.mark.parametrize("block", [READS, PRINTS], ids=["reads", "prints"])
def test_a_correct_solution_with_a_main_block_passes(layout, block):
    assert verdict(RIGHT + block, FUNCTION_LAYOUTS[layout])[0] == "correct"


@pytest.mark.parametrize("layout", FUNCTION_LAYOUTS)
@pytest.mark.parametrize("block", [READS, PRINTS], ids=["reads", "prints"])
def test_a_wrong_solution_with_a_main_block_still_fails(layout, block):
    assert verdict(WRONG + block, FUNCTION_LAYOUTS[layout])[0] == "wrong"


def test_a_leetcode_solution_class_with_a_main_block_passes():
    src = (
        "class Solution:\n    def f(self, x):\n        return 2 * x\n\n"
        'if __name__ == "__main__":\n    print(Solution().f(int(input())))\n'
    )
    assert verdict(src, FUNCTION_LAYOUTS["LiveCodeBench functional"])[0] == "correct"


def test_the_solution_is_its_graders_module():
    """The solution's module is named, and found, as its grader's: a dataclass (whose string
    annotations look the class's module up in sys.modules) works, KodCode's instances pickle."""
    src = """
        import dataclasses, pickle, sys
        @dataclasses.dataclass
        class P:
            x: "int"
        NAME = __name__
        def f(x):
            if NAME != "builtins":  # (as human-eval's exec: no module of its own to pickle by)
                assert pickle.loads(pickle.dumps(P(x))) == P(x)
            return 2 * P(x).x
        """
    for layout, meta in FUNCTION_LAYOUTS.items():
        assert verdict(src, meta)[0] == "correct", layout
    names = {"MBPP": "builtins", "HumanEval": "builtins", "KodCode pytest": "solution"}
    for layout, name in names.items():
        named = src.replace("return 2 * P(x).x", f"return 2 * P(x).x if NAME == {name!r} else 0")
        assert verdict(named, FUNCTION_LAYOUTS[layout])[0] == "correct", layout


def test_the_module_name_leads_to_nothing_of_the_harness():
    """A wrong solution looking for the harness through its module (sys.modules[__name__],
    __main__'s) and putting itself back under __main__ finds nothing that makes it pass."""
    src = """
        import sys
        def f(x):
            return x + 3
        for m in {sys.modules.get(__name__), sys.modules.get("__main__")}:
            for k, v in list(vars(m).items()) if m is not None else ():
                if "distill" in k and callable(v):
                    setattr(m, k, lambda *a, **kw: None)
        __name__ = "__main__"
        sys.modules["solution"] = sys.modules["tmp_sol"] = sys.modules["__main__"]
        """
    for layout, meta in FUNCTION_LAYOUTS.items():
        assert verdict(src, meta)[0] == "wrong", layout


# ------------------------------------------------------------------------------ stdin layouts

STDIN_LAYOUTS = {
    "APPS/TACO stdin": {
        "input_output": json.dumps({"inputs": ["3\n", "0\n"], "outputs": ["6\n", "0\n"]})
    },
    "code_contests": {
        "public_tests": {"input": ["3\n"], "output": ["6\n"]},
        "private_tests": {"input": ["0\n"], "output": ["0\n"]},
    },
    "codeforces": {
        "official_tests": [{"input": "3\n", "output": "6\n"}, {"input": "0\n", "output": "0\n"}]
    },
    "open-r1 verification_info": {
        "verification_info": {
            "language": "python",
            "test_cases": [
                {"input": "3\n", "output": "6\n", "type": "stdin_stdout"},
                {"input": "0\n", "output": "0\n", "type": "stdin_stdout"},
            ],
        }
    },
    "LiveCodeBench stdin": _lcb(
        [
            {"input": "3\n", "output": "6\n", "testtype": "stdin"},
            {"input": "0\n", "output": "0\n", "testtype": "stdin"},
        ]
    ),
}


@pytest.mark.parametrize("layout", STDIN_LAYOUTS)
def test_a_stdin_solution_still_reads_its_input_in_its_main_block(layout):
    src = "def f(x):\n    return 2 * x\n" + READS
    assert verdict(src, STDIN_LAYOUTS[layout])[0] == "correct"
    src = "def f(x):\n    return x + 3\n" + READS
    assert verdict(src, STDIN_LAYOUTS[layout])[0] == "wrong"
