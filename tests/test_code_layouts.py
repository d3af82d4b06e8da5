"""`--verify code` reads the tests of the public code datasets in their own layouts, and compares
outputs as each dataset's own grader does. Each layout runs an honest solution and wrong ones
through the real sandbox (as filter, eval and the on-policy reward run them, via `judge`).

Rows as the datasets hold them (generate keeps a row's fields in the trace's `meta`):
deepmind/code_contests, LiveCodeBench (code_generation_lite), openai_humaneval, MBPP (sanitized),
APPS/TACO call-based, open-r1's verifiable-coding-problems and codeforces, KodCode-V1.
"""

import base64
import json
import pickle
import textwrap
import zlib

from distill.filter.code import (
    _contests_match,
    _lcb_cases,
    _same_lines,
    code_tests,
    verify_code,
)
from distill.filter.sandbox import MODES, probe
from distill.filter.verify import judge

ISOLATED = [m for m in MODES if probe(m) is None]
BEST = ISOLATED[0] if ISOLATED else "none"


def fenced(src: str) -> str:
    return f"Here is my solution.\n```python\n{textwrap.dedent(src).strip()}\n```\n"


def verdict(src: str, meta: dict, timeout: float = 5) -> tuple[str, str]:
    return judge({"answer": fenced(src), "meta": meta}, "code", timeout=timeout, sandbox=BEST)


def lcb_private(cases: list) -> str:
    """LiveCodeBench's newer private_test_cases: JSON, pickled, zlib'd, base64'd."""
    return base64.b64encode(zlib.compress(pickle.dumps(json.dumps(cases)))).decode()


# ----------------------------------------------------------------------------- code_contests

CONTESTS = {
    "name": "1_A. two or not",
    "public_tests": {"input": ["2\n"], "output": ["YES\n"]},
    "private_tests": {"input": ["3\n"], "output": ["NO\n0.333333333\n"]},
    "generated_tests": {"input": ["4\n", "8\n"], "output": ["YES\n", "YES\n"]},
    "time_limit": {"seconds": 2, "nanos": 0},
}


def test_code_contests_runs_public_private_and_generated_tests():
    """deepmind/code_contests' tests (public_tests, private_tests, generated_tests, each
    {"input": [...], "output": [...]}) were not read: every trace was unverifiable."""
    honest = """
        n = int(input())
        if n % 2 == 0:
            print("yes")
        else:
            print("No")
            print(f"{1 / n:.7f}")
    """
    # code_contests' OutputsMatch: case-insensitive tokens, floats within 1e-5
    assert verdict(honest, CONTESTS) == ("correct", "4 tests")
    # right on the public and private tests, wrong on a generated one
    only_seen = 'n = int(input())\nprint("YES" if n in (2, 4) else "NO\\n0.333333333")'
    assert verdict(only_seen, CONTESTS) == ("wrong", "test 3: wrong output")
    # 0.3333 is 3e-5 away from 0.333333333: past the tolerance
    rough = honest.replace(":.7f", ":.4f")
    assert verdict(rough, CONTESTS) == ("wrong", "test 1: wrong output")
    # a problem read from and written to files (input_file/output_file) has no stdin tests
    files = dict(CONTESTS, input_file="input.txt", output_file="output.txt")
    assert verdict(honest, files)[0] == "unverifiable"


def test_code_contests_output_rule():
    assert _contests_match("Yes\n", "YES")
    assert _contests_match("1 2\n3", "1\n2 3\n")  # whitespace-separated tokens
    assert _contests_match("0.3333341", "0.333333333")  # 8e-7 < 1e-5
    assert not _contests_match("0.33336", "0.333333333")  # 2.7e-5
    assert _contests_match("2.0", "2")  # a number with a decimal point: within 1e-5
    assert not _contests_match("3", "2")
    assert not _contests_match("1 2", "1 2 3")
    assert not _contests_match("1_000", "1000")  # not a number to the grader


# ----------------------------------------------------------------------------- LiveCodeBench


def lcb_row(public: list, private: list, func_name: str | None = None) -> dict:
    meta = {"func_name": func_name} if func_name else {}
    return {
        "question_id": "abc100_a",
        "platform": "atcoder",
        "public_test_cases": json.dumps(public),
        "private_test_cases": lcb_private(private),
        "metadata": json.dumps(meta),
    }


def test_livecodebench_stdin_rows_run_public_and_private_tests():
    """LiveCodeBench rows (public_test_cases: a JSON string; private_test_cases: zlib'd, pickled,
    base64'd) were not read: every trace of LiveCodeBench was unverifiable."""
    row = lcb_row(
        [{"input": "3\n", "output": "6\n", "testtype": "stdin"}],
        [
            {"input": "5\n", "output": "10\n", "testtype": "stdin"},
            {"input": "1\n", "output": "2\n0.5\n", "testtype": "stdin"},
        ],
    )
    # LiveCodeBench's grader puts its imports before the solution: sys unimported is fine
    honest = "n = int(sys.stdin.readline())\nprint(2 * n)\nif n == 1:\n    print('0.50')"
    assert verdict(honest, row) == ("correct", "3 tests")  # 0.50 is 0.5 as decimals
    public_only = "n = int(input())\nprint(6 if n == 3 else 0)"
    assert verdict(public_only, row) == ("wrong", "test 1: wrong output")


def test_livecodebench_compares_lines_as_its_grader():
    """LiveCodeBench's grade_stdio: the same number of lines, each equal when stripped or as
    decimals. The token comparison passed a two-line answer printed on one line, and failed
    1.0 for 1."""
    tests = [{"input": "2\n", "output": "1\n2\n", "testtype": "stdin"}]
    one_line = fenced("input()\nprint(1, 2)")
    assert verify_code(one_line, tests, isolation=BEST)[0] == "wrong"
    decimals = fenced("input()\nprint('1.0')\nprint(' 2 ')")
    assert verify_code(decimals, tests, isolation=BEST) == ("correct", "1 tests")
    assert _same_lines("1 2.50\n\n", "1 2.5", numbers=True)
    assert not _same_lines("1 2.5001", "1 2.5", numbers=True)  # equal decimals, no tolerance
    assert not _same_lines("1.0", "1", numbers=False)


def test_livecodebench_functional_rows_call_the_solution_method():
    """LeetCode problems (testtype "functional", metadata.func_name): each input line is one
    JSON argument of Solution().<func_name>, the value compared with the JSON output (a tuple
    counts as a list). They were unverifiable."""
    row = lcb_row(
        [{"input": "[1, 2]\n3", "output": "[4, 5]", "testtype": "functional"}],
        [{"input": "[]\n7", "output": "[]", "testtype": "functional"}],
        func_name="addAll",
    )
    honest = """
        class Solution:
            def addAll(self, nums: List[int], k: int) -> List[int]:
                return tuple(x + k for x in nums)
    """
    assert verdict(honest, row) == ("correct", "2 tests")
    wrong = honest.replace("x + k", "x * k")
    assert verdict(wrong, row) == ("wrong", "test 0: wrong answer")
    # an object that says it equals anything is not a value
    liar = """
        class Anything:
            def __eq__(self, other):
                return True
        class Solution:
            def addAll(self, nums, k):
                return Anything()
    """
    assert verdict(liar, row)[0] == "wrong"
    # a list whose == says yes is compared as the list it holds
    liar_list = """
        class Yes(list):
            def __eq__(self, other):
                return True
        class Solution:
            def addAll(self, nums, k):
                return Yes([0])
    """
    assert verdict(liar_list, row)[0] == "wrong"
    slow = """
        class Solution:
            def addAll(self, nums, k):
                while True:
                    pass
    """
    assert verdict(slow, row, timeout=1) == ("wrong", "timeout")
    no_name = dict(row, metadata="{}")
    assert verdict(honest, no_name)[0] == "unverifiable"


def test_livecodebench_private_tests_are_unpickled_as_strings_only():
    """The private tests are a pickle: one that names any class or function (code run by
    unpickling) is refused, never loaded."""

    class Boom:
        def __reduce__(self):
            return (print, ("unpickled!",))

    evil = base64.b64encode(zlib.compress(pickle.dumps(Boom()))).decode()
    assert _lcb_cases(evil) is None
    row = dict(lcb_row([{"input": "1\n", "output": "1\n", "testtype": "stdin"}], []))
    row["private_test_cases"] = evil
    assert verdict("print(input())", row) == ("unverifiable", "unrecognised private_test_cases")
    assert _lcb_cases(lcb_private([{"input": "1", "output": "2"}])) == [
        {"input": "1", "output": "2"}
    ]


# ----------------------------------------------------------------------------- HumanEval

HUMANEVAL = {
    "task_id": "HumanEval/38",
    "prompt": textwrap.dedent(
        '''
        def encode_cyclic(s: str):
            """returns encoded string by cycling groups of three characters."""
            groups = [s[(3 * i):min((3 * i + 3), len(s))] for i in range((len(s) + 2) // 3)]
            groups = [(group[1:] + group[0]) if len(group) == 3 else group for group in groups]
            return "".join(groups)


        def decode_cyclic(s: str):
            """
            takes as input string encoded with encode_cyclic function. Returns decoded string.
            """
        '''
    ),
    "test": textwrap.dedent(
        """
        METADATA = {}


        def check(candidate):
            for s in ["abcdef", "abcde", "a", ""]:
                assert candidate(encode_cyclic(s)) == s
        """
    ),
    "entry_point": "decode_cyclic",
}


def test_humaneval_rows_run_check_on_the_entry_point():
    """openai_humaneval's `test` defines check(candidate) and `entry_point` names the function:
    human-eval runs prompt + completion + test + check(entry_point). The row was unverifiable;
    the prompt's helpers (encode_cyclic here) are in the program as human-eval has them."""
    whole = """
        def decode_cyclic(s: str):
            return encode_cyclic(encode_cyclic(s))
    """
    assert verdict(whole, HUMANEVAL) == ("correct", "asserts passed")
    body_only = "    return encode_cyclic(encode_cyclic(s))"  # a completion of the prompt
    result = judge(
        {"answer": f"```python\n{body_only}\n```", "meta": HUMANEVAL}, "code", sandbox=BEST
    )
    assert result == ("correct", "asserts passed")
    wrong = "def decode_cyclic(s):\n    return encode_cyclic(s)"
    assert verdict(wrong, HUMANEVAL)[0] == "wrong"
    never_checked = "def decode_cyclic(s):\n    return s\nraise SystemExit"
    assert verdict(never_checked, HUMANEVAL)[0] == "wrong"
    assert verdict(whole, dict(HUMANEVAL, entry_point="x); import os; (y"))[0] == "unverifiable"


# ----------------------------------------------------------------------------- MBPP


def test_mbpp_test_imports_and_setup_code_run_before_the_asserts():
    """MBPP's grader runs test_setup_code and (sanitized) test_imports before test_list; the
    asserts ran alone, so `math.isclose` in them failed every honest solution that did not
    import math itself."""
    row = {
        "task_id": 17,
        "test_imports": ["import math"],
        "test_setup_code": "R = 3",
        "test_list": ["assert math.isclose(area(R), 28.274, rel_tol=1e-3)"],
    }
    assert verdict("def area(r):\n    return 3.14159 * r * r", row) == (
        "correct",
        "asserts passed",
    )
    assert verdict("def area(r):\n    return 2 * 3.14159 * r", row)[0] == "wrong"
    plain = {"test_list": ["assert area(1) == 3"], "test_imports": [], "test_setup_code": ""}
    assert code_tests(plain) == ["assert area(1) == 3"]  # as it always ran


# ----------------------------------------------------------------------------- APPS / TACO


def test_apps_call_based_tests_call_fn_name():
    """APPS/TACO `input_output` with fn_name: each input is the list of arguments, the output
    the value or [value] (APPS's grader takes either). They were unverifiable."""
    row = {
        "input_output": json.dumps(
            {"fn_name": "solve", "inputs": [[1, 2], [[3, 4], 5]], "outputs": [[3], [[8, 9]]]}
        )
    }
    honest = """
        def solve(a, b):
            if isinstance(a, list):
                return [x + b for x in a]
            return a + b
    """
    assert verdict(honest, row) == ("correct", "2 tests")
    assert verdict("def solve(a, b):\n    return 3", row) == ("wrong", "test 1: wrong answer")
    klass = (
        "class Solution:\n    def solve(self, a, b):\n        return a + b if a == 1 else [8, 9]"
    )
    assert verdict(klass, row) == ("correct", "2 tests")
    as_tests = {"tests": json.loads(row["input_output"])}  # the same under `tests`
    assert verdict(honest, as_tests) == ("correct", "2 tests")
    stdin = {"input_output": json.dumps({"inputs": ["1 2\n"], "outputs": ["3\n"]})}
    assert verdict("print(sum(map(int, input().split())))", stdin) == ("correct", "1 tests")


# ----------------------------------------------------------------------------- open-r1


def test_open_r1_verification_info():
    """open-r1/verifiable-coding-problems-python: verification_info {"language", "test_cases":
    [{"input", "output", "type": "stdin_stdout"}]}, compared line by line, stripped."""
    info = {
        "language": "python",
        "test_cases": [
            {"input": "2\n", "output": "4\n5 ", "type": "stdin_stdout"},
            {"input": "3\n", "output": "9\n10", "type": "stdin_stdout"},
        ],
    }
    row = {"problem": "...", "verification_info": json.dumps(info)}
    honest = "n = int(input())\nprint(n * n, ' ')\nprint(n * n + 1)"
    assert verdict(honest, row) == ("correct", "2 tests")
    first_line_only = "n = int(input())\nprint(n * n)"
    assert verdict(first_line_only, row) == ("wrong", "test 0: wrong output")
    cpp = {"verification_info": dict(info, language="cpp")}
    assert verdict(honest, cpp)[0] == "unverifiable"


def test_open_r1_codeforces_official_tests():
    """open-r1/codeforces: official_tests (+ generated_tests) as [{"input", "output"}]; a
    problem with its own checker cannot be judged by comparing outputs."""
    row = {
        "id": "1A",
        "official_tests": [{"input": "1 2\n", "output": "3\n"}],
        "generated_tests": [{"input": "5 5\n", "output": "10\n"}],
        "generated_checker": None,
        "input_mode": "stdio",
    }
    honest = "print(sum(map(int, input().split())))"
    assert verdict(honest, row) == ("correct", "2 tests")
    assert verdict("print(3)", row) == ("wrong", "test 1: wrong output")
    checker = dict(row, generated_checker="def check(): ...")
    assert verdict(honest, checker)[0] == "unverifiable"
    assert verdict(honest, dict(row, input_mode="file"))[0] == "unverifiable"


# ----------------------------------------------------------------------------- KodCode

KODCODE = textwrap.dedent(
    """
    from solution import add
    import pytest

    def test_add():
        assert add(1, 2) == 3

    @pytest.mark.parametrize("a, b, c", [(1, 1, 2), (2, 3, 5)])
    def test_param(a, b, c):
        assert add(a, b) == c

    def test_raises_and_approx():
        with pytest.raises(TypeError):
            add(1, None)
        assert add(0.1, 0.2) == pytest.approx(0.3)

    class TestMore:
        def test_negative(self):
            assert add(-1, -1) == -2
    """
)


def test_kodcode_pytest_files_run_against_the_solution():
    """KodCode-V1's `test` is a pytest file doing `from solution import ...`: it was unread."""
    row = {"question_id": "Prefill_1", "test": KODCODE, "test_info": [{"function_name": "add"}]}
    assert verdict("def add(a, b):\n    return a + b", row) == ("correct", "asserts passed")
    assert verdict("def add(a, b):\n    return a + b if a > 0 else 0", row)[0] == "wrong"
    assert verdict("def add(a, b):\n    return round(a + b)", row)[0] == "wrong"
    sft = {"test_code": KODCODE, "test_entry_point": "add"}  # KodCode-V1-SFT-R1's names
    assert verdict("def add(a, b):\n    return a + b", sft) == ("correct", "asserts passed")
    fixture = (
        KODCODE + "\n@pytest.fixture\ndef data():\n    return 1\n\ndef test_f(data):\n    pass\n"
    )
    assert verdict("def add(a, b):\n    return a + b", {"test": fixture})[0] == "unverifiable"
    # what runs only under pytest, or needs a package the sandbox lacks: no verdict, not "wrong"
    param = (
        KODCODE + "\n@pytest.mark.parametrize('x', [pytest.param(1)])\ndef test_x(x):\n    pass\n"
    )
    numpy = "import numpy as np\n" + KODCODE
    for source in (param, numpy):
        assert verdict("def add(a, b):\n    return a + b", {"test": source})[0] == "unverifiable"
    skipped = KODCODE + "\n@pytest.mark.skip(reason='later')\ndef test_later():\n    assert 0\n"
    assert verdict("def add(a, b):\n    return a + b", {"test": skipped})[0] == "correct"


# ----------------------------------------------------------------------------- carried


def test_the_on_policy_reward_carries_every_layouts_fields():
    """--reward code carries a row's test fields to the trainer (_META_KEYS); the new layouts'
    fields were left behind, so their samples had no tests to run."""
    from distill.train.kd.reward import _meta_of

    rows = [
        CONTESTS,
        lcb_row([{"input": "1", "output": "1", "testtype": "stdin"}], []),
        HUMANEVAL,
        {"test_list": ["assert f() == 1"], "test_imports": ["import math"]},
        {"verification_info": {"language": "python", "test_cases": []}},
        {"official_tests": [{"input": "1", "output": "1"}], "input_mode": "stdio"},
        {"test": KODCODE},
        {"test_code": KODCODE},
    ]
    for row in rows:
        meta = json.loads(_meta_of(row))
        assert type(code_tests(meta)) is type(code_tests(row)), row
        assert str(getattr(code_tests(meta), "__dict__", code_tests(meta))) == str(
            getattr(code_tests(row), "__dict__", code_tests(row))
        )


def test_the_on_policy_reward_verifies_the_new_layouts():
    from distill.train.kd.reward import _meta_of, reward_of

    honest = fenced('n = int(input())\nprint("YES" if n % 2 == 0 else "NO\\n0.3333333")')
    assert reward_of(honest, None, _meta_of(CONTESTS), "code", sandbox=BEST) == 1.0
