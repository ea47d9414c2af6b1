"""The node contract's REST endpoints and Prometheus metrics (CLP_SPEC §9)."""
