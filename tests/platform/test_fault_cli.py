"""`streamverse fault inject|list|clear` against a live system started in the test."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.platform.test_live_system import live_system

pytestmark = pytest.mark.slow

BIN = Path(sys.executable).parent / "streamverse"


def _cli(*args: str, data_dir: Path, token: str | None = None) -> subprocess.CompletedProcess[str]:
    env = {"PATH": os.environ.get("PATH", "/usr/bin"), "STREAMVERSE_DATA_DIR": str(data_dir),
           "COLUMNS": "200"}
    if token:
        env["STREAMVERSE_TOKEN"] = token
    return subprocess.run([str(BIN), *args], capture_output=True, text=True, env=env, timeout=60)


def test_fault_inject_list_clear_through_the_cli(tmp_path: Path) -> None:
    with live_system(tmp_path, viewers=0) as live:
        data_dir = live.system.settings.data_dir
        out = _cli("fault", "inject", "region-outage", "--target", "us-east", "--duration", "2m", "--json",
                   data_dir=data_dir)
        assert out.returncode == 0, out.stderr
        fault = json.loads(out.stdout.strip().splitlines()[-1])
        assert fault["scenario"] == "region-outage" and fault["target"] == "us-east" and fault["active"]
        active = live.run(lambda: live.system.platform.faults.active())
        assert [f.id for f in active] == [fault["id"]]
        assert active[0].end - active[0].start == pytest.approx(120.0)

        listed = _cli("fault", "list", "--json", data_dir=data_dir)
        assert listed.returncode == 0, listed.stderr
        active_ids = [f["id"] for f in json.loads(listed.stdout.strip().splitlines()[-1])["active"]]
        assert active_ids == [fault["id"]]

        bad = _cli("fault", "inject", "meteor-strike", "--json", data_dir=data_dir)
        assert bad.returncode != 0
        assert "meteor-strike" in bad.stderr and "region-outage" in bad.stderr

        viewer = _cli("fault", "inject", "pop-outage", data_dir=data_dir, token=live.system.tokens["viewer"])
        assert viewer.returncode != 0 and "admin" in viewer.stderr

        cleared = _cli("fault", "clear", fault["id"], "--json", data_dir=data_dir)
        assert cleared.returncode == 0, cleared.stderr
        assert live.run(lambda: live.system.platform.faults.active()) == []


def test_fault_cli_without_a_running_system_says_what_to_do(tmp_path: Path) -> None:
    out = _cli("fault", "inject", "region-outage", data_dir=tmp_path)
    assert out.returncode != 0
    assert "streamverse up" in out.stderr
