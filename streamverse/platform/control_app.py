"""The platform's own control endpoints: the only door the control plane has into the platform.

Served by the platform process on its own port and guarded by a shared key (header
`X-Control-Key`), since its one caller is the control plane, which does its own per-user
authorisation and auditing. Every action returns what it changed, so the control plane can
record it; invalid input is a 422 naming the field, an impossible action (unknown region,
unknown scenario) a 400 with the platform's explanation.
"""

from __future__ import annotations

import hmac
import logging
from typing import Any

from fastapi import Depends, FastAPI, Header, HTTPException, Request
from fastapi.responses import JSONResponse

from streamverse.errors import StreamVerseError
from streamverse.platform.control_models import (
    CONTROL_KEY_HEADER,
    FaultBody,
    PrewarmBody,
    PurgeBody,
    RateLimitBody,
    ScaleBody,
    SizeOf,
    SwitchBody,
    TtlBody,
    VideoObjects,
    WeightBody,
)
from streamverse.platform.faults import SCENARIOS
from streamverse.tracing import TraceMiddleware

log = logging.getLogger("streamverse.platform.control")

def jsonable(value: Any) -> Any:
    """Platform results as JSON: Fault-like objects through their to_dict()."""
    if hasattr(value, "to_dict") and callable(value.to_dict):
        return value.to_dict()
    if isinstance(value, dict):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set):
        return [jsonable(v) for v in value]
    return value


def create_platform_control_app(platform: Any, *, key: str, video_objects: VideoObjects | None = None,
                                size_of: SizeOf | None = None) -> FastAPI:
    """The control endpoints of one platform; `video_objects` lets prewarm take a video id."""
    if not key:
        raise ValueError("the platform control app needs a non-empty key")
    expected = key.encode()

    def check_key(x_control_key: str | None = Header(None, alias=CONTROL_KEY_HEADER)) -> None:
        if not x_control_key:
            raise HTTPException(401, f"missing {CONTROL_KEY_HEADER} header (the platform control key)")
        if not hmac.compare_digest(x_control_key.encode(), expected):
            raise HTTPException(403, f"wrong {CONTROL_KEY_HEADER}: check platform_control_key")

    app = FastAPI(title="StreamVerse platform control", docs_url="/docs",
                  description=f"Admin-only platform actions; send `{CONTROL_KEY_HEADER}`.")
    app.add_middleware(TraceMiddleware)
    app.state.platform = platform
    guarded = [Depends(check_key)]

    @app.exception_handler(StreamVerseError)
    async def _refused(_request: Request, exc: StreamVerseError) -> JSONResponse:
        return JSONResponse({"detail": str(exc)}, status_code=400)

    @app.exception_handler(ValueError)
    async def _bad_value(_request: Request, exc: ValueError) -> JSONResponse:
        return JSONResponse({"detail": str(exc)}, status_code=400)

    def done(action: str, result: Any, **target: Any) -> dict[str, Any]:
        log.info("control action", extra={"action": action, **{f"arg_{k}": v for k, v in target.items()}})
        return {"action": action, **target, "result": jsonable(result)}

    @app.get("/health", summary="Liveness (no key needed)")
    def health() -> dict[str, str]:
        return {"status": "ok", "service": "platform-control"}

    @app.get("/control/status", dependencies=guarded, summary="Routing, caches, origin and faults now")
    def status() -> dict[str, Any]:
        return jsonable(platform.status())

    @app.get("/control/scenarios", dependencies=guarded, summary="The fault scenarios")
    def scenarios() -> dict[str, Any]:
        return {"scenarios": [s.describe() for s in SCENARIOS.values()]}

    @app.post("/control/dns/regions/{region}/weight", dependencies=guarded, summary="Set a region's weight")
    def region_weight(region: str, body: WeightBody) -> dict[str, Any]:
        return done("set-region-weight", platform.set_region_weight(region, body.weight),
                    region=region, weight=body.weight)

    @app.post("/control/dns/regions/{region}/drain", dependencies=guarded,
              summary="Send a region's viewers to other regions")
    def region_drain(region: str) -> dict[str, Any]:
        return done("drain-region", platform.drain_region(region), region=region)

    @app.post("/control/dns/pops/{pop}/weight", dependencies=guarded, summary="Set a PoP's weight")
    def pop_weight(pop: str, body: WeightBody) -> dict[str, Any]:
        return done("set-pop-weight", platform.set_pop_weight(pop, body.weight), pop=pop, weight=body.weight)

    @app.post("/control/dns/pops/{pop}/drain", dependencies=guarded, summary="Take a PoP out of GeoDNS")
    def pop_drain(pop: str) -> dict[str, Any]:
        return done("drain-pop", platform.drain_pop(pop), pop=pop)

    @app.post("/control/cdn/prewarm", dependencies=guarded, summary="Copy objects into PoP caches")
    def prewarm(body: PrewarmBody) -> dict[str, Any]:
        if body.video_id is not None:
            if video_objects is None:
                raise HTTPException(400, "this platform cannot list a video's objects; send keys")
            items = _first_segments(video_objects(body.video_id), body.max_segments)
            if not items:
                raise HTTPException(404, f"video {body.video_id} has no objects at the origin")
        else:
            sizer = size_of or getattr(platform, "size_of", None)
            if sizer is None:
                raise HTTPException(400, "this platform cannot size objects; prewarm by video_id")
            items = []
            for raw in body.keys or []:
                k = raw.lstrip("/")
                size = sizer(k)
                if size is None:
                    raise HTTPException(400, f"keys: the origin has no object {k!r}")
                items.append((k, int(size)))
        result = platform.prewarm(items, pops=body.pops)
        return done("prewarm", result, video_id=body.video_id, objects=len(items), pops=body.pops)

    @app.post("/control/cdn/ttl", dependencies=guarded, summary="Set the cache TTL of a key prefix")
    def ttl(body: TtlBody) -> dict[str, Any]:
        return done("set-ttl", platform.set_ttl(body.prefix, body.ttl_s, pops=body.pops),
                    prefix=body.prefix, ttl_s=body.ttl_s, pops=body.pops)

    @app.post("/control/cdn/purge", dependencies=guarded, summary="Drop cached objects under a prefix")
    def purge(body: PurgeBody) -> dict[str, Any]:
        return done("purge", platform.purge(body.prefix, pops=body.pops), prefix=body.prefix, pops=body.pops)

    @app.post("/control/origin/scale", dependencies=guarded, summary="Scale origin capacity")
    def scale(body: ScaleBody) -> dict[str, Any]:
        return done("scale-origin", platform.scale_origin(body.factor), factor=body.factor)

    @app.post("/control/origin/switch", dependencies=guarded, summary="Serve misses from another origin")
    def switch(body: SwitchBody) -> dict[str, Any]:
        return done("switch-origin", platform.switch_origin(body.origin), origin=body.origin)

    @app.post("/control/ratelimits", dependencies=guarded, summary="Set a gateway rate limit")
    def ratelimit(body: RateLimitBody) -> dict[str, Any]:
        result = platform.set_rate_limit(body.key, body.rate_per_s, body.burst)
        return done("set-rate-limit", result, key=body.key, rate_per_s=body.rate_per_s, burst=body.burst)

    @app.get("/control/faults", dependencies=guarded, summary="Injected faults, active ones flagged")
    def faults(active_only: bool = False) -> dict[str, Any]:
        now = platform.clock.now()
        book = platform.faults
        rows = book.active(now) if active_only else book.all()
        return {"faults": [{**f.to_dict(), "active": f.active(now)} for f in rows]}

    @app.post("/control/faults", dependencies=guarded, status_code=201, summary="Inject a fault")
    def inject(body: FaultBody) -> dict[str, Any]:
        fault = platform.inject_fault(body.scenario, target=body.target, duration_s=body.duration_s,
                                      params=body.params or None, start=body.start)
        log.warning("fault injected", extra={"fault": fault.to_dict()})
        return {**fault.to_dict(), "active": fault.active(platform.clock.now())}

    @app.delete("/control/faults/{fault_id}", dependencies=guarded, summary="End one fault now")
    def clear_one(fault_id: str) -> dict[str, Any]:
        return {"cleared": _cleared(platform.clear_fault(fault_id))}

    @app.delete("/control/faults", dependencies=guarded, summary="End every fault now")
    def clear_all() -> dict[str, Any]:
        return {"cleared": _cleared(platform.clear_fault(None))}

    return app


def _cleared(result: Any) -> list[Any]:
    out = jsonable(result)
    if isinstance(out, dict) and "cleared" in out:
        out = out["cleared"]
    return out if isinstance(out, list) else [out]


def _first_segments(items: list[tuple[str, int]], n: int) -> list[tuple[str, int]]:
    """Playlists plus the first `n` segments of each rendition (startup is what prewarming buys)."""
    seen: dict[str, int] = {}
    out = []
    for key, size in items:
        if key.endswith(".m3u8"):
            out.append((key, size))
            continue
        folder = key.rsplit("/", 1)[0]
        if seen.get(folder, 0) < n:
            seen[folder] = seen.get(folder, 0) + 1
            out.append((key, size))
    return out
