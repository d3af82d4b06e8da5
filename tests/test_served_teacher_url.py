"""A served teacher's --teacher-url with a query string (`...?api_key=`): the OpenAI client
appends its route to the base URL's raw path, query included, so the query must be sent as
the client's default query, not left in the base URL (review of e027201)."""

from __future__ import annotations

import threading
from http.server import BaseHTTPRequestHandler, HTTPServer

import pytest

from distill.errors import DistillError


@pytest.fixture
def echo_server():
    """Answers every POST 401 with a body naming the request line (as a proxy's page may)."""
    seen: list[str] = []

    class H(BaseHTTPRequestHandler):
        def do_POST(self):  # noqa: N802
            seen.append(self.path)
            self.rfile.read(int(self.headers.get("Content-Length") or 0))
            body = f'{{"error": {{"message": "bad key in POST {self.path}"}}}}'.encode()
            self.send_response(401)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *a):
            pass

    server = HTTPServer(("127.0.0.1", 0), H)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"127.0.0.1:{server.server_address[1]}", seen
    server.shutdown()
    server.server_close()


def test_the_query_of_a_teacher_url_goes_with_the_completions_route(echo_server, monkeypatch):
    """Was: POST /v1/?api_key=k3ycompletions (the route glued onto the key: a 404 everywhere, or
    another key); now POST /v1/completions?api_key=k3y. A server echoing the query back in its
    error text does not put the key in the error line."""
    from distill.teachers.scorers import ServedTeacher

    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    host, seen = echo_server
    t = ServedTeacher(f"http://{host}/v1?api_key=k3y&x=1", "T", 4, None, "S")
    with pytest.raises(DistillError) as e:
        t.score([[1, 2, 3]])
    assert seen and all(p == "/v1/completions?api_key=k3y&x=1" for p in seen), seen
    assert "HTTP 401" in str(e.value) and f"http://{host}/v1:" in str(e.value)
    assert "k3y" not in str(e.value)


def test_a_teacher_url_without_a_query_is_as_before(echo_server, monkeypatch):
    from distill.teachers.scorers import ServedTeacher

    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    host, seen = echo_server
    with pytest.raises(DistillError):
        ServedTeacher(f"http://{host}/v1/", "T", 4, None, "S").score([[1, 2, 3]])
    assert seen and all(p == "/v1/completions" for p in seen), seen
