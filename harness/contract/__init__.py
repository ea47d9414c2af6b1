"""The node contract as the harness reads it (docs/protocol.md): written from the spec.

Parameters and their rules, the byte formats (challenge value, response digest, block
hash, vote sign bytes), Ed25519 keys and the files a node is started with, each file
checked against its JSON Schema. Nothing here imports the node: the harness and a node
are two implementations of one document, and the harness must catch the node's bugs.
"""
