# The CLP validator node: `clp-node --config /testnet/vN/node.toml`.
#
# Built by `clp-testnet images build`: the build context holds wheels made on the host
# (wheels/deps: the runtime dependencies, wheels/project: clp-testnet itself), so nothing is
# downloaded inside the build (it runs with --network none). BASE_IMAGE is any image with
# Python 3.11 and its venv module; without a registry the harness makes one with debootstrap
# (clp-testnet/debian-base:bookworm-...). The dependency layer is cached until
# pyproject.toml's dependencies change; a source edit rebuilds only the project layer.
# The packet_loss and netem fault kinds run iptables and tc in the container (as root, with
# the NET_ADMIN the Docker backend grants): the debootstrap base includes iptables and
# iproute2. A BASE_IMAGE without them still builds and runs; those two kinds then say so.
ARG BASE_IMAGE=python:3.11-slim
FROM ${BASE_IMAGE}

ENV PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PATH=/opt/clp/bin:${PATH}

COPY wheels/deps/ /tmp/deps/
# /data is the node's data volume; a new volume takes this owner and mode (any uid may write)
RUN python3 -m venv /opt/clp \
 && /opt/clp/bin/pip install --no-index --no-deps /tmp/deps/*.whl \
 && rm -rf /tmp/deps \
 && mkdir -p /data /testnet \
 && chown 10001:10001 /data \
 && chmod 1777 /data

COPY wheels/project/ /tmp/project/
RUN /opt/clp/bin/pip install --no-index --no-deps /tmp/project/*.whl \
 && /opt/clp/bin/pip check \
 && rm -rf /tmp/project

USER 10001:10001
ENTRYPOINT ["clp-node"]
ARG CONTENT_TAG=unknown
LABEL org.clp-testnet.image=node org.clp-testnet.content=${CONTENT_TAG}
