"""Human-facing output: status tables and verdicts."""
