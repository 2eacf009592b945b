"""`streamverse simulate` through the real console script."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
EXE = ROOT / ".venv" / "bin" / "streamverse"


def _run(args: list[str], tmp_path: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "STREAMVERSE_DATA_DIR": str(tmp_path / "data")}
    exe = [str(EXE)] if EXE.exists() else [sys.executable, "-m", "streamverse.system.cli"]
    return subprocess.run([*exe, *args], capture_output=True, text=True, env=env, timeout=240, cwd=tmp_path)


@pytest.mark.slow
def test_simulate_json_has_exactly_the_contract_keys(tmp_path):
    proc = _run(["simulate", "--scenario", "region-outage", "--duration", "2h", "--viewers", "3000",
                 "--json"], tmp_path)
    assert proc.returncode == 0, proc.stderr
    out = json.loads(proc.stdout.strip().splitlines()[-1])
    assert set(out) == {"scenario", "duration_s", "wall_s", "sessions", "regions", "faults"}
    assert out["scenario"] == "region-outage" and out["duration_s"] == 7200
    assert len(out["regions"]) == 6
    for figures in out["regions"].values():
        assert set(figures) == {"availability", "cache_hit_ratio", "startup_p95_ms", "rebuffer_ratio",
                                "egress_bytes"}
    assert out["faults"] == [{"scenario": "region-outage", "target": "us-east", "start_s": 1800,
                              "end_s": 3600}]
    assert out["regions"]["us-east"]["availability"] < min(
        r["availability"] for name, r in out["regions"].items() if name != "us-east")
    assert (tmp_path / "data" / "metrics.db").exists()  # telemetry went to the configured store


@pytest.mark.parametrize("args, needle", [
    (["--scenario", "meteor-strike"], "region-outage"),
    (["--scenario", "region-outage", "--target", "atlantis"], "us-east"),
])
def test_bad_scenario_or_target_is_a_clear_error(tmp_path, args, needle):
    proc = _run(["simulate", *args, "--duration", "10m", "--json"], tmp_path)
    assert proc.returncode != 0
    assert needle in proc.stderr
    assert proc.stdout.strip() == ""
