#!/usr/bin/env python3
"""Kafka -> Parquet lake for catena-bridge's events, with Spark Structured Streaming.

Reads the events topic with read_committed (only records of committed
transactions: the bridge publishes exactly once through transactions, and
aborted attempts stay in the log), strips the Confluent framing (magic byte 0
and a 4-byte schema id), decodes the Avro body with from_avro and the schema
the Schema Registry holds for the topic, and appends Parquet files partitioned
by the event day:

    <output>/event_date=YYYY-MM-DD/part-*.parquet

event_date is the UTC date of occurred_at (event time), or of ingested_at when
the provider did not say when the position was recorded. Timestamps are
Parquet TIMESTAMP (microseconds, UTC), H3 cells 64-bit integers.

Run it as a batch over what is in the topic (--trigger available-now, the
default: stops when it has caught up) or continuously (--trigger 1m). The
checkpoint folder holds the Kafka offsets already written: a rerun with the
same --checkpoint continues where the last one stopped, and Spark's file sink
log (<output>/_spark_metadata) lists the files of committed batches, so
readers that go through it (Spark) see each record once even after a crash.

    python lake.py --bootstrap-servers localhost:19092 \\
        --schema-registry http://localhost:18081 \\
        --topic catena.vehicle_locations.v1 --output /tmp/lake --checkpoint /tmp/lake-ckpt \\
        --jars "$(examples/lake/setup.sh | tail -n 1)"

A record written with another schema id than the one fetched at start fails
the query (raise_error) rather than being decoded with the wrong schema:
restart the job after a schema change; it fetches the latest version again.
"""

import argparse
import json
import os
import sys
import urllib.request


def fetch_schema(registry, subject):
    """Latest schema of subject: (id, schema text)."""
    url = f"{registry.rstrip('/')}/subjects/{subject}/versions/latest"
    with urllib.request.urlopen(url, timeout=30) as r:
        body = json.load(r)
    if body.get("schemaType", "AVRO") != "AVRO":
        raise SystemExit(f"lake: {subject} is a {body['schemaType']} schema, not Avro")
    return int(body["id"]), body["schema"]


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--bootstrap-servers", required=True, help="Kafka bootstrap servers")
    p.add_argument("--topic", default="catena.vehicle_locations.v1", help="events topic")
    p.add_argument("--schema-registry", required=True, help="Schema Registry URL")
    p.add_argument("--subject", help="registry subject (default: <topic>-value)")
    p.add_argument("--output", required=True, help="Parquet output folder")
    p.add_argument("--checkpoint", required=True, help="Spark checkpoint folder (Kafka offsets)")
    p.add_argument("--jars", default=os.environ.get("LAKE_JARS", ""),
                   help="comma-separated connector jars (setup.sh prints them); "
                        "empty: use --packages or spark.jars.packages instead")
    p.add_argument("--trigger", default="available-now",
                   help="available-now (process what is there, then stop) or a processing-time interval, e.g. 1m")
    p.add_argument("--max-offsets-per-trigger", type=int, default=0,
                   help="cap on records per micro-batch (0: no cap)")
    p.add_argument("--isolation-level", default="read_committed", choices=["read_committed", "read_uncommitted"],
                   help="read_committed; read_uncommitted only to see what it would do (aborted records too)")
    p.add_argument("--master", default=os.environ.get("SPARK_MASTER"),
                   help="Spark master (default: spark-submit's, or local[*] under plain python)")
    a = p.parse_args()

    from pyspark.sql import SparkSession
    from pyspark.sql import functions as F
    from pyspark.sql.avro.functions import from_avro

    schema_id, schema = fetch_schema(a.schema_registry, a.subject or f"{a.topic}-value")

    b = (SparkSession.builder.appName("catena-lake")
         # event_date and every timestamp shown in UTC, whatever the host's zone.
         .config("spark.sql.session.timeZone", "UTC")
         # INT64 microseconds (TIMESTAMP_MICROS), not the legacy INT96.
         .config("spark.sql.parquet.outputTimestampType", "TIMESTAMP_MICROS")
         .config("spark.sql.shuffle.partitions", "2")
         .config("spark.ui.enabled", "false")
         .config("spark.ui.showConsoleProgress", "false"))
    if a.master:
        b = b.master(a.master)
    if a.jars:
        b = b.config("spark.jars", a.jars)
    spark = b.getOrCreate()
    spark.sparkContext.setLogLevel("WARN")

    reader = (spark.readStream.format("kafka")
              .option("kafka.bootstrap.servers", a.bootstrap_servers)
              .option("subscribe", a.topic)
              .option("startingOffsets", "earliest")
              # Committed transactions only; the default, read_uncommitted,
              # also returns the records of aborted ones (duplicates).
              .option("kafka.isolation.level", a.isolation_level)
              .option("failOnDataLoss", "true"))
    if a.max_offsets_per_trigger > 0:
        reader = reader.option("maxOffsetsPerTrigger", a.max_offsets_per_trigger)
    raw = reader.load()

    # Confluent wire format: byte 0 is 0, bytes 1-4 the schema id (big
    # endian), the Avro binary body follows. SQL substring is 1-based.
    magic = F.hex(F.expr("substring(value, 1, 1)"))
    wire_id = F.conv(F.hex(F.expr("substring(value, 2, 4)")), 16, 10).cast("long")
    body = F.expr("substring(value, 6, length(value) - 5)")
    event = (F.when((magic == "00") & (wire_id == schema_id), from_avro(body, schema, {"mode": "FAILFAST"}))
             .otherwise(F.raise_error(F.concat(
                 F.lit(f"lake: {a.topic} "), F.col("partition").cast("string"), F.lit("@"),
                 F.col("offset").cast("string"), F.lit(" is not Confluent Avro with schema id "),
                 F.lit(str(schema_id)), F.lit(" (magic 0x"), F.coalesce(magic, F.lit("")),
                 F.lit(", id "), F.coalesce(wire_id.cast("string"), F.lit("none")),
                 F.lit("): restart the job to fetch the topic's latest schema")))))

    rows = (raw.select(event.alias("e"),
                       F.col("partition").alias("kafka_partition"),
                       F.col("offset").alias("kafka_offset"))
            .select("e.*", "kafka_partition", "kafka_offset")
            .withColumn("event_date", F.to_date(F.coalesce(F.col("occurred_at"), F.col("ingested_at")))))

    w = (rows.writeStream.format("parquet")
         .option("path", a.output)
         .option("checkpointLocation", a.checkpoint)
         .partitionBy("event_date")
         .outputMode("append"))
    if a.trigger == "available-now":
        w = w.trigger(availableNow=True)
    else:
        w = w.trigger(processingTime=a.trigger)
    q = w.start()
    q.awaitTermination()

    n = sum(pr.get("numInputRows", 0) for pr in q.recentProgress)
    print(f"lake: wrote {n} rows from {a.topic} (schema id {schema_id}) to {a.output} "
          f"in {len(q.recentProgress)} micro-batches", flush=True)
    spark.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
