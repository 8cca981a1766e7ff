# syntax=docker/dockerfile:1
#
# callstream's container image: a static binary on an empty base, with CA
# certificates, a non-root user and no shell.
#
#   docker build --build-arg VERSION="$(git describe --tags --always)" \
#     --build-arg COMMIT="$(git rev-parse HEAD)" --build-arg BUILD_DATE="$(date -u +%Y-%m-%dT%H:%M:%SZ)" -t callstream .
#
# (make image passes all three.) The build context has no .git, so the
# binary's build info cannot carry the commit: COMMIT and BUILD_DATE stamp
# it instead, shown by `callstream version`.
#
# The build stage's go build line is run as is by deploy/dockerfile_test.go;
# keep it on one line.

ARG GO_VERSION=1.26

FROM golang:${GO_VERSION}-bookworm AS build
WORKDIR /src
# Modules first, so that a source change reuses the download layer.
COPY go.mod go.sum ./
RUN go mod download
COPY . .
ARG VERSION=dev
ARG COMMIT=unknown
ARG BUILD_DATE=unknown
RUN CGO_ENABLED=0 go build -trimpath -buildvcs=false -ldflags="-s -w -X main.version=${VERSION} -X main.commit=${COMMIT} -X main.date=${BUILD_DATE}" -o /out/callstream ./cmd/callstream
# The final stage cannot run commands (it has no shell): lay out its files here.
RUN mkdir -p /out/etc /out/state \
 && echo 'callstream:x:65532:65532:callstream:/var/lib/callstream:/sbin/nologin' >/out/etc/passwd \
 && echo 'callstream:x:65532:' >/out/etc/group

FROM scratch
ARG VERSION=dev
ARG COMMIT=unknown
ARG BUILD_DATE=unknown
LABEL org.opencontainers.image.title="callstream" \
      org.opencontainers.image.revision="${COMMIT}" \
      org.opencontainers.image.created="${BUILD_DATE}" \
      org.opencontainers.image.description="Streams Microsoft Teams call logs from Microsoft Graph into Kafka" \
      org.opencontainers.image.version="${VERSION}"
COPY --from=build /etc/ssl/certs/ca-certificates.crt /etc/ssl/certs/ca-certificates.crt
COPY --from=build /out/etc/passwd /out/etc/group /etc/
COPY --from=build --chown=65532:65532 /out/state /var/lib/callstream
COPY --from=build /out/callstream /callstream
USER 65532:65532
# Container defaults: serve metrics and health, keep the checkpoint on the
# volume, log JSON.
ENV METRICS_ADDR=:8080 \
    CHECKPOINT_PATH=/var/lib/callstream/checkpoint.json \
    LOG_FORMAT=json
EXPOSE 8080
ENTRYPOINT ["/callstream"]
CMD ["run"]
