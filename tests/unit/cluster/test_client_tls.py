"""Clients of plain-http testnet APIs skip the CA store; an https URL is still verified."""

from __future__ import annotations

from harness.cluster.client import tls_verify


def test_only_https_urls_load_certificates() -> None:
    assert tls_verify("https://node.example:443") and tls_verify("HTTPS://n")
    assert not tls_verify("http://127.0.0.1:8080") and not tls_verify("http://toxiproxy:8474")
