"""Second read of b059692 / 2f56f4d / b3b0870 (s12c): a stated choice letter followed by the
usual explanation of why the other options fail is the answer, not a hedge."""

import pytest

from distill.filter.verify import math_answer_key, verify_math

# ---------------------------------------------------------------- a stated letter, then reasons


@pytest.fixture(autouse=True)
def no_backoff(monkeypatch):
    """The openai client's wait between tries (0.5 s, 1 s, ...): these tests count requests and
    read verdicts, not the wait (tests/test_generate.py measures that)."""
    from openai._base_client import BaseClient

    monkeypatch.setattr(BaseClient, "_calculate_retry_timeout", lambda *a, **k: 0.01)


@pytest.mark.parametrize(
    "answer",
    [
        "The answer is B.\n\nOption A fails because x must be positive.",
        "**Answer: B**\n\n**Explanation:**\n- (A) is incorrect: it ignores friction.\n"
        "- (C) overstates the force.",
        "The correct answer is **B**.\n\nA and C are wrong: both double count.",
        "Answer: B\n\nThe other options (A, C, D) do not satisfy the condition.",
        "Therefore the answer is B.\n\nWhy not C? Because C counts the corner twice.",
    ],
)
def test_a_stated_letter_then_why_the_others_fail_is_the_answer(answer):
    """2f56f4d took any other choice named after the stated one for a walk-back: the common
    'answer, then why each other option fails' was judged wrong against its own right letter."""
    assert verify_math(answer, "B") == "correct"
    assert math_answer_key(answer) == math_answer_key("The answer is B.")


@pytest.mark.parametrize(
    "answer",
    [
        "The answer is B.\n\nWait... option C works, so C.",
        "Answer: B\n\nActually C.",
        "The answer is B.\n\nOption A fails. Hmm, but then (C) fits better.",
    ],
)
def test_a_letter_walked_back_is_still_a_hedge(answer):
    assert verify_math(answer, "B") == "wrong"


# ---------------------------------------------------------------- a URL that drops everything


class Closer:
    """A TCP server that reads each request's head and closes the connection without a word
    (no OpenAI API there: a wrong port, a plain-http request to a TLS port). Counts them."""

    def __init__(self):
        import socket
        import threading

        self.heads: list[str] = []
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.url = f"http://127.0.0.1:{self.sock.getsockname()[1]}/v1"
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self):
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            with conn:
                data = b""
                while b"\r\n\r\n" not in data:
                    got = conn.recv(65536)
                    if not got:
                        break
                    data += got
                if data:
                    self.heads.append(data.split(b"\r\n", 1)[0].decode())

    def stop(self):
        self.sock.close()


def test_a_url_that_drops_every_request_stops_after_the_first_at_concurrency_1(tmp_path):
    """b059692 counts the first 8 requests sent before it stops with 'check --base-url': at
    --concurrency 1 that is 8 requests one after the other, each with all its retries (~170 s
    at the default --max-retries 6, where one request's are ~21 s). A server that closes
    GET /models as well is no OpenAI API: the run stops after the first request's tries."""
    from distill.errors import DistillError
    from distill.generate import GenerateConfig, run

    server = Closer()
    try:
        cfg = GenerateConfig(
            data="builtin:arithmetic",
            limit=30,
            teacher="openai",
            base_url=server.url,
            model="m",
            n=1,
            concurrency=1,
            out=str(tmp_path / "t.jsonl"),
            max_retries=1,
        )
        with pytest.raises(DistillError, match="closed by the server.*check --base-url"):
            run(cfg, progress=False)
    finally:
        server.stop()
    posts = [h for h in server.heads if h.startswith("POST")]
    assert len(posts) == 2  # the first request, tried twice (--max-retries 1); not 8 of them
    assert any(h.startswith("GET /v1/models") for h in server.heads)
