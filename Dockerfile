# syntax=docker/dockerfile:1
#
# zoneproxy's container image: a static Go binary on Alpine, run as a non-root user.
#
#   docker build --build-arg VERSION="$(git describe --always --dirty)" -t zoneproxy .
#   docker run --rm -p 9080:9080 -p 7085:7085 -p 9091:9091 \
#     -e APISIX_DEPLOYMENT_ETCD_HOST='["https://dp-manager.az-a.internal:7943"]' \
#     -v "$PWD/certs:/usr/local/apisix/conf/ssl:ro" zoneproxy
#
# config.yaml is read from /usr/local/apisix/conf/config.yaml, the path of APISIX's images; the image
# ships deploy/config.yaml there. Give `docker stop -t 40` (or compose's stop_grace_period): the drain
# takes zoneproxy.drain_delay + up to zoneproxy.shutdown_timeout (5 s + 30 s). See deploy/README.md.

ARG GO_VERSION=1.26
ARG ALPINE_VERSION=3.22

FROM --platform=$BUILDPLATFORM golang:${GO_VERSION}-alpine AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN --mount=type=cache,target=/go/pkg/mod go mod download
COPY . .
ARG TARGETOS
ARG TARGETARCH
ARG VERSION=dev
RUN --mount=type=cache,target=/go/pkg/mod --mount=type=cache,target=/root/.cache/go-build \
    CGO_ENABLED=0 GOOS=$TARGETOS GOARCH=$TARGETARCH \
    go build -trimpath -ldflags "-s -w -X main.version=${VERSION}" -o /out/zoneproxy ./cmd/zoneproxy

# Alpine rather than a distroless base, only for the HEALTHCHECK: zoneproxy has no probe mode of its
# own and distroless has no HTTP client, while Alpine's busybox wget is already there (no package
# added). Kubernetes ignores HEALTHCHECK and uses the probes of deploy/kubernetes/ instead.
FROM alpine:${ALPINE_VERSION}
# uid/gid 636, as the apisix user of APISIX's images, so that mounted files need the same ownership.
RUN addgroup -S -g 636 apisix \
    && adduser -S -D -H -u 636 -G apisix -h /usr/local/apisix -s /sbin/nologin apisix \
    && mkdir -p /usr/local/apisix/conf/ssl /usr/local/apisix/data \
    && chown apisix:apisix /usr/local/apisix/data
COPY --from=build /out/zoneproxy /usr/local/bin/zoneproxy
COPY deploy/config.yaml /usr/local/apisix/conf/config.yaml
WORKDIR /usr/local/apisix
USER 636:636
# proxy (apisix.node_listen), status (apisix.status), metrics (plugin_attr.prometheus.export_addr)
EXPOSE 9080 7085 9091
# zoneproxy.data_dir: the last applied configuration, served at start when no DP Manager answers.
VOLUME ["/usr/local/apisix/data"]
# Liveness only: /status/ready is for load balancers, which must see it 503 while draining.
HEALTHCHECK --interval=10s --timeout=3s --start-period=5s --retries=3 \
    CMD ["wget", "-q", "-T", "2", "-O", "/dev/null", "http://127.0.0.1:7085/status"]
STOPSIGNAL SIGTERM
ENTRYPOINT ["/usr/local/bin/zoneproxy"]
CMD ["-c", "/usr/local/apisix/conf/config.yaml"]
