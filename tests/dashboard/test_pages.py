"""Every dashboard page rendered by Streamlit's AppTest against a real control API, per role."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from tests.dashboard.conftest import LiveApi

APP = str(Path(__file__).parents[2] / "streamverse" / "dashboard" / "app.py")
PAGES = ["status", "slos", "qoe", "incidents", "faults", "costs", "executive", "capacity"]


@pytest.fixture
def env(live_api: LiveApi, monkeypatch: pytest.MonkeyPatch) -> LiveApi:
    monkeypatch.setenv("STREAMVERSE_API_URL", live_api.url)
    monkeypatch.delenv("STREAMVERSE_TOKEN", raising=False)
    monkeypatch.setenv("STREAMVERSE_DATA_DIR", str(live_api.settings.data_dir))
    import streamlit as st
    from streamlit.runtime.caching import cache_data_api, cache_resource_api  # noqa: F401

    st.cache_resource.clear()
    st.cache_data.clear()
    return live_api


def logged_in(api: LiveApi, role: str) -> AppTest:
    at = AppTest.from_file(APP, default_timeout=30)
    at.run()
    at.text_input(key="login_token").input(api.tokens[role])
    at.button[0].click()
    at.run()
    assert not at.exception, at.exception
    return at


def visit(at: AppTest, page: str) -> AppTest:
    at.switch_page(f"pages/{page}.py")
    at.run()
    assert not at.exception, [e.message for e in at.exception]
    assert not [e.value for e in at.error if "failed unexpectedly" in e.value]
    return at


def test_anonymous_sees_only_the_login(env: LiveApi):
    at = AppTest.from_file(APP, default_timeout=30)
    at.run()
    assert not at.exception
    assert at.title[0].value == "StreamVerse control center"
    assert at.text_input(key="login_token") is not None
    assert not at.metric  # no status tiles without login (public status is off by default)


def test_a_bad_token_is_refused_with_a_reason(env: LiveApi):
    at = AppTest.from_file(APP, default_timeout=30)
    at.run()
    at.text_input(key="login_token").input("sv_v_not-a-token")
    at.button[0].click()
    at.run()
    assert "invalid" in at.error[0].value
    assert "role" not in at.session_state


@pytest.mark.parametrize("page", PAGES)
def test_every_page_renders_for_admin_without_a_traceback(env: LiveApi, page: str):
    at = visit(logged_in(env, "admin"), page)
    assert at.title, f"{page} has no title"


def test_status_page_has_tiles_and_says_the_platform_is_not_running(env: LiveApi):
    at = visit(logged_in(env, "viewer"), "status")
    labels = [m.label for m in at.metric]
    assert labels[:2] == ["Active viewers", "Availability (15 min)"]
    assert "Cache hit ratio" in labels
    viewers = next(m for m in at.metric if m.label == "Active viewers")
    assert viewers.value not in ("—", "")  # seeded playback series give a number
    hit = next(m for m in at.metric if m.label == "Cache hit ratio")
    assert hit.value == "90.0 %"  # 9 hits per miss in the seeded series
    # No platform is running in this test: the page says so instead of failing.
    assert any("unreachable" in e.value or "not running" in e.value for e in at.error)


def test_viewer_gets_no_action_buttons(env: LiveApi):
    at = visit(logged_in(env, "viewer"), "incidents")
    assert not [b for b in at.button if b.key in ("dry_run", "ack_incident", "run_it")]
    assert any("Read-only" in c.value for c in at.caption)
    # The fault lab is not in a viewer's navigation, and refuses a viewer who reaches it anyway.
    at = visit(at, "faults")
    assert any("admin role" in w.value for w in at.warning)
    assert not at.selectbox and not at.button


def test_viewer_is_refused_by_the_api_too(env: LiveApi):
    from streamverse.client import ApiError, ControlClient

    with pytest.raises(ApiError) as err:
        ControlClient(env.url, env.tokens["viewer"]).inject_fault(scenario="pop-outage")
    assert err.value.status == 403


def test_admin_sees_the_fault_lab_form(env: LiveApi):
    at = visit(logged_in(env, "admin"), "faults")
    assert at.title[0].value == "Fault lab"
    # The platform is not running: the scenario list says why instead of offering a dead form.
    assert at.error and "unreachable" in at.error[0].value or "not running" in at.error[0].value


def test_capacity_plan_follows_its_inputs(env: LiveApi):
    at = visit(logged_in(env, "viewer"), "capacity")
    if at.info and "not available yet" in at.info[0].value:
        pytest.skip("costs API not in this build")
    before = next(m.value for m in at.metric if m.label == "Monthly cost")
    at.number_input(key="cap_users").set_value(50_000_000)
    at.run()
    after = next(m.value for m in at.metric if m.label == "Monthly cost")
    assert before != after


def test_logout_forgets_the_token(env: LiveApi):
    at = logged_in(env, "responder")
    at.button(key="logout").click()
    at.run()
    assert "token" not in at.session_state
    at = AppTest.from_file(APP, default_timeout=30)  # the same browser reloading
    at.session_state["role"] = None
    at.run()
    assert at.text_input(key="login_token") is not None
    assert os.environ["STREAMVERSE_API_URL"] == env.url


@pytest.fixture
def incident(env: LiveApi) -> int:
    """An open incident, so the incident page has something to act on."""
    from streamverse.client import ControlClient

    admin = ControlClient(env.url, env.tokens["admin"])
    return admin.create_incident(title="PoP tokyo-7 down", severity="sev2").id


@pytest.mark.parametrize("role", ["viewer", "responder"])
@pytest.mark.parametrize("page", [p for p in PAGES if p != "faults"])
def test_every_page_renders_for_each_role(env: LiveApi, role: str, page: str):
    at = visit(logged_in(env, role), page)
    assert at.title, f"{page} has no title for a {role}"


def test_responder_gets_the_action_buttons_a_viewer_does_not(env: LiveApi, incident: int):
    viewer = visit(logged_in(env, "viewer"), "incidents")
    assert not [b for b in viewer.button if b.key in ("dry_run", "ack_incident")]
    responder = visit(logged_in(env, "responder"), "incidents")
    keys = {b.key for b in responder.button}
    assert {"dry_run", "ack_incident"} <= keys
    assert not any("Read-only" in c.value for c in responder.caption)


def test_executive_shows_sla_downtime_revenue_and_cost(env: LiveApi):
    at = visit(logged_in(env, "viewer"), "executive")
    labels = [m.label for m in at.metric]
    for want in ("Platform availability", "SLOs met", "Downtime minutes", "Revenue impact"):
        assert want in labels, labels
    if not [i for i in at.info if "not available yet" in i.value]:
        assert "Spend so far" in labels and "Forecast at month end" in labels, labels
    assert [s.value for s in at.subheader][:3] == ["SLA", "Cost", "Reports"]


def test_costs_page_has_breakdown_trend_forecast_and_savings(env: LiveApi):
    at = visit(logged_in(env, "viewer"), "costs")
    if at.info and "not available yet" in at.info[0].value:
        pytest.skip("costs API not in this build")
    labels = [m.label for m in at.metric]
    assert "Spend this month so far" in labels and "Forecast at month end" in labels
    assert {"Breakdown", "Trend and forecast", "Savings"} <= {s.value for s in at.subheader}


def test_slo_page_names_the_worst_slo_and_draws_its_budget(env: LiveApi):
    at = visit(logged_in(env, "viewer"), "slos")
    assert at.dataframe, "no SLO table"
    assert at.selectbox(key="slo_pick").value  # the worst SLO is picked first
    labels = [m.label for m in at.metric]
    assert labels[:4] == ["SLI", "Objective", "Budget left", "Budget minutes left"]
    # Forecast of exhaustion: one of the three sentences, never nothing.
    said = [e.value for e in at.error] + [w.value for w in at.warning] + [s.value for s in at.success]
    assert any("budget" in x for x in said), said


def test_public_status_shows_the_status_page_to_anonymous_visitors_only_when_allowed(
    env: LiveApi, monkeypatch: pytest.MonkeyPatch
):
    import streamlit as st

    monkeypatch.setenv("STREAMVERSE_DASHBOARD_PUBLIC_STATUS", "true")
    monkeypatch.setenv("STREAMVERSE_TOKEN", env.tokens["viewer"])
    st.cache_resource.clear()
    at = AppTest.from_file(APP, default_timeout=30)
    at.run()
    assert not at.exception, at.exception
    assert at.title[0].value == "Global status"
    assert [m.label for m in at.metric][:2] == ["Active viewers", "Availability (15 min)"]
    assert "role" not in at.session_state or at.session_state["role"] is None  # still anonymous


def test_when_the_api_goes_away_pages_say_so_with_the_age_of_their_data(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, make_control_app
):
    import streamlit as st

    from streamverse.settings import Settings
    from tests.dashboard.conftest import _api

    api = _api(Settings(data_dir=tmp_path / "data", jwt_secret="test-secret-" + "x" * 32), make_control_app)
    live = next(api)
    monkeypatch.setenv("STREAMVERSE_API_URL", live.url)
    monkeypatch.delenv("STREAMVERSE_TOKEN", raising=False)
    st.cache_resource.clear()
    st.cache_data.clear()
    at = visit(logged_in(live, "viewer"), "slos")
    assert at.dataframe
    with pytest.raises(StopIteration):
        next(api)  # the API stops
    st.cache_data.clear()  # past the read cache's few seconds
    at.run()
    assert not at.exception
    said = " ".join(w.value for w in at.warning)
    assert "not answering" in said and "showing the last data received" in said, said
    assert at.dataframe  # the last good table is still there
