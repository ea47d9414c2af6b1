"""Human-facing output: status tables, and the run report (report.html, timeline.svg) that
explains a run in one picture. It reads a run's folder, never the runner's types: the runner
writes a report at the end of every run (JUnit XML of results is harness.scenario.junit)."""
