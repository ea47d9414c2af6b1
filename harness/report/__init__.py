"""Human-facing output: status tables, and the run report (report.html, timeline.svg,
JUnit XML) that explains a run in one picture."""
