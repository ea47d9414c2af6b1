"""The bytes each directed link carried, as the fault proxy counted them: one row per dialler.

Cell (vi, vj) is proxy ``vi_to_vj``: forward what vi sent over the connection it dialled,
back what vj wrote back over it (§16.3 allows only handshakes and keepalive answers there;
a cell over its link-discipline budget is marked).
"""

from __future__ import annotations

from html import escape

from harness.checks.history import History
from harness.checks.link_discipline import budgets
from harness.cluster.testnet import link_ends


def human(n: int) -> str:
    """Bytes in a short form: 410 B, 86.3 kB, 1.2 MB."""
    for unit, size in (("MB", 1_000_000), ("kB", 1_000)):
        if n >= size:
            return f"{n / size:.1f} {unit}"
    return f"{n} B"


def links_section(history: History | None) -> str:
    """The HTML section, or why there are no counters ("" for no history at all)."""
    if history is None:
        return ""
    title = "<h2>bytes per link</h2>"
    links = history.link_bytes
    if not links:
        why = history.link_bytes_problem or "this history holds no link byte counters"
        return f"{title}<p id='links'>{escape(why)}</p>"
    allowed = budgets(history) or {}
    ends = {link: link_ends(link) for link in links}
    nodes = sorted({n for pair in ends.values() for n in pair}, key=_node_key)
    by_pair = {pair: link for link, pair in ends.items()}
    head = "".join(f"<th>to {escape(n)}</th>" for n in nodes)
    rows = []
    for src in nodes:
        cells = []
        for dst in nodes:
            link = by_pair.get((src, dst))
            if link is None:
                cells.append("<td></td>")
                continue
            fwd, back = links[link].get("upstream", 0), links[link].get("downstream", 0)
            over = link in allowed and back > allowed[link]
            limit = f" of {human(allowed[link])}" if link in allowed else ""
            cells.append(
                f'<td class="{"bad" if over else ""}" data-link="{escape(link)}" '
                f'title="{escape(link)}: back {back} B{escape(limit)}">'
                f"&rarr; {human(fwd)}<br>&larr; {human(back)}</td>"
            )
        sent = sum(
            links[by_pair[(src, d)]].get("upstream", 0) for d in nodes if (src, d) in by_pair
        )
        wrote_back = sum(
            links[by_pair[(d, src)]].get("downstream", 0) for d in nodes if (d, src) in by_pair
        )
        rows.append(
            f"<tr><th>{escape(src)} dials</th>{''.join(cells)}"
            f"<td>&rarr; {human(sent)}<br>&larr; {human(wrote_back)}</td></tr>"
        )
    return (
        f"{title}<p>&rarr; what the dialler sent over its own connection; &larr; what the peer "
        "wrote back over it (only handshakes and keepalive answers are allowed: "
        "check link_discipline). The last column: all a validator sent over its own "
        "connections, and all it wrote back over its peers'.</p>"
        f"<table id='links'><thead><tr><th></th>{head}<th>validator</th></tr></thead>"
        f"<tbody>{''.join(rows)}</tbody></table>"
    )


def _node_key(name: str) -> tuple[int, str]:
    digits = name.lstrip("v")
    return (int(digits), name) if digits.isdigit() else (1 << 30, name)
