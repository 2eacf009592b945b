"""`streamverse metrics stats`: what the store holds per tier, its disk use, and what compaction did."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from streamverse.clock import utc_iso
from streamverse.collectors.cli import store_stats
from streamverse.collectors.embedded import EmbeddedStore, Retention
from streamverse.collectors.prometheus_process import start_prometheus
from streamverse.collectors.prometheus_store import PrometheusStore
from streamverse.collectors.service import make_store
from streamverse.settings import Settings

DAY = 86400.0
T0 = 1_790_000_000.0 // (7 * DAY) * (7 * DAY)


def _fill(store: EmbeddedStore, days: int, series: int = 20) -> None:
    ts = T0 + np.arange(0, days * DAY, 15.0)
    rng = np.random.default_rng(5)
    for i in range(series):
        vals = np.cumsum(rng.poisson(3, len(ts))).astype(float)
        store.write_arrays("req_total", {"pop": f"p{i}"}, ts, vals)
    store.flush()


def _tiers(stats: dict) -> dict[str, dict]:
    return {t["tier"]: t for t in stats["tiers"]}


def test_compaction_moves_old_samples_down_a_tier_and_stats_show_it(db_url):
    store = EmbeddedStore(db_url, retention=Retention(raw_s=2 * DAY, res_5m_s=30 * DAY, res_1h_s=60 * DAY))
    _fill(store, 6)
    before = store.stats()
    assert before["series"] == 20 and before["last_compaction"] is None
    assert _tiers(before)["raw"]["samples"] == 20 * 6 * 5760 == before["samples"]
    got = store.compact(now=T0 + 6 * DAY)
    after = store.stats()
    raw, five = _tiers(after)["raw"], _tiers(after)["5m"]
    # days 0-3 (older than 2 d, cut at a whole day) became one point per 5 minutes
    assert raw["samples"] == 20 * 2 * 5760 and raw["oldest"] == utc_iso(T0 + 4 * DAY)
    assert five["samples"] == 20 * 4 * 288 and five["chunks"] == 20
    assert after["samples"] < before["samples"] / 2
    assert (raw["encoded_bytes"] + five["encoded_bytes"]) < _tiers(before)["raw"]["encoded_bytes"]
    last = after["last_compaction"]
    assert last["raw_to_5m"] == got["raw_to_5m"] == 20
    assert last["samples_before"] == {"raw": before["samples"]}
    assert last["samples_after"] == {"raw": raw["samples"], "5m": five["samples"]}
    assert last["at"] == utc_iso(T0 + 6 * DAY) and last["runs_recorded"] == 1
    store.close()


def test_disk_use_drops_after_compaction_on_sqlite(tmp_path):
    store = EmbeddedStore.at_path(tmp_path / "m.db", retention=Retention(raw_s=DAY, res_5m_s=9 * DAY,
                                                                        res_1h_s=30 * DAY))
    _fill(store, 8, series=50)
    before = store.stats()["disk"]
    store.compact(now=T0 + 8 * DAY)
    after = store.stats()["disk"]
    assert after["kind"] == "sqlite" and after["path"] == str(tmp_path / "m.db")
    assert after["total_bytes"] < before["total_bytes"] * 0.9, (before, after)
    assert after["free_bytes"] == 0  # a new store gives the freed pages back to the file system
    store.close()


def _cli(data_dir: Path, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    full = {**os.environ, "STREAMVERSE_DATA_DIR": str(data_dir), **env}
    return subprocess.run([sys.executable, "-m", "streamverse.system.cli", "metrics", "stats", *args],
                          capture_output=True, text=True, env=full, timeout=120)


def test_stats_command_answers_json_and_a_table(tmp_path):
    settings = Settings(data_dir=tmp_path, metrics_raw_retention="2d", metrics_5m_retention="30d")
    store = make_store(settings)
    assert isinstance(store, EmbeddedStore) and store.retention.raw_s == 2 * DAY
    _fill(store, 4, series=3)
    store.compact(now=T0 + 4 * DAY)
    store.close()
    done = _cli(tmp_path, "--json", STREAMVERSE_METRICS_RAW_RETENTION="2d",
                STREAMVERSE_METRICS_5M_RETENTION="30d")
    assert done.returncode == 0, done.stderr
    out = json.loads(done.stdout.strip().splitlines()[-1])
    assert {"backend", "series", "samples", "tiers", "retention", "disk", "last_compaction",
            "compaction_interval_s"} <= set(out)
    assert out["series"] == 3 and out["retention"] == {"raw_s": 2 * DAY, "5m_s": 30 * DAY, "1h_s": 730 * DAY}
    assert [t["tier"] for t in out["tiers"]] == ["raw", "5m", "1h"] and out["tiers"][1]["samples"] > 0
    assert out["disk"]["total_bytes"] > 0 and out["last_compaction"]["raw_to_5m"] == 3
    table = _cli(tmp_path)
    assert table.returncode == 0 and "5m" in table.stdout and "compaction: last at" in table.stdout


@pytest.mark.parametrize(("env", "says"), [
    ({"STREAMVERSE_METRICS_RAW_RETENTION": "fortnight"}, "STREAMVERSE_METRICS_RAW_RETENTION='fortnight'"),
    ({"STREAMVERSE_METRICS_5M_RETENTION": "10d"},
     "STREAMVERSE_METRICS_5M_RETENTION (10d) must be longer than STREAMVERSE_METRICS_RAW_RETENTION (15d)"),
    ({"STREAMVERSE_METRICS_1H_RETENTION": "0"}, "STREAMVERSE_METRICS_1H_RETENTION must be a positive"),
])
def test_bad_retention_settings_are_one_clear_line(tmp_path, env, says):
    done = _cli(tmp_path, "--json", **env)
    assert done.returncode == 2
    assert says in " ".join(done.stderr.split()) and "Traceback" not in done.stderr


@pytest.mark.slow
def test_prometheus_backend_reports_its_own_tsdb_status(tmp_path):
    prom = start_prometheus(data_dir=tmp_path / "prom", retention="20d",
                            targets=[("self", "http://127.0.0.1:1/metrics")])
    try:
        out = store_stats(PrometheusStore(prom.url, tsdb_path=tmp_path / "prom" / "tsdb"),
                          compaction_interval_s=600)
        assert out["backend"] == "prometheus" and out["reachable"]
        assert out["retention"]["flags"]["storage.tsdb.retention.time"] == "20d"
        assert "headStats" in out["tsdb_raw"] and out["head"]["series"] is not None
        assert out["disk"]["total_bytes"] > 0
    finally:
        prom.stop()
    down = store_stats(PrometheusStore(prom.url, retries=0), compaction_interval_s=600)
    assert down["reachable"] is False and down["error"]
