import json
import subprocess
import sys
from pathlib import Path

BIN = Path(sys.executable).parent / "streamverse"
CONTRACT_SCENARIOS = {"viral-video", "region-outage", "origin-loss", "pop-outage", "ddos",
                      "latency-spike", "transcode-backlog", "edge-cache-failure"}


def test_scenarios_json_lists_the_contract_scenarios(tmp_path):
    out = subprocess.run([str(BIN), "scenarios", "--json"], capture_output=True, text=True,
                         check=True, env={"STREAMVERSE_DATA_DIR": str(tmp_path), "PATH": "/usr/bin"})
    data = json.loads(out.stdout.strip().splitlines()[-1])
    names = {s["name"] for s in data["scenarios"]}
    assert names == CONTRACT_SCENARIOS
    outage = next(s for s in data["scenarios"] if s["name"] == "region-outage")
    assert outage["params"]["mode"] == "gray"


def test_scenarios_table_for_people(tmp_path):
    out = subprocess.run([str(BIN), "scenarios"], capture_output=True, text=True, check=True,
                         env={"STREAMVERSE_DATA_DIR": str(tmp_path), "PATH": "/usr/bin",
                              "COLUMNS": "200"})
    assert "region-outage" in out.stdout and "{" not in out.stdout.splitlines()[-1]
