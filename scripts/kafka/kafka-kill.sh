#!/usr/bin/env bash
# SIGKILL the broker that kafka-up.sh started, as in a crash (kafka-down.sh
# --kill). The data is kept: kafka-up.sh then restarts it with log recovery.
# A separate script so that KAFKA_KILL_CMD is a plain path tests can exec.
exec "$(dirname "${BASH_SOURCE[0]}")/kafka-down.sh" --kill
