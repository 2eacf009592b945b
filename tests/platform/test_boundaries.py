"""The platform imports nothing from the control center, not even inside functions."""

from __future__ import annotations

import ast
from pathlib import Path

import streamverse

PLATFORM = Path(streamverse.__file__).parent / "platform"
CONTROL_CENTER = {"collectors", "slo", "alerts", "incidents", "remediation", "costs", "api", "client",
                  "dashboard", "system", "cli"}


def _imports(source: str, path: Path) -> list[tuple[int, str]]:
    """(line, dotted name) of every import in `source`, relative ones resolved as if it sat at `path`."""
    package = path.relative_to(PLATFORM.parent.parent).parent.parts
    out = []
    for node in ast.walk(ast.parse(source, filename=str(path))):
        if isinstance(node, ast.Import):
            out += [(node.lineno, a.name) for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = [*package[:len(package) - (node.level - 1)]] if node.level else []
            base += [node.module] if node.module else []
            out += [(node.lineno, ".".join([*base, a.name])) for a in node.names]
    return out


def test_platform_modules_do_not_import_the_control_center():
    found = []
    for path in sorted(PLATFORM.rglob("*.py")):
        for line, name in _imports(path.read_text(), path):
            parts = name.split(".")
            if parts[0] == "streamverse" and len(parts) > 1 and parts[1] in CONTROL_CENTER:
                found.append(f"{path.relative_to(PLATFORM.parent)}:{line} imports {name}")
    assert not found, "\n".join(found)


def test_the_scan_sees_imports_inside_functions_and_relative_ones():
    path = PLATFORM / "fastforward.py"
    assert "streamverse.platform.service.Platform" in {n for _, n in _imports(path.read_text(), path)}
    src = "def f():\n    from ...collectors import store\n    from ..faults import SCENARIOS\n"
    names = {n for _, n in _imports(src, PLATFORM / "live" / "probe.py")}
    assert names == {"streamverse.collectors.store", "streamverse.platform.faults.SCENARIOS"}
