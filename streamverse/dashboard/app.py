"""StreamVerse control center: `streamlit run streamverse/dashboard/app.py` (started by `streamverse up`).

Reads and acts only through the control API (STREAMVERSE_API_URL) with the logged-in
user's token, so every click is authorised and audited like the CLI. Anonymous visitors
see the login page, plus the Global status page when `dashboard_public_status` allows it.
"""

from __future__ import annotations

from pathlib import Path

import streamlit as st

from streamverse.dashboard.connection import config, has_role, login, logout, role
from streamverse.dashboard.widgets import report_failure

HERE = Path(__file__).parent
PAGES = {
    "status": ("pages/status.py", "Global status", ":material/public:"),
    "slos": ("pages/slos.py", "SLOs", ":material/speed:"),
    "qoe": ("pages/qoe.py", "QoE", ":material/play_circle:"),
    "incidents": ("pages/incidents.py", "Alerts & incidents", ":material/notifications_active:"),
    "faults": ("pages/faults.py", "Fault lab", ":material/science:"),
    "costs": ("pages/costs.py", "Costs", ":material/payments:"),
    "executive": ("pages/executive.py", "Executive", ":material/insights:"),
    "capacity": ("pages/capacity.py", "Capacity planner", ":material/dns:"),
}


def _page(name: str, *, default: bool = False) -> st.Page:
    path, title, icon = PAGES[name]
    return st.Page(str(HERE / path), title=title, icon=icon, url_path=name, default=default)


def _login_page() -> None:
    st.title("StreamVerse control center")
    st.write(
        "Log in with an API token. `streamverse up` prints one per role; an admin makes more with "
        "`streamverse token create --role viewer|responder|admin`."
    )
    with st.form("login"):
        secret = st.text_input("API token", type="password", key="login_token")
        if st.form_submit_button("Log in", type="primary"):
            problem = login(secret)
            if problem:
                st.error(problem)
            else:
                st.rerun()
    st.caption(f"Control API: {config().api_url}")


def main() -> None:
    """Login, then the pages this role may use."""
    st.set_page_config(page_title="StreamVerse control center", page_icon=":material/live_tv:", layout="wide")
    try:  # tracebacks belong in the log, not in front of users
        st.set_option("client.showErrorDetails", "none")
    except Exception:  # noqa: BLE001 - older Streamlit: the option is config-file only
        pass
    cfg = config()
    if role() is None:
        pages = [
            st.Page(
                _login_page,
                title="Log in",
                icon=":material/login:",
                url_path="login",
                default=not cfg.public_status,
            )
        ]
        if cfg.public_status:
            pages.insert(0, _page("status", default=True))
        try:
            st.navigation(pages).run()
        except Exception as exc:
            report_failure(exc)
        return
    with st.sidebar:
        st.markdown(f"**{st.session_state.get('who') or 'token'}** · role `{role()}`")
        st.button("Log out", key="logout", on_click=logout)
    ops = [_page("status", default=True), _page("slos"), _page("qoe"), _page("incidents")]
    if has_role("admin"):
        ops.append(_page("faults"))
    business = [_page("costs"), _page("executive"), _page("capacity")]
    page = st.navigation({"Operations": ops, "Business": business})
    try:
        page.run()
    except Exception as exc:  # rerun/stop are BaseExceptions and pass through
        report_failure(exc)


main()
