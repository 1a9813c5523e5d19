package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/catena-bridge/catena-bridge/internal/avro"
	"github.com/catena-bridge/catena-bridge/internal/config"
	"github.com/catena-bridge/catena-bridge/internal/sink"
	"github.com/catena-bridge/catena-bridge/schemas"
)

func cmdTail(ctx context.Context, e *env, args []string) int {
	fs := newFlagSet(e, "tail", "[--from-beginning] [--max N] [--format value|envelope] [flags]", `Prints the events topic as JSON lines, one event per line, decoded through the Schema
Registry (or the embedded schema for single-object encoding): exactly what consumers get.
It reads read_committed, joins no consumer group and produces nothing, so it is safe next
to a running bridge. Without --from-beginning it prints new events only.
`)
	l := e.newLoader(fs)
	var k config.Kafka
	k.BindReader(l)
	var a config.Admin
	a.BindLog(l)
	var fromBeginning, dlq bool
	var maxN int
	fs.BoolVar(&fromBeginning, "from-beginning", false, "start at the beginning of the topic instead of its end")
	fs.IntVar(&maxN, "max", 0, "stop after N events (0 = until interrupted)")
	fs.BoolVar(&dlq, "dlq", false, "print the dead-letter topic instead: raw JSON with its reason")
	var format string
	var meta bool
	fs.StringVar(&format, "format", "value", "value: one decoded event per line; envelope: one object per record with its topic, partition, offset, key, timestamp (ts, ms), headers and the decoded event under \"payload\", as kcat -J prints")
	fs.BoolVar(&meta, "meta", false, "the same as --format envelope")
	code, ok := parse(e, fs, args, func() error {
		err := errors.Join(l.Err(), k.ValidateReader(), a.Validate())
		if maxN < 0 {
			err = errors.Join(err, fmt.Errorf("--max=%d: must be >= 0", maxN))
		}
		if format != "value" && format != "envelope" {
			err = errors.Join(err, fmt.Errorf("--format=%q: must be value or envelope", format))
		}
		return err
	})
	if !ok {
		return code
	}
	log := newLogger(e.stderr, a)
	scfg, err := sinkConfig(k, "", log, nil)
	if err != nil {
		fmt.Fprintf(e.stderr, "catena-bridge tail: %v\n", err)
		return exitUsage
	}
	reader, err := sink.NewReader(scfg)
	if err != nil {
		fmt.Fprintf(e.stderr, "catena-bridge tail: %v\n", err)
		return exitUsage
	}
	defer reader.Close()
	reg, err := newRegistry(k)
	if err != nil {
		fmt.Fprintf(e.stderr, "catena-bridge tail: %v\n", err)
		return exitUsage
	}
	codec, err := avro.NewCodec(schemas.VehicleLocation)
	if err != nil {
		fmt.Fprintf(e.stderr, "catena-bridge tail: %v\n", err)
		return exitFailure
	}
	dec := avro.NewDecoder(reg, codec)
	topic := k.Topic
	if dlq {
		topic += ".dlq"
	}
	n := 0
	err = reader.Follow(ctx, topic, fromBeginning, func(r *kgo.Record) error {
		line, err := tailLine(ctx, dec, r, dlq)
		if err != nil {
			return fmt.Errorf("%s[%d]@%d: %w", r.Topic, r.Partition, r.Offset, err)
		}
		if meta || format == "envelope" {
			line = envelope(r, line)
		}
		fmt.Fprintf(e.stdout, "%s\n", line)
		if n++; maxN > 0 && n >= maxN {
			return sink.ErrStop
		}
		return nil
	})
	if err != nil {
		fmt.Fprintf(e.stderr, "catena-bridge tail: %v\n", err)
		return exitFailure
	}
	return exitOK
}

// tailLine renders one record: the decoded event, or for the DLQ the raw
// record with its reason.
func tailLine(ctx context.Context, dec *avro.Decoder, r *kgo.Record, dlq bool) ([]byte, error) {
	if dlq {
		reason := ""
		for _, h := range r.Headers {
			if h.Key == sink.HeaderError {
				reason = string(h.Value)
			}
		}
		rec := r.Value
		if !json.Valid(rec) {
			rec, _ = json.Marshal(string(rec)) // not JSON: show it as a string
		}
		reasonJSON, _ := json.Marshal(reason)
		return fmt.Appendf(nil, `{"reason":%s,"record":%s}`, reasonJSON, rec), nil
	}
	ev, err := dec.Decode(ctx, r.Value)
	if err != nil {
		return nil, err
	}
	return avro.JSON(ev)
}

// envelope wraps a printed record with its Kafka coordinates, in the shape
// of kcat -J: topic, partition, offset, key, timestamp (ms), headers as a
// flat list of names and values, and the line as payload.
func envelope(r *kgo.Record, line []byte) []byte {
	headers := make([]string, 0, 2*len(r.Headers))
	for _, h := range r.Headers {
		headers = append(headers, h.Key, string(h.Value))
	}
	out, _ := json.Marshal(struct {
		Topic     string          `json:"topic"`
		Partition int32           `json:"partition"`
		Offset    int64           `json:"offset"`
		Timestamp int64           `json:"ts"`
		Key       string          `json:"key"`
		Headers   []string        `json:"headers"`
		Payload   json.RawMessage `json:"payload"`
	}{r.Topic, r.Partition, r.Offset, r.Timestamp.UnixMilli(), string(r.Key), headers, line})
	return out
}
