"""`streamverse drill SCENARIO [--fast] [--json]`: inject a fault and time detection to recovery."""

from __future__ import annotations

import time
from typing import Annotated, Any

import typer

from streamverse.errors import StreamVerseError, UsageError
from streamverse.output import console, emit_json, err_console, fail
from streamverse.settings import get_settings
from streamverse.system.drill_fast import DRILL_SCENARIOS, run_fast


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
    shown = err_console if json_out else console

    def step(message: str, t: float) -> None:
        shown.print(f"[bold cyan]+{t:6.1f}s[/] {message}")

    try:
        if fast:
            with shown.status(f"[bold]drill {scenario}[/] (fast-forward)"):
                report = run_fast(scenario, settings=settings, target=target, seed=seed, on_step=step)
        else:
            report = _live(scenario, settings=settings, target=target, shown=shown, step=step)
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


def _live(scenario: str, *, settings: Any, target: str | None, shown: Any, step: Any) -> dict[str, Any]:
    """Against the running `up` of this data dir, else a live system started here for the drill."""
    from streamverse.system.drill_live import in_process_system, run_live, running_target

    if scenario not in DRILL_SCENARIOS:
        raise UsageError(f"no drill {scenario!r}; choose one of {', '.join(DRILL_SCENARIOS)}")
    running = running_target(settings)
    if running is not None:
        shown.print(f"drill {scenario} against the running system at {running.api_url}")
        return run_live(scenario, target=running, fault_target=target, on_step=step)
    shown.print("no `streamverse up` answers for this data dir; starting a live system for the drill "
                "(free ports, private data dir, 5 s scrape and evaluation)")
    with shown.status("[bold]starting the live system[/]"):
        ctx = in_process_system(settings)
        live, _thread = ctx.__enter__()
    try:
        shown.print("warming up 40 s so rates have history before the fault")
        time.sleep(40)
        return run_live(scenario, target=live, fault_target=target, on_step=step)
    finally:
        ctx.__exit__(None, None, None)
