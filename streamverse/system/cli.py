"""The `streamverse` console script: the areas' commands plus those that assemble the system."""

from __future__ import annotations

from typing import Annotated

import typer

from streamverse.cli import JsonOpt, app
from streamverse.durations import parse_duration
from streamverse.errors import StreamVerseError
from streamverse.output import fail
from streamverse.settings import get_settings
from streamverse.system.drill_cli import drill

app.command("drill")(drill)


@app.command()
def up(
    prometheus: Annotated[bool, typer.Option(help="also start Prometheus + Alertmanager")] = False,
    dashboard: Annotated[bool, typer.Option(help="start the Streamlit dashboard")] = True,
) -> None:
    """Run the whole system live: platform, traffic, control plane, dashboard."""
    from streamverse.system.up import run_up

    raise typer.Exit(run_up(get_settings(), prometheus=prometheus, dashboard=dashboard))


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


def main() -> None:
    """Entry point: known errors become one clear line on stderr and exit code 2."""
    try:
        app()
    except StreamVerseError as exc:
        fail(str(exc))


if __name__ == "__main__":
    main()
