"""The per-validator status table shown by `status`, `up` and the demo."""

from __future__ import annotations

from typing import Any

from rich.table import Table

from harness.cluster.base import Cluster
from harness.cluster.client import NodeHTTPError, NodeUnavailable


async def gather_rows(cluster: Cluster, observer: str | None = None) -> list[dict[str, Any]]:
    """One row per validator, as seen by each validator itself (None fields when down)."""
    rows = []
    for name in cluster.names:
        row: dict[str, Any] = {"name": name, "address": cluster.address(name)}
        try:
            client = cluster.client(observer or name)
            health = await cluster.client(name).health()
            row["height"] = health["height"]
            v = await client.validator(cluster.address(name))
            head = await cluster.client(name).head()
            row.update(
                epoch=head["epoch"],
                stake=v["stake"],
                status=v["status"],
                rate=v["response_rate"],
                failures=v["consecutive_failures"],
                in_committee=v["in_committee"],
                slashed=v["slashed_total"],
            )
        except (NodeUnavailable, NodeHTTPError, KeyError, ValueError):
            # An error status (e.g. a node not serving its own validator) is a row, not a crash.
            row["down"] = True
        rows.append(row)
    return rows


STATUS_STYLE = {
    "active": "green",
    "slashed": "yellow",
    "ejection_deferred": "magenta",
    "ejected": "red",
}


def status_table(rows: list[dict[str, Any]], title: str = "validators") -> Table:
    table = Table(title=title)
    for col in (
        "node",
        "height",
        "epoch",
        "stake",
        "slashed",
        "status",
        "rate",
        "streak",
        "committee",
    ):
        table.add_column(col, justify="left" if col in ("node", "status") else "right")
    for r in rows:
        if r.get("down"):
            table.add_row(r["name"], "[red]down[/]", *[""] * 7)
            continue
        style = STATUS_STYLE.get(r["status"], "white")
        table.add_row(
            r["name"],
            str(r["height"]),
            str(r["epoch"]),
            str(r["stake"]),
            str(r["slashed"]),
            f"[{style}]{r['status']}[/]",
            f"{r['rate'] / 100:.0f}%",
            str(r["failures"]),
            "yes" if r["in_committee"] else "[red]no[/]",
        )
    return table
