"""Clusters of validators: generating a testnet and running it on a backend."""
