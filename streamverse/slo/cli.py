"""`streamverse slo validate|rules|status` and `streamverse report sla`."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Annotated, Any

import typer

from streamverse.output import console, emit_json, err_console, fail
from streamverse.settings import get_settings

slo_app = typer.Typer(no_args_is_help=True, help="SLOs: validate files, generate Prometheus rules, status.")
report_app = typer.Typer(no_args_is_help=True, help="Reports for people who read them on paper.")

JsonOpt = Annotated[bool, typer.Option("--json", help="print one JSON object as the last line")]
FilesArg = Annotated[list[Path], typer.Argument(help="SLO files: native, OpenSLO v1 or Sloth prometheus/v1")]
PeriodOpt = Annotated[
    str,
    typer.Option("--default-slo-period", help="period of SLOs whose file names none (Sloth files, OpenSLO "
                 "without timeWindow), as Sloth's flag of the same name"),
]
SlothCompatOpt = Annotated[
    bool,
    typer.Option("--sloth-compat", help="period SLI as Sloth computes it (mean of 5m ratios) instead of "
                 "bad/total events over the period"),
]


def _options(default_period: str, sloth_compat: bool) -> Any:
    """LoadOptions from the two shared flags; a bad period is a usage error, not a traceback."""
    from streamverse.durations import parse_duration
    from streamverse.errors import UsageError
    from streamverse.slo.loader import LoadOptions

    seconds = parse_duration(default_period)
    if seconds <= 0:
        raise UsageError(f"--default-slo-period {default_period!r} must be longer than zero")
    return LoadOptions(default_period_s=seconds, period_ratio="sloth" if sloth_compat else "events")


@slo_app.callback()
def _slo_group() -> None:
    """SLOs: validate files, generate Prometheus rules, show error budgets and burn rates."""


@report_app.callback()
def _report_group() -> None:
    """Executive reports."""


def _print_problems(result: Any) -> None:
    for e in result.errors:
        colour = "red" if e.severity == "error" else "yellow"
        err_console.print(f"[bold {colour}]{e.severity}:[/] {e}", highlight=False, soft_wrap=True)


@slo_app.command("validate")
def validate(
    files: FilesArg,
    strict: Annotated[bool, typer.Option(help="warnings fail too")] = False,
    default_period: PeriodOpt = "30d",
    sloth_compat: SlothCompatOpt = False,
    json_out: JsonOpt = False,
) -> None:
    """Check SLO files; every problem names its file, line and field."""
    from streamverse.slo.loader import load_files

    result = load_files(files, _options(default_period, sloth_compat))
    _print_problems(result)
    failed = not result.ok or (strict and bool(result.errors))
    if json_out:
        emit_json(
            {
                "valid": not failed,
                "slos": [s.id for s in result.slos],
                "errors": [e.model_dump() for e in result.errors],
            }
        )
    else:
        console.print(
            f"{len(result.slos)} SLO(s) valid in {len(files)} file(s)"
            + (f", {sum(e.severity == 'error' for e in result.errors)} error(s)" if failed else "")
        )
    if failed:
        raise typer.Exit(1)


@slo_app.command("rules")
def rules(
    files: FilesArg,
    out: Annotated[Path | None, typer.Option("-o", "--out", help="write here instead of stdout")] = None,
    default_period: PeriodOpt = "30d",
    sloth_compat: SlothCompatOpt = False,
) -> None:
    """Prometheus recording and alerting rules (Sloth-compatible names and labels)."""
    from streamverse.slo.loader import load_files
    from streamverse.slo.rules import render_rules

    result = load_files(files, _options(default_period, sloth_compat))
    _print_problems(result)
    if not result.slos:
        fail("no valid SLOs to generate rules for")
    text = render_rules(result.slos)
    if out is None:
        typer.echo(text, nl=False)
    else:
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(text)
        err_console.print(f"wrote rules for {len(result.slos)} SLO(s) to {out}")
    if not result.ok:
        raise typer.Exit(1)


def _pct(x: Any, digits: int = 3) -> str:
    return "-" if x is None or (isinstance(x, float) and math.isnan(x)) else f"{100 * x:.{digits}f}%"


def _num(x: Any) -> str:
    return "-" if x is None or (isinstance(x, float) and math.isnan(x)) else f"{x:.2f}"


@slo_app.command("status")
def status_cmd(
    files: Annotated[list[Path] | None, typer.Argument(help="SLO files; shipped defaults when none")] = None,
    step: Annotated[str, typer.Option(help="evaluation resolution")] = "1m",
    default_period: PeriodOpt = "30d",
    sloth_compat: SlothCompatOpt = False,
    json_out: JsonOpt = False,
) -> None:
    """SLI, error budget and burn rates of every SLO now."""
    from streamverse.clock import RealClock
    from streamverse.collectors.service import make_store
    from streamverse.durations import parse_duration
    from streamverse.slo.loader import default_slo_file, load_files
    from streamverse.slo.service import status

    result = load_files(files or [default_slo_file()], _options(default_period, sloth_compat))
    _print_problems(result)
    out = status(result.slos, make_store(get_settings()), now=RealClock().now(), step=parse_duration(step))
    out["errors"] = [
        *(
            {"file": e.file, "line": e.line, "field": e.field, "message": e.message}
            for e in result.errors
            if e.severity == "error"
        ),
        *out["errors"],
    ]
    if json_out:
        emit_json(out)
        return
    from rich.table import Table

    table = Table(
        "SLO",
        "slice",
        "objective",
        "SLI",
        "budget left",
        "burn 5m",
        "burn 1h",
        "burn 6h",
        "burn 3d",
        "alert",
        "policy",
        title=f"SLO status at {out['at']} ({out['backend']})",
    )
    for r in out["slos"]:
        b = r["burn_rate"]
        alert = "PAGE" if r["alerts"]["page"] else "ticket" if r["alerts"]["ticket"] else ""
        table.add_row(
            r["id"],
            ",".join(f"{k}={v}" for k, v in r["slice"].items()) or "all",
            _pct(r["objective"]),
            _pct(r["sli"]),
            _pct(r["error_budget"]["remaining_ratio"], 1),
            _num(b["5m"]),
            _num(b["1h"]),
            _num(b["6h"]),
            _num(b["3d"]),
            alert,
            r["policy"]["state"],
        )
    console.print(table)
    for e in out["errors"]:
        where = e.get("file", "") + (f":{e['line']}" if e.get("line") else "")
        field = f" field '{e['field']}'" if e.get("field") else ""
        err_console.print(f"[red]error:[/] {where}:{field} {e.get('id', '')}: {e.get('message', '')}",
                          highlight=False)


@report_app.command("sla")
def sla(
    month: Annotated[str, typer.Option(help="YYYY-MM, UTC")],
    fmt: Annotated[str, typer.Option("--format", help="html, pdf or json")] = "html",
    out: Annotated[Path | None, typer.Option("-o", "--out", help="output file")] = None,
    files: Annotated[
        list[Path] | None, typer.Option("--slo", help="SLO files; shipped defaults when none")
    ] = None,
    cost_per_minute: Annotated[float, typer.Option(help="revenue lost per bad minute, USD")] = 100_000.0,
    json_out: JsonOpt = False,
) -> None:
    """The executive SLA report for a month: attainment, bad minutes, revenue impact, credits."""
    from streamverse.clock import RealClock
    from streamverse.collectors.service import make_store
    from streamverse.errors import UsageError
    from streamverse.slo.loader import default_slo_file, load_files
    from streamverse.slo.report import build_report, render_html, render_pdf

    if fmt not in ("html", "pdf", "json"):
        raise UsageError(f"--format {fmt!r}: use html, pdf or json")
    result = load_files(files or [default_slo_file()])
    _print_problems(result)
    report = build_report(
        result.slos, make_store(get_settings()), month=month, cost_per_minute=cost_per_minute,
        now=RealClock().now(),
    )
    if fmt == "json":
        if out:
            import json

            out.write_text(json.dumps(_strip(report), indent=2))
        emit_json(_strip(report))
        return
    target = out or Path(f"sla-{month}.{fmt}")
    if fmt == "html":
        target.write_text(render_html(report))
    else:
        render_pdf(report, target)
    if json_out:
        emit_json({"file": str(target), "format": fmt, "month": month})
    else:
        console.print(f"wrote the {month} SLA report to {target}")


def _strip(report: dict[str, Any]) -> dict[str, Any]:
    """The report without its chart arrays (they only feed the pictures)."""
    from streamverse.output import _clean

    return _clean({k: v for k, v in report.items() if not k.startswith("_")})
