#!/usr/bin/env bash
# Create the interop venv (default <repo>/.cache/venv) and install
# requirements.txt into it. Idempotent: a stamp holding the requirements'
# hash skips pip when nothing changed. Prints the venv's python path on stdout,
# for INTEROP_PYTHON.
#
# Env: INTEROP_VENV [<repo>/.cache/venv], PYTHON [python3] (3.11 or newer).
set -euo pipefail
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
VENV=${INTEROP_VENV:-$ROOT/.cache/venv}
PY=${PYTHON:-python3}
SUM=$(sha256sum "$HERE/requirements.txt" | cut -c1-16)

if [ ! -x "$VENV/bin/python" ]; then
  "$PY" -m venv "$VENV" >&2
fi
if [ "$(cat "$VENV/.requirements.sum" 2>/dev/null)" != "$SUM" ]; then
  "$VENV/bin/python" -m pip install -q --disable-pip-version-check -r "$HERE/requirements.txt" >&2
  echo "$SUM" >"$VENV/.requirements.sum"
fi
"$VENV/bin/python" -c 'import confluent_kafka, fastavro, requests' >&2
echo "$VENV/bin/python"
