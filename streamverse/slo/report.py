"""The executive SLA report for a calendar month: attainment, bad minutes, money, credits, charts.

Figures come from the same event arrays as `slo status`; HTML embeds matplotlib charts as
PNG, the PDF is drawn by matplotlib (bundled DejaVu fonts, no system dependencies).
Money is USD with two decimals, times are UTC.
"""

from __future__ import annotations

import base64
import html
import io
import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from streamverse.clock import month_bounds, utc_iso
from streamverse.errors import UsageError
from streamverse.metricstore import MetricStore
from streamverse.slo.models import SLO
from streamverse.slo.service import fetch_events

REPORT_STEP_S = 300.0  # 5-minute resolution works for 30 s live data and 5 min backfills alike
# Customer tiers: monthly revenue and the credit owed when availability falls below each level.
DEFAULT_TIERS: dict[str, dict[str, Any]] = {
    "enterprise": {
        "monthly_revenue_usd": 4_000_000.0,
        "schedule": [[0.9999, 0.10], [0.999, 0.25], [0.99, 0.50]],
    },
    "business": {"monthly_revenue_usd": 1_500_000.0, "schedule": [[0.999, 0.10], [0.99, 0.25]]},
    "standard": {"monthly_revenue_usd": 500_000.0, "schedule": [[0.99, 0.10]]},
}


def _money(x: float) -> float:
    return round(float(x), 2)


def _row(
    slo: SLO,
    labels: dict[str, str],
    bad: np.ndarray,
    total: np.ndarray,
    *,
    minutes: float,
    step: float,
    cost: float,
) -> dict[str, Any]:
    with np.errstate(invalid="ignore", divide="ignore"):
        per_step = np.where(total > 0, bad / np.where(total > 0, total, 1), np.nan)
    has = total.sum() > 0
    attainment = 1.0 - bad.sum() / total.sum() if has else math.nan
    bad_minutes = float(np.nansum(per_step) * step / 60.0) if has else math.nan
    allowance = (1.0 - slo.objective) * minutes
    return {
        "id": slo.id,
        "service": slo.service,
        "name": slo.name,
        "slice": labels,
        "region": labels.get("region", "all"),
        "objective": slo.objective,
        "attainment": attainment,
        "met": bool(attainment >= slo.objective) if has else None,
        "bad_minutes": round(bad_minutes, 3) if has else None,
        "allowance_minutes": round(allowance, 3),
        "over_allowance_minutes": round(max(0.0, bad_minutes - allowance), 3) if has else None,
        "revenue_impact_usd": _money(bad_minutes * cost) if has else None,
        "critical": slo.labels.get("tier") == "critical",
        "data_coverage": float((total > 0).mean()) if len(total) else 0.0,
    }


def _credit(attainment: float, schedule: Sequence[Sequence[float]]) -> float:
    pct = 0.0
    for level, credit in schedule:
        if attainment < level:
            pct = max(pct, credit)
    return pct


def build_report(
    slos: Sequence[SLO],
    store: MetricStore,
    *,
    month: str,
    cost_per_minute: float = 100_000.0,
    tiers: dict[str, dict[str, Any]] | None = None,
    now: float | None = None,
) -> dict[str, Any]:
    """Every SLO (aggregate and per region) for a month; `_daily` feeds the charts."""
    start, end = month_bounds(month)
    if now is not None and start >= now:  # a future month has no data, not 100 % availability
        raise UsageError(f"{month} has not started yet (now is {utc_iso(now)[:10]})")
    minutes = (end - start) / 60.0
    tiers = tiers or DEFAULT_TIERS
    rows, daily, problems = [], {}, []
    days = int(round((end - start) / 86400))
    for slo in slos:
        if slo.indicator.kind == "query":
            problems.append({"id": slo.id, "message": "raw-query SLOs are not in the monthly report"})
            continue
        try:
            events, _ = fetch_events(slo, store, start=start, end=end - REPORT_STEP_S, step=REPORT_STEP_S)
        except Exception as exc:  # noqa: BLE001 - one broken SLO must not sink the report
            problems.append({"id": slo.id, "message": str(exc).splitlines()[0]})
            continue
        if not events:
            rows.append(
                _row(
                    slo,
                    {},
                    np.zeros(1),
                    np.zeros(1),
                    minutes=minutes,
                    step=REPORT_STEP_S,
                    cost=cost_per_minute,
                )
            )
            continue
        for ev in events:
            row = _row(
                slo, ev.labels, ev.bad, ev.total, minutes=minutes, step=REPORT_STEP_S, cost=cost_per_minute
            )
            rows.append(row)
            if not ev.labels:
                per_day = len(ev.bad) // max(days, 1)
                if per_day:
                    b = ev.bad[: per_day * days].reshape(days, per_day).sum(axis=1)
                    t = ev.total[: per_day * days].reshape(days, per_day).sum(axis=1)
                    with np.errstate(invalid="ignore", divide="ignore"):
                        consumed = np.cumsum(b) / np.maximum(np.cumsum(t), 1e-300) / (1 - slo.objective)
                    daily[slo.id] = consumed.tolist()
    critical = [
        r
        for r in rows
        if r["critical"]
        and r["region"] == "all"
        and r["attainment"] is not None
        and not math.isnan(r["attainment"])
    ]
    platform = min((r["attainment"] for r in critical), default=math.nan)
    credits = []
    for name, tier in tiers.items():
        pct = _credit(platform, tier["schedule"]) if not math.isnan(platform) else 0.0
        credits.append(
            {
                "tier": name,
                "monthly_revenue_usd": _money(tier["monthly_revenue_usd"]),
                "credit_pct": pct,
                "credits_usd": _money(tier["monthly_revenue_usd"] * pct),
            }
        )
    impact = sum(r["revenue_impact_usd"] or 0.0 for r in critical)
    return {
        "month": month,
        "generated_at": utc_iso(now) if now is not None else None,
        "period": {"start": utc_iso(start), "end": utc_iso(end), "minutes": minutes},
        "cost_per_minute_usd": _money(cost_per_minute),
        "summary": {
            "platform_availability": platform,
            "slos_met": sum(1 for r in rows if r["met"]),
            "slos_missed": sum(1 for r in rows if r["met"] is False),
            "slos_no_data": sum(1 for r in rows if r["met"] is None),
            "revenue_impact_usd": _money(impact),
            "credits_usd": _money(sum(c["credits_usd"] for c in credits)),
        },
        "rows": rows,
        "credits": credits,
        "problems": problems,
        "_daily": daily,
    }


# -- rendering -------------------------------------------------------------------------------
def _pct(x: Any, d: int = 3) -> str:
    return "no data" if x is None or (isinstance(x, float) and math.isnan(x)) else f"{100 * x:.{d}f}%"


def _usd(x: Any) -> str:
    return "-" if x is None else f"${x:,.2f}"


def _charts(report: dict[str, Any]) -> list[Any]:
    """Attainment vs objective, budget consumption by day, bad minutes by region."""
    import matplotlib

    matplotlib.use("Agg")
    matplotlib.rcParams["text.parse_math"] = False  # "$" is money here, not TeX
    import matplotlib.pyplot as plt

    figs = []
    agg = [
        r
        for r in report["rows"]
        if r["region"] == "all" and r["attainment"] is not None and not math.isnan(r["attainment"])
    ]
    fig, ax = plt.subplots(figsize=(8, 3.6))
    names = [r["name"] for r in agg]
    ax.barh(
        names, [100 * r["attainment"] for r in agg], color=["#2e7d32" if r["met"] else "#c62828" for r in agg]
    )
    ax.scatter(
        [100 * r["objective"] for r in agg], names, marker="|", s=400, color="black", label="objective"
    )
    lo = min([100 * min(r["attainment"], r["objective"]) for r in agg], default=99.0)
    ax.set_xlim(max(0.0, lo - (100 - lo) * 0.5), 100.0)
    ax.set_xlabel("attainment (%)")
    ax.set_title(f"Attainment vs objective, {report['month']}")
    ax.legend(loc="lower left")
    fig.tight_layout()
    figs.append(fig)
    fig, ax = plt.subplots(figsize=(8, 3.2))
    for sid, series in report["_daily"].items():
        ax.plot(range(1, len(series) + 1), [100 * v for v in series], label=sid.split("-", 1)[-1])
    ax.axhline(100, color="black", linestyle="--", linewidth=1)
    ax.set_xlabel("day of month")
    ax.set_ylabel("budget consumed (%)")
    ax.set_title("Error budget consumed, month to date")
    if report["_daily"]:
        ax.legend(fontsize=7, ncol=2)
    fig.tight_layout()
    figs.append(fig)
    regional = [
        r for r in report["rows"] if r["region"] != "all" and r["critical"] and r["bad_minutes"] is not None
    ]
    fig, ax = plt.subplots(figsize=(8, 3.2))
    labels = [f"{r['name']}\n{r['region']}" for r in regional]
    ax.bar(labels, [r["bad_minutes"] for r in regional], color="#ef6c00", label="bad minutes")
    ax.plot(labels, [r["allowance_minutes"] for r in regional], "k_", markersize=20, label="allowance")
    ax.set_ylabel("minutes")
    ax.set_title("Bad minutes vs allowance by region (critical SLOs)")
    ax.tick_params(axis="x", labelsize=7)
    ax.legend()
    fig.tight_layout()
    figs.append(fig)
    return figs


def _png(fig: Any) -> str:
    import matplotlib.pyplot as plt

    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=110)
    plt.close(fig)
    return base64.b64encode(buf.getvalue()).decode()


def _table_rows(report: dict[str, Any]) -> list[list[str]]:
    return [
        [
            r["name"],
            r["region"],
            _pct(r["objective"], 2),
            _pct(r["attainment"]),
            "met" if r["met"] else "no data" if r["met"] is None else "MISSED",
            "-" if r["bad_minutes"] is None else f"{r['bad_minutes']:.2f}",
            f"{r['allowance_minutes']:.2f}",
            _usd(r["revenue_impact_usd"]),
        ]
        for r in report["rows"]
    ]


CSS = (
    "body{font-family:DejaVu Sans,Arial,sans-serif;margin:2em;color:#222}table{border-collapse:collapse}"
    "td,th{border:1px solid #ccc;padding:4px 8px;font-size:13px}th{background:#eee}"
    "img{display:block;margin:1em 0}.k{font-size:22px;font-weight:bold}"
)
HEADER = ["SLO", "region", "objective", "attainment", "status", "bad min", "allowance min", "revenue impact"]


def render_html(report: dict[str, Any]) -> str:
    """A self-contained HTML page (charts inline)."""
    s = report["summary"]
    esc = html.escape
    rows = "".join("<tr>" + "".join(f"<td>{esc(c)}</td>" for c in r) + "</tr>" for r in _table_rows(report))
    credits = "".join(
        f"<tr><td>{esc(c['tier'])}</td><td>{_usd(c['monthly_revenue_usd'])}</td>"
        f"<td>{100 * c['credit_pct']:.0f}%</td><td>{_usd(c['credits_usd'])}</td></tr>"
        for c in report["credits"]
    )
    imgs = "".join(f'<img alt="chart" src="data:image/png;base64,{_png(f)}">' for f in _charts(report))
    return f"""<!doctype html><html><head><meta charset="utf-8">
<title>SLA report {esc(report["month"])}</title><style>{CSS}</style></head><body>
<h1>StreamVerse SLA report: {esc(report["month"])}</h1>
<p>Period {esc(report["period"]["start"])} to {esc(report["period"]["end"])} (UTC). Revenue impact at
{_usd(report["cost_per_minute_usd"])} per bad minute.</p>
<p><span class="k">{_pct(s["platform_availability"])}</span> platform availability &middot;
<span class="k">{s["slos_met"]}</span> met &middot; <span class="k">{s["slos_missed"]}</span> missed &middot;
{s["slos_no_data"]} without data &middot;
revenue impact <span class="k">{_usd(s["revenue_impact_usd"])}</span>
&middot; credits owed <span class="k">{_usd(s["credits_usd"])}</span></p>
<h2>SLA credits by tier</h2><table><tr><th>tier</th><th>monthly revenue</th><th>credit</th><th>owed</th></tr>
{credits}</table>
<h2>Charts</h2>{imgs}
<h2>Every SLO, per region</h2><table><tr>{"".join(f"<th>{h}</th>" for h in HEADER)}</tr>{rows}</table>
</body></html>"""


def render_pdf(report: dict[str, Any], path: Path) -> None:
    """A PDF: summary and credits, the charts, then the full table."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.backends.backend_pdf import PdfPages

    matplotlib.rcParams["text.parse_math"] = False
    s = report["summary"]
    with PdfPages(path) as pdf:
        fig = plt.figure(figsize=(8.27, 11.69))
        fig.text(0.08, 0.94, f"StreamVerse SLA report: {report['month']}", fontsize=20, weight="bold")
        fig.text(0.08, 0.91, f"{report['period']['start']} to {report['period']['end']} (UTC)", fontsize=10)
        lines = [
            ("Platform availability", _pct(s["platform_availability"])),
            ("SLOs met / missed / no data", f"{s['slos_met']} / {s['slos_missed']} / {s['slos_no_data']}"),
            (
                "Revenue impact",
                f"{_usd(s['revenue_impact_usd'])} at {_usd(report['cost_per_minute_usd'])}/min",
            ),
            ("SLA credits owed", _usd(s["credits_usd"])),
        ]
        for i, (k, v) in enumerate(lines):
            fig.text(0.08, 0.85 - i * 0.035, k, fontsize=12)
            fig.text(0.55, 0.85 - i * 0.035, v, fontsize=12, weight="bold")
        ax = fig.add_axes((0.08, 0.45, 0.84, 0.22))
        ax.axis("off")
        ax.set_title("SLA credits by tier", loc="left")
        ax.table(
            cellText=[
                [
                    c["tier"],
                    _usd(c["monthly_revenue_usd"]),
                    f"{100 * c['credit_pct']:.0f}%",
                    _usd(c["credits_usd"]),
                ]
                for c in report["credits"]
            ],
            colLabels=["tier", "monthly revenue", "credit", "owed"],
            loc="upper left",
        )
        charts = _charts(report)
        img_ax = fig.add_axes((0.05, 0.05, 0.9, 0.38))
        img_ax.axis("off")
        buf = io.BytesIO()
        charts[0].savefig(buf, format="png", dpi=130)
        buf.seek(0)
        img_ax.imshow(plt.imread(buf))
        pdf.savefig(fig)
        plt.close(fig)
        for chart in charts:
            pdf.savefig(chart)
            plt.close(chart)
        body = _table_rows(report)
        for i in range(0, len(body), 40):
            fig = plt.figure(figsize=(11.69, 8.27))
            ax = fig.add_axes((0.03, 0.03, 0.94, 0.9))
            ax.axis("off")
            ax.set_title("Every SLO, per region", loc="left")
            table = ax.table(cellText=body[i : i + 40], colLabels=HEADER, loc="upper left")
            table.auto_set_font_size(False)
            table.set_fontsize(7)
            pdf.savefig(fig)
            plt.close(fig)
