"""The `streamverse` command line of the areas. Each command is thin: the work lives in the areas.

The commands that assemble the whole system (`up`, `simulate`, `drill`) are added by
`streamverse.system.cli`, the console script's entry point.
"""

from __future__ import annotations

from typing import Annotated

import typer

from streamverse.durations import parse_duration
from streamverse.output import emit_json
from streamverse.settings import get_settings

app = typer.Typer(no_args_is_help=True, add_completion=False,
                  help="StreamVerse Control Center: operate a global video platform.")
token_app = typer.Typer(no_args_is_help=True, help="API tokens for the control plane.")
fault_app = typer.Typer(no_args_is_help=True, help="Inject faults into the live platform.")
app.add_typer(token_app, name="token")
app.add_typer(fault_app, name="fault")


def _add_area_apps() -> None:
    """Sub-commands that live with their area (imported here so `--help` lists them)."""
    from streamverse.collectors.cli import metrics_app
    from streamverse.costs.cli import capacity_app, cost_app
    from streamverse.slo.cli import report_app, slo_app

    app.add_typer(metrics_app, name="metrics")
    app.add_typer(slo_app, name="slo")
    app.add_typer(report_app, name="report")
    app.add_typer(cost_app, name="cost")
    app.add_typer(capacity_app, name="capacity")


_add_area_apps()

JsonOpt = Annotated[bool, typer.Option("--json", help="print one JSON object as the last line")]


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
    from streamverse.cli.faults import inject_command

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
    from streamverse.cli.faults import clear_command

    clear_command(get_settings(), fault_id=fault_id, api=api, token=token, json_out=json_out)


@fault_app.command("list")
def fault_list(
    api: Annotated[str | None, typer.Option(help="control API URL")] = None,
    token: Annotated[str | None, typer.Option(envvar="STREAMVERSE_TOKEN",
                                              help="viewer token")] = None,
    json_out: JsonOpt = False,
) -> None:
    """Faults active on the running platform."""
    from streamverse.cli.faults import list_command

    list_command(get_settings(), api=api, token=token, json_out=json_out)
