"""The capacity plan's figures follow from its shown inputs; the CLI prints the CONTRACT keys."""

from __future__ import annotations

import json
import math

import pytest
import typer
from typer.testing import CliRunner

from streamverse.costs.capacity import evaluate_formula, plan_capacity
from streamverse.costs.catalog import load_prices
from streamverse.costs.cli import capacity_app
from streamverse.errors import UsageError
from streamverse.platform.topology import load_topology

TOPO = load_topology()
SHARES = {r.name: r.users_share for r in TOPO.regions}
CATALOG = load_prices(regions=list(SHARES))


def _plan(**overrides: float) -> dict:
    return plan_capacity(catalog=CATALOG, region_shares=SHARES, overrides=overrides, sensitivity=False)


def test_every_step_recomputes_from_the_inputs_and_earlier_steps() -> None:
    plan = _plan(users=37_000_000, uploads_per_day=2_500)
    env = dict(plan["inputs"])
    for step in plan["steps"]:
        assert set(step) == {"name", "value", "unit", "formula"}
        assert math.isclose(evaluate_formula(step["formula"], env, CATALOG), step["value"], rel_tol=1e-12)
        env[step["name"]] = step["value"]
    named = {s["name"]: s["value"] for s in plan["steps"]}
    assert plan["monthly_cost_usd"] == round(named["monthly_cost_usd"], 2)
    assert plan["storage_pb"] == round(named["storage_pb"], 3)


def test_seed_figures_by_hand() -> None:
    plan = _plan()
    i = plan["inputs"]
    assert i["users"] == 100_000_000 and i["uploads_per_day"] == 10_000
    avg_mbps = 0.05 * 0.5 + 0.10 * 1 + 0.25 * 2.5 + 0.40 * 5 + 0.20 * 15
    assert plan["peak_egress_tbps"] == pytest.approx(100e6 * i["peak_concurrency_share"] * avg_mbps / 1e6)
    hours_per_day = 10_000 * i["avg_duration_min"] / 60
    gb_per_hour = (24 + i["source_mbps"]) * 3600 / 8 / 1000
    assert plan["storage_pb"] == pytest.approx(
        hours_per_day * gb_per_hour * i["replication"] * i["retention_days"] / 1e6, rel=1e-3
    )
    # one hour of video in 15 minutes: 4x real time, at 1x per GPU -> at least 4 GPUs, and the fleet keeps up
    assert plan["transcode_gpus"] >= 4
    assert plan["transcode_gpus"] == math.ceil(
        hours_per_day / 24 * i["upload_peak_factor"] / i["gpu_utilization"]
    )
    assert plan["monthly_cost_usd"] == pytest.approx(sum(plan["cost_breakdown_usd"].values()), abs=0.05)


def test_more_users_cost_more_and_inputs_are_checked() -> None:
    small, big = _plan(users=1_000_000), _plan(users=200_000_000)
    assert big["peak_egress_tbps"] == pytest.approx(200 * small["peak_egress_tbps"])
    assert big["monthly_cost_usd"] > small["monthly_cost_usd"]
    with pytest.raises(UsageError, match="mix"):
        _plan(mix_360p=0.5)
    with pytest.raises(UsageError, match="unknown capacity input"):
        _plan(userz=3)


def test_sensitivity_table_moves_one_input_at_a_time() -> None:
    plan = plan_capacity(catalog=CATALOG, region_shares=SHARES)
    rows = {(r["input"], r["factor"]): r for r in plan["sensitivity"]}
    assert (
        rows[("users", 1.2)]["monthly_cost_usd"]
        > plan["monthly_cost_usd"]
        > rows[("users", 0.8)]["monthly_cost_usd"]
    )
    assert rows[("retention_days", 1.2)]["storage_pb"] > plan["storage_pb"]
    assert rows[("retention_days", 1.2)]["peak_egress_tbps"] == plan["peak_egress_tbps"]


def test_cli_json_last_line_has_the_contract_keys() -> None:
    app = typer.Typer()
    app.add_typer(capacity_app, name="capacity")
    res = CliRunner().invoke(
        app, ["capacity", "plan", "--users", "5000000", "--uploads-per-day", "700", "--json"]
    )
    assert res.exit_code == 0, res.output
    data = json.loads(res.output.strip().splitlines()[-1])
    for key in (
        "inputs",
        "storage_pb",
        "peak_egress_tbps",
        "transcode_gpus",
        "database_gb",
        "monthly_cost_usd",
        "steps",
    ):
        assert key in data
    assert data["inputs"]["users"] == 5_000_000 and data["inputs"]["uploads_per_day"] == 700
    assert isinstance(data["monthly_cost_usd"], float)
    assert all({"name", "value", "unit", "formula"} <= set(s) for s in data["steps"])
    human = CliRunner().invoke(app, ["capacity", "plan", "--set", "replication=3"])
    assert human.exit_code == 0 and "sensitivity" in human.output
