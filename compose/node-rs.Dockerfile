# The Rust CLP validator node (rust/, docs/rust-node.md): `clp-node --config /testnet/vN/node.toml`.
#
# Built by `clp-testnet images build --node rust` from the release binary made on the host
# (`make rust`): the build context holds only that binary, so nothing is downloaded. Any
# glibc base as new as the host's runs it; without a registry that is the debootstrap base
# the Python node's image uses. `clp-node` on PATH is the contract's name for the node
# (docs/protocol.md §10), so backends start this image exactly like the Python one.
ARG BASE_IMAGE=python:3.11-slim
FROM ${BASE_IMAGE}
COPY clp-node-rs /usr/local/bin/clp-node-rs
# /data is the node's data volume; a new volume takes this owner and mode (any uid may write)
RUN ln -s clp-node-rs /usr/local/bin/clp-node \
 && mkdir -p /data /testnet \
 && chown 10001:10001 /data \
 && chmod 1777 /data
USER 10001:10001
ENTRYPOINT ["clp-node"]
ARG CONTENT_TAG=unknown
LABEL org.clp-testnet.image=node-rs org.clp-testnet.content=${CONTENT_TAG}
