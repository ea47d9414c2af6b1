"""report.html: one self-contained page (inline CSS, JS and SVG; nothing fetched).

Sections: the verdict and the reproduce command; a banner when the implementations split
(the split check failed: its first divergent height and epoch and the sides); the timeline;
every check and expectation with links to its evidence on the timeline; the recorded
metrics (runs with --monitor); the fault log; the nodes' logs interleaved by time (filter
by node, level, text); the scenario file.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from html import escape
from typing import Any

from harness.report.timeline import Timeline


@dataclass(frozen=True)
class Ref:
    href: str
    label: str


def evidence_refs(text: str, tl: Timeline, faults: Sequence[Mapping[str, Any]]) -> list[Ref]:
    """Where on the timeline a line of evidence points: epochs, blocks, lanes, faults."""
    refs: list[Ref] = []
    epochs = {e.epoch: e for e in tl.epochs}
    named_epochs = [int(m) for m in re.findall(r"\bepochs? (\d+)\b", text)]
    nodes = [n for n in tl.nodes if re.search(rf"\b{re.escape(n)}\b", text)]
    for e in dict.fromkeys(named_epochs):
        if e in epochs and epochs[e].evaluated:
            refs.append(Ref(f"#epoch-{e}", f"epoch {e}"))
            for n in nodes:
                if n in epochs[e].slashed:
                    refs.append(Ref(f"#slash-{e}-{n}", f"slash of {n} in epoch {e}"))
                if n in epochs[e].ejected or n in epochs[e].deferred:
                    refs.append(Ref(f"#eject-{e}-{n}", f"ejection of {n} in epoch {e}"))
    for h in dict.fromkeys(int(m) for m in re.findall(r"\bheights? (\d+)\b", text)):
        if h in tl.block_times:
            refs.append(Ref(f"#block-{h}", f"block {h}"))
    refs += [Ref(f"#lane-{n}", n) for n in nodes]
    for t in dict.fromkeys(float(m) for m in re.findall(r"\bt=(\d+(?:\.\d+)?)", text)):

        def off(f: Mapping[str, Any], t: float = t) -> float:
            return min(abs(float(f["t_start"]) - t), abs(float(f["t_end"]) - t))

        near = min(faults, key=off, default=None)
        if near is not None and off(near) < 1.0:
            refs.append(Ref(f"#fault-{near['seq']}", f"fault #{near['seq']} {near['kind']}"))
    return refs


CSS = """
body{font:14px/1.4 -apple-system,"Segoe UI",Helvetica,Arial,sans-serif;margin:0;color:#222}
header{padding:12px 20px;background:#f4f4f4;border-bottom:1px solid #ddd}
h1{font-size:20px;margin:0 0 6px} h2{font-size:16px;margin:22px 20px 8px}
.badge{display:inline-block;padding:2px 10px;border-radius:10px;color:#fff;font-weight:bold}
.passed,.pass{background:#2ca02c}.failed,.fail,.error{background:#d62728}.unknown{background:#bcbd22}
code,pre{font:12px/1.35 ui-monospace,Menlo,Consolas,monospace}
pre{background:#f7f7f7;border:1px solid #e3e3e3;padding:8px;overflow:auto;margin:0 20px}
.scroll{overflow-x:auto;padding:0 20px}
table{border-collapse:collapse;margin:0 20px;font-size:13px}
td,th{border-bottom:1px solid #e5e5e5;padding:3px 8px;text-align:left;vertical-align:top}
tr.bad,td.bad{background:#fdecea} .refs a{margin-right:8px;white-space:nowrap}
a.ref{color:#1f5fa8} .why li{margin:3px 0}
#logs td{font:12px ui-monospace,Menlo,Consolas,monospace;white-space:pre-wrap}
#logs tr.warning td{background:#fff6d6} #logs tr.error td{background:#fdecea}
.filters{margin:0 20px 8px} .filters label{margin-right:10px}
.hl{outline:3px solid #e6550d} svg .hl rect,svg rect.hl,svg .hl path{stroke:#e6550d;stroke-width:3}
svg g.lane.hl>rect:first-of-type{fill:#fff3e6}
#split{margin:12px 20px;padding:10px 14px;border:3px solid #d62728;background:#fdecea}
#split h2{margin:0 0 6px;color:#d62728;font-size:18px} #split li{margin:3px 0}
"""

JS = """
(function(){
  var AROUND_S = 3;
  var bx = JSON.parse(document.getElementById('block-x').textContent);
  function each(sel, f){ document.querySelectorAll(sel).forEach(f); }
  function clear(){ each('.hl', function(e){ e.classList.remove('hl'); }); }
  function show(hash){
    clear();
    var id = hash.replace(/^#/, ''); if(!id) return;
    var cur = document.getElementById('cursor');
    var m = /^block-(\\d+)$/.exec(id);
    if(m && bx[m[1]] !== undefined){
      var x = bx[m[1]];
      var ln = cur.querySelector('line'); ln.setAttribute('x1', x); ln.setAttribute('x2', x);
      var t = cur.querySelector('text'); t.setAttribute('x', x + 4);
      t.textContent = 'block ' + m[1];
      cur.setAttribute('visibility', 'visible'); cur.classList.add('hl');
      document.getElementById('timeline').scrollIntoView({block:'start'});
      return;
    }
    cur.setAttribute('visibility', 'hidden');
    var w = /^logs-at-([\\d.]+)$/.exec(id);
    if(w){
      around = parseFloat(w[1]); filter();
      document.getElementById('logs').scrollIntoView(); return;
    }
    var f = /^fault-(\\d+)$/.exec(id);
    if(f){ each('[data-fault="' + f[1] + '"]', function(e){ e.classList.add('hl'); }); }
    var el = document.getElementById(id);
    if(el){ el.classList.add('hl'); }
  }
  var around = null;  // a time: only log lines within AROUND_S of it are shown
  window.addEventListener('hashchange', function(){ show(location.hash); });
  document.addEventListener('click', function(ev){
    var a = ev.target.closest && ev.target.closest('a.ref');
    if(a && a.getAttribute('href') === location.hash){ show(location.hash); }
  });
  var rows = Array.prototype.slice.call(document.querySelectorAll('#logs tbody tr'));
  var order = {debug:0, info:1, warning:2, error:3, critical:4};
  function filter(){
    var on = {};
    document.querySelectorAll('input.node-filter').forEach(function(c){ on[c.value] = c.checked; });
    var min = order[document.getElementById('level').value] || 0;
    var q = document.getElementById('grep').value.toLowerCase();
    var shown = 0;
    rows.forEach(function(r){
      var lv = order[r.dataset.level];
      var near = around === null || Math.abs(parseFloat(r.dataset.t) - around) <= AROUND_S;
      var ok = near && on[r.dataset.node] !== false && (lv === undefined || lv >= min)
        && (!q || r.textContent.toLowerCase().indexOf(q) >= 0);
      r.style.display = ok ? '' : 'none'; if(ok) shown++;
    });
    document.getElementById('shown').textContent = shown + ' of ' + rows.length + ' lines';
    var wnd = document.getElementById('window');
    wnd.innerHTML = '';
    if(around !== null){
      wnd.textContent = 'within ' + AROUND_S + ' s of the failure ';
      var all = document.createElement('a'); all.href = '#logs'; all.textContent = '(show all)';
      all.addEventListener('click', function(){ around = null; filter(); });
      wnd.appendChild(all);
    }
  }
  document.querySelectorAll('.filters input, .filters select').forEach(function(e){
    e.addEventListener('input', filter); e.addEventListener('change', filter);
  });
  filter();
  show(location.hash);
})();
"""


def ref_time(ref: Ref, tl: Timeline, faults: Sequence[Mapping[str, Any]]) -> float | None:
    """The wall time a reference points at (for "logs around" it)."""
    kind, _, rest = ref.href.lstrip("#").partition("-")
    key = rest.split("-")[0]
    if kind == "block":
        return tl.block_times.get(int(key))
    if kind in ("epoch", "slash", "eject"):
        e = next((m for m in tl.epochs if m.epoch == int(key)), None)
        return tl.block_times.get(e.last_height) if e else None
    if kind == "fault":
        return next((float(f["t_end"]) for f in faults if str(f["seq"]) == key), None)
    return None


def logs_around(refs: Sequence[Ref], tl: Timeline, faults: Sequence[Mapping[str, Any]]) -> str:
    """A link that filters the node logs to a few seconds around the evidence."""
    times = [t for t in (ref_time(r, tl, faults) for r in refs) if t is not None]
    if not times:
        return ""
    t = times[0]
    return f' <a class="ref logs-around" href="#logs-at-{t:.3f}">logs around {_ts(t)}</a>'


def _links(refs: Sequence[Ref]) -> str:
    return " ".join(f'<a class="ref" href="{escape(r.href)}">{escape(r.label)}</a>' for r in refs)


def split_banner(checks: Sequence[Mapping[str, Any]]) -> str:
    """The split between implementations, above everything else: when two implementations
    disagree, every other failure on the page follows from it."""
    found = [c for c in checks if c.get("name") == "split" and c.get("verdict") == "fail"]
    if not found:
        return ""
    items = "".join(f"<li>{escape(str(e))}</li>" for e in found[0].get("evidence", []))
    return (
        '<section id="split"><h2>SPLIT: the node implementations diverged</h2>'
        f"<ul>{items}</ul></section>"
    )


def _ts(t: float) -> str:
    return datetime.fromtimestamp(t, UTC).strftime("%H:%M:%S.%f")[:-3]


def render_html(
    result: Mapping[str, Any],
    tl: Timeline,
    timeline_svg: str,
    block_x: Mapping[int, float],
    faults: Sequence[Mapping[str, Any]],
    logs: Sequence[Mapping[str, Any]],
    scenario_text: str | None,
    series_svgs: Sequence[str] = (),
    monitor_url: str | None = None,
    error_text: str | None = None,
    links_html: str = "",
) -> str:
    status = str(result.get("status", "error"))
    checks = list(result.get("checks", []))
    expects = list(result.get("expectations", []))
    why: list[str] = []
    rows: list[str] = []
    for c in checks:
        ev = list(c.get("evidence", []))
        cells = "".join(
            f"<div>{escape(line)} <span class='refs'>{_links(evidence_refs(line, tl, faults))}"
            f"</span></div>"
            for line in ev
        )
        bad = c.get("verdict") == "fail"
        rows.append(
            f'<tr class="{"bad" if bad else ""}" data-kind="check" data-name="{escape(c["name"])}"'
            f' data-verdict="{escape(str(c.get("verdict")))}"><td>check</td><td>{escape(c["name"])}'
            f'</td><td><span class="badge {escape(str(c.get("verdict")))}">'
            f"{escape(str(c.get('verdict')))}</span></td><td class='evidence'>{cells}</td></tr>"
        )
        if bad:
            cited = [r for line in ev for r in evidence_refs(line, tl, faults)]
            why.append(
                f"check <b>{escape(c['name'])}</b>: {escape('; '.join(ev))}"
                + logs_around(cited, tl, faults)
            )
    for e in expects:
        ok = bool(e.get("passed"))
        text = f"{e['what']}: {e['detail']}"
        found = evidence_refs(text, tl, faults)
        refs = _links(found)
        rows.append(
            f'<tr class="{"" if ok else "bad"}" data-kind="expect" data-name="{escape(e["what"])}"'
            f' data-verdict="{"pass" if ok else "fail"}"><td>expect</td><td>{escape(e["what"])}'
            f'</td><td><span class="badge {"pass" if ok else "fail"}">{"pass" if ok else "fail"}'
            f"</span></td><td class='evidence'><div>{escape(str(e['detail']))} "
            f"<span class='refs'>{refs}</span></div></td></tr>"
        )
        if not ok:
            why.append(
                f"<b>{escape(e['what'])}</b>: {escape(str(e['detail']))} "
                f"<span class='refs'>{refs}{logs_around(found, tl, faults)}</span>"
            )
    if result.get("error"):
        why.insert(0, f"harness error: {escape(str(result['error']))}")
    if why:  # a note (a step that came late) may be why, so it stands with the reasons
        why += [f"<i>note</i>: {escape(str(n))}" for n in result.get("notes", [])]
    fault_rows = "".join(
        f'<tr id="fault-{f["seq"]}"><td>{f["seq"]}</td><td>{escape(str(f["kind"]))}</td>'
        f"<td><code>{escape(json.dumps(f.get('args', {}), sort_keys=True))}</code></td>"
        f"<td>{f.get('height') if f.get('height') is not None else ''}</td>"
        f"<td>{_ts(float(f['t_start']))}</td><td>{_ts(float(f['t_end']))}</td></tr>"
        for f in faults
    )
    nodes = sorted({str(r.get("node", "?")) for r in logs})
    filters = "".join(
        f'<label><input type="checkbox" class="node-filter" value="{escape(n)}" checked> '
        f"{escape(n)}</label>"
        for n in nodes
    )
    log_rows = "".join(
        f'<tr class="{escape(str(r.get("level", "")))}" data-node="{escape(str(r.get("node")))}"'
        f' data-level="{escape(str(r.get("level", "")))}" data-t="{float(r["time"]):.3f}">'
        f"<td>{_ts(float(r['time']))}</td>"
        f"<td>{escape(str(r.get('node')))}</td><td>{escape(str(r.get('level', '')))}</td>"
        f"<td>{escape(str(r.get('text', '')))}</td></tr>"
        for r in logs
    )
    duration = float(result.get("duration_s", 0.0))
    head = (
        f"<h1>{escape(str(result.get('scenario')))} "
        f'<span class="badge {escape(status)}" id="status">{escape(status)}</span></h1>'
        f"<div>seed {escape(str(result.get('seed')))} · {escape(str(result.get('backend')))}"
        f" backend · {duration:.0f} s · {len(tl.nodes)} validators · "
        f"{max(tl.block_times, default=0)} blocks</div>"
        f'<div>reproduce: <code id="reproduce">{escape(str(result.get("reproduce", "")))}'
        f"</code></div>"
    )
    if monitor_url:
        head += f"<div>Prometheus (while the run lasted): <code>{escape(monitor_url)}</code></div>"
    split_html = split_banner(checks)
    why_html = (
        f'<h2>why it {escape(status)}</h2><ul class="why" id="why">'
        + "".join(f"<li>{w}</li>" for w in why)
        + "</ul>"
        if why
        else ""
    )
    series_html = (
        '<h2>metrics recorded by Prometheus</h2><div class="scroll" id="series">'
        + "".join(series_svgs)
        + "</div>"
        if series_svgs
        else ""
    )
    return (
        '<!DOCTYPE html><html lang="en"><head><meta charset="utf-8">'
        f"<title>{escape(str(result.get('scenario')))}: {escape(status)}</title>"
        f"<style>{CSS}</style></head><body><header>{head}</header>{split_html}{why_html}"
        f'<h2>timeline</h2><div class="scroll">{timeline_svg}</div>'
        f"<h2>checks and expectations</h2><table id='verdicts'><thead><tr><th>kind</th>"
        f"<th>name</th><th>result</th><th>evidence</th></tr></thead><tbody>{''.join(rows)}"
        f"</tbody></table>{series_html}{links_html}"
        f"<h2>fault log</h2><table id='faults'><thead><tr><th>#</th><th>kind</th><th>args</th>"
        f"<th>height</th><th>start (UTC)</th><th>end</th></tr></thead><tbody>{fault_rows}"
        f"</tbody></table>"
        f"<h2>node logs</h2><div class='filters'>{filters} <label>level <select id='level'>"
        f"<option value='debug'>all</option><option value='info'>info+</option>"
        f"<option value='warning'>warning+</option><option value='error'>error+</option>"
        f"</select></label> <label>text <input id='grep' type='search'></label> "
        f"<span id='window'></span> <span id='shown'></span></div>"
        f"<table id='logs'><thead><tr><th>time (UTC)</th>"
        f"<th>node</th><th>level</th><th>event</th></tr></thead><tbody>{log_rows}</tbody>"
        f"</table>"
        + (f"<h2>harness error</h2><pre>{escape(error_text)}</pre>" if error_text else "")
        + (
            f"<h2>scenario file</h2><pre id='scenario'>{escape(scenario_text)}</pre>"
            if scenario_text
            else ""
        )
        + f'<script type="application/json" id="block-x">'
        f"{json.dumps({str(h): round(x, 1) for h, x in block_x.items()})}</script>"
        f"<script>{JS}</script></body></html>\n"
    )
