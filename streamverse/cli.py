"""The `streamverse` command line. Each command is thin: the work lives in the areas."""

from __future__ import annotations

from typing import Annotated

import typer

from streamverse.durations import parse_duration
from streamverse.errors import StreamVerseError
from streamverse.output import emit_json, fail
from streamverse.settings import get_settings

app = typer.Typer(no_args_is_help=True, add_completion=False,
                  help="StreamVerse Control Center: operate a global video platform.")
token_app = typer.Typer(no_args_is_help=True, help="API tokens for the control plane.")
fault_app = typer.Typer(no_args_is_help=True, help="Inject faults into the live platform.")
app.add_typer(token_app, name="token")
app.add_typer(fault_app, name="fault")


def _add_area_apps() -> None:
    """Sub-commands that live with their area (imported here so `--help` lists them)."""
    from streamverse.alerts.cli import drill
    from streamverse.collectors.cli import metrics_app
    from streamverse.costs.cli import capacity_app, cost_app
    from streamverse.slo.cli import report_app, slo_app

    app.add_typer(metrics_app, name="metrics")
    app.add_typer(slo_app, name="slo")
    app.add_typer(report_app, name="report")
    app.add_typer(cost_app, name="cost")
    app.add_typer(capacity_app, name="capacity")
    app.command("drill")(drill)


_add_area_apps()

JsonOpt = Annotated[bool, typer.Option("--json", help="print one JSON object as the last line")]


@app.command()
def up(
    prometheus: Annotated[bool, typer.Option(help="also start Prometheus + Alertmanager")] = False,
    dashboard: Annotated[bool, typer.Option(help="start the Streamlit dashboard")] = True,
) -> None:
    """Run the whole system live: platform, traffic, control plane, dashboard."""
    from streamverse.platform.live.runner import run_up

    raise typer.Exit(run_up(get_settings(), prometheus=prometheus, dashboard=dashboard))


@app.command()
def scenarios(json_out: JsonOpt = False) -> None:
    """List the fault scenarios that simulate, drills and the fault lab can inject."""
    from streamverse.platform.faults import SCENARIOS

    rows = [s.describe() for s in SCENARIOS.values()]
    if json_out:
        emit_json({"scenarios": rows})
        return
    from rich.table import Table

    from streamverse.output import console

    table = Table("scenario", "default target", "what happens")
    for row in rows:
        table.add_row(row["name"], str(row["default_target"]), row["description"])
    console.print(table)


@app.command()
def simulate(
    scenario: Annotated[str | None, typer.Option(help="fault scenario to inject")] = None,
    duration: Annotated[str, typer.Option(help="simulated time, e.g. 2h")] = "2h",
    seed: Annotated[int, typer.Option(help="random seed, same seed same run")] = 7,
    viewers: Annotated[int, typer.Option(help="concurrent modelled sessions at peak")] = 20000,
    backfill: Annotated[str | None, typer.Option(help="fill the store with this much "
                                                 "normal history ending now, e.g. 30d")] = None,
    target: Annotated[str | None, typer.Option(help="fault target (region, PoP, ...)")] = None,
    json_out: JsonOpt = False,
) -> None:
    """Fast-forward the platform on a virtual clock and summarise what viewers saw."""
    from streamverse.system.simulate import run_simulate

    run_simulate(
        get_settings(), scenario=scenario, duration_s=parse_duration(duration), seed=seed,
        viewers=viewers, backfill_s=parse_duration(backfill) if backfill else None,
        target=target, json_out=json_out,
    )


@token_app.command("create")
def token_create(
    role: Annotated[str, typer.Option(help="viewer, responder or admin")],
    name: Annotated[str, typer.Option(help="who or what the token is for")] = "cli",
    json_out: JsonOpt = False,
) -> None:
    """Create a control-plane API token (shown once; only its hash is stored)."""
    from streamverse.api.cli_tokens import create_token_command

    create_token_command(get_settings(), role=role, name=name, json_out=json_out)


@fault_app.command("inject")
def fault_inject(
    scenario: Annotated[str, typer.Argument(help="one of `streamverse scenarios`")],
    target: Annotated[str | None, typer.Option(help="region, PoP or video")] = None,
    duration: Annotated[str, typer.Option(help="how long the fault lasts")] = "5m",
    api: Annotated[str | None, typer.Option(help="control API URL")] = None,
    token: Annotated[str | None, typer.Option(envvar="STREAMVERSE_TOKEN",
                                              help="admin token")] = None,
    json_out: JsonOpt = False,
) -> None:
    """Inject a fault into the running platform through the control API (admin)."""
    from streamverse.platform.live.fault_cli import inject_command

    inject_command(get_settings(), scenario=scenario, target=target,
                   duration_s=parse_duration(duration), api=api, token=token, json_out=json_out)


@fault_app.command("clear")
def fault_clear(
    fault_id: Annotated[str | None, typer.Argument(help="fault id; all faults when omitted")] = None,
    api: Annotated[str | None, typer.Option(help="control API URL")] = None,
    token: Annotated[str | None, typer.Option(envvar="STREAMVERSE_TOKEN",
                                              help="admin token")] = None,
    json_out: JsonOpt = False,
) -> None:
    """End an injected fault early."""
    from streamverse.platform.live.fault_cli import clear_command

    clear_command(get_settings(), fault_id=fault_id, api=api, token=token, json_out=json_out)


@fault_app.command("list")
def fault_list(
    api: Annotated[str | None, typer.Option(help="control API URL")] = None,
    token: Annotated[str | None, typer.Option(envvar="STREAMVERSE_TOKEN",
                                              help="viewer token")] = None,
    json_out: JsonOpt = False,
) -> None:
    """Faults active on the running platform."""
    from streamverse.platform.live.fault_cli import list_command

    list_command(get_settings(), api=api, token=token, json_out=json_out)


def main() -> None:
    """Entry point: known errors become one clear line on stderr and exit code 2."""
    try:
        app()
    except StreamVerseError as exc:
        fail(str(exc))


if __name__ == "__main__":
    main()
