"""`GET /reports/sla`: the executive SLA report as a download (HTML, PDF or JSON), viewer role."""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

from fastapi import APIRouter, HTTPException, Request
from fastapi.responses import HTMLResponse, JSONResponse, Response

from streamverse.api.deps import ClockDep, ViewerDep
from streamverse.clock import month_bounds
from streamverse.errors import UsageError

router = APIRouter(prefix="/reports", tags=["reports"])


def check_month(month: str) -> str:
    """A YYYY-MM month, or a 422 that says how to write it."""
    try:
        month_bounds(month)
    except UsageError as exc:
        raise HTTPException(422, str(exc)) from None
    return month


def check_format(fmt: str) -> str:
    """html, pdf or json, or a 422 listing them."""
    if fmt not in ("html", "pdf", "json"):
        raise HTTPException(422, f"format {fmt!r}: use html, pdf or json")
    return fmt


@router.get("/sla", summary="The month's SLA report (html, pdf or json)")
def sla_report(request: Request, _: ViewerDep, clock: ClockDep, month: str,
               format: str = "html") -> Response:  # noqa: A002 - the query parameter users type
    """Attainment, bad minutes, revenue impact and credits per service and region."""
    from streamverse.output import _clean
    from streamverse.slo.report import build_report, render_html, render_pdf
    from streamverse.slo.views import _slos_and_store

    check_month(month)
    check_format(format)
    slos, store = _slos_and_store(request.app.state)
    per_minute = getattr(request.app.state.settings, "revenue_per_minute_usd", 100_000.0)
    report: dict[str, Any] = build_report(slos, store, month=month, cost_per_minute=per_minute,
                                          now=clock.now())
    name = f"sla-{month}.{format}"
    if format == "json":
        return JSONResponse(_clean({k: v for k, v in report.items() if not k.startswith("_")}))
    if format == "html":
        return HTMLResponse(render_html(report),
                            headers={"Content-Disposition": f'inline; filename="{name}"'})
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / name
        render_pdf(report, path)
        body = path.read_bytes()
    return Response(body, media_type="application/pdf",
                    headers={"Content-Disposition": f'attachment; filename="{name}"'})
