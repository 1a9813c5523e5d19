#!/usr/bin/env bash
# Stop the broker that kafka-up.sh started (by its pid file).
#
#   kafka-down.sh          SIGTERM: controlled shutdown (SIGKILL after 30 s)
#   kafka-down.sh --kill   SIGKILL at once, as in a crash; data is kept, so the
#                          next kafka-up.sh recovers the logs like a real restart
#   kafka-down.sh --wipe   stop (SIGTERM) and delete the data, so the next
#                          kafka-up.sh formats a fresh cluster
#
# Does nothing (exit 0) when no broker is running. Same env as kafka-up.sh
# (KAFKA_CACHE, KAFKA_DIR).
set -euo pipefail
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
CACHE=${KAFKA_CACHE:-$ROOT/.cache/kafka}
KDIR=${KAFKA_DIR:-$CACHE/run}
MODE=${1:-}
case "$MODE" in ""|--kill|--wipe) ;; *) echo "usage: $0 [--kill|--wipe]" >&2; exit 2 ;; esac

if [ -f "$KDIR/kafka.pid" ]; then
  PID=$(cat "$KDIR/kafka.pid")
  # Only signal a live kafka.Kafka java: the pid file may be stale and the pid reused.
  # (A string test, not tr | grep -q: under pipefail an early grep exit can fail the pipe.)
  if kill -0 "$PID" 2>/dev/null && [[ "$(tr '\0' ' ' <"/proc/$PID/cmdline" 2>/dev/null)" == *kafka.Kafka* ]]; then
    if [ "$MODE" = "--kill" ]; then
      kill -KILL "$PID"
    else
      kill -TERM "$PID" # shutdown hook: controlled shutdown
    fi
    for _ in $(seq 1 300); do kill -0 "$PID" 2>/dev/null || break; sleep 0.1; done
    if kill -0 "$PID" 2>/dev/null; then
      echo "kafka-down: pid $PID still alive after 30s, killing" >&2
      kill -KILL "$PID"
      for _ in $(seq 1 50); do kill -0 "$PID" 2>/dev/null || break; sleep 0.1; done
    fi
    echo "kafka-down: stopped pid $PID${MODE:+ ($MODE)}" >&2
  fi
  rm -f "$KDIR/kafka.pid"
fi
if [ "$MODE" = "--wipe" ]; then rm -rf "$KDIR"; fi
