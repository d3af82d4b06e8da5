"""URLs as a run records them: no credentials.

A server URL may carry a secret (`https://user:token@host/v1`, `...?api_key=...`). What a run
writes (train.yaml, kd.json, a stage's yaml, the model card, error lines) names the server by
scheme, host, port and path only; a key belongs in an env var ($OPENAI_API_KEY):

    redact_url("https://u:tok@h:8000/v1?api_key=k")  # -> "https://h:8000/v1"
    redact_urls({"teacher": "T@https://u:tok@h/v1"})  # -> {"teacher": "T@https://h/v1"}

A train --resume compares URLs so (another token is the same server) and asks for a URL its
command left out, which train.yaml cannot give back (train/sft.py).
"""

from __future__ import annotations

import re
from typing import Any

# userinfo (RFC 3986 lets a password hold ( ) ' ! * unencoded: up to the last @ before the host),
# then host, port and path (stopping at a bracket or quote around the URL), then a query or
# fragment to the next space or double quote (a secret may hold anything, ' ( ) too: the URL's
# text goes with it; a URL opened by ' - a list's repr - ends its query at the next ')
_URL = re.compile(
    r"(?P<base>https?://(?:[^\s/?#\"`<>]*@)?[^\s'\"`<>()?#]*)(?P<query>[?#][^\s\"`<>]*)?",
    re.IGNORECASE,
)


def _redacted(m: re.Match[str]) -> str:
    query, tail = m.group("query") or "", ""
    if m.start() and m.string[m.start() - 1] == "'" and "'" in query:
        query, tail = query[: query.index("'")], query[query.index("'") :]
    return redact_url(m.group("base") + query) + tail


def redact_url(url: str) -> str:
    """`url` (a server URL a flag or key gave) without its userinfo, query string and fragment.
    One written without its scheme (`host:8000/v1?api_key=k`, `me:tok@host/v1`), which no client
    reaches, is named as typed by the error line it gets and the yaml saved before it: without
    the `?`/`#` part and whatever precedes an `@`. Text that is neither is returned as it is."""
    from urllib.parse import urlsplit, urlunsplit

    try:
        p = urlsplit(url)
    except ValueError:
        p = None
    if p is not None and p.scheme.lower() in ("http", "https") and p.netloc:
        return urlunsplit((p.scheme, p.netloc.rpartition("@")[2], p.path, "", ""))
    return re.split(r"[?#]", url, maxsplit=1)[0].rpartition("@")[2]


def split_query(url: str) -> tuple[str, dict[str, str] | None]:
    """(the URL without its query, the query as a dict or None). An openai client appends its
    route to the base URL's raw path, a query included (`/v1?api-version=x` + `/chat/completions`
    -> POST `/v1?api-version=x/chat/completions`): the query goes as its `default_query`."""
    from urllib.parse import parse_qsl, urlsplit, urlunsplit

    p = urlsplit(url)
    if not p.query:
        return url, None
    pairs = parse_qsl(p.query, keep_blank_values=True)
    query = dict(pairs)
    if len(query) < len(pairs):  # a dict keeps the last; the client's query is a dict
        twice = next(k for k in query if sum(x == k for x, _ in pairs) > 1)
        from distill.errors import DistillError

        raise DistillError(
            f"{redact_url(url)}: its query gives '{twice}' more than once, which the OpenAI "
            "client cannot send as given: give each key once"
        )
    return urlunsplit((p.scheme, p.netloc, p.path, "", "")), query


def url_secrets(url: str) -> list[str]:
    """What of `url` a server's error text may echo and an error line must not show: its query
    values and its password (those of 3 characters or more; shorter ones would blank out
    ordinary text)."""
    from urllib.parse import unquote, urlsplit

    # as written and as decoded: the client sends the query encoded again and the password
    # decoded (basic auth), and a server or proxy may echo either (`?api_key=ab%2Bc` is 'ab+c')
    raw = urlsplit(url)
    found = [*(split_query(url)[1] or {}).values(), raw.password or ""]
    found += [v for _, _, v in (x.partition("=") for x in raw.query.split("&"))]
    found += [unquote(raw.password or "")]
    return list(dict.fromkeys(s for s in found if len(s) >= 3))


def redact_urls(value: Any) -> Any:
    """`value` (a string, or lists and dicts of them, e.g. a kd.json state) with every http(s)
    URL in its strings redacted; other values as they are."""
    if isinstance(value, str):
        return _URL.sub(_redacted, value)
    if isinstance(value, list):
        return [redact_urls(v) for v in value]
    if isinstance(value, dict):
        return {k: redact_urls(v) for k, v in value.items()}
    return value
