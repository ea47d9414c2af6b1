"""The report's bytes-per-link table, from a history's fault-proxy counters."""

from __future__ import annotations

import re
from typing import Any

from harness.report.links import human, links_section

from .history_builder import Built, doctored


def cell(html: str, link: str) -> str:
    found = re.search(rf'<td class="([^"]*)" data-link="{link}"[^>]*>(.*?)</td>', html)
    assert found is not None, link
    return f"{found.group(1)}|{found.group(2)}"


def test_every_link_has_its_cell_with_both_directions(quiet: Built) -> None:
    html = links_section(quiet.history)
    links = quiet.history.link_bytes
    assert html.count("data-link=") == len(links) == 20
    up, down = links["v3_to_v1"]["upstream"], links["v3_to_v1"]["downstream"]
    assert cell(html, "v3_to_v1") == f"|&rarr; {human(up)}<br>&larr; {human(down)}"
    assert "<th>v3 dials</th>" in html and "<th>to v1</th>" in html


def test_a_link_over_its_budget_is_marked(quiet: Built) -> None:
    def noisy(d: dict[str, Any]) -> None:
        d["link_bytes"]["v0_to_v2"]["downstream"] = 1_000_000

    html = links_section(doctored(quiet.history, noisy))
    assert cell(html, "v0_to_v2").startswith("bad|")
    assert cell(html, "v2_to_v0").startswith("|")


def test_without_counters_the_section_says_why(quiet: Built) -> None:
    def direct(d: dict[str, Any]) -> None:
        d["link_bytes"] = {}
        d["link_bytes_problem"] = "no fault proxy: the nodes dial each other directly"

    html = links_section(doctored(quiet.history, direct))
    assert "no fault proxy: the nodes dial each other directly" in html
    assert "data-link=" not in html
    assert links_section(None) == ""


def test_human_sizes() -> None:
    assert [human(n) for n in (0, 410, 86_281, 1_234_567)] == ["0 B", "410 B", "86.3 kB", "1.2 MB"]
