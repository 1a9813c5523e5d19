#!/usr/bin/env bash
# Restart the broker, keeping its data: kafka-down.sh [--kill] then kafka-up.sh
# (which returns once the broker serves metadata and transactions again).
#
#   kafka-restart.sh          controlled shutdown, then start
#   kafka-restart.sh --kill   SIGKILL (crash), then start with log recovery
set -euo pipefail
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
case "${1:-}" in ""|--kill) ;; *) echo "usage: $0 [--kill]" >&2; exit 2 ;; esac
"$HERE/kafka-down.sh" ${1:+"$1"}
exec "$HERE/kafka-up.sh"
