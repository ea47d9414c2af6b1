"""JUnit XML of scenario runs, for CI pages: a suite per run, a case per check and expectation.

Every failing case carries the reproduce command and the path of the run's report.html, so
a red line in CI leads straight to the picture and to the command that replays it.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections.abc import Iterable
from pathlib import Path

from harness.scenario.results import ScenarioResult


def _where(r: ScenarioResult) -> str:
    report = Path(r.out_dir) / "report.html" if r.out_dir else None
    return f"reproduce: {r.reproduce}" + (f"\nreport: {report}" if report else "")


def junit_xml(results: Iterable[ScenarioResult]) -> str:
    root = ET.Element("testsuites", name="clp-testnet")
    for r in results:
        suite = ET.SubElement(
            root, "testsuite", name=r.scenario, time=f"{r.duration_s:.3f}", file=r.file
        )
        props = ET.SubElement(suite, "properties")
        for k, v in (("seed", str(r.seed)), ("backend", r.backend), ("reproduce", r.reproduce)):
            ET.SubElement(props, "property", name=k, value=v)
        if r.out_dir:
            ET.SubElement(
                props, "property", name="report", value=str(Path(r.out_dir) / "report.html")
            )
        cases = failures = errors = 0
        if r.error:
            case = ET.SubElement(suite, "testcase", classname=r.scenario, name="harness")
            ET.SubElement(case, "error", message=r.error).text = _where(r)
            cases, errors = cases + 1, errors + 1
        for c in r.checks:
            case = ET.SubElement(suite, "testcase", classname=r.scenario, name=f"check {c.name}")
            cases += 1
            if c.verdict == "fail":
                failures += 1
                text = "\n".join(c.evidence) + "\n" + _where(r)
                ET.SubElement(case, "failure", message="; ".join(c.evidence)[:500]).text = text
            elif c.verdict == "unknown":
                ET.SubElement(case, "skipped", message="; ".join(c.evidence)[:500])
        for e in r.expectations:
            case = ET.SubElement(suite, "testcase", classname=r.scenario, name=e.what)
            cases += 1
            if not e.passed:
                failures += 1
                ET.SubElement(case, "failure", message=e.detail).text = e.detail + "\n" + _where(r)
        suite.set("tests", str(cases))
        suite.set("failures", str(failures))
        suite.set("errors", str(errors))
    ET.indent(root)
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(root, encoding="unicode") + "\n"
