"""Live region-outage drill: StreamVerse's own loop (5 s scrape, 5 s evaluation) against a real
Prometheus + Alertmanager with their DEFAULT timing (scrape and evaluation 1m, group_wait 30s)
watching the same platform with the generated SLO rules, in the same run.

`mttd_s`: fault -> first firing alert of the affected region in StreamVerse; `mttr_s`: fault ->
the affected users' edge error ratio over 30 s back within the objective;
`prometheus_default_detect_s`: fault -> Alertmanager's webhook delivered to
/api/v1/webhooks/alertmanager (and joined to an incident). Prints one JSON object last.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import threading
import time
from datetime import UTC
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from streamverse.settings import Settings  # noqa: E402
from streamverse.system.drill_live import LiveTarget, LiveThread, private_settings, run_live  # noqa: E402

SCRAPE_S = 5.0
EVAL_S = 5.0


def _am_config(webhook_url: str) -> dict[str, Any]:
    """Alertmanager's defaults: group_wait 30s, group_interval 5m, repeat_interval 4h."""
    return {"route": {"receiver": "streamverse", "group_by": ["alertname"]},
            "receivers": [{"name": "streamverse",
                           "webhook_configs": [{"url": webhook_url, "send_resolved": True}]}]}


def _watch_webhooks(engine: Any, fault_at: list[float], found: dict[str, float],
                    stop: threading.Event) -> None:
    """First Alertmanager delivery after the fault that opened or joined an incident."""
    from sqlmodel import Session, col, select

    from streamverse.alerts.models import WebhookDelivery

    while not stop.wait(0.5):
        if not fault_at:
            continue
        with Session(engine) as s:
            rows = s.exec(select(WebhookDelivery).order_by(col(WebhookDelivery.received_at))).all()
        for row in rows:
            at = row.received_at if row.received_at.tzinfo else row.received_at.replace(tzinfo=UTC)
            if at.timestamp() >= fault_at[0] and row.incident_ids:
                found["delivered_at"] = at.timestamp()
                return


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="fewer viewers, shorter warm-up and waits")
    parser.add_argument("--viewers", type=int, default=None)
    args = parser.parse_args()
    quick = args.quick
    viewers = args.viewers or (12 if quick else 24)
    warmup_s = 30.0 if quick else 60.0
    prom_wait_s = 300.0 if quick else 600.0

    from streamverse.collectors.live import scrape_targets

    from streamverse.collectors.prometheus_process import start_alertmanager, start_prometheus
    from streamverse.db import get_engine
    from streamverse.slo.loader import default_slo_file, load_files
    from streamverse.slo.rules import render_rules

    work = Path(tempfile.mkdtemp(prefix="streamverse-bench-drill-"))
    settings = private_settings(Settings(), work / "data")
    live = LiveThread(settings, viewers=viewers, health_interval_s=1.0, watch_s=(20.0, 60.0),
                      telemetry_options={"scrape_interval_s": SCRAPE_S, "probes": False},
                      alert_interval_s=EVAL_S)
    procs: list[Any] = []
    result: dict[str, Any] = {}
    try:
        system = live.system
        rules = work / "slo-rules.yml"
        rules.write_text(render_rules(load_files([default_slo_file()]).slos))
        hook = f"{system.urls['api']}/api/v1/webhooks/alertmanager?token={system.tokens['responder']}"
        am = start_alertmanager(data_dir=work / "alertmanager", config=_am_config(hook))
        procs.append(am)
        prom = start_prometheus(targets=scrape_targets(system), data_dir=work / "prometheus",
                                scrape_interval_s=60.0, rule_files=[rules], alertmanager_url=am.url)
        procs.append(prom)
        engine = get_engine(settings.resolved_database_url)
        fault_at: list[float] = []
        found: dict[str, float] = {}
        stop = threading.Event()
        watcher = threading.Thread(target=_watch_webhooks, args=(engine, fault_at, found, stop), daemon=True)
        watcher.start()
        print(f"warming up {warmup_s:.0f}s ({viewers} viewers)", file=sys.stderr)
        time.sleep(warmup_s)
        target = LiveTarget(system.urls["api"], system.urls["platform_control"],
                            settings.resolved_control_key, system.tokens["admin"], settings,
                            system.platform.topology)

        def step(message: str, t: float) -> None:
            if not fault_at and message.startswith("fault"):
                fault_at.append(time.time() - t)
            print(f"+{t:6.1f}s {message}", file=sys.stderr)

        report = run_live("region-outage", target=target, fault_target="us-east", max_s=240.0,
                          duration_s=prom_wait_s + 60, on_step=step, clear_after=False)
        fa = fault_at[0] if fault_at else time.time()
        while "delivered_at" not in found and time.time() < fa + prom_wait_s:
            time.sleep(1.0)
        stop.set()
        prom_s = round(found["delivered_at"] - fa, 3) if "delivered_at" in found else None
        print(f"prometheus default webhook: {prom_s}", file=sys.stderr)
        mttd = report["mttd_s"]
        result = {
            "mttd_s": mttd, "mttr_s": report["mttr_s"], "prometheus_default_detect_s": prom_s,
            "ratio_prometheus_default_vs_mttd": round(prom_s / mttd, 2) if prom_s and mttd else None,
            "mttd_target_s": 30, "mttr_target_s": 90,
            "mttd_ok": mttd is not None and mttd <= 30,
            "mttr_ok": report["mttr_s"] is not None and report["mttr_s"] <= 90,
            "scrape_interval_s": SCRAPE_S, "evaluation_interval_s": EVAL_S,
            "prometheus": {"scrape_interval": "1m", "evaluation_interval": "1m", "group_wait": "30s",
                           "rules": "generated SLO rules (streamverse slo rules)",
                           "waited_s": prom_wait_s},
            "incident_id": report["incident_id"], "actions": report["actions"],
            "viewers": viewers, "quick": quick, "runs": 1,
        }
    finally:
        for p in reversed(procs):
            p.stop()
        live.stop()
    print(json.dumps(result))


if __name__ == "__main__":
    main()
