# The official Toxiproxy server from a binary given on the host (TOXIPROXY_SERVER, or
# toxiproxy-server on PATH): built by `clp-testnet images build` when no official image can
# be pulled. The binary is static, so any base runs it; the build context holds only it.
ARG BASE_IMAGE=python:3.11-slim
FROM ${BASE_IMAGE}
COPY toxiproxy-server /usr/local/bin/toxiproxy-server
USER 10001:10001
ENTRYPOINT ["/usr/local/bin/toxiproxy-server"]
CMD ["-host=0.0.0.0", "-port=8474", "-proxy-metrics"]
ARG CONTENT_TAG=unknown
LABEL org.clp-testnet.image=toxiproxy org.clp-testnet.content=${CONTENT_TAG}
