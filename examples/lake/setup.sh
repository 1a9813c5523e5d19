#!/usr/bin/env bash
# Prepare the lake example: a Python venv with pyspark and duckdb
# (requirements.txt) and the Spark connector jars spark-sql-kafka-0-10 and
# spark-avro (pom.xml, from Maven Central, same version as pyspark) with the
# dependencies Spark does not ship. Idempotent: stamps holding the inputs'
# hashes skip pip and mvn when nothing changed.
#
#   examples/lake/setup.sh    # prints the venv's python, then the jars, comma-separated
#
# Env: LAKE_CACHE [<repo>/.cache/lake] (venv/ and jars/ under it),
#      PYTHON [python3] (3.10 or newer). Needs Java 17 and Maven to run the job.
set -euo pipefail
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
CACHE=${LAKE_CACHE:-$ROOT/.cache/lake}
VENV=$CACHE/venv
JARS=$CACHE/jars
PY=${PYTHON:-python3}
log() { echo "lake setup: $*" >&2; }

# --- venv ------------------------------------------------------------------------
SUM=$(sha256sum "$HERE/requirements.txt" | cut -c1-16)
if [ ! -x "$VENV/bin/python" ]; then
  mkdir -p "$CACHE"
  "$PY" -m venv "$VENV" >&2
fi
if [ "$(cat "$VENV/.requirements.sum" 2>/dev/null)" != "$SUM" ]; then
  log "pip install -r requirements.txt into $VENV (first run: pyspark is ~450 MB)"
  start=$SECONDS
  "$VENV/bin/python" -m pip install -q --disable-pip-version-check -r "$HERE/requirements.txt" >&2
  echo "$SUM" >"$VENV/.requirements.sum"
  log "pip done in $((SECONDS - start))s"
fi
SPARK_JARS_DIR=$("$VENV/bin/python" -c 'import os, pyspark; print(os.path.join(os.path.dirname(pyspark.__file__), "jars"))')
PYSPARK_VERSION=$("$VENV/bin/python" -c 'import pyspark; print(pyspark.__version__)')
POM_VERSION=$(sed -n 's:.*<spark.version>\(.*\)</spark.version>.*:\1:p' "$HERE/pom.xml")
if [ "$PYSPARK_VERSION" != "$POM_VERSION" ]; then
  log "pyspark $PYSPARK_VERSION but pom.xml's spark.version is $POM_VERSION: make them the same"
  exit 1
fi

# --- jars --------------------------------------------------------------------------
# mvn copies into a temporary folder renamed at the end, so an interrupted
# download is never taken for a complete one. Jars whose artifact Spark
# already ships (scala-library, hadoop-client-*, slf4j, lz4, snappy, ...) are
# dropped: Spark's own version stays the only one on the classpath.
STAMP="$JARS/.complete-$(cat "$HERE/pom.xml" "$HERE/requirements.txt" | sha256sum | cut -c1-16)"
if [ ! -f "$STAMP" ]; then
  command -v mvn >/dev/null || { log "mvn not found (apt-get install maven)"; exit 1; }
  log "fetching spark-sql-kafka-0-10 and spark-avro $POM_VERSION into $JARS"
  tmp="$JARS.tmp.$$"
  rm -rf "$tmp"
  mvn -B -q -f "$HERE/pom.xml" dependency:copy-dependencies \
    -DincludeScope=runtime -DoutputDirectory="$tmp" >&2
  artifact() { basename "$1" | sed -E 's/-[0-9][^-]*(-[^-]*)?\.jar$//'; }
  declare -A shipped=()
  for j in "$SPARK_JARS_DIR"/*.jar; do shipped[$(artifact "$j")]=1; done
  for j in "$tmp"/*.jar; do
    if [ -n "${shipped[$(artifact "$j")]:-}" ]; then rm -f "$j"; fi
  done
  ls "$tmp"/spark-sql-kafka-0-10_2.13-*.jar "$tmp"/spark-avro_2.13-*.jar >/dev/null
  touch "$tmp/$(basename "$STAMP")"
  rm -rf "$JARS"
  mv "$tmp" "$JARS"
fi

echo "$VENV/bin/python"
ls "$JARS"/*.jar | paste -sd, -
