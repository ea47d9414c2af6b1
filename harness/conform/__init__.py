"""``clp-testnet conform``: qualify a node implementation against the node contract.

The node under test is a command (``clp-node --config {config}``) or a Docker image. The
harness writes the documented files (genesis, key files, node configs), starts a small
testnet of that node, runs the contract checks of ``checks`` and, optionally, scenarios;
the report says what the node honours. See docs/conform.md.
"""
