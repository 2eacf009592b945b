"""Live drills, every crisis, several runs: StreamVerse's loop against real Prometheus + Alertmanager.

One live system (`streamverse up` in-process, private data dir, free ports) serves every run.
Beside it, two real Prometheus + Alertmanager pairs scrape the same targets and evaluate the
generated SLO rules (`streamverse slo rules`), each delivering its webhook to the control API:
- `default`: as their users start them: scrape and evaluation 1m, Alertmanager group_wait 30s;
- `equal`: at OUR intervals (5 s scrape and evaluation, the same `for:` in the same rules, the
  same group_wait 30s), so the design difference shows apart from the settings.

Per run: `mttd_s` (fault -> what first detected it, named in `detected_by`: an alert or the GeoDNS
health checks), `mttr_s` (fault -> the affected viewers' error ratio over a sliding 30 s window
back within the objective, after exceeding it; None, and said so, when they were never hurt), and
for each Prometheus pair the fault -> first webhook it delivered after the fault (None when none
came within the wait). Between runs the platform is put back (faults cleared, weights 1, primary
origin, default limits) and open incidents resolved; runbook cooldowns are 0 here, so a second
run may repeat the first's remediation (said in the JSON).

JSON (last line): `mttd_s`, `mttr_s` (medians over scenarios and runs, Nones left out and counted),
`scenarios` (name -> medians, detected_by, recovered_by, every run), `prometheus_default_detect_s`,
`prometheus_equal_interval_detect_s` (medians over runs where a webhook came).
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import threading
import time
from datetime import UTC
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from streamverse.client import ControlClient  # noqa: E402
from streamverse.collectors.prometheus_process import start_alertmanager, start_prometheus  # noqa: E402
from streamverse.db import get_engine  # noqa: E402
from streamverse.platform.ratelimit import DEFAULT_LIMITS  # noqa: E402
from streamverse.remediation.control import ControlClient as PlatformClient  # noqa: E402
from streamverse.settings import Settings  # noqa: E402
from streamverse.slo.loader import default_slo_file, load_files  # noqa: E402
from streamverse.slo.rules import render_rules  # noqa: E402
from streamverse.system.drill_fast import DRILL_SCENARIOS  # noqa: E402
from streamverse.system.drill_live import LiveTarget, LiveThread, private_settings, run_live  # noqa: E402
from streamverse.system.telemetry import scrape_targets  # noqa: E402

SCRAPE_S = 5.0
EVAL_S = 5.0
BASELINES = {"default": {"scrape_s": 60.0, "eval_s": 60.0},
             "equal": {"scrape_s": SCRAPE_S, "eval_s": EVAL_S}}


def _am_config(webhook_url: str) -> dict[str, Any]:
    """Alertmanager's defaults (group_wait 30s, group_interval 5m); grouped per baseline label."""
    return {"route": {"receiver": "streamverse", "group_by": ["alertname", "baseline"]},
            "receivers": [{"name": "streamverse",
                           "webhook_configs": [{"url": webhook_url, "send_resolved": True}]}]}


def _deliveries(engine: Any, since: float) -> dict[str, float]:
    """First webhook per baseline received after `since` (the group key carries the baseline label)."""
    from sqlmodel import Session, col, select

    from streamverse.alerts.models import WebhookDelivery

    first: dict[str, float] = {}
    with Session(engine) as s:
        for row in s.exec(select(WebhookDelivery).order_by(col(WebhookDelivery.received_at))).all():
            got = row.received_at
            at = (got if got.tzinfo else got.replace(tzinfo=UTC)).timestamp()
            for name in BASELINES:
                if at >= since and f'baseline="{name}"' in row.group_key and name not in first:
                    first[name] = at
    return first


def _reset(api: ControlClient, ctl: PlatformClient, topology: Any) -> None:
    """Put the platform back as it was before a run, and close what the run opened."""
    api.clear_faults()
    for r in topology.regions:
        ctl.post(f"/control/dns/regions/{r.name}/weight", {"weight": 1.0})
        for p in r.pops:
            ctl.post(f"/control/dns/pops/{p.name}/weight", {"weight": 1.0})
    ctl.post("/control/origin/switch", {"origin": topology.origins[0].name})
    ctl.post("/control/origin/scale", {"factor": 1.0})
    rate, burst = DEFAULT_LIMITS["ip"]
    ctl.post("/control/ratelimits", {"key": "ip", "rate_per_s": rate, "burst": burst})
    for inc in api.incidents(limit=1000):
        if inc.status not in ("resolved", "postmortem"):
            api.resolve_incident(inc.id)


def _median(values: list[float | None]) -> float | None:
    got = [v for v in values if v is not None]
    return round(statistics.median(got), 3) if got else None


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="one region-outage run, shorter waits")
    parser.add_argument("--runs", type=int, default=None, help="runs per scenario (default 3)")
    parser.add_argument("--scenarios", default=None, help=f"comma list from {','.join(DRILL_SCENARIOS)}")
    parser.add_argument("--viewers", type=int, default=None)
    args = parser.parse_args()
    quick = args.quick
    runs = args.runs or (1 if quick else 3)
    scenarios = (args.scenarios.split(",") if args.scenarios else
                 ["region-outage"] if quick else list(DRILL_SCENARIOS))
    viewers = args.viewers or (12 if quick else 24)
    warmup_s = 30.0 if quick else 60.0
    prom_wait_s = 150.0 if quick else 300.0

    work = Path(tempfile.mkdtemp(prefix="streamverse-bench-drill-"))
    base = Settings(remediation_cooldown_s=0, failback_auto=False)  # repeated runs; no failback mid-bench
    settings = private_settings(base, work / "data")
    live = LiveThread(settings, viewers=viewers, health_interval_s=1.0, watch_s=(20.0, 60.0),
                      telemetry_options={"scrape_interval_s": SCRAPE_S, "probes": False},
                      alert_interval_s=EVAL_S)
    procs: list[Any] = []
    per: dict[str, list[dict[str, Any]]] = {s: [] for s in scenarios}
    try:
        system = live.system
        rules = work / "slo-rules.yml"
        rules.write_text(render_rules(load_files([default_slo_file()]).slos))
        hook = f"{system.urls['api']}/api/v1/webhooks/alertmanager?token={system.tokens['responder']}"
        for name, cfg in BASELINES.items():
            am = start_alertmanager(data_dir=work / f"alertmanager-{name}", config=_am_config(hook))
            procs.append(am)
            procs.append(start_prometheus(
                targets=scrape_targets(system), data_dir=work / f"prometheus-{name}",
                scrape_interval_s=cfg["scrape_s"], evaluation_interval_s=cfg["eval_s"], rule_files=[rules],
                alertmanager_url=am.url, external_labels={"baseline": name}))
        engine = get_engine(settings.resolved_database_url)
        target = LiveTarget(system.urls["api"], system.urls["platform_control"],
                            settings.resolved_control_key, system.tokens["admin"], settings,
                            system.platform.topology)
        api = ControlClient(system.urls["api"], system.tokens["admin"])
        ctl = PlatformClient(system.urls["platform_control"], settings.resolved_control_key)
        print(f"warming up {warmup_s:.0f}s ({viewers} viewers)", file=sys.stderr)
        time.sleep(warmup_s)
        for scenario in scenarios:
            for i in range(runs):
                fault_at: list[float] = []

                def step(message: str, t: float, fault_at: list[float] = fault_at,
                         tag: str = f"[{scenario} #{i + 1}]") -> None:
                    if not fault_at:
                        fault_at.append(time.time() - t)
                    print(f"{tag} +{t:6.1f}s {message}", file=sys.stderr)

                report = run_live(scenario, target=target, max_s=240.0, duration_s=prom_wait_s + 60,
                                  on_step=step, clear_after=False)
                fa = fault_at[0] if fault_at else time.time()
                seen: dict[str, float] = {}
                while len(seen) < len(BASELINES) and time.time() < fa + prom_wait_s:
                    seen = _deliveries(engine, fa)
                    time.sleep(2.0)
                report["prometheus_detect_s"] = {n: round(seen[n] - fa, 3) if n in seen else None
                                                 for n in BASELINES}
                per[scenario].append(report)
                _reset(api, ctl, system.platform.topology)
                threading.Event().wait(30.0 if quick else 60.0)  # let the viewers' windows clear
    finally:
        for p in reversed(procs):
            p.stop()
        live.stop()
    all_runs = [r for rs in per.values() for r in rs]
    result = {
        "mttd_s": _median([r["mttd_s"] for r in all_runs]),
        "mttr_s": _median([r["mttr_s"] for r in all_runs]),
        "runs_without_mttr": sum(r["mttr_s"] is None for r in all_runs),
        "scenarios": {s: {"mttd_s": _median([r["mttd_s"] for r in rs]),
                          "mttr_s": _median([r["mttr_s"] for r in rs]),
                          "detected_by": sorted({r["detected_by"] for r in rs if r["detected_by"]}),
                          "recovered_by": sorted({r["recovered_by"] for r in rs if r["recovered_by"]}),
                          "users_hurt": [r["users_hurt"] for r in rs],
                          "runs": [{k: r.get(k) for k in ("mttd_s", "mttr_s", "detected_by", "users_hurt",
                                                           "prometheus_detect_s", "incident_id", "actions")}
                                   for r in rs]}
                      for s, rs in per.items()},
        "prometheus_default_detect_s": _median([r["prometheus_detect_s"]["default"] for r in all_runs]),
        "prometheus_equal_interval_detect_s": _median([r["prometheus_detect_s"]["equal"] for r in all_runs]),
        "prometheus": {"default": "scrape 1m, evaluation 1m, group_wait 30s",
                       "equal": f"scrape {SCRAPE_S:g}s, evaluation {EVAL_S:g}s, group_wait 30s",
                       "rules": "generated SLO rules (streamverse slo rules)", "waited_s": prom_wait_s},
        "streamverse": {"scrape_interval_s": SCRAPE_S, "evaluation_interval_s": EVAL_S,
                        "runbook_cooldown_s": 0, "failback_auto": False},
        "targets": {"mttd_s": 15, "mttr_s": 60, "viral-video": {"mttd_s": 30, "mttr_s": 90}},
        "viewers": viewers, "runs_per_scenario": runs, "quick": quick,
    }
    print(json.dumps(result))


if __name__ == "__main__":
    main()
