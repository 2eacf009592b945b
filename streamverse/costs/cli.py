"""`streamverse capacity plan` and `streamverse cost report`: thin commands over the costs area."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from streamverse.errors import UsageError
from streamverse.output import console, emit_json

capacity_app = typer.Typer(no_args_is_help=True, help="Capacity and cost planning.")
cost_app = typer.Typer(no_args_is_help=True, help="What we spend, where it goes, and what to save.")

JsonOpt = Annotated[bool, typer.Option("--json", help="print one JSON object as the last line")]
PricesOpt = Annotated[Path | None, typer.Option("--prices", help="price catalog YAML (shipped default)")]
BudgetsOpt = Annotated[Path | None, typer.Option("--budgets", help="budgets YAML (shipped default)")]


def _topology_and_prices(prices: Path | None) -> tuple[Any, Any]:
    from streamverse.costs.catalog import load_prices
    from streamverse.platform.topology import load_topology
    from streamverse.settings import get_settings

    settings = get_settings()
    topology = load_topology(settings.topology_file)
    return topology, load_prices(prices or settings.prices_file, regions=[r.name for r in topology.regions])


def _engine(settings: Any) -> Any:
    """The control plane's database, where the alert loop picks up reported findings."""
    from streamverse.alerts import models as alerts_models
    from streamverse.db import get_engine, init_db

    engine = get_engine(settings.resolved_database_url)
    init_db(engine, alerts_models)
    return engine


def _say_check(result: dict[str, Any]) -> None:
    """One line per cost alert handed to the alert loop."""
    console.print(
        f"cost check at {result['checked_at']}: {result['reported']} alert(s) reported to the alert loop "
        f"(held until {result['held_until']} unless checked again)"
    )
    for a in result["alerts"]:
        console.print(f"  [bold]{a['labels']['alertname']}[/] {a['annotations'].get('summary', '')}")


def _parse_sets(items: list[str]) -> dict[str, float]:
    out = {}
    for item in items:
        name, sep, value = item.partition("=")
        if not sep:
            raise UsageError(f"--set takes NAME=VALUE, got {item!r}")
        try:
            out[name.strip()] = float(value)
        except ValueError:
            raise UsageError(f"--set {name}: {value!r} is not a number") from None
    return out


@capacity_app.command("plan")
def plan(
    users: Annotated[int | None, typer.Option(help="registered users (default 100,000,000)")] = None,
    uploads_per_day: Annotated[int | None, typer.Option(help="uploads per day (default 10,000)")] = None,
    peak_share: Annotated[float | None, typer.Option(help="share of users watching at the peak")] = None,
    hours_per_user: Annotated[float | None, typer.Option(help="viewing hours per user per day")] = None,
    avg_duration_min: Annotated[float | None, typer.Option(help="average upload length, minutes")] = None,
    replication: Annotated[float | None, typer.Option(help="copies of every stored object")] = None,
    retention_days: Annotated[float | None, typer.Option(help="days videos are kept")] = None,
    set_: Annotated[
        list[str] | None, typer.Option("--set", help="any input, NAME=VALUE (repeatable)")
    ] = None,
    prices: PricesOpt = None,
    json_out: JsonOpt = False,
) -> None:
    """Storage, peak egress, transcode GPUs, database and monthly cost, every assumption shown."""
    from streamverse.costs.capacity import plan_capacity

    topology, catalog = _topology_and_prices(prices)
    overrides = _parse_sets(set_ or [])
    for name, value in (
        ("users", users),
        ("uploads_per_day", uploads_per_day),
        ("peak_concurrency_share", peak_share),
        ("viewing_hours_per_user_per_day", hours_per_user),
        ("avg_duration_min", avg_duration_min),
        ("replication", replication),
        ("retention_days", retention_days),
    ):
        if value is not None:
            overrides[name] = float(value)
    result = plan_capacity(
        catalog=catalog, region_shares={r.name: r.users_share for r in topology.regions}, overrides=overrides
    )
    if json_out:
        emit_json(result)
        return
    _print_plan(result)


def _print_plan(result: dict[str, Any]) -> None:
    from rich.table import Table

    inputs = Table("input", "value", title="assumptions (override with --set NAME=VALUE)")
    for k, v in result["inputs"].items():
        inputs.add_row(k, f"{v:,.6g}")
    console.print(inputs)
    steps = Table("step", "value", "unit", "formula", title="every figure and how it follows")
    for s in result["steps"]:
        steps.add_row(s["name"], f"{s['value']:,.2f}", s["unit"], s["formula"])
    console.print(steps)
    sens = Table(
        "input",
        "x",
        "value",
        "monthly cost",
        "change",
        "storage PB",
        "egress Tbps",
        "GPUs",
        title="sensitivity",
    )
    for r in result.get("sensitivity", []):
        sens.add_row(
            r["input"],
            f"{r['factor']:g}",
            f"{r['value']:,.6g}",
            f"${r['monthly_cost_usd']:,.2f}",
            f"{r['monthly_cost_change_pct']:+.2f}%",
            f"{r['storage_pb']:,.2f}",
            f"{r['peak_egress_tbps']:,.2f}",
            str(r["transcode_gpus"]),
        )
    console.print(sens)
    console.print(
        f"[bold]storage[/] {result['storage_pb']:,.2f} PB   [bold]peak egress[/] "
        f"{result['peak_egress_tbps']:,.2f} Tbps   [bold]transcode GPUs[/] {result['transcode_gpus']:,}   "
        f"[bold]database[/] {result['database_gb']:,.0f} GB   [bold]monthly cost[/] "
        f"${result['monthly_cost_usd']:,.2f} (list prices from {result['price_catalog']})"
    )


@cost_app.command("report")
def report(
    month: Annotated[str, typer.Option(help="calendar month, YYYY-MM (UTC)")],
    format_: Annotated[str, typer.Option("--format", help="html, pdf or json")] = "json",
    out: Annotated[
        Path | None, typer.Option("-o", "--out", help="write here (stdout for json when unset)")
    ] = None,
    prices: PricesOpt = None,
    budgets: BudgetsOpt = None,
    check: Annotated[
        bool,
        typer.Option(
            "--check/--no-check",
            help="also run the cost check now and report its alerts to the alert loop (a side effect: "
                 "off unless asked; `streamverse cost check` is the command for it)",
        ),
    ] = False,
) -> None:
    """The cost report for a month: breakdown, trend, forecast, savings, with charts."""
    from streamverse.clock import RealClock, utc_iso
    from streamverse.collectors.service import make_store
    from streamverse.costs.catalog import load_budgets
    from streamverse.costs.flows import run_cost_check
    from streamverse.costs.report import build_report, write_report
    from streamverse.costs.service import compute_month
    from streamverse.db import session_scope
    from streamverse.settings import get_settings

    if format_ not in ("html", "pdf", "json"):
        raise UsageError(f"--format must be html, pdf or json, not {format_!r}")
    if format_ == "pdf" and out is None:
        raise UsageError("a PDF needs -o FILE")
    settings = get_settings()
    topology, catalog = _topology_and_prices(prices)
    store, now = make_store(settings), RealClock().now()
    plan = load_budgets(budgets or settings.budgets_file)
    costs = compute_month(store=store, catalog=catalog, month=month, now=now)
    data = build_report(
        store=store, catalog=catalog, budgets=plan, topology=topology, month=month, now=now, costs=costs
    )
    if check:  # the running month's ledger is the one the check needs: price it once
        with session_scope(_engine(settings)) as s:
            data["alert_check"] = run_cost_check(
                session=s,
                store=store,
                catalog=catalog,
                budgets=plan,
                now=now,
                costs=costs if month == utc_iso(now)[:7] else None,
            )
    if format_ == "json" and out is None:
        emit_json(data)
        return
    path = write_report(data, fmt=format_, out=out or Path(f"cost-report-{month}.{format_}"))
    console.print(f"wrote {path}")
    if check:
        _say_check(data["alert_check"])


@cost_app.command("check")
def check_now(
    prices: PricesOpt = None,
    budgets: BudgetsOpt = None,
    json_out: JsonOpt = False,
) -> None:
    """Check budgets and spend spikes now; report them as alerts (what `up` does every 5 minutes)."""
    from streamverse.clock import RealClock
    from streamverse.collectors.service import make_store
    from streamverse.costs.catalog import load_budgets
    from streamverse.costs.flows import run_cost_check
    from streamverse.db import session_scope
    from streamverse.settings import get_settings

    settings = get_settings()
    _, catalog = _topology_and_prices(prices)
    with session_scope(_engine(settings)) as s:
        result = run_cost_check(
            session=s,
            store=make_store(settings),
            catalog=catalog,
            budgets=load_budgets(budgets or settings.budgets_file),
            now=RealClock().now(),
        )
    if json_out:
        emit_json(result)
        return
    _say_check(result)
