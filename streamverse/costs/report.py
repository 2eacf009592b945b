"""The executive cost report: breakdown, trend, forecast, budgets, anomalies and savings.

One data dict (the JSON format) feeds the HTML page (inline SVG charts) and the PDF
(matplotlib PdfPages: no extra dependency), so the three formats always agree.
"""

from __future__ import annotations

import html
import io
import json
from pathlib import Path
from typing import Any

from streamverse.clock import utc_iso
from streamverse.costs.anomalies import detect_anomalies
from streamverse.costs.catalog import Budgets, PriceCatalog
from streamverse.costs.forecast import as_alerts, category_forecasts, check_budgets
from streamverse.costs.savings import find_savings, total_savings
from streamverse.costs.service import MonthCosts, compute_month, summarize
from streamverse.costs.usage import describe_sources
from streamverse.metricstore import MetricStore


def build_report(
    *,
    store: MetricStore,
    catalog: PriceCatalog,
    budgets: Budgets,
    topology: Any,
    month: str,
    now: float,
    costs: MonthCosts | None = None,
) -> dict[str, Any]:
    """Everything the report shows, as JSON-ready data (`costs`: the month already priced)."""
    costs = costs or compute_month(store=store, catalog=catalog, month=month, now=now)
    data = summarize(costs)
    total_fc, per_cat = category_forecasts(costs, now=now)
    data["forecast"] = {"total": total_fc}
    data["forecast"]["by_category"] = {c: (f if f is not None else "no data") for c, f in per_cat.items()}
    data["budgets"] = check_budgets(per_cat, budgets)
    anomalies = detect_anomalies(store, catalog, start=costs.start, end=costs.end)
    data["anomalies"] = [a.__dict__ for a in anomalies]
    data["alerts"] = as_alerts(anomalies=anomalies, budgets=data["budgets"])
    data["savings"] = find_savings(costs, catalog=catalog, topology=topology)
    data["savings_total_usd"] = float(total_savings(data["savings"]))
    data["price_catalog"] = {"source": catalog.source, "checked": catalog.checked}
    data["usage_mapping"] = describe_sources()
    data["generated_at"] = utc_iso(now)
    return data


def _usd(v: Any) -> str:
    return f"${v:,.2f}" if isinstance(v, int | float) else "no data"


def _charts(data: dict[str, Any]) -> list[tuple[str, Any]]:
    """(title, matplotlib figure) for the breakdown, the daily trend + forecast, and savings."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figs = []
    cats = {c: v for c, v in data["by_category"].items() if isinstance(v, int | float)}
    fig, ax = plt.subplots(figsize=(8, 3.6))
    ax.barh(list(cats), list(cats.values()), color="#3b6ea5")
    ax.set_xlabel("USD")
    ax.set_title(f"Spend by category, {data['month']} (categories with no data left out)")
    fig.tight_layout()
    figs.append(("breakdown", fig))

    fig, ax = plt.subplots(figsize=(8, 3.6))
    days = [d["day"][5:] for d in data["daily"]]
    ax.plot(days, [d["total_usd"] for d in data["daily"]], marker="o", label="actual")
    fc = data["forecast"]["total"]
    if fc and fc["daily_forecast"]:
        fd = [d["day"][5:] for d in fc["daily_forecast"]]
        ax.plot(
            fd, [d["usd"] for d in fc["daily_forecast"]], linestyle="--", label=f"forecast ({fc['method']})"
        )
    ax.set_ylabel("USD per day")
    ax.set_title("Daily spend and forecast")
    ax.tick_params(axis="x", labelrotation=60, labelsize=7)
    ax.legend()
    fig.tight_layout()
    figs.append(("trend", fig))

    sv = [s for s in data["savings"] if s["monthly_usd"] is not None]
    fig, ax = plt.subplots(figsize=(8, 3.0))
    ax.barh([s["name"] for s in sv], [s["monthly_usd"] for s in sv], color="#4a9a5b")
    ax.set_xlabel("USD per month")
    ax.set_title("Savings found in the data")
    fig.tight_layout()
    figs.append(("savings", fig))
    return figs


def _svg(fig: Any) -> str:
    buf = io.StringIO()
    fig.savefig(buf, format="svg")
    text = buf.getvalue()
    return text[text.index("<svg") :]


def _table(headers: list[str], rows: list[list[Any]]) -> str:
    head = "".join(f"<th>{html.escape(h)}</th>" for h in headers)
    body = "".join("<tr>" + "".join(f"<td>{html.escape(str(c))}</td>" for c in r) + "</tr>" for r in rows)
    return f"<table><tr>{head}</tr>{body}</table>"


def _sections(data: dict[str, Any]) -> list[tuple[str, list[str], list[list[Any]]]]:
    """The report's tables (title, headers, rows), shared by HTML and PDF."""
    fc = data["forecast"]["total"]
    return [
        (
            "Spend by category",
            ["category", "USD", "source"],
            [[c, _usd(v), _source(data["sources"][c])] for c, v in data["by_category"].items()],
        ),
        ("Spend by region", ["region", "USD"], [[r, _usd(v)] for r, v in sorted(data["by_region"].items())]),
        (
            "Most expensive videos (CDN egress at the month's blended price)",
            ["video", "egress GB", "USD"],
            [[v["video_id"], f"{v['egress_bytes'] / 1e9:,.1f}", _usd(v["usd"])] for v in data["top_videos"]]
            if isinstance(data["top_videos"], list)
            else [[data["top_videos"], "", ""]],
        ),
        (
            "Storage by class",
            ["class", "mean stored GB", "USD"],
            [[c, f"{v['mean_stored_gb']:,.1f}", _usd(v["usd"])] for c, v in data["storage_by_class"].items()]
            if isinstance(data["storage_by_class"], dict)
            else [[data["storage_by_class"], "", ""]],
        ),
        (
            "Spend by service",
            ["service", "USD"],
            [[r, _usd(v)] for r, v in sorted(data["by_service"].items())],
        ),
        (
            "Month-end forecast",
            ["to date", "forecast", "90% range", "method"],
            [
                [
                    _usd(fc["to_date_usd"]),
                    _usd(fc["point_usd"]),
                    f"{_usd(fc['low_usd'])} - {_usd(fc['high_usd'])}",
                    fc["method"],
                ]
            ]
            if fc
            else [["no data", "", "", ""]],
        ),
        (
            "Budgets",
            ["category", "budget", "to date", "forecast", "status"],
            [
                [
                    b["category"],
                    _usd(b["budget_usd"]),
                    _usd(b.get("to_date_usd")),
                    _usd(b.get("forecast_usd")),
                    b["status"],
                ]
                for b in data["budgets"]
            ],
        ),
        (
            "Spend anomalies",
            ["category", "scope", "from", "to", "peak", "baseline", "excess"],
            [
                [
                    a["category"],
                    a["scope"],
                    a["start"],
                    a["end"],
                    _usd(a["peak_usd"]),
                    _usd(a["baseline_usd"]),
                    _usd(a["excess_usd"]),
                ]
                for a in data["anomalies"]
            ]
            or [["none", "", "", "", "", "", ""]],
        ),
        (
            "Savings (per month)",
            ["lever", "USD", "how", "assumptions"],
            [
                [s["name"], _usd(s["monthly_usd"]), s["how"], json.dumps(s["assumptions"], default=str)]
                for s in data["savings"]
            ],
        ),
        (
            "Unit costs",
            ["measure", "value"],
            [
                ["USD per streamed hour", _unit(data["unit_costs"]["usd_per_streamed_hour"])],
                ["USD per 1,000 views", _unit(data["unit_costs"]["usd_per_1000_views"])],
                [
                    "cache hit ratio",
                    f"{data['cache_hit_ratio']:.4f}" if data["cache_hit_ratio"] is not None else "no data",
                ],
            ],
        ),
    ]


def _source(src: Any) -> str:
    """Where a category's figure came from; an estimate says so."""
    if not isinstance(src, dict):
        return "no data"
    sel, note = src.get("selector"), src.get("note") or ""
    return f"{note} ({sel})" if sel and note else sel or note  # the note first: PDF cells are cut


def _unit(v: Any) -> str:
    return f"${v:,.4f}" if isinstance(v, int | float) else "no data"


def render_html(data: dict[str, Any]) -> str:
    """A self-contained HTML page (charts inline as SVG)."""
    import matplotlib.pyplot as plt

    parts = [
        f"<h1>StreamVerse cost report {html.escape(data['month'])}</h1>",
        f"<p>Period {data['period']['start']} to {data['period']['end']} (UTC). Total "
        f"<b>{_usd(data['total_usd'])}</b>. Prices: {html.escape(str(data['price_catalog']['source']))} "
        f"(checked {html.escape(str(data['price_catalog']['checked']))}). "
        f"Generated {data['generated_at']}.</p>",
    ]
    for title, fig in _charts(data):
        parts.append(f"<figure id='{title}'>{_svg(fig)}</figure>")
        plt.close(fig)
    for title, headers, rows in _sections(data):
        parts.append(f"<h2>{html.escape(title)}</h2>{_table(headers, rows)}")
    if data["notes"]:
        parts.append(
            "<h2>Notes</h2><ul>" + "".join(f"<li>{html.escape(n)}</li>" for n in data["notes"]) + "</ul>"
        )
    style = (
        "body{font-family:sans-serif;max-width:1000px;margin:2em auto}table{border-collapse:collapse}"
        "td,th{border:1px solid #ccc;padding:3px 8px;font-size:13px;text-align:left}"
    )
    return (
        f"<!doctype html><html><head><meta charset='utf-8'><title>Cost report {html.escape(data['month'])}"
        f"</title><style>{style}</style></head><body>{''.join(parts)}</body></html>"
    )


def render_pdf(data: dict[str, Any], out: Path) -> None:
    """Charts and tables as PDF pages (matplotlib PdfPages)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.backends.backend_pdf import PdfPages

    with PdfPages(out) as pdf:
        fig = plt.figure(figsize=(8.27, 11.69))
        fig.text(0.08, 0.95, f"StreamVerse cost report {data['month']}", fontsize=18, weight="bold")
        fig.text(
            0.08,
            0.92,
            f"{data['period']['start']} to {data['period']['end']} (UTC)   total {_usd(data['total_usd'])}",
            fontsize=10,
        )
        y = 0.88
        notes = ("Notes", ["note"], [[n] for n in data["notes"]]) if data["notes"] else None
        for title, headers, rows in [*_sections(data), *([notes] if notes else [])]:
            if title.startswith("Savings"):
                continue  # savings get their own page below, with every assumption
            lines = [headers, *rows][:12]
            if y - 0.022 - 0.016 * len(lines) < 0.05:  # next page rather than off the bottom
                pdf.savefig(fig)
                plt.close(fig)
                fig, y = plt.figure(figsize=(8.27, 11.69)), 0.95
            fig.text(0.08, y, title, fontsize=12, weight="bold")
            y -= 0.022
            for r in lines:
                cut = 110 if len(r) == 1 else 40  # one-column rows (notes) have the width to themselves
                fig.text(0.08, y, "   |   ".join(str(c)[:cut] for c in r), fontsize=7.5, family="monospace")
                y -= 0.016
            y -= 0.012
        pdf.savefig(fig)
        plt.close(fig)
        for _, f in _charts(data):
            pdf.savefig(f)
            plt.close(f)
        fig = plt.figure(figsize=(8.27, 11.69))
        fig.text(0.08, 0.95, "Savings found in the data (per month)", fontsize=14, weight="bold")
        y = 0.91
        for s in data["savings"]:
            fig.text(0.08, y, f"{s['name']}: {_usd(s['monthly_usd'])}", fontsize=10, weight="bold")
            y -= 0.02
            fig.text(0.1, y, s["how"][:110], fontsize=8)
            y -= 0.018
            for k, v in s["assumptions"].items():
                fig.text(0.1, y, f"{k} = {str(v)[:100]}", fontsize=7, family="monospace")
                y -= 0.015
            y -= 0.015
        pdf.savefig(fig)
        plt.close(fig)


def write_report(data: dict[str, Any], *, fmt: str, out: Path) -> Path:
    """Write the report in json, html or pdf; returns the path."""
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    if fmt == "json":
        out.write_text(json.dumps(data, indent=1, default=str))
    elif fmt == "html":
        out.write_text(render_html(data))
    elif fmt == "pdf":
        render_pdf(data, out)
    else:
        raise ValueError(f"unknown report format {fmt!r}")
    return out
