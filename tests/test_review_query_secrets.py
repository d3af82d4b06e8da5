"""Review of 2ceb0f5 (a `?query` in generate's --base-url goes as the client's default query):
the cases the change missed."""

import pytest

from distill.errors import DistillError
from distill.generate import run
from distill.teachers.openai import resolve_api_key
from tests.fakebatch import FakeBatchServer
from tests.test_batch import cfg

SECRET = "sigSECRET12345"


def test_a_batch_error_line_is_shown_without_the_query_secret(tmp_path, capsys):
    """The online path scrubs the URL's query values from a server's words; the batch path
    scrubbed the key alone, so a provider echoing the request's query (the batch's error
    message here) put `?sig=...` into the console line and the one-line error."""
    s = FakeBatchServer().start()
    try:
        s.plans.append({"fail": f"rejected {s.url}/batches?sig={SECRET}"})
        out = tmp_path / "t.jsonl"
        with pytest.raises(DistillError) as e:
            run(cfg(s, out, base_url=f"{s.url}?sig={SECRET}", limit=2, n=1), progress=False)
        assert "rejected" in str(e.value) and SECRET not in str(e.value)
        assert SECRET not in capsys.readouterr().out
    finally:
        s.stop()


@pytest.mark.parametrize("url", ["https://api.openai.com/v1?x=1", "https://api.openai.com/v1/?x=1"])
def test_openai_with_a_query_and_no_key_is_refused(url, monkeypatch):
    """OpenAI's own URL with a query still needs a key: without one it was sent as 'EMPTY'
    (a 401 naming a refused key) instead of the one line saying to set the variable."""
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    with pytest.raises(DistillError, match=r"no API key: set \$OPENAI_API_KEY"):
        resolve_api_key("OPENAI_API_KEY", url)
    assert resolve_api_key("OPENAI_API_KEY", "http://127.0.0.1:8000/v1?x=1") == "EMPTY"
