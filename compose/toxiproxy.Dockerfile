# The project's Toxiproxy-API-compatible server, for machines without the official image
# (ghcr.io/shopify/toxiproxy). It takes the official server's flags, so one compose command
# line fits both: `-host=0.0.0.0 -port=8474 -config=/testnet/toxiproxy.json`.
#
# Built by `clp-testnet images build` from host-built wheels, like node.Dockerfile; the
# steps up to USER are the same, so the two images share those layers.
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
ENTRYPOINT ["python3", "-m", "harness.toxiproxy"]
CMD ["-host=0.0.0.0", "-port=8474", "-proxy-metrics"]
ARG CONTENT_TAG=unknown
LABEL org.clp-testnet.image=toxiproxy org.clp-testnet.content=${CONTENT_TAG}
