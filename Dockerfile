# syntax=docker/dockerfile:1
#
# bottleneck's scoring service as a container image: one static binary
# (pure Go, no cgo) on distroless static, running as an unprivileged user.
#
#   docker build -t bottleneck .
#   docker run -d --name scoring -p 127.0.0.1:8080:8080 -v "$PWD/models:/models:ro" bottleneck
#   curl -s localhost:8080/readyz
#
# The model is /models/model.safetensors: mount its folder (a mounted file
# would keep the old one when a new one is renamed over it), and after
# replacing it, reload: docker kill -s HUP scoring.
# Settings come from BOTTLENECK_* environment variables (every flag of
# `bottleneck serve --help`): docker run -e BOTTLENECK_MAX_ROWS=1000 ….
# The image has no shell and no curl; its health check is the binary's own
# `bottleneck healthcheck`, which asks GET /healthz at BOTTLENECK_ADDR.

ARG GO_VERSION=1.26

FROM --platform=$BUILDPLATFORM golang:${GO_VERSION} AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN --mount=type=cache,target=/go/pkg/mod go mod download
COPY . .
ARG TARGETOS=linux
ARG TARGETARCH
RUN --mount=type=cache,target=/go/pkg/mod --mount=type=cache,target=/root/.cache/go-build \
    CGO_ENABLED=0 GOOS=$TARGETOS GOARCH=$TARGETARCH \
    go build -trimpath -ldflags='-s -w' -o /out/bottleneck ./cmd/bottleneck

FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /out/bottleneck /bottleneck
COPY --from=build /src/LICENSE /LICENSE
# in a container the service listens on all of its interfaces; publish the
# port on the host's loopback (-p 127.0.0.1:8080:8080) or put TLS
# (BOTTLENECK_TLS_CERT, BOTTLENECK_TLS_KEY) and a token
# (BOTTLENECK_TOKEN_FILE) in front of anything wider
# the scoring API alone: the web page and the image endpoints spend CPU
# on pictures (-e BOTTLENECK_NO_UI=false serves them too)
ENV BOTTLENECK_ADDR=0.0.0.0:8080 \
    BOTTLENECK_MODEL=/models/model.safetensors \
    BOTTLENECK_LOG_FORMAT=json \
    BOTTLENECK_NO_UI=true
EXPOSE 8080
# distroless's nonroot user (uid 65532); numeric, so that runtimes that
# refuse root can check it
USER 65532:65532
HEALTHCHECK --interval=30s --timeout=5s --start-period=10s --retries=3 \
    CMD ["/bottleneck", "healthcheck", "--timeout", "4s"]
STOPSIGNAL SIGTERM
ENTRYPOINT ["/bottleneck"]
CMD ["serve"]
