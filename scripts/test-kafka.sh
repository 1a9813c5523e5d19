#!/usr/bin/env bash
# Run the real-broker checks against the Kafka in KAFKA_BROKERS (make test-kafka).
#
#   1. smoke: metadata + InitProducerID, then a transactional produce and a
#      read_committed consume (scripts/kafka/wait -roundtrip);
#   2. interop: Go writes Confluent-framed Avro, Python (librdkafka + fastavro)
#      reads it back and checks key/header/partition/duplicates
#      (scripts/interop/testproduce + consume.py, plus one injected fault that
#      the checker must catch); Avro Java parses schemas/*.avsc;
#   3. the Go tests of every package whose tests read KAFKA_BROKERS (or the
#      other variables below), one package at a time (-p 1: they share one
#      broker, and a crash test stops and restarts it), with -v; a summary of
#      their --- PASS/FAIL/SKIP lines closes the output.
#
# Variables exported to the Go tests (all paths are executables that take no
# arguments, so a test can exec.Command them directly):
#   KAFKA_BROKERS      seed brokers (required here)
#   KAFKA_UP_CMD       start the broker (same data) and return once it serves
#                      metadata and InitProducerID; no-op if it is running
#   KAFKA_DOWN_CMD     controlled shutdown (SIGTERM), data kept
#   KAFKA_KILL_CMD     SIGKILL, data kept (a crash)
#   KAFKA_RESTART_CMD  down + up
#   KAFKA_SASL_SSL_BROKERS, KAFKA_SASL_SSL_USERNAME, KAFKA_SASL_SSL_PASSWORD,
#   KAFKA_SASL_SSL_CA_FILE
#                      the broker's SASL_SSL listener (SCRAM-SHA-512 over TLS),
#                      its user and password and the PEM CA of its certificate,
#                      from $KAFKA_DIR/sasl-ssl/env (scripts/kafka/kafka-up.sh).
#                      Named apart from the bridge's KAFKA_SASL_* / KAFKA_TLS_*
#                      settings, which the child processes of the other tests
#                      would otherwise inherit.
#   INTEROP_PYTHON     python of the interop venv (confluent-kafka, fastavro)
#   INTEROP_CONSUME    scripts/interop/consume.py (run it with INTEROP_PYTHON)
#   INTEROP_AVRO_JAVA  scripts/interop/avro-java.sh (Avro Java schema check)
# The KAFKA_*_CMD and KAFKA_SASL_SSL_* ones are set only when KAFKA_BROKERS is the broker that
# scripts/kafka/kafka-up.sh runs here (a crash test must skip without them);
# values already in the environment are kept.
#
# Env to steer it: TEST_KAFKA_PKGS (packages, default: found as above),
# TEST_KAFKA_RUN (go test -run pattern), TEST_KAFKA_TIMEOUT (30m),
# TEST_KAFKA_INTEROP=0 (skip steps 1-2), TEST_KAFKA_REQUIRE_TESTS=1 (fail when
# no Go test passed against the broker).
set -euo pipefail
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$HERE/.." && pwd)
cd "$ROOT"

: "${KAFKA_BROKERS:?set KAFKA_BROKERS, or use make test-kafka, which starts a broker}"
export KAFKA_BROKERS
say() { printf '\n=== test-kafka: %s\n' "$*"; }

# Restart commands only for our own broker (pid file alive, same port).
KDIR=${KAFKA_DIR:-${KAFKA_CACHE:-$ROOT/.cache/kafka}/run}
if [ "$KAFKA_BROKERS" = "127.0.0.1:${KAFKA_PORT:-29092}" ] && [ -f "$KDIR/kafka.pid" ] &&
  kill -0 "$(cat "$KDIR/kafka.pid")" 2>/dev/null; then
  export KAFKA_UP_CMD=${KAFKA_UP_CMD:-$HERE/kafka/kafka-up.sh}
  export KAFKA_DOWN_CMD=${KAFKA_DOWN_CMD:-$HERE/kafka/kafka-down.sh}
  export KAFKA_KILL_CMD=${KAFKA_KILL_CMD:-$HERE/kafka/kafka-kill.sh}
  export KAFKA_RESTART_CMD=${KAFKA_RESTART_CMD:-$HERE/kafka/kafka-restart.sh}
  if [ -f "$KDIR/sasl-ssl/env" ]; then
    while IFS='=' read -r k v; do
      [ -n "${!k:-}" ] || export "$k=$v"
    done <"$KDIR/sasl-ssl/env"
  fi
fi
if [ -z "${INTEROP_PYTHON:-}" ]; then
  INTEROP_PYTHON=$("$HERE/interop/setup-python.sh")
fi
export INTEROP_PYTHON
export INTEROP_CONSUME=${INTEROP_CONSUME:-$HERE/interop/consume.py}
export INTEROP_AVRO_JAVA=${INTEROP_AVRO_JAVA:-$HERE/interop/avro-java.sh}
say "KAFKA_BROKERS=$KAFKA_BROKERS KAFKA_UP_CMD=${KAFKA_UP_CMD:-<unset>} KAFKA_DOWN_CMD=${KAFKA_DOWN_CMD:-<unset>} KAFKA_KILL_CMD=${KAFKA_KILL_CMD:-<unset>} KAFKA_SASL_SSL_BROKERS=${KAFKA_SASL_SSL_BROKERS:-<unset>} INTEROP_PYTHON=$INTEROP_PYTHON"

if [ "${TEST_KAFKA_INTEROP:-1}" != 0 ]; then
  say "smoke: transactional roundtrip (scripts/kafka/wait -roundtrip)"
  go run ./scripts/kafka/wait -brokers "$KAFKA_BROKERS" -timeout 120s -roundtrip

  say "interop: Go producer -> Python consume.py (scripts/interop/testproduce)"
  go build -o "$ROOT/.cache/bin/testproduce" ./scripts/interop/testproduce
  "$ROOT/.cache/bin/testproduce" -brokers "$KAFKA_BROKERS" -python "$INTEROP_PYTHON"
  say "interop: consume.py must catch a misrouted record (-fault partition)"
  "$ROOT/.cache/bin/testproduce" -brokers "$KAFKA_BROKERS" -python "$INTEROP_PYTHON" -fault partition

  say "interop: Avro Java parses schemas/*.avsc"
  "$INTEROP_AVRO_JAVA"
fi

if [ -n "${TEST_KAFKA_PKGS:-}" ]; then
  read -r -a pkgs <<<"$TEST_KAFKA_PKGS"
else
  # Packages whose tests read one of the variables above.
  mapfile -t pkgs < <(go list -f '{{.ImportPath}} {{.Dir}} {{join .TestGoFiles " "}} {{join .XTestGoFiles " "}}' ./... |
    while read -r pkg dir files; do
      [ -n "$files" ] || continue
      (cd "$dir" && grep -lqE 'KAFKA_BROKERS|KAFKA_(UP|DOWN|KILL|RESTART)_CMD|KAFKA_SASL_SSL_BROKERS|INTEROP_(PYTHON|CONSUME|AVRO_JAVA)' $files 2>/dev/null) && echo "$pkg"
    done)
fi
if [ ${#pkgs[@]} -eq 0 ]; then
  say "no Go package has tests that read KAFKA_BROKERS: no Go test ran against the broker"
  [ "${TEST_KAFKA_REQUIRE_TESTS:-0}" = 1 ] && exit 1
  exit 0
fi

say "go test against $KAFKA_BROKERS: ${pkgs[*]}"
mkdir -p "$ROOT/.cache"
LOG="$ROOT/.cache/test-kafka.log"
set +e
go test -count=1 -p 1 -v -timeout "${TEST_KAFKA_TIMEOUT:-30m}" ${TEST_KAFKA_RUN:+-run "$TEST_KAFKA_RUN"} "${pkgs[@]}" 2>&1 | tee "$LOG"
rc=${PIPESTATUS[0]}
set -e

say "real-broker Go tests (from $LOG)"
grep -E '^[[:space:]]*--- (PASS|FAIL|SKIP)' "$LOG" || echo "(no --- PASS/FAIL/SKIP lines)"
pass=$(grep -cE '^[[:space:]]*--- PASS' "$LOG" || true)
fail=$(grep -cE '^[[:space:]]*--- FAIL' "$LOG" || true)
skip=$(grep -cE '^[[:space:]]*--- SKIP' "$LOG" || true)
echo "test-kafka: $pass passed, $fail failed, $skip skipped"
if [ "$rc" -ne 0 ]; then exit "$rc"; fi
if [ "$pass" -eq 0 ] && [ "${TEST_KAFKA_REQUIRE_TESTS:-0}" = 1 ]; then
  echo "test-kafka: no Go test passed against the broker" >&2
  exit 1
fi
