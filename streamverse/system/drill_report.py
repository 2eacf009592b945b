"""What a drill reports, the same way live and fast-forward: who detected, and what counted as recovery.

Recovery is judged only on what the affected viewers saw: their error ratio over a sliding
30 s window back within the objective, after it had been outside it. When those viewers
were never hurt (health checks drained a PoP before any request failed, say) there is no
recovery to time, and the report says so instead of giving a number.
"""

from __future__ import annotations

from dataclasses import dataclass

from streamverse.platform.topology import Topology

RECOVERY_WINDOW_S = 30.0
DEFAULT_OBJECTIVE = 0.9999  # edge-availability: what the affected users were promised
NEVER_HURT_SETTLE_S = 2 * RECOVERY_WINDOW_S  # a drill whose users stay fine this long after detection ends


def health_checked_pops(topology: Topology, scenario: str, target: str) -> list[str]:
    """The PoPs whose health checks would see this fault: a PoP, or every PoP of a region outage."""
    if target in topology.pops:
        return [target]
    if scenario == "region-outage":
        return [p.name for r in topology.regions if r.name == target for p in r.pops]
    return []


def recovery_rule(objective: float, window_s: float = RECOVERY_WINDOW_S) -> str:
    """The rule, in words, as the report names it."""
    return (f"affected viewers' error ratio over a sliding {window_s:g} s window back within "
            f"{(1 - objective) * 100:.2g}% (objective {objective * 100:g}%) after exceeding it")


@dataclass
class RecoveryWatch:
    """Feeds on the affected viewers' windowed error ratio; notes when they were hurt and when recovered."""

    objective: float = DEFAULT_OBJECTIVE
    window_s: float = RECOVERY_WINDOW_S
    hurt_at: float | None = None
    worst: float = 0.0
    recovered_at: float | None = None

    def observe(self, ratio: float | None, now: float) -> bool:
        """One windowed ratio (None: no traffic seen); True when this observation is the recovery."""
        if ratio is None or self.recovered_at is not None:
            return False
        self.worst = max(self.worst, ratio)
        if ratio > 1 - self.objective:
            if self.hurt_at is None:
                self.hurt_at = now
            return False
        if self.hurt_at is not None:
            self.recovered_at = now
            return True
        return False

    @property
    def hurt(self) -> bool:
        """Whether the affected viewers ever saw errors beyond the objective."""
        return self.hurt_at is not None

    def settled(self, detected_at: float | None, now: float) -> bool:
        """Nothing more to wait for: recovered, or detected and the users still unhurt long after."""
        if self.recovered_at is not None:
            return True
        return detected_at is not None and not self.hurt and now - detected_at >= NEVER_HURT_SETTLE_S

    def fields(self, fault_at: float) -> dict[str, object]:
        """The report's recovery part: MTTR only when users were hurt and recovered, and the rule used."""
        out: dict[str, object] = {
            "users_hurt": self.hurt,
            "worst_error_ratio": round(self.worst, 6),
            "recovered_by": recovery_rule(self.objective, self.window_s) if self.recovered_at else None,
            "mttr_s": round(self.recovered_at - fault_at, 3) if self.recovered_at else None,
        }
        if not self.hurt:
            out["note"] = ("the affected viewers never saw errors beyond the objective: no recovery to "
                           "time, so no MTTR")
        elif self.recovered_at is None:
            out["note"] = "the affected viewers had not recovered when the drill ended"
        return out
