#!/usr/bin/env python3
"""Check a lake written by lake.py with DuckDB, against the topic as read back.

    python check.py --lake <output of lake.py> --expected expected.csv

expected.csv has one row per committed event of the topic (examples/lake/
lakecheck writes it, decoding the topic with catena-bridge's own decoder):
id, event_date, occurred_at_us, ingested_at_us, created_at_us, latitude,
longitude, h3_index_11, h3_index_9, h3_index_7, h3_index_5, kafka_partition,
kafka_offset. Only the files that Spark's file sink log (_spark_metadata)
lists are read: those of committed batches.

Prints one line per check and closes with "lake: N passed, N failed"; exits 1
if any check failed.
"""

import argparse
import glob
import json
import os
import sys
import urllib.parse

import duckdb

TIMESTAMPS = ["created_at", "updated_at", "deleted_at", "occurred_at", "ingested_at"]
H3 = [f"h3_index_{r}" for r in range(12)]


def committed_files(lake):
    """Paths of the Parquet files that the file sink log lists as added and not deleted."""
    log = os.path.join(lake, "_spark_metadata")
    entries = sorted(glob.glob(os.path.join(log, "*")),
                     key=lambda p: int(os.path.basename(p).split(".")[0]))
    # A .compact file holds every entry up to its batch: start at the last one.
    last_compact = max((i for i, p in enumerate(entries) if p.endswith(".compact")), default=0)
    files = {}
    for p in entries[last_compact:]:
        with open(p) as f:
            version = f.readline().strip()
            if version != "v1":
                raise SystemExit(f"check: {p}: unknown file sink log version {version!r}")
            for line in f:
                e = json.loads(line)
                path = urllib.parse.unquote(urllib.parse.urlparse(e["path"]).path)
                if e.get("action", "add") == "add":
                    files[path] = True
                else:
                    files.pop(path, None)
    return sorted(files)


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--lake", required=True)
    p.add_argument("--expected", required=True)
    p.add_argument("--min-days", type=int, default=1, help="event days the lake must at least have")
    p.add_argument("--min-fallback", type=int, default=0, help="events without occurred_at it must at least have")
    a = p.parse_args()

    results = []

    def check(name, ok, detail=""):
        results.append(ok)
        print(f"{'ok  ' if ok else 'FAIL'} {name}{': ' + detail if detail else ''}", flush=True)

    files = committed_files(a.lake)
    on_disk = sorted(os.path.abspath(f) for f in glob.glob(os.path.join(a.lake, "*", "*.parquet")))
    check("every Parquet file on disk is a committed one (_spark_metadata)", files == on_disk,
          f"{len(files)} committed, {len(on_disk)} on disk")
    if not files:
        print("lake: 0 passed, 1 failed")
        return 1

    con = duckdb.connect()
    con.execute("SET TimeZone = 'UTC'")
    paths = ", ".join("'" + f.replace("'", "''") + "'" for f in files)
    con.execute(f"CREATE VIEW lake AS SELECT * FROM read_parquet([{paths}], hive_partitioning = true)")
    con.execute("""CREATE TABLE expected AS SELECT * FROM read_csv(?, header = true, columns = {
        'id': 'VARCHAR', 'event_date': 'DATE', 'occurred_at_us': 'BIGINT', 'ingested_at_us': 'BIGINT',
        'created_at_us': 'BIGINT', 'latitude': 'DOUBLE', 'longitude': 'DOUBLE',
        'h3_index_11': 'BIGINT', 'h3_index_9': 'BIGINT', 'h3_index_7': 'BIGINT', 'h3_index_5': 'BIGINT',
        'kafka_partition': 'INTEGER', 'kafka_offset': 'BIGINT'})""", [a.expected])
    one = lambda q: con.execute(q).fetchone()[0]

    # Types.
    types = dict(con.execute("SELECT column_name, column_type FROM (DESCRIBE lake)").fetchall())
    ts = {c: types.get(c) for c in TIMESTAMPS}
    check("timestamps are TIMESTAMP (UTC instants), not BIGINT",
          all(t in ("TIMESTAMP WITH TIME ZONE", "TIMESTAMP") for t in ts.values()),
          ", ".join(f"{c} {t}" for c, t in ts.items()))
    h3 = {c: types.get(c) for c in H3}
    check("H3 columns are BIGINT", all(t == "BIGINT" for t in h3.values()),
          "h3_index_0..11 " + ("BIGINT" if len(set(h3.values())) == 1 else str(h3)))
    check("event_date is a DATE partition column", types.get("event_date") == "DATE", str(types.get("event_date")))

    # Rows.
    rows, ids, want = one("SELECT count(*) FROM lake"), one("SELECT count(DISTINCT id) FROM lake"), one("SELECT count(*) FROM expected")
    check("as many rows as the topic holds (read_committed)", rows == want, f"lake {rows}, topic {want}")
    check("no duplicate id", rows == ids, f"{rows - ids} duplicates")

    # Values: every topic event, field by field, is in the lake.
    diff = one("""SELECT count(*) FROM expected x FULL JOIN lake l USING (id)
        WHERE l.id IS NULL OR x.id IS NULL
           OR l.event_date IS DISTINCT FROM x.event_date
           OR epoch_us(l.occurred_at) IS DISTINCT FROM x.occurred_at_us
           OR epoch_us(l.ingested_at) IS DISTINCT FROM x.ingested_at_us
           OR epoch_us(l.created_at) IS DISTINCT FROM x.created_at_us
           OR l.latitude IS DISTINCT FROM x.latitude OR l.longitude IS DISTINCT FROM x.longitude
           OR l.h3_index_11 IS DISTINCT FROM x.h3_index_11 OR l.h3_index_9 IS DISTINCT FROM x.h3_index_9
           OR l.h3_index_7 IS DISTINCT FROM x.h3_index_7 OR l.h3_index_5 IS DISTINCT FROM x.h3_index_5
           OR l.kafka_partition IS DISTINCT FROM x.kafka_partition OR l.kafka_offset IS DISTINCT FROM x.kafka_offset""")
    check("every event matches the topic's (id, event day, timestamps to the microsecond, position, H3 cells, offset)",
          diff == 0, f"{diff} rows differ or are missing")
    big = one("SELECT count(*) FROM lake WHERE h3_index_11 > 9007199254740992")
    big_want = one("SELECT count(*) FROM expected WHERE h3_index_11 > 9007199254740992")
    check("H3 cells above 2^53 kept as 64-bit integers", big > 0 and big == big_want,
          f"{big} in the lake, {big_want} in the topic")

    # Partitions.
    folders = sorted(os.path.basename(d) for d in glob.glob(os.path.join(a.lake, "event_date=*")))
    days = [f"event_date={d}" for (d,) in con.execute("SELECT DISTINCT event_date FROM expected ORDER BY 1").fetchall()]
    check("one partition folder per event day", folders == days and len(days) >= a.min_days,
          f"{len(folders)} folders {', '.join(f.split('=')[1] for f in folders)}; want {len(days)} (at least {a.min_days})")
    wrong = one("""SELECT count(*) FROM lake
        WHERE event_date IS DISTINCT FROM CAST(coalesce(occurred_at, ingested_at) AS DATE)""")
    check("each row is in the folder of its occurred_at's UTC day, else ingested_at's", wrong == 0, f"{wrong} misplaced")
    fb = one("SELECT count(*) FROM lake WHERE occurred_at IS NULL")
    fb_days = one("SELECT count(DISTINCT event_date) FROM lake WHERE occurred_at IS NULL")
    check("events without occurred_at fall back to ingested_at's day", fb >= a.min_fallback and wrong == 0,
          f"{fb} events in {fb_days} folder(s)")

    for d, n in con.execute("SELECT event_date, count(*) FROM lake GROUP BY 1 ORDER BY 1").fetchall():
        print(f"     {d}  {n:>7} rows")
    passed, failed = sum(results), len(results) - sum(results)
    print(f"lake: {passed} passed, {failed} failed", flush=True)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
