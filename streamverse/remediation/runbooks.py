"""The runbooks: each plans exact changes and blast radius, applies them over the control endpoints,
rolls them back, and can tell whether its change is in place (for verification and crash recovery).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, ClassVar

from streamverse.errors import UsageError
from streamverse.remediation.control import PlatformControl
from streamverse.remediation.guardrails import (
    GuardrailConfig,
    GuardrailError,
    check_pops_drain,
    check_region_drain,
)

DOCS_BASE = "docs/runbooks"
FAILBACK_STEP = 0.1  # the seed: traffic returns 10 % at a time...
FAILBACK_INTERVAL_S = 600.0  # ...every 10 minutes


@dataclass
class ApplyContext:
    """What apply() may use besides the platform: pacing, progress records, and an early health check."""

    sleep: Callable[[float], None] = lambda s: None
    progress: Callable[[dict[str, Any]], None] = lambda changes: None
    healthy: Callable[[], bool] = lambda: True
    stopped: Callable[[], str | None] = lambda: None  # who asked to stop the run, if anyone has


@dataclass
class Plan:
    """A dry run: the exact changes and who they touch."""

    runbook: str
    target: str
    params: dict[str, Any]
    changes: list[dict[str, Any]]
    blast_radius: dict[str, Any]
    high_blast: bool = False
    steps: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        """JSON form stored on the run."""
        return {
            "runbook": self.runbook,
            "target": self.target,
            "params": self.params,
            "changes": self.changes,
            "blast_radius": self.blast_radius,
            "high_blast": self.high_blast,
            "steps": self.steps,
        }


def _change(what: str, old: Any, new: Any, **extra: Any) -> dict[str, Any]:
    return {"what": what, "old": old, "new": new, **extra}


class Runbook:
    """Base: subclasses define plan/apply/rollback/in_place and which SLI verification watches."""

    name: ClassVar[str]
    title: ClassVar[str]
    summary: ClassVar[str]
    sli: ClassVar[str] = "none"  # region | pop | cache | origin | none

    @property
    def playbook(self) -> str:
        """The human playbook page."""
        return f"{DOCS_BASE}/{self.name}.md"

    def describe(self) -> dict[str, Any]:
        """Name, what it does and where its playbook is."""
        return {
            "name": self.name,
            "title": self.title,
            "summary": self.summary,
            "sli": self.sli,
            "playbook": self.playbook,
            "playbook_url": f"/api/v1/runbooks/{self.name}/playbook",
        }

    def plan(
        self, ctl: PlatformControl, target: str, params: dict[str, Any], config: GuardrailConfig
    ) -> Plan:
        """The dry run; raises GuardrailError when the run must not happen."""
        raise NotImplementedError

    def apply(self, ctl: PlatformControl, plan: dict[str, Any], ctx: ApplyContext) -> dict[str, Any]:
        """Make the changes; returns what the platform says changed."""
        raise NotImplementedError

    def rollback(self, ctl: PlatformControl, plan: dict[str, Any], changes: dict[str, Any]) -> dict[str, Any]:
        """Put back what the plan recorded as the old state."""
        raise NotImplementedError

    def in_place(self, ctl: PlatformControl, plan: dict[str, Any], changes: dict[str, Any]) -> bool | None:
        """Whether the planned end state holds now (None when the platform cannot tell)."""
        return None


def _region_weight(status: dict[str, Any], region: str) -> float:
    return float(status["regions"][region]["weight"])


class RegionFailover(Runbook):
    name = "region-failover"
    title = "Region failover"
    summary = "Drain a region in GeoDNS so its viewers go to the nearest healthy regions."
    sli = "region"

    def plan(
        self, ctl: PlatformControl, target: str, params: dict[str, Any], config: GuardrailConfig
    ) -> Plan:
        status = ctl.status()
        blast = check_region_drain(status, target, config)
        old = _region_weight(status, target)
        return Plan(
            self.name,
            target,
            params,
            [_change(f"dns.region_weight[{target}]", old, 0.0)],
            blast,
            high_blast=True,
            steps=[f"POST /control/dns/regions/{target}/drain"],
        )

    def apply(self, ctl: PlatformControl, plan: dict[str, Any], ctx: ApplyContext) -> dict[str, Any]:
        return {"drain": ctl.post(f"/control/dns/regions/{plan['target']}/drain")["result"]}

    def rollback(self, ctl: PlatformControl, plan: dict[str, Any], changes: dict[str, Any]) -> dict[str, Any]:
        old = plan["changes"][0]["old"]
        return ctl.post(f"/control/dns/regions/{plan['target']}/weight", {"weight": old})["result"]

    def in_place(self, ctl: PlatformControl, plan: dict[str, Any], changes: dict[str, Any]) -> bool | None:
        return _region_weight(ctl.status(), plan["target"]) == 0.0


class RegionFailback(Runbook):
    name = "region-failback"
    title = "Region failback (gradual)"
    summary = ("Return a drained region's viewers to it, `step` (10%) at a time every `interval_s` "
               "(10 min); stops and rolls back when the region's error ratio rises, holds when stopped.")
    sli = "region"

    def plan(
        self, ctl: PlatformControl, target: str, params: dict[str, Any], config: GuardrailConfig
    ) -> Plan:
        status = ctl.status()
        if target not in status["regions"]:
            raise UsageError(f"unknown region {target!r}; choose one of {sorted(status['regions'])}")
        step = float(params.get("step", FAILBACK_STEP))
        interval = float(params.get("interval_s", FAILBACK_INTERVAL_S))
        if not 0 < step <= 1 or interval < 0:
            raise UsageError("params: step must be in (0, 1] and interval_s >= 0")
        failing = [p for p, i in status["pops"].items()
                   if i.get("region") == target and not i.get("healthy", True)]
        if failing:
            raise GuardrailError(f"{target} is still failing its health checks ({', '.join(sorted(failing))} "
                                 "down); failback would send viewers back to it. Wait until every PoP is "
                                 "healthy again")
        old = _region_weight(status, target)
        weights, w = [], old
        while w < 1.0 - 1e-9:
            w = min(1.0, round(w + step, 6))
            weights.append(w)
        cap = {p: float(i.get("capacity_gbps", 0)) for p, i in status["pops"].items()}
        share = sum(c for p, c in cap.items() if status["pops"][p]["region"] == target) / (
            sum(cap.values()) or 1
        )
        return Plan(
            self.name,
            target,
            {**params, "step": step, "interval_s": interval},
            [_change(f"dns.region_weight[{target}]", old, 1.0, steps=weights)],
            {"share_of_capacity": round(share * (1.0 - old), 4), "duration_s": interval * len(weights)},
            steps=[
                f"POST /control/dns/regions/{target}/weight {{weight: {x}}} then wait {interval:g}s"
                for x in weights
            ],
        )

    def apply(self, ctl: PlatformControl, plan: dict[str, Any], ctx: ApplyContext) -> dict[str, Any]:
        done: list[float] = []
        for i, weight in enumerate(plan["changes"][0]["steps"]):
            ctl.post(f"/control/dns/regions/{plan['target']}/weight", {"weight": weight})
            done.append(weight)
            ctx.progress({"weights_applied": list(done)})
            if i < len(plan["changes"][0]["steps"]) - 1:
                ctx.sleep(float(plan["params"]["interval_s"]))
                if not ctx.healthy():
                    return {"weights_applied": done, "stopped_early": True}
                who = ctx.stopped()
                if who:
                    return {"weights_applied": done, "stopped_by": who}
        return {"weights_applied": done}

    def rollback(self, ctl: PlatformControl, plan: dict[str, Any], changes: dict[str, Any]) -> dict[str, Any]:
        return ctl.post(
            f"/control/dns/regions/{plan['target']}/weight", {"weight": plan["changes"][0]["old"]}
        )["result"]

    def in_place(self, ctl: PlatformControl, plan: dict[str, Any], changes: dict[str, Any]) -> bool | None:
        return _region_weight(ctl.status(), plan["target"]) == 1.0


class PopDrain(Runbook):
    name = "pop-drain"
    title = "PoP drain"
    summary = "Take one PoP out of GeoDNS answers; its region's other PoPs take the viewers."
    sli = "pop"

    def plan(
        self, ctl: PlatformControl, target: str, params: dict[str, Any], config: GuardrailConfig
    ) -> Plan:
        status = ctl.status()
        if target not in status["pops"]:
            raise UsageError(f"unknown PoP {target!r}; choose one of {sorted(status['pops'])}")
        region = status["pops"][target]["region"]
        blast = check_pops_drain(status, [target], config)
        old = float(status["pops"][target]["weight"])
        return Plan(
            self.name,
            target,
            params,
            [_change(f"dns.pop_weight[{target}]", old, 0.0)],
            blast | {"region": region},
            steps=[f"POST /control/dns/pops/{target}/drain"],
        )

    def apply(self, ctl: PlatformControl, plan: dict[str, Any], ctx: ApplyContext) -> dict[str, Any]:
        return {"drain": ctl.post(f"/control/dns/pops/{plan['target']}/drain")["result"]}

    def rollback(self, ctl: PlatformControl, plan: dict[str, Any], changes: dict[str, Any]) -> dict[str, Any]:
        return ctl.post(f"/control/dns/pops/{plan['target']}/weight", {"weight": plan["changes"][0]["old"]})[
            "result"
        ]

    def in_place(self, ctl: PlatformControl, plan: dict[str, Any], changes: dict[str, Any]) -> bool | None:
        return float(ctl.status()["pops"][plan["target"]]["weight"]) == 0.0


def _video_id(target: str, params: dict[str, Any]) -> int:
    raw = params.get("video_id", target.removeprefix("video:"))
    try:
        return int(raw)
    except (TypeError, ValueError):
        raise UsageError(f"target: a video is written 'video:42', got {target!r}") from None


class CdnPrewarm(Runbook):
    name = "cdn-prewarm"
    title = "CDN pre-warm"
    summary = "Copy a video's playlists and first segments into every PoP cache before demand arrives."
    sli = "cache"

    def plan(
        self, ctl: PlatformControl, target: str, params: dict[str, Any], config: GuardrailConfig
    ) -> Plan:
        video = _video_id(target, params)
        status = ctl.status()
        pops = params.get("pops") or sorted(status["pops"])
        segments = int(params.get("max_segments", 10))
        return Plan(
            self.name,
            target,
            {**params, "video_id": video, "max_segments": segments},
            [
                _change(
                    f"cache[videos/{video}/]", "as is", f"first {segments} segments per rendition", pops=pops
                )
            ],
            {"share_of_capacity": 0.0, "pops_affected": pops, "note": "additive: only fills caches"},
            steps=["POST /control/cdn/prewarm"],
        )

    def apply(self, ctl: PlatformControl, plan: dict[str, Any], ctx: ApplyContext) -> dict[str, Any]:
        p = plan["params"]
        body = {"video_id": p["video_id"], "max_segments": p["max_segments"], "pops": p.get("pops")}
        return {"prewarm": ctl.post("/control/cdn/prewarm", {k: v for k, v in body.items() if v})["result"]}

    def rollback(self, ctl: PlatformControl, plan: dict[str, Any], changes: dict[str, Any]) -> dict[str, Any]:
        return {"note": "nothing to undo: pre-warmed objects age out of the caches by themselves"}

    def in_place(self, ctl: PlatformControl, plan: dict[str, Any], changes: dict[str, Any]) -> bool | None:
        return bool(changes.get("prewarm")) or None


class TtlExtension(Runbook):
    name = "ttl-extension"
    title = "Cache TTL extension"
    summary = "Keep objects under a key prefix fresh longer, so the origin sees fewer misses."
    sli = "cache"

    def plan(
        self, ctl: PlatformControl, target: str, params: dict[str, Any], config: GuardrailConfig
    ) -> Plan:
        prefix = target.removeprefix("prefix:")
        if target.startswith("video:"):
            prefix = f"videos/{_video_id(target, params)}/"
        ttl = float(params.get("ttl_s", 3600.0))
        if ttl <= 0:
            raise UsageError("params: ttl_s must be positive")
        pops = params.get("pops") or sorted(ctl.status()["pops"])
        return Plan(
            self.name,
            target,
            {**params, "prefix": prefix, "ttl_s": ttl},
            [_change(f"cache.ttl[{prefix}]", "current (reported on apply)", ttl, pops=pops)],
            {
                "share_of_capacity": 0.0,
                "pops_affected": pops,
                "note": "viewers may see objects up to ttl_s old",
            },
            steps=["POST /control/cdn/ttl"],
        )

    def apply(self, ctl: PlatformControl, plan: dict[str, Any], ctx: ApplyContext) -> dict[str, Any]:
        p = plan["params"]
        return {
            "ttl": ctl.post(
                "/control/cdn/ttl", {"prefix": p["prefix"], "ttl_s": p["ttl_s"], "pops": p.get("pops")}
            )["result"]
        }

    def rollback(self, ctl: PlatformControl, plan: dict[str, Any], changes: dict[str, Any]) -> dict[str, Any]:
        old = (changes.get("ttl") or {}).get("ttl_s", {}).get("old")
        if isinstance(old, list):
            old = min(old) if old else None
        if old is None:
            return {"note": "the old TTL is unknown (the change never reached the platform); nothing to undo"}
        p = plan["params"]
        return ctl.post("/control/cdn/ttl", {"prefix": p["prefix"], "ttl_s": old, "pops": p.get("pops")})[
            "result"
        ]

    def in_place(self, ctl: PlatformControl, plan: dict[str, Any], changes: dict[str, Any]) -> bool | None:
        return bool(changes.get("ttl")) or None


class RateLimitTightening(Runbook):
    name = "rate-limit-tightening"
    title = "Rate-limit tightening"
    summary = "Lower the gateway limit for one IP or user ('ip:1.2.3.4', 'user:42') or a whole scope."
    sli = "none"

    def plan(
        self, ctl: PlatformControl, target: str, params: dict[str, Any], config: GuardrailConfig
    ) -> Plan:
        scope = target.split(":", 1)[0]
        if scope not in ("ip", "user"):
            raise UsageError(f"target: write 'ip:ADDRESS', 'user:ID', 'ip' or 'user', got {target!r}")
        rate, burst = float(params.get("rate_per_s", 5.0)), int(params.get("burst", 10))
        whole_scope = ":" not in target
        return Plan(
            self.name,
            target,
            {**params, "rate_per_s": rate, "burst": burst},
            [
                _change(
                    f"gateway.limit[{target}]",
                    "current (reported on apply)",
                    {"rate_per_s": rate, "burst": burst},
                )
            ],
            {
                "share_of_capacity": 1.0 if whole_scope else 0.0,
                "clients": f"every {scope}" if whole_scope else target,
            },
            high_blast=whole_scope,
            steps=["POST /control/ratelimits"],
        )

    def apply(self, ctl: PlatformControl, plan: dict[str, Any], ctx: ApplyContext) -> dict[str, Any]:
        p = plan["params"]
        return {
            "limit": ctl.post(
                "/control/ratelimits",
                {"key": plan["target"], "rate_per_s": p["rate_per_s"], "burst": p["burst"]},
            )["result"]
        }

    def rollback(self, ctl: PlatformControl, plan: dict[str, Any], changes: dict[str, Any]) -> dict[str, Any]:
        old = (changes.get("limit") or {}).get("limit", {}).get("old")
        if not old:
            return {
                "note": "no earlier limit for this key; remove the override by hand (see the playbook)",
                "manual": True,
            }
        return ctl.post("/control/ratelimits", {"key": plan["target"], **old})["result"]

    def in_place(self, ctl: PlatformControl, plan: dict[str, Any], changes: dict[str, Any]) -> bool | None:
        return bool(changes.get("limit")) or None


class BackupOrigin(Runbook):
    name = "backup-origin"
    title = "Switch to the backup origin"
    summary = "Serve cache misses from the backup origin when the primary is lost."
    sli = "origin"

    def plan(
        self, ctl: PlatformControl, target: str, params: dict[str, Any], config: GuardrailConfig
    ) -> Plan:
        origin = ctl.status()["origin"]
        others = [o for o in origin["origins"] if o != origin["active"]]
        to = params.get("origin") or (others[0] if others else None)
        if to is None or to not in origin["origins"]:
            raise UsageError(f"params: origin must be one of {origin['origins']}")
        return Plan(
            self.name,
            target,
            {**params, "origin": to},
            [_change("origin.active", origin["active"], to)],
            {"share_of_capacity": 1.0, "note": "every cache miss goes to the new origin"},
            high_blast=True,
            steps=["POST /control/origin/switch"],
        )

    def apply(self, ctl: PlatformControl, plan: dict[str, Any], ctx: ApplyContext) -> dict[str, Any]:
        return {"switch": ctl.post("/control/origin/switch", {"origin": plan["params"]["origin"]})["result"]}

    def rollback(self, ctl: PlatformControl, plan: dict[str, Any], changes: dict[str, Any]) -> dict[str, Any]:
        return ctl.post("/control/origin/switch", {"origin": plan["changes"][0]["old"]})["result"]

    def in_place(self, ctl: PlatformControl, plan: dict[str, Any], changes: dict[str, Any]) -> bool | None:
        return ctl.status()["origin"]["active"] == plan["params"]["origin"]


class OriginScaleOut(Runbook):
    name = "origin-scale-out"
    title = "Origin scale-out"
    summary = "Multiply the active origin's capacity for a miss storm (default: double it)."
    sli = "origin"

    def plan(
        self, ctl: PlatformControl, target: str, params: dict[str, Any], config: GuardrailConfig
    ) -> Plan:
        origin = ctl.status()["origin"]
        old = float(origin["capacity_factor"])
        new = float(params.get("factor", min(100.0, old * 2)))
        if not 0 < new <= 100:
            raise UsageError("params: factor must be in (0, 100]")
        return Plan(
            self.name,
            target,
            {**params, "factor": new},
            [_change(f"origin.capacity_factor[{origin['active']}]", old, new)],
            {
                "share_of_capacity": 0.0,
                "capacity_gbps": {
                    "old": origin["capacity_gbps"],
                    "new": origin["capacity_gbps"] * new / (old or 1),
                },
            },
            steps=["POST /control/origin/scale"],
        )

    def apply(self, ctl: PlatformControl, plan: dict[str, Any], ctx: ApplyContext) -> dict[str, Any]:
        return {"scale": ctl.post("/control/origin/scale", {"factor": plan["params"]["factor"]})["result"]}

    def rollback(self, ctl: PlatformControl, plan: dict[str, Any], changes: dict[str, Any]) -> dict[str, Any]:
        return ctl.post("/control/origin/scale", {"factor": plan["changes"][0]["old"]})["result"]

    def in_place(self, ctl: PlatformControl, plan: dict[str, Any], changes: dict[str, Any]) -> bool | None:
        return float(ctl.status()["origin"]["capacity_factor"]) == float(plan["params"]["factor"])


RUNBOOKS: dict[str, Runbook] = {
    rb.name: rb
    for rb in (
        RegionFailover(),
        RegionFailback(),
        PopDrain(),
        CdnPrewarm(),
        TtlExtension(),
        RateLimitTightening(),
        BackupOrigin(),
        OriginScaleOut(),
    )
}


def get_runbook(name: str) -> Runbook:
    """A runbook by name, or a UsageError listing them."""
    try:
        return RUNBOOKS[name]
    except KeyError:
        raise UsageError(f"unknown runbook {name!r}; choose one of {sorted(RUNBOOKS)}") from None
