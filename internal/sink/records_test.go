package sink

import (
	"bytes"
	"fmt"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
)

func recordsBatch(n int) *Batch {
	b := &Batch{}
	at := time.Date(2026, 11, 20, 12, 0, 0, 123456789, time.FixedZone("x", 3600))
	for i := range n {
		e := Event{Key: []byte("fleet"), Value: []byte{byte(i)}, ID: fmt.Sprintf("id-%d", i), Source: "samsara"}
		if i%3 != 0 {
			e.VehicleID = fmt.Sprintf("vehicle-%d", i)
		}
		if i%4 != 0 {
			e.OccurredAt = at.Add(time.Duration(i) * time.Second)
		}
		b.Events = append(b.Events, e)
	}
	b.DeadLetters = []DeadLetter{{Value: []byte("{"), ID: "d", Reason: "bad", Code: "decode", VehicleID: "v", OccurredAt: at}}
	return b
}

// TestRecordsHeaders pins the events' headers built in one arena to what
// each event carries, and checks that no header value shares capacity with
// the next (Produce must be free to treat them as its own).
func TestRecordsHeaders(t *testing.T) {
	s := &Sink{cfg: Config{Topic: "t"}}
	b := recordsBatch(100)
	recs := s.records(b)
	if len(recs) != len(b.Events)+len(b.DeadLetters) {
		t.Fatalf("%d records", len(recs))
	}
	for i, e := range b.Events {
		want := []kgo.RecordHeader{{Key: HeaderID, Value: []byte(e.ID)}, {Key: HeaderSource, Value: []byte(e.Source)}}
		want = appendWhereWhen(want, e.VehicleID, e.OccurredAt)
		got := recs[i].Headers
		if len(got) != len(want) || cap(got) != len(got) {
			t.Fatalf("event %d: headers %v, want %v", i, got, want)
		}
		for j := range want {
			if got[j].Key != want[j].Key || !bytes.Equal(got[j].Value, want[j].Value) || cap(got[j].Value) != len(got[j].Value) {
				t.Fatalf("event %d header %d: %s=%q, want %s=%q", i, j, got[j].Key, got[j].Value, want[j].Key, want[j].Value)
			}
		}
	}
	if dl := recs[len(b.Events)]; dl.Topic != "t.dlq" || len(dl.Headers) != 9 {
		t.Fatalf("dead letter record %+v", dl)
	}
}

func BenchmarkRecords(b *testing.B) {
	s := &Sink{cfg: Config{Topic: "t"}}
	batch := recordsBatch(1000)
	b.ReportAllocs()
	for b.Loop() {
		_ = s.records(batch)
	}
}
