"""`streamverse token create` through the real console script."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from streamverse.api import service
from streamverse.db import get_engine, session_scope

SCRIPT = Path(sys.executable).parent / "streamverse"


def _run(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "STREAMVERSE_DATA_DIR": str(tmp_path / "data"), "COLUMNS": "200"}
    env.pop("STREAMVERSE_DATABASE_URL", None)
    return subprocess.run([str(SCRIPT), "token", "create", *args], capture_output=True, text=True,
                          env=env, timeout=60)


def test_creates_a_working_token_in_the_configured_database(tmp_path):
    done = _run(tmp_path, "--role", "responder", "--name", "pager", "--json")
    assert done.returncode == 0, done.stderr
    out = json.loads(done.stdout.strip().splitlines()[-1])
    assert set(out) == {"id", "name", "role", "token", "created_at"}
    assert out["role"] == "responder" and out["name"] == "pager" and out["token"].startswith("sv_r_")
    assert out["created_at"].endswith("Z")
    url = f"sqlite:///{(tmp_path / 'data' / 'streamverse.db').resolve()}"
    with session_scope(get_engine(url)) as s:
        found = service.authenticate(session=s, secret=out["token"])
        assert found is not None and found.id == out["id"] and found.role == "responder"


def test_human_output_shows_the_secret_once(tmp_path):
    done = _run(tmp_path, "--role", "admin")
    assert done.returncode == 0, done.stderr
    assert "sv_a_" in done.stdout and "not shown again" in done.stdout


def test_bad_role_fails_with_the_valid_roles_on_stderr(tmp_path):
    done = _run(tmp_path, "--role", "root", "--json")
    assert done.returncode != 0
    assert "root" in done.stderr and "viewer, responder, admin" in done.stderr
    assert done.stdout.strip() == ""
