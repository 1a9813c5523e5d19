# Two stages: cgo is needed for github.com/uber/h3-go.
FROM golang:1.26-bookworm AS build
# go.mod asks for a newer patch release than the image may carry: let the go
# command fetch it rather than fail.
ENV GOTOOLCHAIN=auto
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
ARG VERSION=docker
RUN CGO_ENABLED=1 go build -trimpath -ldflags "-X main.version=${VERSION}" -o /out/catena-bridge ./cmd/catena-bridge

FROM debian:bookworm-slim
RUN apt-get update && apt-get install -y --no-install-recommends ca-certificates && rm -rf /var/lib/apt/lists/*
COPY --from=build /out/catena-bridge /usr/local/bin/catena-bridge
USER 65534:65534
# The admin endpoint (ADMIN_ADDR, default :9464): /metrics, /healthz, /readyz.
EXPOSE 9464
ENTRYPOINT ["catena-bridge"]
