"""redact_urls and a ' inside a query (RFC 3986 lets a query hold it unencoded; review of
0bd214d, which removed ( ) ' whole from a password and ( ) from a query, not ' from a query)."""

from distill.urls import redact_urls


def test_a_query_holding_a_quote_is_removed_whole():
    # was 'https://h/v1'cd': the rest of the secret after the '
    assert redact_urls("https://h/v1?api_key=ab'cd") == "https://h/v1"
    assert redact_urls("teacher URL http://h:8000/v1?k=a'b'c cannot connect") == (
        "teacher URL http://h:8000/v1 cannot connect"
    )
    assert redact_urls("T@https://h/v1#t=x'y") == "T@https://h/v1"


def test_a_url_in_quotes_still_ends_at_its_quote():
    # a list's repr: the ' after the query closes the URL, the rest is kept
    assert redact_urls("['https://h/v1?k=ab', 'x']") == "['https://h/v1', 'x']"
    assert redact_urls("teacher_url: 'https://u:p@h/v1?k=1' -> 'http://h2/v1'") == (
        "teacher_url: 'https://h/v1' -> 'http://h2/v1'"
    )
