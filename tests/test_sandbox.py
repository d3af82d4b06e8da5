"""Model-written code is stopped and reported, and the run goes on."""

import os

import pytest

from distill.filter.sandbox import run_code, verify_code


def test_good_code_runs_with_stdin():
    r = run_code("print(int(input()) * 2)", stdin="21")
    assert r.ok and r.stdout.strip() == "42"


@pytest.mark.parametrize(
    "name, code",
    [
        ("infinite loop", "while True:\n    pass"),
        ("fork bomb", "import os\nwhile True:\n    os.fork()"),
        (
            "network",
            "import socket\nsocket.create_connection(('127.0.0.1', 22), timeout=1)\nprint('connected')",
        ),
        ("memory hog", "x = bytearray(8 << 30)\nprint(len(x))"),
        ("subprocess", "import subprocess\nsubprocess.run(['echo', 'hi'])"),
    ],
)
def test_escapes_are_stopped(name, code):
    r = run_code(code, timeout=2, cpu_s=2)
    assert not r.ok, name
    assert "connected" not in r.stdout


def test_write_outside_its_temp_dir_is_refused(tmp_path):
    target = tmp_path / "pwned.txt"
    r = run_code(f"open({str(target)!r}, 'w').write('x')")
    assert not r.ok and not target.exists()
    r = run_code("open('inside.txt', 'w').write('x')\nprint(open('inside.txt').read())")
    assert r.ok and r.stdout.strip() == "x"


def test_timeout_kills_the_whole_process_group():
    r = run_code("import time\ntime.sleep(60)", timeout=1)
    assert r.reason == "timeout"


def test_verify_code_stdin_stdout_and_asserts():
    ans = "Here:\n```python\nn = int(input())\nprint(n * n)\n```"
    assert verify_code(ans, {"inputs": ["3\n", "4\n"], "outputs": ["9\n", "16\n"]})[0] == "correct"
    assert verify_code(ans, {"inputs": ["3\n"], "outputs": ["10\n"]})[0] == "wrong"
    fn = "```python\ndef add(a, b):\n    return a + b\n```"
    assert verify_code(fn, ["assert add(1, 2) == 3", "assert add(2, 2) == 4"])[0] == "correct"
    assert verify_code(fn, ["assert add(1, 2) == 4"])[0] == "wrong"
    assert verify_code("no code", ["assert True"])[0] == "no_answer"
    loop = "```python\nwhile True: pass\n```"
    assert verify_code(loop, ["assert True"], timeout=1)[0] == "wrong"


def test_no_stray_processes_left():
    run_code("import time\ntime.sleep(30)", timeout=0.5)
    mine = os.popen("ps -eo args").read()
    assert "time.sleep(30)" not in mine
