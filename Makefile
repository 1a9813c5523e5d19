# catena-bridge — the targets the README and CI use.
#
#   make build       build ./bin/catena-bridge
#   make test        unit + end-to-end tests, in-process Kafka (kfake) and registry (srfake); -race
#   make test-kafka  the same end-to-end, crash and fencing tests against a real broker:
#                    starts Apache Kafka from Maven Central jars unless KAFKA_BROKERS is set
#   make bench       benchmarks (decode, validate+enrich, encode, dedup memory, end-to-end), then
#                    the CPU table of scripts/cpubench into kfake (and KAFKA_BROKERS if set)
#   make bench-cpu   the CPU table (scripts/cpubench) into kfake and a real broker, side by side
#                    with a baseline bridge: CPU µs per record per stage and of the bridge
#                    process end to end, allocations, records/s, peak RSS; starts Kafka unless
#                    KAFKA_BROKERS is set (flags in BENCH_CPU_FLAGS, e.g. -records 1000000)
#   make bench-restart  restart figure against a real broker: start to first new commit,
#                    records read back and peak RSS of a restarted backfill and live tail
#                    with 2,000,000 events already in the topic (scripts/restartbench;
#                    flags in BENCH_RESTART_FLAGS); starts Kafka unless KAFKA_BROKERS is set
#   make bench-scale the scale figure (scripts/scalebench): the simulator with 10,000 vehicles
#                    and a 25 requests/s per-client limit, the bridge under CATENA_RATE_LIMIT=25,
#                    in-process Kafka unless KAFKA_BROKERS is set; newest-point latency, requests
#                    per vehicle per hour, 429s, exactly once, peak RSS (flags in BENCH_SCALE_FLAGS)
#   make test-lake   the lake recipe (examples/lake): backfill, Spark to Parquet, DuckDB checks;
#                    starts Kafka unless KAFKA_BROKERS is set (pyspark venv and jars in .cache/lake)
#   make lint        gofmt, go mod tidy -diff, go vet, staticcheck (installed at a pinned version)

GO      ?= go
PKGS    ?= ./...
BIN     := bin/catena-bridge
VERSION ?= $(shell git describe --always --dirty 2>/dev/null || echo dev)

.PHONY: build test test-kafka bench bench-cpu bench-restart bench-scale lint demo clean

build:
	$(GO) build -ldflags "-X main.version=$(VERSION)" -o $(BIN) ./cmd/catena-bridge

# The race detector sleeps a second when each test binary exits, so that
# goroutines still running can report; every test has returned by then.
# Sixteen packages have tests: eight seconds of make test on two cores.
test:
	GORACE="atexit_sleep_ms=0 $$GORACE" $(GO) test -race -shuffle=on -count=1 -timeout 20m $(PKGS)

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

bench: build
	$(GO) test -run '^$$' -bench . -benchmem -count=1 -timeout 30m ./internal/...
	$(GO) run ./scripts/cpubench -bin $(BIN) $${KAFKA_BROKERS:+-brokers "$$KAFKA_BROKERS"} $(BENCH_CPU_FLAGS)

# The CPU figure (scripts/cpubench): a backfill of 300,000 simulated records by the
# bridge binary and by a baseline (encoding/json, h3-go, hamba Marshal, franz-go
# defaults), each a child process whose own CPU is read, into kfake and a real broker.
#   make bench-cpu KAFKA_PORT=29192 KAFKA_CONTROLLER_PORT=29193
bench-cpu: build
	@if [ -n "$$KAFKA_BROKERS" ]; then \
		$(GO) run ./scripts/cpubench -bin $(BIN) -brokers "$$KAFKA_BROKERS" $(BENCH_CPU_FLAGS); \
	else \
		trap 'scripts/kafka/kafka-down.sh' EXIT; scripts/kafka/kafka-up.sh && \
		$(GO) run ./scripts/cpubench -bin $(BIN) -brokers 127.0.0.1:$${KAFKA_PORT:-29092} $(BENCH_CPU_FLAGS); \
	fi

# staticcheck, pinned, installed once into .cache/bin by the Go toolchain.
STATICCHECK_VERSION := v0.8.2
STATICCHECK := .cache/bin/staticcheck-$(STATICCHECK_VERSION)

$(STATICCHECK):
	@mkdir -p .cache/bin
	GOBIN=$(CURDIR)/.cache/bin/tmp-staticcheck $(GO) install honnef.co/go/tools/cmd/staticcheck@$(STATICCHECK_VERSION)
	mv .cache/bin/tmp-staticcheck/staticcheck $@ && rmdir .cache/bin/tmp-staticcheck

lint: $(STATICCHECK)
	@out=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$out" ]; then echo "gofmt:"; echo "$$out"; exit 1; fi
	$(GO) mod tidy -diff
	$(GO) vet $(PKGS)
	$(STATICCHECK) $(PKGS)

demo:
	$(GO) run ./cmd/catena-bridge demo

clean:
	rm -rf bin

# The restart figure (scripts/restartbench): fills a fresh topic with 2,000,000 events
# (timestamps over the previous 24 h), SIGKILLs a backfill part-way and runs it again,
# SIGTERMs a live tail and starts it again, and prints a table. E.g.
#   make bench-restart BENCH_RESTART_FLAGS='-events 500000 -span 1h'
bench-restart: build
	@if [ -n "$$KAFKA_BROKERS" ]; then \
		$(GO) run ./scripts/restartbench -bin $(BIN) -brokers "$$KAFKA_BROKERS" $(BENCH_RESTART_FLAGS); \
	else \
		trap 'scripts/kafka/kafka-down.sh' EXIT; scripts/kafka/kafka-up.sh && \
		$(GO) run ./scripts/restartbench -bin $(BIN) -brokers 127.0.0.1:$${KAFKA_PORT:-29092} $(BENCH_RESTART_FLAGS); \
	fi

# The scale figure (scripts/scalebench): runs the bridge for 3 minutes against the
# simulator's 10,000 vehicles inside a 25 requests/s budget and prints a table. E.g.
#   make bench-scale BENCH_SCALE_FLAGS='-vehicles 100000 -fleets 100 -push -duration 5m'
bench-scale: build
	$(GO) run ./scripts/scalebench -bin $(BIN) $${KAFKA_BROKERS:+-brokers "$$KAFKA_BROKERS"} $(BENCH_SCALE_FLAGS)

# The lake example (examples/lake, issue 12): bridge backfill of 3 simulated days ->
# Spark Structured Streaming (read_committed, from_avro with the registry's schema) ->
# Parquet by event day -> DuckDB checks against the topic. Starts Kafka unless
# KAFKA_BROKERS is set; pyspark, duckdb and the connector jars go to .cache/lake
# (examples/lake/setup.sh). Flags of examples/lake/lakecheck in TEST_LAKE_FLAGS.
.PHONY: test-lake
test-lake: build
	@if [ -n "$$KAFKA_BROKERS" ]; then \
		$(GO) run ./examples/lake/lakecheck -bin $(BIN) -brokers "$$KAFKA_BROKERS" $(TEST_LAKE_FLAGS); \
	else \
		trap 'scripts/kafka/kafka-down.sh' EXIT; scripts/kafka/kafka-up.sh && \
		$(GO) run ./examples/lake/lakecheck -bin $(BIN) -brokers 127.0.0.1:$${KAFKA_PORT:-29092} $(TEST_LAKE_FLAGS); \
	fi
