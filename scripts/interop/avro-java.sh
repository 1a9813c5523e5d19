#!/usr/bin/env bash
# Parse .avsc files with Apache Avro for Java (1.12.2, see avro-java/pom.xml):
# fetches the jars once with mvn into <repo>/.cache/avro-java/libs, then runs
# avro-java/ParseSchema.java with the Java 17 single-file source launcher.
#
#   scripts/interop/avro-java.sh [file.avsc ...]   (default: schemas/*.avsc)
#
# Prints one JSON line per file (name, field count, CRC-64-AVRO and SHA-256
# fingerprints of the canonical form); exits non-zero if any file fails.
# Env: AVRO_JAVA_LIBS [<repo>/.cache/avro-java/libs].
set -euo pipefail
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
LIBS=${AVRO_JAVA_LIBS:-$ROOT/.cache/avro-java/libs}
STAMP="$LIBS/.complete-$(sha256sum "$HERE/avro-java/pom.xml" | cut -c1-16)"
if [ ! -f "$STAMP" ]; then
  tmp="$LIBS.tmp.$$"
  rm -rf "$tmp"
  mkdir -p "$(dirname "$LIBS")"
  mvn -B -q -f "$HERE/avro-java/pom.xml" dependency:copy-dependencies \
    -DincludeScope=runtime -DoutputDirectory="$tmp" >&2
  ls "$tmp"/avro-1.*.jar >/dev/null
  touch "$tmp/$(basename "$STAMP")"
  rm -rf "$LIBS"
  mv "$tmp" "$LIBS"
fi
if [ $# -eq 0 ]; then
  set -- "$ROOT"/schemas/*.avsc
fi
exec java -cp "$LIBS/*" "$HERE/avro-java/ParseSchema.java" "$@"
