"""Reference validator node for the Continuous Liveness Proof (see CLP_SPEC.md)."""

__version__ = "0.1.0"
