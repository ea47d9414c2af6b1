"""The timeline as one SVG: a lane per validator over wall time, heights and epochs on top.

The same string is inlined in report.html and written beside it as timeline.svg, so CI
pages that show images but not HTML see the same picture. Styles are attributes, not CSS
classes, so the file renders alone; ids (``lane-v4``, ``epoch-1``, ``fault-3``,
``slash-0-v4``) are the targets the report's evidence links point at.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Mapping, Sequence
from html import escape

from harness.report.faultwindows import Window
from harness.report.timeline import Timeline

W = 1200
LEFT, RIGHT, TOP = 116, 70, 100
LANE, GAP = 82, 8
COLORS = {
    "link_out": "#d62728",
    "link_in": "#ff7f0e",
    "toxic": "#9467bd",
    "packet_loss": "#e377c2",
    "killed": "#444444",
    "paused": "#1f77b4",
    "lazy": "#bcbd22",
    "clock_offset": "#17becf",
    "double_sign": "#8c564b",
}
LABELS = {
    "link_out": "links out down",
    "link_in": "links in down",
    "toxic": "toxic",
    "packet_loss": "packet loss",
    "killed": "killed",
    "paused": "paused",
    "lazy": "lazy",
    "clock_offset": "clock offset",
    "double_sign": "double sign",
}
ROW = {  # sub-row offset within a lane of each window kind (killed/paused fill the lane)
    "link_out": 2,
    "link_in": 9,
    "toxic": 16,
    "packet_loss": 16,
    "lazy": 23,
    "clock_offset": 23,
    "double_sign": 9,
}
X = Callable[[float], float]  # wall time -> x in the drawing
OK, MISS, SLASH, EJECT = "#2ca02c", "#d62728", "#d62728", "#111111"
STATUS_COLOR = {"active": "#2ca02c", "slashed": "#d62728", "ejection_deferred": "#9467bd"}


def _f(v: float) -> str:
    return f"{v:.1f}".rstrip("0").rstrip(".")


class Scale:
    def __init__(self, t0: float, t1: float) -> None:
        self.t0, self.t1 = t0, t1

    def x(self, t: float) -> float:
        span = self.t1 - self.t0
        return LEFT + (min(max(t, self.t0), self.t1) - self.t0) / span * (W - LEFT - RIGHT)


def _nice_step(span: float, ticks: int = 10) -> float:
    for step in (0.5, 1, 2, 5, 10, 15, 20, 30, 60, 120, 300, 600, 1800, 3600):
        if span / step <= ticks:
            return float(step)
    return 7200.0


def lane_top(i: int) -> int:
    return TOP + i * (LANE + GAP)


def height_of_svg(nodes: int) -> int:
    return lane_top(nodes) + 46


def render_timeline(tl: Timeline) -> str:
    sc = Scale(tl.t0, tl.t1)
    x = sc.x
    H = height_of_svg(len(tl.nodes))
    bottom = lane_top(len(tl.nodes)) - GAP
    out: list[str] = [
        f'<svg xmlns="http://www.w3.org/2000/svg" id="timeline" viewBox="0 0 {W} {H}" '
        f'width="{W}" height="{H}" font-family="Helvetica, Arial, sans-serif" font-size="11" '
        f'data-t0="{tl.t0:.3f}" data-t1="{tl.t1:.3f}" data-x0="{LEFT}" data-x1="{W - RIGHT}">',
        f'<rect x="0" y="0" width="{W}" height="{H}" fill="#ffffff"/>',
    ]
    # epochs: a band in the header per epoch, a dashed boundary at each epoch's last block
    prev_end = tl.t0
    for e in tl.epochs:
        end = tl.block_times.get(e.last_height)
        if end is None:
            continue
        fill = "#fdd0a2" if e.systemic else ("#eeeeee" if e.epoch % 2 == 0 else "#f7f7f7")
        label = f"epoch {e.epoch}" + (" · systemic" if e.systemic else "")
        label += "" if e.evaluated else " (not evaluated)"
        out.append(
            f'<g id="epoch-{e.epoch}" class="epoch" data-epoch="{e.epoch}" '
            f'data-systemic="{str(e.systemic).lower()}">'
            f'<rect x="{_f(x(prev_end))}" y="{TOP - 20}" width="{_f(x(end) - x(prev_end))}" '
            f'height="16" fill="{fill}"/>'
            f'<text x="{_f((x(prev_end) + x(end)) / 2)}" y="{TOP - 8}" text-anchor="middle" '
            f'fill="#333">{escape(label)}</text>'
            + (
                f'<line x1="{_f(x(end))}" y1="{TOP - 20}" x2="{_f(x(end))}" y2="{bottom}" '
                f'stroke="#555" stroke-dasharray="4 3"/>'
                if e.evaluated
                else ""
            )
            + f"<title>epoch {e.epoch} ends at height {e.last_height}</title></g>"
        )
        prev_end = end
    # time axis (seconds since the first event) and height ticks
    span = tl.t1 - tl.t0
    step = _nice_step(span)
    k = 0.0
    while k <= span + 1e-9:
        px = x(tl.t0 + k)
        out.append(
            f'<line x1="{_f(px)}" y1="{TOP - 44}" x2="{_f(px)}" y2="{TOP - 38}" stroke="#999"/>'
            f'<text x="{_f(px)}" y="{TOP - 47}" text-anchor="middle" fill="#666">'
            f"+{_f(k)}s</text>"
        )
        k += step
    out.append(
        f'<text x="4" y="{TOP - 47}" fill="#666">wall time</text>'
        f'<text x="4" y="{TOP - 27}" fill="#666">height</text>'
    )
    hstep = max(1, int(_nice_step(max(tl.block_times, default=1), 20)))
    for h, t in tl.block_times.items():
        if h % hstep == 0:
            px = x(t)
            out.append(
                f'<g class="htick"><line x1="{_f(px)}" y1="{TOP - 36}" x2="{_f(px)}" '
                f'y2="{TOP - 22}" stroke="#999"/><text x="{_f(px + 2)}" y="{TOP - 27}" '
                f'fill="#666">{h}</text></g>'
            )
    max_h = max((h for pts in tl.heights.values() for _, h in pts), default=1) or 1
    for i, node in enumerate(tl.nodes):
        out.append(_lane(tl, i, node, x, max_h))
    out.append(f'<text x="4" y="{TOP - 80}" fill="#666">faults</text>')
    free_at = [-1e9, -1e9, -1e9]  # where each row of labels is free again
    for seq, t in sorted(tl.fault_times.items(), key=lambda kv: kv[1]):
        px, label = x(t), tl.fault_labels.get(seq, "")
        row = next((k for k, f in enumerate(free_at) if f <= px), free_at.index(min(free_at)))
        free_at[row] = px + 6 * (len(label) + 4)
        ty = TOP - 80 + row * 11
        out.append(
            f'<a href="#fault-{seq}" class="action" data-fault="{seq}">'
            f'<line x1="{_f(px)}" y1="{ty + 2}" x2="{_f(px)}" y2="{bottom}" stroke="#e6550d" '
            f'stroke-opacity="0.55" stroke-dasharray="1 3"/>'
            f'<text x="{_f(px + 2)}" y="{ty}" fill="#a63603" font-size="10">'
            f"#{seq} {escape(label)}</text><title>fault record {seq}: {escape(label)} "
            f"(began at t={t:.2f})</title></a>"
        )
    out.append(
        f'<g id="cursor" visibility="hidden"><line x1="0" y1="{TOP - 36}" x2="0" y2="{bottom}" '
        f'stroke="#e6550d" stroke-width="2"/><text x="4" y="{TOP - 36}" fill="#e6550d" '
        f'font-weight="bold"></text></g>'
    )
    out.append(_legend(H - 30))
    out.append("</svg>")
    return "\n".join(out)


def _kind_marks(kinds: list[tuple[float | None, str]], x: X, y: int) -> list[str]:
    """The node kind beside the lane's name (``python→rust`` once it changed), and a tick
    on the lane where it changed."""
    if not kinds:
        return []
    names = "→".join(k for _, k in kinds)
    out = [
        f'<text class="node-kind" x="40" y="{y + 20}" font-size="11" fill="#666">'
        f"{escape(names)}</text>"
    ]
    for t, kind in kinds[1:]:
        if t is None:
            continue
        out.append(
            f'<g class="kind-change"><line x1="{_f(x(t))}" y1="{y}" x2="{_f(x(t))}" '
            f'y2="{y + LANE}" stroke="#7a4" stroke-width="2" stroke-dasharray="4 2"/>'
            f"<title>runs the {escape(kind)} node from here</title></g>"
        )
    return out


def _lane(tl: Timeline, i: int, node: str, x: X, max_h: int) -> str:
    y = lane_top(i)
    right = W - RIGHT
    parts = [
        f'<g id="lane-{escape(node)}" class="lane" data-node="{escape(node)}">',
        f'<rect x="{LEFT}" y="{y}" width="{right - LEFT}" height="{LANE}" fill="#fafafa" '
        f'stroke="#ddd"/>',
        f'<text x="8" y="{y + 20}" font-size="14" font-weight="bold" fill="#222">'
        f"{escape(node)}</text>",
    ]
    parts += _kind_marks(tl.kinds.get(node, []), x, y)
    last = next((e for e in reversed(tl.epochs) if e.evaluated), None)
    if last is not None and node in last.rates:
        parts.append(
            f'<text x="8" y="{y + 36}" fill="#555">e{last.epoch}: {last.rates[node] // 100}% '
            f"answered</text>"
        )
    if last is not None and node in last.after:
        stake, status = last.after[node]
        parts.append(
            f'<text x="8" y="{y + 50}" fill="#555">{stake}</text>'
            f'<text x="8" y="{y + 64}" fill="{STATUS_COLOR.get(status, "#555")}">'
            f"{escape(status.replace('_', ' '))}</text>"
        )
    peers = max(len(tl.nodes) - 1, 1)
    mine_w = [w for w in tl.windows if w.node == node]
    for kind in ("link_out", "link_in"):
        parts += _link_bands([w for w in mine_w if w.kind == kind], kind, peers, x, y, tl.t1)
    parts += [_window(w, x, y, tl.t1) for w in mine_w if w.kind not in ("link_out", "link_in")]
    mine = [c for c in tl.challenges if node in c.expected]
    top = max(tl.block_times, default=0)
    for k, c in enumerate(mine):
        t_a, t_b = tl.block_times.get(c.height), tl.block_times.get(c.deadline)
        if t_a is None:
            continue
        xa = x(t_a)
        xb = x(t_b) if t_b is not None else x(tl.t1)
        cy = y + 36 + (k % 2) * 8
        got = c.included.get(node)
        if got is None and c.deadline > top:  # its window had not closed when the run ended
            mark, cls = f"<title>challenge {c.height}: window open at the end</title>", "resp-open"
        elif got is not None and got in tl.block_times:
            xm = x(tl.block_times[got])
            mark = (
                f'<circle cx="{_f(xm)}" cy="{cy}" r="3" fill="{OK}"/>'
                f"<title>challenge {c.height} (window to {c.deadline}): {node} "
                f"included at {got}</title>"
            )
            cls = "resp-ok"
        else:
            mark = (
                f'<path d="M{_f(xb - 3)} {cy - 3}l6 6m0 -6l-6 6" stroke="{MISS}" '
                f'stroke-width="2"/><title>challenge {c.height} (window to {c.deadline}): '
                f"{node} missed</title>"
            )
            cls = "resp-miss"
        parts.append(
            f'<g class="challenge {cls}" data-challenge="{c.height}">'
            f'<line x1="{_f(xa)}" y1="{cy}" x2="{_f(xb)}" y2="{cy}" stroke="#bbb" '
            f'stroke-width="3"/>{mark}</g>'
        )
    pts = sorted(tl.heights.get(node, []))
    if pts:
        y0, hh = y + LANE - 4, 26

        def py(h: int) -> float:
            return y0 - h / max_h * hh

        d = [f"M{_f(x(pts[0][0]))} {_f(py(pts[0][1]))}"]
        for (_, h0), (t1, h1) in itertools.pairwise(pts):
            d.append(f"H{_f(x(t1))}V{_f(py(h1))}" if h1 != h0 else f"H{_f(x(t1))}")
        d.append(f"H{_f(x(tl.t1))}")
        parts.append(
            f'<path class="height" d="{"".join(d)}" fill="none" stroke="#1f77b4" '
            f'stroke-width="1.5"><title>{escape(node)} finalized height</title></path>'
            f'<text x="{right + 4}" y="{_f(py(pts[-1][1]) + 4)}" fill="#1f77b4">'
            f"h{pts[-1][1]}</text>"
        )
    for e in tl.epochs:
        t = tl.block_times.get(e.last_height)
        if t is None:
            continue
        ex = x(t)
        if node in e.slashed:
            parts.append(
                f'<g id="slash-{e.epoch}-{escape(node)}" class="slash" data-epoch="{e.epoch}">'
                f'<path d="M{_f(ex - 7)} {y + 2}h14l-7 12z" fill="{SLASH}"/>'
                f'<text x="{_f(ex + 9)}" y="{y + 12}" fill="{SLASH}" font-weight="bold" '
                f'paint-order="stroke" stroke="#fff" stroke-width="3">'
                f"slashed -{e.slashed[node]}</text>"
                f"<title>{escape(node)} slashed {e.slashed[node]} at the end of epoch "
                f"{e.epoch} (height {e.last_height}, rate {e.rates.get(node, 0)} bps)</title></g>"
            )
        if node in e.ejected or node in e.deferred:
            what = "ejected" if node in e.ejected else "ejection deferred"
            parts.append(
                f'<g id="eject-{e.epoch}-{escape(node)}" class="eject" data-epoch="{e.epoch}">'
                f'<rect x="{_f(ex - 5)}" y="{y + 16}" width="10" height="10" fill="{EJECT}"/>'
                f'<text x="{_f(ex + 9)}" y="{y + 25}" fill="{EJECT}" font-weight="bold" '
                f'paint-order="stroke" stroke="#fff" stroke-width="3">'
                f"{what}</text><title>{escape(node)} {what} at the end of epoch {e.epoch}"
                f"</title></g>"
            )
    parts.append("</g>")
    return "".join(parts)


def _link_bands(ws: list[Window], kind: str, peers: int, x: X, y: int, t_end: float) -> list[str]:
    """Links down in one direction as one band whose strength is the share of peers lost
    (an isolated validator is solid; its peers, each losing one link, are faint)."""
    cuts = sorted({w.start for w in ws} | {w.end if w.end is not None else t_end for w in ws})
    out = []
    for a, b in itertools.pairwise(cuts):
        live = [w for w in ws if w.start <= a and (w.end if w.end is not None else t_end) >= b]
        if not live:
            continue
        share = len(live) / peers
        first = min(live, key=lambda w: w.opened_by)
        what = ", ".join(sorted(w.detail.removesuffix(" down") for w in live))
        out.append(
            f'<rect class="fault fault-{kind}" data-kind="{kind}" data-node="{escape(first.node)}" '
            f'data-fault="{first.opened_by}" data-start="{a:.3f}" data-end="{b:.3f}" '
            f'data-links="{len(live)}" x="{_f(x(a))}" width="{_f(max(x(b) - x(a), 2.0))}" '
            f'y="{y + ROW[kind]}" height="6" fill="{COLORS[kind]}" '
            f'fill-opacity="{0.15 + 0.8 * share:.2f}"><title>{LABELS[kind]}: '
            f"{escape(what)} ({len(live)} of {peers} peers; fault record {first.opened_by})"
            f"</title></rect>"
        )
    return out


def _window(w: Window, x: X, y: int, t_end: float) -> str:
    xa = x(w.start)
    xb = x(w.end if w.end is not None else t_end)
    width = max(xb - xa, 2.0)
    color = COLORS.get(w.kind, "#7f7f7f")
    if w.kind in ("killed", "paused"):
        geom = f'y="{y}" height="{LANE}" fill-opacity="0.28"'
    else:
        geom = f'y="{y + ROW.get(w.kind, 23)}" height="6" fill-opacity="0.85"'
    end = f"{w.end:.2f}" if w.end is not None else "the end"
    return (
        f'<rect class="fault fault-{w.kind}" data-kind="{w.kind}" data-fault="{w.opened_by}" '
        f'data-start="{w.start:.3f}" data-end="{w.end if w.end is not None else ""}" '
        f'x="{_f(xa)}" width="{_f(width)}" {geom} fill="{color}">'
        f"<title>{escape(w.detail)} (fault record {w.opened_by}, t={w.start:.2f}..{end})"
        f"</title></rect>"
    )


def _legend(y: int) -> str:
    items = [(LABELS[k], COLORS[k], "rect") for k in COLORS]
    items += [("response included", OK, "dot"), ("response missed", MISS, "x")]
    items += [("slash", SLASH, "tri"), ("ejection", EJECT, "sq"), ("height", "#1f77b4", "line")]
    out = [f'<g id="legend" transform="translate({LEFT} {y})">']
    px = 0
    for label, color, shape in items:
        if shape == "rect":
            out.append(f'<rect x="{px}" y="0" width="14" height="8" fill="{color}"/>')
        elif shape == "dot":
            out.append(f'<circle cx="{px + 5}" cy="4" r="3.5" fill="{color}"/>')
        elif shape == "x":
            out.append(f'<path d="M{px + 2} 1l6 6m0 -6l-6 6" stroke="{color}" stroke-width="2"/>')
        elif shape == "tri":
            out.append(f'<path d="M{px} 0h12l-6 9z" fill="{color}"/>')
        elif shape == "sq":
            out.append(f'<rect x="{px}" y="0" width="9" height="9" fill="{color}"/>')
        else:
            out.append(f'<line x1="{px}" y1="4" x2="{px + 14}" y2="4" stroke="{color}"/>')
        out.append(f'<text x="{px + 17}" y="8" fill="#333">{escape(label)}</text>')
        px += 24 + 6 * len(label)
        if px > W - LEFT - 160:
            out.append(f'</g><g transform="translate({LEFT} {y + 14})">')
            px = 0
    out.append("</g>")
    return "".join(out)


def render_series(
    title: str, series: Mapping[str, Sequence[tuple[float, float]]], t0: float, t1: float
) -> str:
    """One recorded Prometheus series per validator, on the timeline's time axis."""
    h, top = 150, 18
    sc = Scale(t0, max(t1, t0 + 1))
    series = {k: [(t, v) for t, v in pts if t0 <= t <= t1] for k, pts in series.items()}
    values = [v for pts in series.values() for _, v in pts]
    lo, hi = (min(values), max(values)) if values else (0.0, 1.0)
    if hi <= lo:
        hi = lo + 1
    palette = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2"]
    out = [
        f'<svg xmlns="http://www.w3.org/2000/svg" class="series" viewBox="0 0 {W} {h}" '
        f'width="{W}" height="{h}" font-family="Helvetica, Arial, sans-serif" font-size="11">',
        f'<text x="4" y="13" font-weight="bold">{escape(title)}</text>',
        f'<text x="{LEFT - 4}" y="{top + 8}" text-anchor="end" fill="#666">{_f(hi)}</text>',
        f'<text x="{LEFT - 4}" y="{h - 8}" text-anchor="end" fill="#666">{_f(lo)}</text>',
        f'<rect x="{LEFT}" y="{top}" width="{W - LEFT - RIGHT}" height="{h - top - 8}" '
        f'fill="#fafafa" stroke="#ddd"/>',
    ]
    for k, (label, pts) in enumerate(sorted(series.items())):
        if not pts:
            continue
        color = palette[k % len(palette)]
        coords = " ".join(
            f"{_f(sc.x(t))},{_f(h - 8 - (v - lo) / (hi - lo) * (h - top - 12))}" for t, v in pts
        )
        out.append(
            f'<polyline points="{coords}" fill="none" stroke="{color}" stroke-width="1.5">'
            f"<title>{escape(label)}</title></polyline>"
            f'<text x="{W - RIGHT + 4}" y="{top + 12 + 12 * k}" fill="{color}">'
            f"{escape(label)}</text>"
        )
    out.append("</svg>")
    return "\n".join(out)
