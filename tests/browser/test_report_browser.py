"""What a person sees in report.html of real runs, in headless Chromium.

The failing run isolates v4 early in epoch 0 (slashed at the epoch's end) and wrongly
expects v3 slashed too; the passing run is the smoke scenario. Positions are checked in
the SVG's own coordinates against the fault log and the chain the run saved.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from selenium.webdriver import Chrome as WebDriver
from selenium.webdriver.common.by import By
from selenium.webdriver.remote.webelement import WebElement

pytestmark = pytest.mark.browser


def load(path: Path) -> Any:
    return json.loads(path.read_text())


def open_report(driver: WebDriver, run: Path) -> None:
    driver.get_log("browser")  # drop what an earlier page logged
    driver.get((run / "report.html").resolve().as_uri())


def no_console_errors(driver: WebDriver) -> None:
    entries = driver.get_log("browser")
    bad = [e for e in entries if e["level"] in ("SEVERE", "WARNING")]
    assert not bad, f"console: {bad}"


def svg_x(driver: WebDriver, t: float) -> float:
    """Where the timeline puts wall time ``t`` (its own mapping, read from the page)."""
    svg = driver.find_element(By.ID, "timeline")
    t0, t1 = float(svg.get_attribute("data-t0") or 0), float(svg.get_attribute("data-t1") or 0)
    x0, x1 = float(svg.get_attribute("data-x0") or 0), float(svg.get_attribute("data-x1") or 0)
    return x0 + (t - t0) / (t1 - t0) * (x1 - x0)


def bbox(driver: WebDriver, el: WebElement) -> dict[str, float]:
    box: dict[str, float] = driver.execute_script(
        "var b = arguments[0].getBBox(); return {x: b.x, y: b.y, w: b.width, h: b.height};", el
    )
    return box


def test_failing_run_shows_lanes_fault_slash_and_the_failing_evidence(
    browser: WebDriver, failing_run: Path
) -> None:
    result, history = load(failing_run / "result.json"), load(failing_run / "history.json")
    open_report(browser, failing_run)
    assert browser.find_element(By.ID, "status").text == "failed"

    lanes = browser.find_elements(By.CSS_SELECTOR, "#timeline g.lane")
    assert [lane.get_attribute("data-node") for lane in lanes] == ["v0", "v1", "v2", "v3", "v4"]
    assert all(lane.is_displayed() for lane in lanes)

    # the fault window where the fault log puts it: isolate v4 .. the heal
    faults = result["fault_log"]
    isolate = next(f for f in faults if f["kind"] == "isolate")
    healed = next(f for f in faults if f["seq"] > isolate["seq"] and not f["state"]["links_down"])
    band = browser.find_element(By.CSS_SELECTOR, "#lane-v4 rect.fault-link_out")
    assert band.get_attribute("data-links") == "4", "v4 lost all 4 peers"
    box = bbox(browser, band)
    assert abs(box["x"] - svg_x(browser, isolate["t_start"])) < 1.5
    assert abs(box["x"] + box["w"] - svg_x(browser, healed["t_end"])) < 1.5
    assert band.get_attribute("data-fault") == str(isolate["seq"])

    # the slash marker at the end of epoch 0, on v4's lane only
    epoch_len = history["params"]["epoch_length"]
    assert browser.find_elements(By.CSS_SELECTOR, "g.slash") == browser.find_elements(
        By.CSS_SELECTOR, "#lane-v4 g.slash"
    )
    slash = browser.find_element(By.ID, "slash-0-v4")
    assert slash.is_displayed() and "slashed -10000" in slash.text
    end_block = next(b for b in history["chains"]["v0"] if b["height"] == epoch_len)
    tri = bbox(browser, slash.find_element(By.TAG_NAME, "path"))
    assert abs(tri["x"] + tri["w"] / 2 - svg_x(browser, end_block["block"]["time_ms"] / 1000)) < 1.5
    boundary = browser.find_element(By.CSS_SELECTOR, "#epoch-0 line")
    assert abs(float(boundary.get_attribute("x1") or 0) - (tri["x"] + tri["w"] / 2)) < 1.5

    # the failing expectation and its evidence, linked to the timeline
    why = browser.find_element(By.ID, "why")
    assert "expect[0] epoch 0 slashed" in why.text and "want {v3, v4}, got {v4}" in why.text
    row = browser.find_element(By.CSS_SELECTOR, "#verdicts tr[data-verdict='fail']")
    assert row.is_displayed() and "want {v3, v4}, got {v4}" in row.text
    why.find_element(By.LINK_TEXT, "epoch 0").click()
    assert "hl" in (browser.find_element(By.ID, "epoch-0").get_attribute("class") or "")
    why.find_element(By.LINK_TEXT, "v3").click()
    assert "hl" in (browser.find_element(By.ID, "lane-v3").get_attribute("class") or "")
    assert browser.find_element(By.ID, "reproduce").text.startswith("clp-testnet run ")
    no_console_errors(browser)


def test_evidence_links_to_a_block_move_the_cursor(browser: WebDriver, failing_run: Path) -> None:
    open_report(browser, failing_run)
    link = browser.find_element(By.CSS_SELECTOR, "#verdicts a.ref[href^='#block-']")
    height = int((link.get_attribute("href") or "").rsplit("-", 1)[1])
    history = load(failing_run / "history.json")
    block = next(b for b in history["chains"]["v0"] if b["height"] == height)
    link.click()
    cursor = browser.find_element(By.CSS_SELECTOR, "#cursor line")
    assert browser.find_element(By.ID, "cursor").get_attribute("visibility") == "visible"
    expected = svg_x(browser, block["block"]["time_ms"] / 1000)
    assert abs(float(cursor.get_attribute("x1") or 0) - expected) < 1.5
    no_console_errors(browser)


def test_logs_around_the_failure(browser: WebDriver, failing_run: Path) -> None:
    """The failing expectation's "logs around" link keeps only lines near its epoch's end."""
    history = load(failing_run / "history.json")
    epoch_len = history["params"]["epoch_length"]
    end = next(b for b in history["chains"]["v0"] if b["height"] == epoch_len)
    t = end["block"]["time_ms"] / 1000
    open_report(browser, failing_run)
    rows = browser.find_elements(By.CSS_SELECTOR, "#logs tbody tr")
    browser.find_element(By.CSS_SELECTOR, "#why a.logs-around").click()
    shown = [r for r in rows if r.is_displayed()]
    assert shown and len(shown) < len(rows)
    assert all(abs(float(r.get_attribute("data-t") or 0) - t) <= 3.0 for r in shown)
    assert any(f"chain.block_committed height={epoch_len} " in r.text for r in shown)
    browser.find_element(By.LINK_TEXT, "(show all)").click()
    assert all(r.is_displayed() for r in rows[:50])
    no_console_errors(browser)


def test_log_filters_hide_a_node(browser: WebDriver, failing_run: Path) -> None:
    open_report(browser, failing_run)
    rows = browser.find_elements(By.CSS_SELECTOR, "#logs tbody tr[data-node='v0']")
    assert rows and all(r.is_displayed() for r in rows[:5])
    browser.find_element(By.CSS_SELECTOR, "input.node-filter[value='v0']").click()
    assert not any(r.is_displayed() for r in rows)
    others = browser.find_elements(By.CSS_SELECTOR, "#logs tbody tr[data-node='v1']")
    assert others[0].is_displayed()
    no_console_errors(browser)


def test_passing_run_has_no_failure_and_no_slash(browser: WebDriver, passing_run: Path) -> None:
    open_report(browser, passing_run)
    assert browser.find_element(By.ID, "status").text == "passed"
    assert not browser.find_elements(By.ID, "why")
    lanes = browser.find_elements(By.CSS_SELECTOR, "#timeline g.lane")
    assert [lane.get_attribute("data-node") for lane in lanes] == ["v0", "v1", "v2", "v3"]
    assert not browser.find_elements(By.CSS_SELECTOR, "g.slash")
    verdicts: list[Any] = browser.find_elements(By.CSS_SELECTOR, "#verdicts tbody tr")
    assert verdicts and all(v.get_attribute("data-verdict") != "fail" for v in verdicts)
    # the latency toxic on v1's links is drawn on v1's lane
    assert browser.find_elements(By.CSS_SELECTOR, "#lane-v1 rect.fault-toxic")
    no_console_errors(browser)


def test_timeline_image_renders_alone_to_png(
    browser: WebDriver, failing_run: Path, tmp_path: Path
) -> None:
    """timeline.svg beside the report is a complete picture on its own (CI pages)."""
    svg = failing_run / "timeline.svg"
    browser.get(svg.resolve().as_uri())
    lanes = browser.find_elements(By.CSS_SELECTOR, "g.lane")
    assert len(lanes) == 5
    png = Path("reports") / "timeline-example.png"
    png.parent.mkdir(exist_ok=True)
    assert browser.find_element(By.TAG_NAME, "svg").screenshot(str(png))
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    no_console_errors(browser)
