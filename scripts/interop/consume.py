#!/usr/bin/env python3
"""Interop check: read what catena-bridge wrote with non-Go clients.

Reads --topic read_committed (librdkafka via confluent-kafka) from the
beginning of every partition to its end (the last stable offset: the first
partition EOF), decodes every value through the Schema Registry at --registry
(Confluent wire format: magic byte 0, 4-byte big-endian schema id, Avro body;
GET /schemas/ids/{id}, fastavro schemaless_reader) and checks every record:

  bad_frame      value is not magic 0 + schema id + Avro that decodes exactly
  bad_key        key != the decoded fleet_id (UTF-8)
  bad_header     header catena-id missing, repeated, or != the decoded id
  bad_partition  partition != toPositive(murmur2(key)) % partitions, the Java
                 client's default partitioner (what Java/librdkafka
                 "murmur2_random" producers and Kafka Streams assume)
  duplicates     decoded id already seen (exactly once means none)

Prints one JSON object with the counts on stdout and exits 1 on any mismatch,
when --expect-count is given and differs, or when the topic holds no events
and --expect-count is not 0 (an empty read proves nothing). Details of the
first mismatches go to stderr. Exit 2: bad arguments or the topic/registry
cannot be reached.

  consume.py --brokers 127.0.0.1:29092 --topic catena.vehicle_locations.v1 \
      --registry http://127.0.0.1:28081 [--expect-count N] [--timeout 60]
"""

import argparse
import io
import json
import struct
import sys
import time
import uuid

import fastavro
import requests
from confluent_kafka import Consumer, KafkaError, KafkaException, TopicPartition

MAX_DETAILS = 10


def murmur2(data: bytes) -> int:
    """Kafka's org.apache.kafka.common.utils.Utils.murmur2, as a signed int32."""
    length = len(data)
    m = 0x5BD1E995
    h = (0x9747B28C ^ length) & 0xFFFFFFFF
    for i in range(length // 4):
        j = i * 4
        k = data[j] | (data[j + 1] << 8) | (data[j + 2] << 16) | (data[j + 3] << 24)
        k = (k * m) & 0xFFFFFFFF
        k ^= k >> 24
        k = (k * m) & 0xFFFFFFFF
        h = (h * m) & 0xFFFFFFFF
        h ^= k
    tail = length & ~3
    rem = length % 4
    # Java's switch falls through: 3 -> 2 -> 1.
    if rem == 3:
        h ^= data[tail + 2] << 16
    if rem >= 2:
        h ^= data[tail + 1] << 8
    if rem >= 1:
        h ^= data[tail]
        h = (h * m) & 0xFFFFFFFF
    h ^= h >> 13
    h = (h * m) & 0xFFFFFFFF
    h ^= h >> 15
    return h - (1 << 32) if h & 0x80000000 else h


def java_partition(key: bytes, partitions: int) -> int:
    """BuiltInPartitioner.partitionForKey: toPositive(murmur2(key)) % n."""
    return (murmur2(key) & 0x7FFFFFFF) % partitions


# Vectors from Kafka's UtilsTest.testMurmur2.
_MURMUR2_VECTORS = {
    b"21": -973932308,
    b"foobar": -790332482,
    b"a-little-bit-long-string": -985981536,
    b"a-little-bit-longer-string": -1486304829,
    b"lkjh234lh9fiuh90y23oiuhsafujhadof229phr9h19h89h8": -58897971,
    b"abc": 479470107,
}


def self_test() -> None:
    for data, want in _MURMUR2_VECTORS.items():
        got = murmur2(data)
        if got != want:
            raise SystemExit(f"murmur2({data!r}) = {got}, want {want}")


class Registry:
    """Schema Registry client for GET /schemas/ids/{id}, with a cache."""

    def __init__(self, url: str):
        self.url = url.rstrip("/")
        self.session = requests.Session()
        self.schemas = {}

    def schema(self, schema_id: int):
        if schema_id not in self.schemas:
            resp = self.session.get(f"{self.url}/schemas/ids/{schema_id}", timeout=10)
            if resp.status_code != 200:
                raise LookupError(f"GET /schemas/ids/{schema_id}: HTTP {resp.status_code}: {resp.text[:200]}")
            body = resp.json()
            if body.get("schemaType", "AVRO") != "AVRO":
                raise LookupError(f"schema id {schema_id}: schemaType {body.get('schemaType')!r}, want AVRO")
            self.schemas[schema_id] = fastavro.parse_schema(json.loads(body["schema"]))
        return self.schemas[schema_id]


def decode(reg: Registry, value: bytes):
    """Decode one Confluent-framed Avro value; returns (schema_id, record)."""
    if value is None or len(value) < 5:
        raise ValueError(f"value of {0 if value is None else len(value)} bytes is shorter than the 5-byte Confluent header")
    if value[0] != 0:
        raise ValueError(f"magic byte = {value[0]}, want 0")
    (schema_id,) = struct.unpack(">I", value[1:5])
    buf = io.BytesIO(value[5:])
    rec = fastavro.schemaless_reader(buf, reg.schema(schema_id))
    if buf.tell() != len(value) - 5:
        raise ValueError(f"schema id {schema_id}: {len(value) - 5 - buf.tell()} trailing bytes after the Avro record")
    return schema_id, rec


def text(v) -> str:
    # fastavro turns logicalType uuid into uuid.UUID; compare canonical strings.
    return str(v) if isinstance(v, uuid.UUID) else v


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--brokers", required=True)
    ap.add_argument("--topic", required=True)
    ap.add_argument("--registry", required=True, help="Schema Registry base URL")
    ap.add_argument("--expect-count", type=int, default=None, help="exact number of events expected")
    ap.add_argument("--timeout", type=float, default=60.0, help="seconds to reach the end of every partition")
    ap.add_argument("--key-field", default="fleet_id")
    ap.add_argument("--id-field", default="id")
    ap.add_argument("--id-header", default="catena-id")
    args = ap.parse_args()
    self_test()

    reg = Registry(args.registry)
    consumer = Consumer({
        "bootstrap.servers": args.brokers,
        "group.id": f"catena-interop-{uuid.uuid4()}",  # assign() below: the group is never joined
        "enable.auto.commit": False,
        "isolation.level": "read_committed",
        "auto.offset.reset": "earliest",
        "enable.partition.eof": True,
    })
    counts = {
        "events": 0, "duplicates": 0, "bad_frame": 0, "bad_key": 0,
        "bad_header": 0, "bad_partition": 0,
    }
    details = []

    def bad(kind: str, msg: str) -> None:
        counts[kind] += 1
        if len(details) < MAX_DETAILS:
            details.append(f"{kind}: {msg}")

    try:
        md = consumer.list_topics(args.topic, timeout=10)
        tmd = md.topics.get(args.topic)
        if tmd is None or tmd.error is not None or not tmd.partitions:
            print(f"consume.py: topic {args.topic!r} not found: {tmd.error if tmd else 'no metadata'}", file=sys.stderr)
            return 2
        nparts = len(tmd.partitions)
        consumer.assign([TopicPartition(args.topic, p, -2) for p in tmd.partitions])  # -2: OFFSET_BEGINNING

        seen = set()
        per_partition = {p: 0 for p in tmd.partitions}
        schema_ids = set()
        at_end = set()
        deadline = time.monotonic() + args.timeout
        while len(at_end) < nparts:
            if time.monotonic() > deadline:
                print(f"consume.py: timeout after {args.timeout}s; partitions at end: {sorted(at_end)} of {nparts}", file=sys.stderr)
                print(json.dumps(counts), flush=True)
                return 1
            msg = consumer.poll(0.5)
            if msg is None:
                continue
            if msg.error():
                if msg.error().code() == KafkaError._PARTITION_EOF:
                    at_end.add(msg.partition())
                    continue
                raise KafkaException(msg.error())
            # A record after EOF (a transaction committed meanwhile) is still read.
            at_end.discard(msg.partition())
            counts["events"] += 1
            per_partition[msg.partition()] += 1
            where = f"partition {msg.partition()} offset {msg.offset()}"
            try:
                schema_id, rec = decode(reg, msg.value())
            except LookupError as e:
                print(f"consume.py: registry {args.registry}: {e}", file=sys.stderr)
                return 2
            except Exception as e:  # noqa: BLE001 - any decode failure is a bad frame
                bad("bad_frame", f"{where}: {e}")
                continue
            schema_ids.add(schema_id)
            rid = text(rec.get(args.id_field))
            fleet = text(rec.get(args.key_field))
            key = msg.key()
            if key is None or fleet is None or key != str(fleet).encode():
                bad("bad_key", f"{where}: key {key!r} != {args.key_field} {fleet!r}")
            hdrs = [v for k, v in (msg.headers() or []) if k == args.id_header]
            if len(hdrs) != 1 or hdrs[0] is None or hdrs[0].decode("utf-8", "replace") != str(rid):
                bad("bad_header", f"{where}: header {args.id_header} {hdrs!r} != {args.id_field} {rid!r}")
            if key is not None:
                want = java_partition(key, nparts)
                if want != msg.partition():
                    bad("bad_partition", f"{where}: key {key!r} belongs in partition {want} of {nparts}")
            if rid in seen:
                bad("duplicates", f"{where}: {args.id_field} {rid!r} seen before")
            seen.add(rid)
    finally:
        consumer.close()

    counts["partitions"] = nparts
    counts["per_partition"] = {str(p): n for p, n in sorted(per_partition.items())}
    counts["schema_ids"] = sorted(schema_ids)
    failed = any(counts[k] for k in ("duplicates", "bad_frame", "bad_key", "bad_header", "bad_partition"))
    if args.expect_count is not None:
        counts["expected"] = args.expect_count
        if counts["events"] != args.expect_count:
            details.append(f"count: read {counts['events']} events, expected {args.expect_count}")
            failed = True
    elif counts["events"] == 0:
        details.append("count: topic holds no events (pass --expect-count 0 if that is expected)")
        failed = True
    counts["ok"] = not failed
    for d in details:
        print(f"consume.py: {d}", file=sys.stderr)
    print(json.dumps(counts, sort_keys=True), flush=True)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
