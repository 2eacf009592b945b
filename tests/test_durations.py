import pytest

from streamverse.durations import format_duration, parse_duration
from streamverse.errors import UsageError
from streamverse.sizes import parse_size


@pytest.mark.parametrize(("text", "seconds"), [
    ("90s", 90), ("15m", 900), ("2h", 7200), ("30d", 2592000), ("1h30m", 5400), ("250ms", 0.25),
    ("42", 42)])
def test_parse_duration(text, seconds):
    assert parse_duration(text) == seconds


@pytest.mark.parametrize("text", ["", "2x", "h", "1h 2", "-5m"])
def test_parse_duration_rejects(text):
    with pytest.raises(UsageError):
        parse_duration(text)


def test_format_duration_round_trips():
    for s in (5, 60, 300, 3600, 86400, 2592000):
        assert parse_duration(format_duration(s)) == s


def test_sizes():
    assert parse_size("400TB") == 400 * 10**12
    assert parse_size("64MiB") == 64 * 2**20
    with pytest.raises(ValueError):
        parse_size("big")
