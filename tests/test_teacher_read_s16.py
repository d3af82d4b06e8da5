# ruff: noqa: F811 - the serve fixture, imported from tests/servers.py
"""A second read of the openai teacher's s16 changes, against Python's http.server
(tests/test_teacher_replies_s16.py's), on both ways a request goes (its first try straight on
aiohttp, or every try through the openai client with a proxy variable set).

5799778 stopped the run at the first 2xx whose body is not JSON, so one proxy page among
thousands of good replies (at --concurrency 64) stopped a long run that its one extra try used to
carry, and dropped every reply in flight (generated, paid again by the rerun). The server that is
no OpenAI API (SSE by default, a portal) still stops the run at its first reply; one bad reply
after good ones fails its prompt alone, not asked again, and the rerun asks it."""

import pytest

from distill.errors import DistillError
from distill.generate import run
from distill.records import read_records
from distill.teachers.openai import SAME_4XX
from tests.servers import serve  # noqa: F401 - the fixture
from tests.test_teacher_replies_s16 import JSON, cfg, chat

PAGE = b"<html><body>502 upstream busy</body></html>"


@pytest.fixture(autouse=True)
def no_backoff(monkeypatch):
    from openai._base_client import BaseClient

    monkeypatch.setattr(BaseClient, "_calculate_retry_timeout", lambda *a, **k: 0.01)


@pytest.fixture(params=["direct", "through a proxy's client"])
def path(request, monkeypatch):
    if request.param != "direct":
        monkeypatch.setenv("HTTP_PROXY", "http://127.0.0.1:9")
        monkeypatch.setenv("NO_PROXY", "127.0.0.1")
    return request.param


@pytest.mark.parametrize("kind", ["text/html", JSON], ids=["html", "html as json"])
def test_one_page_among_good_replies_fails_its_prompt_not_the_run(serve, path, tmp_path, kind):
    # request 20 is sent once a worker had a JSON reply (16 in flight): a blip mid-run
    server = serve(lambda k: (200, PAGE, kind) if k == 20 else (200, chat(), JSON))
    out = tmp_path / "t.jsonl"
    with pytest.raises(DistillError) as e:
        run(cfg(server.url, out, limit=40, concurrency=16), progress=False)
    said = str(e.value)
    assert said.startswith("1 samples failed: POST /chat/completions answered '<html>")
    assert "not a JSON object (not asked again)" in said and "rerun the same command" in said
    # before: the run stopped at it, the other replies in flight dropped
    assert len(server.log) == 40  # each asked once: the page was not asked again
    assert len(list(read_records(out))) == 39
    run(cfg(server.url, out, limit=40, concurrency=16), progress=False)  # asks the one left
    assert len(server.log) == 41 and len(list(read_records(out))) == 40


def test_pages_that_keep_coming_after_good_replies_stop_the_run(serve, path, tmp_path):
    # a proxy that serves its page from now on: not every prompt failed in turn
    server = serve(lambda k: (200, chat(), JSON) if k == 0 else (200, PAGE, "text/html"))
    out = tmp_path / "t.jsonl"
    with pytest.raises(
        DistillError,
        match=rf"not a JSON object, {SAME_4XX} replies in a row after JSON ones; check --base-url",
    ):
        run(cfg(server.url, out, limit=50), progress=False)
    assert len(server.log) == 1 + SAME_4XX
    assert len(list(read_records(out))) == 1


def test_a_first_reply_that_is_not_json_still_stops_the_run_at_once(serve, path, tmp_path):
    server = serve(lambda k: (200, PAGE, "text/html"))
    out = tmp_path / "t.jsonl"
    with pytest.raises(DistillError, match=r"answered '<html>.*not a JSON object; check --base"):
        run(cfg(server.url, out, limit=5), progress=False)
    assert len(server.log) == 1 and list(read_records(out)) == []
