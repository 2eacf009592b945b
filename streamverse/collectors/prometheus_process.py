"""Start and stop the real Prometheus and Alertmanager binaries on free loopback ports.

Each gets its own storage directory and a log file next to it; start returns only once
`/-/ready` answers, so callers can query immediately. A missing binary is a clear error
naming the package to install.
"""

from __future__ import annotations

import shutil
import socket
import subprocess
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import yaml

from streamverse.collectors.prometheus_config import (
    ScrapeTarget,
    alertmanager_config,
    write_prometheus_config,
)
from streamverse.errors import StreamVerseError

PROMETHEUS_BIN = "/usr/bin/prometheus"
ALERTMANAGER_BIN = "/usr/bin/prometheus-alertmanager"


class NotInstalledError(StreamVerseError):
    """The binary is not on this machine."""


class StartError(StreamVerseError):
    """The process did not become ready; the message carries the end of its log."""


def find_binary(names: Sequence[str], default: str) -> str:
    """The binary's path, or NotInstalledError saying how to install it."""
    for name in names:
        found = shutil.which(name)
        if found:
            return found
    if Path(default).exists():
        return default
    raise NotInstalledError(f"{names[0]} is not installed (looked for {', '.join(names)} and {default}); "
                            "install it with: apt-get install prometheus prometheus-alertmanager")


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port nothing listens on right now."""
    with socket.socket() as s:
        s.bind((host, 0))
        return s.getsockname()[1]


@dataclass
class ManagedProcess:
    """A started binary: where it answers, its files, and how to stop it."""

    name: str
    url: str
    data_dir: Path
    process: subprocess.Popen[bytes]
    log_path: Path
    children: list[ManagedProcess] = field(default_factory=list)

    def running(self) -> bool:
        """Whether the process is still alive."""
        return self.process.poll() is None

    def stop(self, timeout_s: float = 10.0) -> None:
        """SIGTERM, then SIGKILL after the timeout; stops children (Alertmanager) too."""
        for child in self.children:
            child.stop(timeout_s)
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=timeout_s)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=timeout_s)


@dataclass
class PrometheusProcess(ManagedProcess):
    """A running Prometheus; `alertmanager_url` is set when one was started with it."""

    config_path: Path | None = None
    alertmanager_url: str | None = None

    def reload(self) -> None:
        """Re-read prometheus.yml and rule files (started with --web.enable-lifecycle)."""
        httpx.post(f"{self.url}/-/reload", timeout=10.0).raise_for_status()


def _wait_ready(proc: subprocess.Popen[bytes], url: str, log_path: Path, name: str, timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise StartError(f"{name} exited with code {proc.returncode}: {_tail(log_path)}")
        try:
            if httpx.get(f"{url}/-/ready", timeout=1.0).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    proc.kill()
    raise StartError(f"{name} not ready at {url} after {timeout_s:.0f}s: {_tail(log_path)}")


def _tail(path: Path) -> str:
    try:
        return path.read_text(errors="replace")[-800:].strip()
    except OSError:
        return "(no log)"


def start_alertmanager(*, data_dir: Path, host: str = "127.0.0.1", port: int = 0,
                       webhook_url: str | None = None, config: dict[str, Any] | None = None,
                       binary: str | None = None, ready_timeout_s: float = 30.0) -> ManagedProcess:
    """The real Alertmanager with its own storage under data_dir, clustering off."""
    exe = binary or find_binary(["prometheus-alertmanager", "alertmanager"], ALERTMANAGER_BIN)
    data_dir.mkdir(parents=True, exist_ok=True)
    cfg = data_dir / "alertmanager.yml"
    cfg.write_text(yaml.safe_dump(config or alertmanager_config(webhook_url=webhook_url)))
    port = port or free_port(host)
    log_path = data_dir / "alertmanager.log"
    proc = subprocess.Popen(
        [exe, f"--config.file={cfg}", f"--storage.path={data_dir / 'data'}",
         f"--web.listen-address={host}:{port}", "--cluster.listen-address="],
        stdout=subprocess.DEVNULL, stderr=log_path.open("ab"), start_new_session=True)
    url = f"http://{host}:{port}"
    _wait_ready(proc, url, log_path, "alertmanager", ready_timeout_s)
    return ManagedProcess("alertmanager", url, data_dir, proc, log_path)


def start_prometheus(*, targets: Iterable[ScrapeTarget | Sequence[Any]] = (), data_dir: Path,
                     scrape_interval_s: float = 15.0, rule_files: Sequence[Path | str] = (),
                     alertmanager_url: str | None = None, with_alertmanager: bool = False,
                     alertmanager_webhook_url: str | None = None, host: str = "127.0.0.1", port: int = 0,
                     retention: str = "3650d", binary: str | None = None,
                     ready_timeout_s: float = 60.0, evaluation_interval_s: float | None = None,
                     external_labels: Mapping[str, str] | None = None) -> PrometheusProcess:
    """The real Prometheus scraping `targets` (job, url, labels), storage in data_dir/tsdb.

    With `with_alertmanager` an Alertmanager is started first and wired in; `stop()` stops both.
    """
    exe = binary or find_binary(["prometheus"], PROMETHEUS_BIN)
    data_dir.mkdir(parents=True, exist_ok=True)
    children: list[ManagedProcess] = []
    if with_alertmanager and alertmanager_url is None:
        am = start_alertmanager(data_dir=data_dir / "alertmanager", host=host,
                                webhook_url=alertmanager_webhook_url)
        children.append(am)
        alertmanager_url = am.url
    cfg = write_prometheus_config(data_dir / "prometheus.yml", targets=targets,
                                  scrape_interval_s=scrape_interval_s, rule_files=rule_files,
                                  evaluation_interval_s=evaluation_interval_s,
                                  external_labels=external_labels,
                                  alertmanager_urls=[alertmanager_url] if alertmanager_url else [])
    port = port or free_port(host)
    log_path = data_dir / "prometheus.log"
    proc = subprocess.Popen(
        [exe, f"--config.file={cfg}", f"--storage.tsdb.path={data_dir / 'tsdb'}",
         f"--storage.tsdb.retention.time={retention}", f"--web.listen-address={host}:{port}",
         "--web.enable-lifecycle", "--web.enable-admin-api"],
        stdout=subprocess.DEVNULL, stderr=log_path.open("ab"), start_new_session=True)
    url = f"http://{host}:{port}"
    try:
        _wait_ready(proc, url, log_path, "prometheus", ready_timeout_s)
    except BaseException:
        for child in children:
            child.stop()
        raise
    return PrometheusProcess("prometheus", url, data_dir, proc, log_path, children, cfg, alertmanager_url)
