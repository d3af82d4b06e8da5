"""URLs as a run records them: no credentials.

A server URL may carry a secret (`https://user:token@host/v1`, `...?api_key=...`). What a run
writes for people to read (kd.json, the model card, error lines, the train.yaml a publish
uploads) names the server by scheme, host, port and path only:

    redact_url("https://u:tok@h:8000/v1?api_key=k")  # -> "https://h:8000/v1"
    redact_urls({"teacher": "T@https://u:tok@h/v1"})  # -> {"teacher": "T@https://h/v1"}

The run's own train.yaml keeps the URL as given (a resume and a rerun reach the same server).
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
    """`url` without its userinfo, query string and fragment; anything not an http(s) URL with a
    host is returned as it is."""
    from urllib.parse import urlsplit, urlunsplit

    try:
        p = urlsplit(url)
    except ValueError:
        return url
    if p.scheme.lower() not in ("http", "https") or not p.netloc:
        return url
    return urlunsplit((p.scheme, p.netloc.rpartition("@")[2], p.path, "", ""))


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
    from urllib.parse import urlsplit

    found = [*(split_query(url)[1] or {}).values(), urlsplit(url).password or ""]
    return [s for s in found if len(s) >= 3]


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
