"""The malware scan and moderation steps: ClamAV's clamdscan when present, never a fake pass.

Without clamdscan the state is `not_scanned`, reported as such everywhere (upload status,
metrics); a deployment that must scan sets `require_scan` and then such files are refused.
Moderation is a hook (a callable) so a real classifier can be plugged in.
"""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from streamverse.platform.media.probe import ProbeResult

CLEAN, INFECTED, NOT_SCANNED, SCAN_ERROR = "clean", "infected", "not_scanned", "error"


@dataclass(slots=True)
class ScanResult:
    """The scanner's verdict; `state` is clean, infected, not_scanned or error."""

    state: str
    detail: str = ""


@dataclass(slots=True)
class ModerationResult:
    """A moderation verdict: allowed or not, and why."""

    allowed: bool
    reason: str = ""


ModerationHook = Callable[[Path, ProbeResult], ModerationResult]


class Scanner:
    """Runs clamdscan (found on PATH unless given) on a file."""

    def __init__(self, *, clamdscan: str | None = None, timeout_s: float = 120.0) -> None:
        self.clamdscan = clamdscan if clamdscan is not None else shutil.which("clamdscan")
        self.timeout_s = timeout_s

    @property
    def available(self) -> bool:
        """Whether a scanner is configured."""
        return bool(self.clamdscan)

    def scan(self, path: Path) -> ScanResult:
        """clamdscan's verdict (exit 0 clean, 1 infected, else error), or not_scanned."""
        if not self.clamdscan:
            return ScanResult(NOT_SCANNED, "no virus scanner installed (clamdscan not found)")
        try:
            proc = subprocess.run([self.clamdscan, "--no-summary", "--fdpass", str(path)],
                                  capture_output=True, timeout=self.timeout_s, check=False)
        except (OSError, subprocess.TimeoutExpired) as exc:
            return ScanResult(SCAN_ERROR, f"scanner failed: {exc}")
        out = proc.stdout.decode(errors="replace").strip()
        if proc.returncode == 0:
            return ScanResult(CLEAN, "")
        if proc.returncode == 1:
            found = out.rsplit(":", 1)[-1].strip() if out else "malware"
            return ScanResult(INFECTED, found)
        return ScanResult(SCAN_ERROR, (proc.stderr.decode(errors="replace") or out).strip()[:300])
