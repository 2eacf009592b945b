"""`streamverse drill SCENARIO [--fast] [--json]`: inject a fault and time detection to recovery."""

from __future__ import annotations

from typing import Annotated

import typer

from streamverse.alerts.drill import DRILL_SCENARIOS, run_fast
from streamverse.errors import StreamVerseError
from streamverse.output import console, emit_json, err_console, fail
from streamverse.settings import get_settings


def drill(
    scenario: Annotated[str, typer.Argument(help=f"one of {', '.join(DRILL_SCENARIOS)}")],
    fast: Annotated[bool, typer.Option("--fast", help="fast-forward on the virtual clock")] = False,
    json_out: Annotated[bool, typer.Option("--json", help="print one JSON object as the last line")] = False,
    target: Annotated[
        str | None, typer.Option(help="region, PoP, video id; the scenario's default otherwise")
    ] = None,
    seed: Annotated[int, typer.Option(help="random seed of the simulated audience")] = 7,
) -> None:
    """Inject a fault, let detection and remediation run, report the timings."""
    settings = get_settings()
    if not fast:
        fail(
            "live drills are not wired into this command yet; use --fast for a fast-forward drill"
        )
    shown = err_console if json_out else console

    def step(message: str, t: float) -> None:
        shown.print(f"[bold cyan]+{t:6.1f}s[/] {message}")

    try:
        with shown.status(f"[bold]drill {scenario}[/] (fast-forward)"):
            report = run_fast(scenario, settings=settings, target=target, seed=seed, on_step=step)
    except StreamVerseError as exc:
        fail(str(exc))
        return
    if json_out:
        emit_json(report)
        return
    shown.print(
        f"[bold]{scenario}[/] on {report['target']}: detected in {report['mttd_s']} s, "
        f"incident {report['incident_id']}, recovered in {report['mttr_s']} s"
    )
    for a in report["actions"]:
        shown.print(f"  {a['at']}  {a['action']} -> {a['status']}")
