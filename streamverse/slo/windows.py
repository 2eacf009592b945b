"""Multiwindow multi-burn-rate alert windows derived from the SLO period, as Sloth derives them.

Sloth (internal/alert/window.go) keeps, per period, four windows with the share of the error
budget each may spend (Google SRE workbook: page 2% in 1h/5m and 5% in 6h/30m, ticket 10% in
1d/2h and 10% in 3d/6h) and turns a share into a burn factor:

    factor = share% * period_hours / 100 / long_window_hours

so 30d gives 14.4/6/3/1 and 28d gives 13.44/5.6/2.8/0.9333. Sloth ships exactly these two
periods; any other needs a custom AlertWindows file there. We apply the same shares to any
period (a 7d SLO pages at 2% of its budget in an hour, not at 14.4x), which equals Sloth for
30d and 28d. The durations are spelt as Prometheus (and so Sloth) spell them: 28d is `4w`.
"""

from __future__ import annotations

from decimal import Decimal

from streamverse.slo.models import SLO

# (severity, budget share %, short window s, long window s), in Sloth's order: page quick, page
# slow, ticket quick, ticket slow.
GOOGLE_SHARES: tuple[tuple[str, float, float, float], ...] = (
    ("page", 2.0, 300.0, 3600.0),
    ("page", 5.0, 1800.0, 21600.0),
    ("ticket", 10.0, 7200.0, 86400.0),
    ("ticket", 10.0, 21600.0, 259200.0),
)
_UNITS = (
    ("y", 365 * 86400, True),
    ("w", 7 * 86400, True),
    ("d", 86400, False),
    ("h", 3600, False),
    ("m", 60, False),
    ("s", 1, False),
)


def prom_duration(seconds: float) -> str:
    """A duration as Prometheus' model.Duration writes it: 28d is 4w, 30d stays 30d, 90d stays 90d."""
    ms = int(round(seconds * 1000))
    if ms == 0:
        return "0s"
    out = ""
    for unit, size_s, exact in _UNITS:
        size = size_s * 1000
        if exact and ms % size:
            continue
        if ms // size:
            out += f"{ms // size}{unit}"
            ms -= (ms // size) * size
    return out + (f"{ms}ms" if ms else "")


def go_float(x: float) -> str:
    """A float as Go's %g/%v writes it (shortest digits; exponent below 1e-4 or from 1e6 up)."""
    if x != x:
        return "NaN"
    if x in (float("inf"), float("-inf")):
        return "+Inf" if x > 0 else "-Inf"
    if x == 0:
        return "0"
    sign, digits, exp = Decimal(repr(float(x))).normalize().as_tuple()
    text = "".join(map(str, digits))
    point = len(text) + int(exp)  # position of the decimal point in the digits
    e10 = point - 1
    if e10 < -4 or e10 >= 6:
        mant = text[0] + ("." + text[1:] if len(text) > 1 else "")
        out = f"{mant}e{'-' if e10 < 0 else '+'}{abs(e10):02d}"
    elif point <= 0:
        out = "0." + "0" * (-point) + text
    elif point >= len(text):
        out = text + "0" * (point - len(text))
    else:
        out = text[:point] + "." + text[point:]
    return ("-" if sign else "") + out


def burn_factor(period_s: float, share_percent: float, long_s: float) -> float:
    """Sloth's getBurnRateFactor, with its order of operations so the floats agree bit for bit."""
    hours_required = share_percent * (period_s / 3600.0) / 100
    return hours_required / (long_s / 3600.0)


def period_s(slo: SLO) -> float:
    """The SLO period the rules and the burn factors use (a calendar window's nominal length)."""
    return slo.window_s


def alert_conditions(slo: SLO) -> tuple[tuple[str, float, str, str], ...]:
    """(severity, burn factor, long window, short window) for each of the four alert windows."""
    p = period_s(slo)
    return tuple(
        (sev, burn_factor(p, share, long_s), prom_duration(long_s), prom_duration(short_s))
        for sev, share, short_s, long_s in GOOGLE_SHARES
    )


def alert_window_seconds() -> dict[str, float]:
    """Every short and long window by name, shortest first (Sloth records each of them)."""
    spans = sorted({s for _, _, short, long_ in GOOGLE_SHARES for s in (short, long_)})
    return {prom_duration(s): s for s in spans}
