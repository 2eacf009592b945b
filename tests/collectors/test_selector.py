"""Selector parsing and matching, including where errors point."""

from __future__ import annotations

import pytest

from streamverse.collectors.selector import SelectorError, parse_selector


def test_all_four_operators_match_like_prometheus():
    sel = parse_selector('http_requests_total{code=~"5..", region!="eu", pop!~"test.*", job="edge"}')
    assert sel.name == "http_requests_total"
    base = {"__name__": "http_requests_total", "code": "503", "region": "us", "pop": "nyc", "job": "edge"}
    assert sel.matches(base)
    assert not sel.matches({**base, "code": "200"})
    assert not sel.matches({**base, "code": "5030"})  # regexes are anchored
    assert not sel.matches({**base, "region": "eu"})
    assert not sel.matches({**base, "pop": "test-1"})
    assert not sel.matches({**base, "job": "origin"})
    assert not sel.matches({**base, "__name__": "other"})


def test_missing_labels_count_as_empty():
    sel = parse_selector('up{zone=""}')
    assert sel.matches({"__name__": "up"})
    assert not sel.matches({"__name__": "up", "zone": "a"})
    assert parse_selector('up{zone!=""}').matches({"__name__": "up", "zone": "a"})


def test_forms_without_name_quotes_escapes_and_spaces():
    sel = parse_selector('{__name__=~"sv_.*", region = \'us-east\' ,}')
    assert sel.name is None
    assert sel.matches({"__name__": "sv_x", "region": "us-east"})
    assert parse_selector("  up  ").matches({"__name__": "up", "any": "thing"})
    assert parse_selector('m{a="q\\"uote\\\\"}').matchers[1].value == 'q"uote\\'
    assert parse_selector("ns:metric:rate5m").name == "ns:metric:rate5m"


@pytest.mark.parametrize(("text", "column", "words"), [
    ('up{a="x"', 9, "missing '}'"),
    ("up{a=x}", 6, "quoted value"),
    ('up{a~"x"}', 5, "= != =~ !~"),
    ('up{1a="x"}', 4, "label name"),
    ('up{a="x" b="y"}', 10, "',' or '}'"),
    ('up{a=~"("}', 7, "regular expression"),
    ('up{a="x"} junk', 11, "unexpected"),
    ('up{a="x\\q"}', 8, "escape"),
    ('up{a="x}', 6, "unterminated"),
    ('{a=""}', 1, "matches every series"),
    ("", 1, "empty selector"),
    ("9up", 1, "metric name"),
])
def test_errors_say_what_and_where(text, column, words):
    with pytest.raises(SelectorError) as err:
        parse_selector(text)
    assert err.value.pos + 1 == column, str(err.value)
    assert words in str(err.value)
    assert f"column {column}" in str(err.value)
    assert isinstance(err.value, ValueError)
