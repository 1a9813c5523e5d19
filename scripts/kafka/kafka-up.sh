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
# Secured listener: besides PLAINTEXT (what most tests use) the broker listens
# on KAFKA_SASL_SSL_PORT with SASL_SSL, SCRAM-SHA-512 over TLS. On the first
# start after a wipe this script makes, under $KAFKA_DIR/sasl-ssl, a CA
# (ca.pem), the broker's key and certificate signed by it (SAN 127.0.0.1,
# localhost) in a PKCS12 keystore, and a random password for the SCRAM user;
# the wait program creates the user (AlterUserSCRAMs over PLAINTEXT, idempotent)
# and checks that it can authenticate over TLS. What clients need is written to
# $KAFKA_DIR/sasl-ssl/env (KAFKA_SASL_SSL_BROKERS, _USERNAME, _PASSWORD,
# _CA_FILE), which scripts/test-kafka.sh exports to the tests.
#
# Ready means: the broker answers a metadata request AND an InitProducerID for
# a transactional id succeeds (the transaction coordinator is loaded), checked
# by the Go program in ./wait (built once into $KAFKA_CACHE/bin).
#
# Env (defaults in brackets):
#   KAFKA_PORT [29092]             PLAINTEXT listener on 127.0.0.1
#   KAFKA_CONTROLLER_PORT [29093]  KRaft controller listener on 127.0.0.1
#   KAFKA_SASL_SSL_PORT [KAFKA_PORT+2, so 29094]  SASL_SSL listener on 127.0.0.1:
#                                  SCRAM-SHA-512 over TLS (see "secured listener")
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
SPORT=${KAFKA_SASL_SSL_PORT:-$((PORT + 2))}
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

# --- TLS material and SCRAM credentials for the SASL_SSL listener -----------------
TLS_DIR="$KDIR/sasl-ssl"
SCRAM_USER=catena-bridge-test
STORE_PASS=
# Made once per run dir (kafka-down.sh --wipe deletes it) and again when the
# certificate is within a day of expiring. EC P-256 keys: fast to make.
make_tls_material() {
  mkdir -p "$TLS_DIR"
  chmod 700 "$TLS_DIR"
  if [ ! -f "$TLS_DIR/broker.p12" ] || [ ! -f "$TLS_DIR/store.password" ] ||
    ! openssl x509 -checkend 86400 -noout -in "$TLS_DIR/broker.pem" >/dev/null 2>&1; then
    local t=$SECONDS
    (
      cd "$TLS_DIR"
      umask 077
      rm -f ./*.pem ./*.p12 ./*.csr ./*.srl ./*.ext
      openssl rand -hex 16 >store.password
      openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 365 \
        -subj "/CN=catena-bridge test CA" -keyout ca-key.pem -out ca.pem 2>/dev/null
      openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
        -subj "/CN=127.0.0.1" -keyout broker-key.pem -out broker.csr 2>/dev/null
      printf 'subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth\n' >broker.ext
      openssl x509 -req -in broker.csr -CA ca.pem -CAkey ca-key.pem -CAcreateserial -days 365 \
        -extfile broker.ext -out broker.pem 2>/dev/null
      openssl pkcs12 -export -name broker -in broker.pem -inkey broker-key.pem -certfile ca.pem \
        -passout "file:store.password" -out broker.p12
      rm -f ca-key.pem broker-key.pem broker.csr broker.ext ca.srl
    )
    log "made a test CA and the broker's TLS keystore in $TLS_DIR in $((SECONDS - t))s"
  fi
  [ -f "$TLS_DIR/scram.password" ] || (umask 077 && openssl rand -hex 16 >"$TLS_DIR/scram.password")
  STORE_PASS=$(cat "$TLS_DIR/store.password")
}

running_pid() {
  local pid
  [ -f "$KDIR/kafka.pid" ] || return 1
  pid=$(cat "$KDIR/kafka.pid")
  # A stale pid file may name a recycled pid: only a kafka.Kafka java counts.
  kill -0 "$pid" 2>/dev/null && [[ "$(tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null)" == *kafka.Kafka* ]] || return 1
  echo "$pid"
}

if [ "$PORT" = "$CPORT" ] || [ "$PORT" = "$SPORT" ] || [ "$CPORT" = "$SPORT" ]; then
  log "KAFKA_PORT ($PORT), KAFKA_CONTROLLER_PORT ($CPORT) and KAFKA_SASL_SSL_PORT ($SPORT) must differ"
  exit 1
fi

if PID=$(running_pid); then
  log "already running (pid $PID)"
  if ! grep -q "^listeners=.*SASL_SSL://127.0.0.1:$SPORT" "$KDIR/server.properties" 2>/dev/null; then
    log "the running broker has no SASL_SSL listener on $SPORT (started by an older kafka-up.sh or other ports): restart it with scripts/kafka/kafka-restart.sh"
    exit 1
  fi
else
  # Another process on our ports (another broker, a second checkout) would
  # answer the readiness probe in our broker's place.
  for p in "$PORT" "$CPORT" "$SPORT"; do
    if (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null; then
      log "port $p on 127.0.0.1 is already in use by another process; set KAFKA_PORT / KAFKA_CONTROLLER_PORT / KAFKA_SASL_SSL_PORT"
      exit 1
    fi
  done
  mkdir -p "$KDIR/data" "$KDIR/logs"
  make_tls_material
  cat >"$KDIR/server.properties" <<EOF
# Written by scripts/kafka/kafka-up.sh on every start; edit the script, not this.
# --- KRaft combined mode, one node ----------------------------------------------
process.roles=broker,controller
node.id=1
# Dynamic quorum (KIP-853), paired with "format --standalone" below.
controller.quorum.bootstrap.servers=127.0.0.1:$CPORT
listeners=PLAINTEXT://127.0.0.1:$PORT,CONTROLLER://127.0.0.1:$CPORT,SASL_SSL://127.0.0.1:$SPORT
advertised.listeners=PLAINTEXT://127.0.0.1:$PORT,CONTROLLER://127.0.0.1:$CPORT,SASL_SSL://127.0.0.1:$SPORT
controller.listener.names=CONTROLLER
inter.broker.listener.name=PLAINTEXT
listener.security.protocol.map=CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT,SASL_SSL:SASL_SSL

# --- the secured listener: SCRAM-SHA-512 over TLS (server certificate only) -------
# Controller and inter-broker traffic stay on PLAINTEXT; only clients use it.
listener.name.sasl_ssl.sasl.enabled.mechanisms=SCRAM-SHA-512
listener.name.sasl_ssl.scram-sha-512.sasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule required;
listener.name.sasl_ssl.ssl.keystore.type=PKCS12
listener.name.sasl_ssl.ssl.keystore.location=$TLS_DIR/broker.p12
listener.name.sasl_ssl.ssl.keystore.password=$STORE_PASS
listener.name.sasl_ssl.ssl.key.password=$STORE_PASS
listener.name.sasl_ssl.ssl.client.auth=none
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
# Also: create the SCRAM user and authenticate as it over the SASL_SSL listener.
"$WAIT_BIN" -brokers "127.0.0.1:$PORT" -timeout "${TIMEOUT}s" -cluster-id "$CLUSTER_ID" \
  -sasl-ssl-brokers "127.0.0.1:$SPORT" -scram-user "$SCRAM_USER" \
  -scram-password-file "$TLS_DIR/scram.password" -ca-file "$TLS_DIR/ca.pem" &
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
# What a client of the secured listener needs (scripts/test-kafka.sh reads it).
cat >"$TLS_DIR/env" <<EOF
KAFKA_SASL_SSL_BROKERS=127.0.0.1:$SPORT
KAFKA_SASL_SSL_USERNAME=$SCRAM_USER
KAFKA_SASL_SSL_PASSWORD=$(cat "$TLS_DIR/scram.password")
KAFKA_SASL_SSL_CA_FILE=$TLS_DIR/ca.pem
EOF
chmod 600 "$TLS_DIR/env"
log "ready on 127.0.0.1:$PORT, SASL_SSL (SCRAM-SHA-512) on 127.0.0.1:$SPORT (pid $PID) after $((SECONDS - start))s"
