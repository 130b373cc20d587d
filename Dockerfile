# The bootstrap image for people who have Docker. It must stay equivalent, by hand, to
# images/build (the build this repository uses, which needs no Docker): the same binary
# at /tracebloc-bootstrap, the CA bundle at /etc/ssl/certs/ca-certificates.crt,
# /etc/passwd and /etc/group with nonroot 65532, /tmp, user 65532:65532, the same labels.
# It cannot be built on the project's machines (no Docker engine, no registry access).
#
# Both base images are named by tag only, unpinned: the project cannot resolve their
# digests from its machines, and writes no digest it does not know. Pin them when you
# build, with digests you looked up (docker buildx imagetools inspect <image>, or
# crane digest <image>):
#   docker build \
#     --build-arg GO_IMAGE=golang:1.26.8-bookworm@sha256:<64 hex> \
#     --build-arg BASE_IMAGE=gcr.io/distroless/static:nonroot@sha256:<64 hex> .
ARG GO_IMAGE=golang:1.26.8-bookworm
ARG BASE_IMAGE=gcr.io/distroless/static:nonroot

FROM ${GO_IMAGE} AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
ARG VERSION=dev
RUN CGO_ENABLED=0 go build -trimpath \
      -ldflags "-s -w -X github.com/tracebloc/edge/internal/version.Version=${VERSION}" \
      -o /out/tracebloc-bootstrap ./bootstrap

# distroless/static:nonroot brings the CA bundle, /etc/passwd and /etc/group with
# nonroot 65532, /tmp, and SSL_CERT_FILE; images/build writes the same.
FROM ${BASE_IMAGE}
ARG VERSION=dev
LABEL org.opencontainers.image.source="https://github.com/tracebloc/edge" \
      org.opencontainers.image.version="${VERSION}"
COPY --from=build /out/tracebloc-bootstrap /tracebloc-bootstrap
USER 65532:65532
WORKDIR /home/nonroot
ENTRYPOINT ["/tracebloc-bootstrap"]
