# catena-bridge — the targets the README and CI use.
#
#   make build       build ./bin/catena-bridge
#   make test        unit + end-to-end tests, in-process Kafka (kfake) and registry (srfake); -race
#   make test-kafka  the same end-to-end, crash and fencing tests against a real broker:
#                    starts Apache Kafka from Maven Central jars unless KAFKA_BROKERS is set
#   make bench       benchmarks (decode, validate+enrich, encode, dedup memory, end-to-end)
#   make lint        gofmt + go vet

GO      ?= go
PKGS    ?= ./...
BIN     := bin/catena-bridge
VERSION ?= $(shell git describe --always --dirty 2>/dev/null || echo dev)

.PHONY: build test test-kafka bench lint demo clean

build:
	$(GO) build -ldflags "-X main.version=$(VERSION)" -o $(BIN) ./cmd/catena-bridge

test:
	$(GO) test -race -count=1 -timeout 20m $(PKGS)

# With KAFKA_BROKERS set (e.g. Redpanda from docker compose: localhost:19092), the
# tests run against it; otherwise scripts/kafka starts a local Apache Kafka 4.4 (needs
# Java 17 + Maven) and stops it afterwards.
test-kafka: build
	@if [ -n "$$KAFKA_BROKERS" ]; then \
		scripts/test-kafka.sh; \
	else \
		trap 'scripts/kafka/kafka-down.sh' EXIT; scripts/kafka/kafka-up.sh && \
		KAFKA_BROKERS=127.0.0.1:$${KAFKA_PORT:-29092} \
		KAFKA_UP_CMD=$(CURDIR)/scripts/kafka/kafka-up.sh KAFKA_DOWN_CMD=$(CURDIR)/scripts/kafka/kafka-down.sh \
		scripts/test-kafka.sh; \
	fi

bench:
	$(GO) test -run '^$$' -bench . -benchmem -count=1 -timeout 30m ./internal/...

lint:
	@out=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$out" ]; then echo "gofmt:"; echo "$$out"; exit 1; fi
	$(GO) vet $(PKGS)

demo:
	$(GO) run ./cmd/catena-bridge demo

clean:
	rm -rf bin
