"""Write report.html and timeline.svg into a run folder from the files the run left there.

Inputs (only result.json is required): result.json, history.json, heights.json (the
runner's sampled heights), monitor.json (series recorded by Prometheus with --monitor),
logs/*.log, scenario.toml, error.txt.

A testnet folder (``clp-testnet up`` or docker compose runs it) has no result.json; once
``clp-testnet check --dir`` saved its history.json there, its page shows the checkers'
verdicts on that history, with the fault log and logs/*.log the history and folder hold.
"""

from __future__ import annotations

import json
import re
import shlex
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from harness.checks import run_checks
from harness.checks.history import History, HistoryError
from harness.cluster.compose_run import is_compose_layout
from harness.cluster.testnet import TestnetError, TestnetManifest
from harness.report.faultwindows import FaultLogError, fault_windows
from harness.report.html import render_html
from harness.report.links import links_section
from harness.report.svg import Scale, render_series, render_timeline
from harness.report.timeline import Timeline, build_timeline

REPORT, TIMELINE_SVG = "report.html", "timeline.svg"
LOG_LINES_MAX = 20000  # keeps a long run's page small; warnings and errors always stay


class ReportError(ValueError):
    """A folder the report cannot be made from; the message says what is missing."""


def _read_json(path: Path) -> Any:
    try:
        return json.loads(path.read_text())
    except OSError as exc:
        raise ReportError(f"{path}: cannot read ({exc.strerror})") from exc
    except json.JSONDecodeError as exc:
        raise ReportError(f"{path}: line {exc.lineno}: not valid JSON ({exc.msg})") from exc


def read_logs(folder: Path, names: Mapping[str, str] | None = None) -> list[dict[str, Any]]:
    """Every node's JSON log lines (others kept as text), interleaved by time; validator
    addresses are shown as their names (``names``: address -> name)."""
    out: list[dict[str, Any]] = []
    untimed: list[dict[str, Any]] = []  # text lines before a file's first timestamp
    swap = re.compile("|".join(map(re.escape, names))) if names else None
    for path in sorted(folder.glob("*.log")) if folder.is_dir() else []:
        last_t: float | None = None
        for line in path.read_text(errors="replace").splitlines():
            try:
                rec = json.loads(line)
            except json.JSONDecodeError:
                rec = None
            if isinstance(rec, dict) and isinstance(rec.get("time"), int | float):
                last_t = float(rec["time"])
                fields = {k: v for k, v in rec.items() if k not in ("time", "level", "node")}
                event = str(fields.pop("event", ""))
                rest = " ".join(f"{k}={v}" for k, v in fields.items())
                text = f"{event} {rest}".strip()
                row = {
                    "time": last_t,
                    "node": rec.get("node", path.stem),
                    "level": rec.get("level"),
                }
                out.append(row | {"text": text})
            elif line.strip():
                row = {"time": last_t, "node": path.stem, "level": "info", "text": line}
                (out if last_t is not None else untimed).append(row)
    first = min((r["time"] for r in out), default=0.0)
    for r in untimed:  # e.g. a proxy's start-up line: shown at the start of the run
        r["time"] = first
    out = untimed + out
    if swap is not None and names:
        for r in out:
            r["text"] = swap.sub(lambda m: names[m.group(0)], r["text"])
    out.sort(key=lambda r: r["time"])
    if len(out) > LOG_LINES_MAX:
        loud = [r for r in out if r["level"] in ("warning", "error", "critical")]
        quiet = [r for r in out if r["level"] not in ("warning", "error", "critical")]
        out = sorted(loud + quiet[-max(LOG_LINES_MAX - len(loud), 0) :], key=lambda r: r["time"])
    return out


def _series(monitor: dict[str, Any], tl: Timeline) -> list[str]:
    out = []
    for title, per_label in (monitor.get("series") or {}).items():
        pts = {lab: [(float(t), float(v)) for t, v in vals] for lab, vals in per_label.items()}
        out.append(render_series(title, pts, tl.t0, tl.t1))
    return out


def checked_result(folder: Path, history: History) -> dict[str, Any]:
    """A testnet folder's stand-in for a run's result.json: the verdicts of every checker
    on the history saved there, and the command that collects and checks it again."""
    results = run_checks(history)
    try:
        backend = "compose" if is_compose_layout(TestnetManifest.load(folder)) else "local"
    except TestnetError:
        backend = "unknown"
    return {
        "scenario": folder.resolve().name,
        "status": "failed" if any(r.failed for r in results) else "passed",
        "checks": [r.to_json() for r in results],
        "seed": "-",
        "backend": backend,
        "reproduce": shlex.join(["clp-testnet", "check", "--dir", str(folder)]),
    }


def write_report(run_dir: Path) -> Path:
    """Make the run folder's report; returns the path of report.html."""
    result_path = run_dir / "result.json"
    history_path = run_dir / "history.json"
    if not result_path.is_file() and not history_path.is_file():
        raise ReportError(
            f"{run_dir}: no result.json (a run folder) nor history.json (a testnet folder "
            f"after `clp-testnet check --dir {run_dir}`)"
        )
    history: History | None = None
    if history_path.is_file():
        try:
            history = History.from_json(_read_json(history_path))
        except HistoryError as exc:
            raise ReportError(f"{history_path}: {exc}") from exc
    checked = not result_path.is_file()
    result = checked_result(run_dir, history) if history and checked else _read_json(result_path)
    if not isinstance(result, dict):
        raise ReportError(f"{result_path}: a JSON object is required")
    nodes = sorted(result.get("logs") or {}) or (sorted(history.chains) if history else [])
    raw = result.get("fault_log") or (history.faults if history else [])
    try:
        faults = [dict(r) for r in raw]
        windows = fault_windows(faults)
    except (FaultLogError, KeyError, TypeError, ValueError) as exc:
        raise ReportError(f"{result_path}: fault_log: {exc}") from exc
    trace = _read_json(run_dir / "heights.json") if (run_dir / "heights.json").is_file() else []
    tl = build_timeline(history, faults, windows, trace, nodes)
    if checked:
        result["duration_s"] = tl.t1 - tl.t0
    svg = render_timeline(tl)
    sc = Scale(tl.t0, tl.t1)
    block_x = {h: sc.x(t) for h, t in tl.block_times.items()}
    monitor = _read_json(run_dir / "monitor.json") if (run_dir / "monitor.json").is_file() else {}
    scenario = run_dir / "scenario.toml"
    error = run_dir / "error.txt"
    page = render_html(
        result,
        tl,
        svg,
        block_x,
        faults,
        read_logs(run_dir / "logs", history.names if history else None),
        scenario.read_text(errors="replace") if scenario.is_file() else None,
        _series(monitor, tl) if isinstance(monitor, dict) else [],
        monitor.get("url") if isinstance(monitor, dict) else None,
        error.read_text(errors="replace") if error.is_file() else None,
        links_section(history),
    )
    (run_dir / TIMELINE_SVG).write_text('<?xml version="1.0" encoding="UTF-8"?>\n' + svg + "\n")
    out = run_dir / REPORT
    out.write_text(page)
    return out
