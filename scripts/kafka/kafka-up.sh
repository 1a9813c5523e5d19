#!/usr/bin/env bash
# Start a single-node KRaft Apache Kafka (combined broker+controller) on
# 127.0.0.1 from Maven Central jars, with Java 17 and no Docker.
#
#   scripts/kafka/kafka-up.sh             # fetch jars (first run), format (first run), start, wait
#   scripts/kafka/kafka-down.sh [--wipe]  # SIGTERM (controlled shutdown); --wipe deletes the data
#   scripts/kafka/kafka-down.sh --kill    # SIGKILL, as in a crash; data is kept
#   scripts/kafka/kafka-restart.sh [--kill]
#
# Idempotent: if the broker is already running this only waits until it is
# ready. The jars are fetched once with mvn (pom.xml beside this script) into
# $KAFKA_LIBS; the data survives restarts until kafka-down.sh --wipe.
#
# Ready means: the broker answers a metadata request AND an InitProducerID for
# a transactional id succeeds (the transaction coordinator is loaded), checked
# by the Go program in ./wait (built once into $KAFKA_CACHE/bin).
#
# Env (defaults in brackets):
#   KAFKA_PORT [29092]             PLAINTEXT listener on 127.0.0.1
#   KAFKA_CONTROLLER_PORT [29093]  KRaft controller listener on 127.0.0.1
#   KAFKA_CACHE [<repo>/.cache/kafka]
#   KAFKA_LIBS [$KAFKA_CACHE/libs] KAFKA_DIR [$KAFKA_CACHE/run] (data, logs, pid)
#   KAFKA_HEAP_OPTS [-Xms512m -Xmx512m]
#   KAFKA_READY_TIMEOUT [120] seconds
#   KAFKA_AUTO_CREATE_TOPICS [false]
#   KAFKA_CLUSTER_ID [random]      only used when formatting
set -euo pipefail
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
CACHE=${KAFKA_CACHE:-$ROOT/.cache/kafka}
LIBS=${KAFKA_LIBS:-$CACHE/libs}
KDIR=${KAFKA_DIR:-$CACHE/run}
PORT=${KAFKA_PORT:-29092}
CPORT=${KAFKA_CONTROLLER_PORT:-29093}
HEAP=${KAFKA_HEAP_OPTS:--Xms512m -Xmx512m}
TIMEOUT=${KAFKA_READY_TIMEOUT:-120}
AUTO_CREATE=${KAFKA_AUTO_CREATE_TOPICS:-false}
CP="$LIBS/*" # quoted on use: java expands the wildcard, not the shell
WAIT_BIN="$CACHE/bin/kafka-wait"

log() { echo "kafka-up: $*" >&2; }
start=$SECONDS

# --- jars: fetched once; a stamp file marks a complete download ----------------
# mvn writes into a temporary folder that is renamed at the end, so an
# interrupted download is never mistaken for a complete one.
STAMP="$LIBS/.complete-$(sha256sum "$HERE/pom.xml" | cut -c1-16)"
if [ ! -f "$STAMP" ]; then
  command -v mvn >/dev/null || { log "mvn not found (apt-get install maven)"; exit 1; }
  log "fetching Kafka jars into $LIBS (first run)"
  tmp="$LIBS.tmp.$$"
  rm -rf "$tmp"
  mkdir -p "$(dirname "$LIBS")"
  mvn -B -q -f "$HERE/pom.xml" dependency:copy-dependencies \
    -DincludeScope=runtime -DoutputDirectory="$tmp" >&2
  ls "$tmp"/kafka_2.13-*.jar >/dev/null
  touch "$tmp/$(basename "$STAMP")"
  rm -rf "$LIBS"
  mv "$tmp" "$LIBS"
  log "jars fetched in $((SECONDS - start))s"
fi

# --- readiness checker: built once with the repository's go.mod -----------------
WAIT_SRC_SUM=$(cat "$HERE/wait/"*.go "$ROOT/go.sum" | sha256sum | cut -c1-16)
if [ ! -x "$WAIT_BIN" ] || [ "$(cat "$WAIT_BIN.sum" 2>/dev/null)" != "$WAIT_SRC_SUM" ]; then
  mkdir -p "$(dirname "$WAIT_BIN")"
  (cd "$ROOT" && go build -o "$WAIT_BIN" ./scripts/kafka/wait)
  echo "$WAIT_SRC_SUM" >"$WAIT_BIN.sum"
fi

running_pid() {
  local pid
  [ -f "$KDIR/kafka.pid" ] || return 1
  pid=$(cat "$KDIR/kafka.pid")
  # A stale pid file may name a recycled pid: only a kafka.Kafka java counts.
  kill -0 "$pid" 2>/dev/null && [[ "$(tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null)" == *kafka.Kafka* ]] || return 1
  echo "$pid"
}

if PID=$(running_pid); then
  log "already running (pid $PID)"
else
  # Another process on our ports (another broker, a second checkout) would
  # answer the readiness probe in our broker's place.
  for p in "$PORT" "$CPORT"; do
    if (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null; then
      log "port $p on 127.0.0.1 is already in use by another process; set KAFKA_PORT / KAFKA_CONTROLLER_PORT"
      exit 1
    fi
  done
  mkdir -p "$KDIR/data" "$KDIR/logs"
  cat >"$KDIR/server.properties" <<EOF
# Written by scripts/kafka/kafka-up.sh on every start; edit the script, not this.
# --- KRaft combined mode, one node ----------------------------------------------
process.roles=broker,controller
node.id=1
# Dynamic quorum (KIP-853), paired with "format --standalone" below.
controller.quorum.bootstrap.servers=127.0.0.1:$CPORT
listeners=PLAINTEXT://127.0.0.1:$PORT,CONTROLLER://127.0.0.1:$CPORT
advertised.listeners=PLAINTEXT://127.0.0.1:$PORT,CONTROLLER://127.0.0.1:$CPORT
controller.listener.names=CONTROLLER
inter.broker.listener.name=PLAINTEXT
listener.security.protocol.map=CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT
log.dirs=$KDIR/data

# --- one broker: every replication factor and ISR minimum must be 1 ------------
# (transactions hang without the transaction.state.log ones)
default.replication.factor=1
min.insync.replicas=1
offsets.topic.replication.factor=1
transaction.state.log.replication.factor=1
transaction.state.log.min.isr=1
share.coordinator.state.topic.replication.factor=1
share.coordinator.state.topic.min.isr=1

# --- test speed -------------------------------------------------------------------
# Internal topics default to 50 partitions each; 3 makes the first group join
# and the first InitProducerID fast.
offsets.topic.num.partitions=3
transaction.state.log.num.partitions=3
share.coordinator.state.topic.num.partitions=3
# Classic groups otherwise wait 3 s before the first rebalance (kfake never waits).
group.initial.rebalance.delay.ms=0
# After a SIGKILL the restarted broker cannot register until the controller
# fences its old incarnation, one session timeout later (default 9 s); crash
# tests restart often. Broker and controller share this JVM, so a short
# heartbeat is cheap and a missed one means a real stall.
broker.heartbeat.interval.ms=1000
broker.session.timeout.ms=4000
# Tests and the bridge create their topics explicitly (KAFKA_AUTO_CREATE_TOPICS).
auto.create.topics.enable=$AUTO_CREATE
num.partitions=3

# --- small box (2 cores, 512 MiB heap) ----------------------------------------------
num.network.threads=2
num.io.threads=4
background.threads=4
num.recovery.threads.per.data.dir=1
# The log cleaner allocates this from the heap (default 128 MiB).
log.cleaner.dedupe.buffer.size=33554432
EOF

  if [ ! -f "$KDIR/data/meta.properties" ]; then
    CLUSTER_ID=${KAFKA_CLUSTER_ID:-$(java -cp "$CP" kafka.tools.StorageTool random-uuid)}
    log "formatting $KDIR/data (cluster $CLUSTER_ID)"
    java -cp "$CP" -Dlog4j2.configurationFile="$HERE/log4j2.properties" \
      kafka.tools.StorageTool format --standalone -t "$CLUSTER_ID" -c "$KDIR/server.properties" >&2
  fi

  # Keep the previous run's output for post-mortems (crash tests restart often).
  [ -f "$KDIR/logs/kafka.out" ] && mv -f "$KDIR/logs/kafka.out" "$KDIR/logs/kafka.out.1"

  # JVM flags: Kafka's own defaults (kafka-run-class.sh) with a small heap.
  # setsid: the broker must not die with the shell or test process group that
  # started it (a Go test may run this script and then exit).
  # shellcheck disable=SC2086
  setsid nohup java $HEAP -server -XX:+UseG1GC -XX:MaxGCPauseMillis=20 \
    -XX:InitiatingHeapOccupancyPercent=35 -XX:+ExplicitGCInvokesConcurrent \
    -XX:MaxInlineLevel=15 -Djava.awt.headless=true \
    -Dlog4j2.configurationFile="${KAFKA_LOG4J:-$HERE/log4j2.properties}" -Dkafka.logs.dir="$KDIR/logs" \
    -cp "$CP" kafka.Kafka "$KDIR/server.properties" \
    >"$KDIR/logs/kafka.out" 2>&1 </dev/null &
  PID=$!
  echo "$PID" >"$KDIR/kafka.pid"
  log "started pid $PID, log $KDIR/logs/kafka.out"
fi

# --- wait: metadata + transactional InitProducerID, while the JVM is alive -------
# The cluster id pins the probe to the cluster formatted in $KDIR.
CLUSTER_ID=$(sed -n 's/^cluster\.id=//p' "$KDIR/data/meta.properties")
"$WAIT_BIN" -brokers "127.0.0.1:$PORT" -timeout "${TIMEOUT}s" -cluster-id "$CLUSTER_ID" &
WPID=$!
while kill -0 "$WPID" 2>/dev/null; do
  if ! kill -0 "$PID" 2>/dev/null; then
    kill "$WPID" 2>/dev/null || true
    log "kafka exited during startup:"; tail -n 50 "$KDIR/logs/kafka.out" >&2; exit 1
  fi
  sleep 0.2
done
if ! wait "$WPID"; then
  log "kafka not ready after ${TIMEOUT}s:"; tail -n 50 "$KDIR/logs/kafka.out" >&2; exit 1
fi
if ! kill -0 "$PID" 2>/dev/null; then
  log "kafka (pid $PID) exited:"; tail -n 50 "$KDIR/logs/kafka.out" >&2; exit 1
fi
log "ready on 127.0.0.1:$PORT (pid $PID) after $((SECONDS - start))s"
