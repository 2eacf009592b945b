"""`streamverse fault inject|clear|list`: faults through the control API, as an admin would.

The CLI never reaches into the platform: it calls the control API with a token, so the
injection is authorised and audited like any other admin action. On the machine running
`streamverse up` the API URL and the admin token are found in the data dir.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from streamverse.client import ApiError, ControlClient
from streamverse.durations import format_duration
from streamverse.errors import UsageError
from streamverse.livefile import read_live, read_tokens
from streamverse.output import console, emit_json
from streamverse.settings import Settings


def saved_token(data_dir: Path, role: str) -> str | None:
    """The token of `role` that `streamverse up` created in this data dir, if any."""
    return read_tokens(data_dir).get(role)


def _connect(settings: Settings, *, api: str | None, token: str | None, role: str) -> ControlClient:
    url = api or read_live(settings.data_dir).get("api_url")
    if not url:
        raise UsageError(f"no control API to talk to: nothing running in {settings.data_dir} "
                         "(start it with `streamverse up`) and no --api URL given")
    secret = token or saved_token(settings.data_dir, role) or saved_token(settings.data_dir, "admin")
    if not secret:
        raise UsageError(f"no token: pass --token or set STREAMVERSE_TOKEN "
                         f"(create one with `streamverse token create --role {role}`)")
    return ControlClient(url, secret)


def _explain(exc: ApiError, *, role: str, base_url: str) -> UsageError:
    """An API refusal as a message saying what to do about it."""
    if exc.status == 0:
        return UsageError(f"the control API at {base_url} is unreachable: is `streamverse up` running? "
                          "Otherwise pass --api URL")
    if exc.status == 401:
        return UsageError(f"the control API refused the token ({exc.detail}); pass a valid --token or "
                          f"STREAMVERSE_TOKEN (`streamverse token create --role {role}`)")
    if exc.status == 403:
        return UsageError(f"this token may not do that: {exc.detail}")
    if exc.status == 503:
        return UsageError(f"the platform is not reachable: {exc.detail}")
    return UsageError(f"refused (HTTP {exc.status}): {_detail_text(exc.detail)}")


def _detail_text(detail: Any) -> str:
    if isinstance(detail, list):  # FastAPI validation errors: name the field
        parts = []
        for err in detail:
            if isinstance(err, dict):
                loc = ".".join(str(x) for x in err.get("loc", ()) if x != "body")
                parts.append(f"{loc}: {err.get('msg')}" if loc else str(err.get("msg")))
        return "; ".join(parts) or str(detail)
    return str(detail)


def _call(settings: Settings, *, api: str | None, token: str | None, role: str,
          method: str, path: str, body: Any = None) -> Any:
    client = _connect(settings, api=api, token=token, role=role)
    try:
        with client:
            return client.request(method, path, json=body)
    except ApiError as exc:
        raise _explain(exc, role=role, base_url=client.base_url) from None


def inject_command(settings: Settings, *, scenario: str, target: str | None, duration_s: float,
                   api: str | None, token: str | None, json_out: bool,
                   params: dict[str, Any] | None = None) -> dict[str, Any]:
    """Inject one fault now and print it."""
    if duration_s <= 0:
        raise UsageError("--duration: must be positive, e.g. 5m")
    body = {"scenario": scenario, "target": target, "duration_s": duration_s, "params": params or {}}
    fault = _call(settings, api=api, token=token, role="admin", method="POST", path="/platform/faults",
                  body=body)
    if json_out:
        emit_json(fault)
    else:
        console.print(f"Injected [bold]{fault['scenario']}[/] on [bold]{fault['target']}[/] "
                      f"for {format_duration(duration_s)} (fault {fault['id']}, until {fault['end']}).")
        console.print(f"End it early with: streamverse fault clear {fault['id']}", highlight=False)
    return fault


def clear_command(settings: Settings, *, fault_id: str | None, api: str | None, token: str | None,
                  json_out: bool) -> dict[str, Any]:
    """End one fault (or every fault) now and print what ended."""
    path = f"/platform/faults/{fault_id}" if fault_id else "/platform/faults"
    result = _call(settings, api=api, token=token, role="admin", method="DELETE", path=path)
    if json_out:
        emit_json(result)
    else:
        cleared = result.get("cleared", []) if isinstance(result, dict) else []
        if not cleared:
            console.print("No faults to clear.")
        for f in cleared:
            console.print(f"Cleared {f.get('id')}: {f.get('scenario')} on {f.get('target')} "
                          f"(ended {f.get('end')}).")
    return result


def list_command(settings: Settings, *, api: str | None, token: str | None, json_out: bool) -> dict[str, Any]:
    """Print the faults of the running platform, active ones first."""
    result = _call(settings, api=api, token=token, role="viewer", method="GET", path="/platform/faults")
    faults = result.get("faults", []) if isinstance(result, dict) else []
    if json_out:
        emit_json({"faults": faults, "active": [f for f in faults if f.get("active")]})
        return result
    if not faults:
        console.print("No faults injected.")
        return result
    from rich.table import Table

    table = Table("id", "scenario", "target", "start", "end", "active")
    for f in sorted(faults, key=lambda f: (not f.get("active"), str(f.get("start")))):
        table.add_row(str(f.get("id")), str(f.get("scenario")), str(f.get("target")), str(f.get("start")),
                      str(f.get("end")), "yes" if f.get("active") else "no")
    console.print(table)
    return result
