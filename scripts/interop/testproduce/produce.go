package main

import (
	"context"
	"encoding/binary"
	"fmt"
	"strconv"
	"time"

	"github.com/hamba/avro/v2"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
)

// producer writes the test events; see the package doc for what it writes.
type producer struct {
	seeds      []string
	topic      string
	partitions int
	schemaID   int
	schemaText string
	fault      string
}

// faultHeader marks the record that the partitioner misroutes for -fault partition.
const faultHeader = "testproduce-misroute"

func (p producer) run(ctx context.Context, n, fleets int) error {
	schema, err := avro.Parse(p.schemaText)
	if err != nil {
		return fmt.Errorf("parse schema: %w", err)
	}
	rs, ok := schema.(*avro.RecordSchema)
	if !ok {
		return fmt.Errorf("schema is a %s, want a record", schema.Type())
	}

	cl, err := kgo.NewClient(
		kgo.SeedBrokers(p.seeds...),
		kgo.TransactionalID(p.topic+"-txn"),
		kgo.DefaultProduceTopic(p.topic),
		// The Java client's keyed partitioning (murmur2), as the bridge uses;
		// the misroute hook exists only to test the checker.
		kgo.RecordPartitioner(kgo.BasicConsistentPartitioner(func(topic string) func(*kgo.Record, int) int {
			java := kgo.StickyKeyPartitioner(nil).ForTopic(topic)
			return func(r *kgo.Record, n int) int {
				p := java.Partition(r, n)
				for _, h := range r.Headers {
					if h.Key == faultHeader {
						return (p + 1) % n
					}
				}
				return p
			}
		})),
	)
	if err != nil {
		return fmt.Errorf("new client: %w", err)
	}
	defer cl.Close()
	if _, err := kadm.NewClient(cl).CreateTopic(ctx, int32(p.partitions), 1, nil, p.topic); err != nil {
		return fmt.Errorf("create topic %q: %w", p.topic, err)
	}

	mk := func(i int) (*kgo.Record, error) {
		id := uuidFor(1, i)
		fleet := uuidFor(2, i%fleets)
		v, err := avro.Marshal(schema, event(rs, id, fleet, i))
		if err != nil {
			return nil, fmt.Errorf("encode event %d: %w", i, err)
		}
		value := make([]byte, 5, 5+len(v))
		binary.BigEndian.PutUint32(value[1:], uint32(p.schemaID))
		return &kgo.Record{
			Key:     []byte(fleet),
			Value:   append(value, v...),
			Headers: []kgo.RecordHeader{{Key: "catena-id", Value: []byte(id)}, {Key: "catena-source", Value: []byte("samsara")}},
		}, nil
	}
	txn := func(commit kgo.TransactionEndTry, from, to int) error {
		if err := cl.BeginTransaction(); err != nil {
			return fmt.Errorf("begin transaction: %w", err)
		}
		recs := make([]*kgo.Record, 0, to-from)
		for i := from; i < to; i++ {
			r, err := mk(i)
			if err != nil {
				return err
			}
			recs = append(recs, r)
		}
		if commit && from == 0 && len(recs) > 0 {
			p.breakRecord(recs)
		}
		if err := cl.ProduceSync(ctx, recs...).FirstErr(); err != nil {
			_ = cl.EndTransaction(ctx, kgo.TryAbort)
			return fmt.Errorf("produce events %d..%d: %w", from, to, err)
		}
		if err := cl.EndTransaction(ctx, commit); err != nil {
			return fmt.Errorf("end transaction (commit=%v): %w", bool(commit), err)
		}
		return nil
	}
	half := n / 2
	if err := txn(kgo.TryCommit, 0, half); err != nil {
		return err
	}
	// Aborted: the same ids again. read_committed must hide them.
	if err := txn(kgo.TryAbort, 0, half); err != nil {
		return err
	}
	return txn(kgo.TryCommit, half, n)
}

// breakRecord applies -fault to the first record of the first committed batch.
func (p producer) breakRecord(recs []*kgo.Record) {
	r := recs[0]
	switch p.fault {
	case "key":
		r.Key = append([]byte("x"), r.Key...)
	case "header":
		r.Headers[0].Value = []byte(uuidFor(9, 0))
	case "partition":
		r.Headers = append(r.Headers, kgo.RecordHeader{Key: faultHeader})
	case "duplicate":
		// The second record's id again: its own record stays too, so one id is seen twice.
		if len(recs) > 1 {
			recs[1].Value, recs[1].Headers = r.Value, r.Headers
			recs[1].Key = r.Key
		}
	case "frame":
		r.Value[0] = 1
	}
}

// event fills every field of the schema without a default (so the program
// keeps working when optional fields are added), plus a position.
func event(rs *avro.RecordSchema, id, fleet string, i int) map[string]any {
	now := time.Now().UTC().Truncate(time.Microsecond)
	m := map[string]any{
		"id":       id,
		"fleet_id": fleet,
	}
	for _, f := range rs.Fields() {
		if _, set := m[f.Name()]; set || f.HasDefault() {
			continue
		}
		switch t := f.Type().(type) {
		case *avro.PrimitiveSchema:
			switch {
			case t.Type() == avro.String && t.Logical() != nil && t.Logical().Type() == avro.UUID:
				m[f.Name()] = uuidFor(3, i)
			case t.Type() == avro.String:
				m[f.Name()] = f.Name() + "-" + strconv.Itoa(i)
			case t.Type() == avro.Long && t.Logical() != nil:
				m[f.Name()] = now
			case t.Type() == avro.Long, t.Type() == avro.Int:
				m[f.Name()] = int64(i)
			case t.Type() == avro.Double, t.Type() == avro.Float:
				m[f.Name()] = float64(i)
			case t.Type() == avro.Boolean:
				m[f.Name()] = false
			}
		}
	}
	if hasField(rs, "latitude") {
		m["latitude"] = 52.37 + float64(i)/1000
		m["longitude"] = 4.89
	}
	return m
}

func hasField(rs *avro.RecordSchema, name string) bool {
	for _, f := range rs.Fields() {
		if f.Name() == name {
			return true
		}
	}
	return false
}

// uuidFor is a deterministic, well-formed UUID string for (kind, i).
func uuidFor(kind, i int) string {
	return fmt.Sprintf("%08x-0000-4000-8000-%012x", kind, i)
}
