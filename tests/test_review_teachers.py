"""Review of the teacher backends and the code sandbox: each test failed before its fix."""

from __future__ import annotations

import pytest

from distill.errors import DistillError
from tests.test_teachers_openai import Collect, jobs, teacher


def test_logprobs_from_a_server_that_sends_token_text_stop_at_its_first_reply(server, monkeypatch):
    """A server that ignores return_tokens_as_token_ids (OpenAI's own API) fails every reply's
    parse; that parse ran in the deferred writer, whose error waited for the end of the run,
    so every remaining prompt was still asked (and paid) with no record written."""
    import tests.fakeserver as fs

    real = fs.fake_logprobs
    monkeypatch.setattr(
        fs, "fake_logprobs", lambda text, k, stopped, as_ids: real(text, k, stopped, False)
    )
    t = teacher(server, logprobs=3, concurrency=2)
    with pytest.raises(DistillError, match="token text"):
        t.run(jobs(40), Collect())
    assert len(server.log) <= 4  # the workers in flight, not the whole run


SOURCE_READER = """```python
import os, re
def add(a, b):
    return a - b
mark = re.search(r"distill-tests-done-[0-9a-f]+", open("/in/solution.py").read()).group(0)
os.write(1, mark.encode())
os._exit(0)
```"""


def test_a_solution_cannot_read_its_own_program_for_the_tests_done_mark():
    """The asserts' done-mark is in the program the sandbox runs (/in/solution.py), which the
    guard let the solution read: it printed the mark and exited before the failing assert."""
    from distill.filter.sandbox import isolation
    from distill.filter.verify import verify_code

    mode = isolation()
    if mode is None:
        pytest.skip("no OS isolation here")
    verdict, why = verify_code(SOURCE_READER, ["assert add(1, 2) == 3"], isolation=mode)
    assert verdict == "wrong", why


def test_tpm_books_every_sample_a_request_asks_for(server, monkeypatch):
    """--tpm with n>1 in one request booked one sample's max_tokens: the first wave sent n
    times the token budget (a provider counts max_tokens x n against TPM at once)."""
    from distill.teachers.openai import Pacer

    booked = []
    real = Pacer.reserve
    monkeypatch.setattr(
        Pacer, "reserve", lambda self, amount: booked.append(amount) or real(self, amount)
    )
    t = teacher(server, tpm=1e9, max_tokens=100)
    t.run(jobs(1, n=4), Collect())
    prompt = len("What is 0 + 1?") // 4
    assert booked == [prompt + 4 * 100]
