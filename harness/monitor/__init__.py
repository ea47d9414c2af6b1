"""A real Prometheus scraping every node of a testnet (``--monitor``): docs/metrics.md.

The server is Debian's ``prometheus`` binary (the Makefile installs it when missing), run
as a child process with its config and data under the run folder, scraping every node's
``/metrics`` each second with a ``node`` label. ``record`` reads back the run's series
(height, responses, stake) for the report before the server stops.
"""

from __future__ import annotations

import json
import shutil
import socket
import subprocess
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from harness.cluster.process import terminate

SCRAPE_S = 1.0
READY_TIMEOUT_S = 30.0
# The series the report shows: title -> PromQL. The median over the nodes' views is the
# chain's answer even while a cut-off node still serves a stale one.
SERIES = {
    "finalized height (per node)": "alphaos_chain_height",
    "response rate, bps (median of the nodes' views)": (
        "quantile by (validator) (0.5, alphaos_clp_validator_response_rate_bps)"
    ),
    "stake (median of the nodes' views)": (
        "quantile by (validator) (0.5, alphaos_clp_validator_stake)"
    ),
    "responses included (per node)": "alphaos_clp_responses_included_total",
}


class MonitorError(RuntimeError):
    """Prometheus could not be started or queried; the message says what to do."""


def prometheus_binary() -> str:
    found = shutil.which("prometheus")
    if found is None:
        raise MonitorError(
            "--monitor needs Prometheus on PATH: `apt-get install prometheus` (Debian), "
            "or `make monitoring` which does that"
        )
    return found


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def scrape_config(targets: Mapping[str, str]) -> str:
    """prometheus.yml: one job, a static target per node labelled with its name."""
    lines = [
        "global:",
        f"  scrape_interval: {SCRAPE_S:g}s",
        f"  evaluation_interval: {SCRAPE_S:g}s",
        "scrape_configs:",
        "  - job_name: clp",
        "    static_configs:",
    ]
    for name, url in targets.items():
        host = urlsplit(url).netloc
        lines += [f'      - targets: ["{host}"]', "        labels:", f'          node: "{name}"']
    return "\n".join(lines) + "\n"


class Monitor:
    def __init__(self, folder: Path, targets: Mapping[str, str]) -> None:
        self.folder = folder
        self.targets = dict(targets)
        self.port = _free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.proc: subprocess.Popen[bytes] | None = None
        self.started_at = time.time()

    def start(self, wait_targets: bool = True) -> Monitor:
        """Run Prometheus; return once it serves and (``wait_targets``) has taken up every
        node as a target, which it does ~5 s after start."""
        binary = prometheus_binary()
        self.folder.mkdir(parents=True, exist_ok=True)
        config = self.folder / "prometheus.yml"
        config.write_text(scrape_config(self.targets))
        log = (self.folder / "prometheus.log").open("wb")
        self.proc = subprocess.Popen(
            [
                binary,
                f"--config.file={config}",
                f"--storage.tsdb.path={self.folder / 'data'}",
                f"--web.listen-address=127.0.0.1:{self.port}",
                "--storage.tsdb.retention.time=1d",
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        log.close()
        deadline = time.monotonic() + READY_TIMEOUT_S
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise MonitorError(
                    f"prometheus exited ({self.proc.returncode}); see {self.folder}/prometheus.log"
                )
            if self._scraping() if wait_targets else self._ready():
                self.started_at = time.time()
                return self
            time.sleep(0.25)
        self.stop()
        raise MonitorError(
            f"prometheus did not take every node as a target within {READY_TIMEOUT_S:.0f} s"
            f" at {self.url}"
            f"; see {self.folder}/prometheus.log"
        )

    def _ready(self) -> bool:
        import httpx

        try:
            return httpx.get(f"{self.url}/-/ready", timeout=1.0).status_code == 200
        except httpx.HTTPError:
            return False

    def _scraping(self) -> bool:
        """Every target is a scrape target (Prometheus hands new ones over after ~5 s), so
        a monitor started before the nodes misses none of their first blocks."""
        import httpx

        try:
            r = httpx.get(f"{self.url}/api/v1/targets", timeout=1.0)
            active = r.json()["data"]["activeTargets"]
        except (httpx.HTTPError, json.JSONDecodeError, KeyError, TypeError):
            return False
        return len(active) == len(self.targets)

    def scraped(self) -> bool:
        """Every target answered its last scrape."""
        import httpx

        try:
            active = httpx.get(f"{self.url}/api/v1/targets", timeout=1.0).json()["data"]
        except (httpx.HTTPError, json.JSONDecodeError, KeyError, TypeError):
            return False
        up = [t for t in active["activeTargets"] if t.get("health") == "up"]
        return len(up) == len(self.targets)

    def stop(self) -> None:
        if self.proc is not None:
            terminate(self.proc, grace=10.0)
        self.proc = None

    def __enter__(self) -> Monitor:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _get(self, path: str, params: Mapping[str, Any]) -> list[dict[str, Any]]:
        import httpx

        try:
            r = httpx.get(f"{self.url}{path}", params=dict(params), timeout=10.0)
            body = r.json()
        except (httpx.HTTPError, json.JSONDecodeError) as exc:
            raise MonitorError(f"prometheus query failed: {exc}") from exc
        if body.get("status") != "success":
            raise MonitorError(f"prometheus query failed: {body.get('error', body)}")
        return list(body["data"]["result"])

    def query(self, promql: str) -> dict[str, float]:
        """Instant query: one value per series, keyed by its validator or node label."""
        return {
            _label(s["metric"]): float(s["value"][1])
            for s in self._get("/api/v1/query", {"query": promql})
        }

    def query_range(
        self, promql: str, start: float, end: float, step: float = SCRAPE_S
    ) -> dict[str, list[tuple[float, float]]]:
        rows = self._get(
            "/api/v1/query_range", {"query": promql, "start": start, "end": end, "step": step}
        )
        return {_label(s["metric"]): [(float(t), float(v)) for t, v in s["values"]] for s in rows}

    def record(self) -> dict[str, Any]:
        """The run's series for the report (monitor.json)."""
        end = time.time()
        series = {title: self.query_range(q, self.started_at, end) for title, q in SERIES.items()}
        return {"url": self.url, "queries": dict(SERIES), "series": series}

    def save(self, path: Path) -> None:
        """Write monitor.json; a failed query is noted, never fatal to the run."""
        try:
            data = self.record()
        except MonitorError as exc:
            data = {"url": self.url, "error": str(exc), "series": {}}
        path.write_text(json.dumps(data) + "\n")


def _label(metric: Mapping[str, str]) -> str:
    return metric.get("validator") or metric.get("node") or metric.get("instance", "?")
