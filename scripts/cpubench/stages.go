package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"runtime/debug"
	"runtime/metrics"
	"runtime/pprof"
	"syscall"
	"time"

	"github.com/catena-bridge/catena-bridge/internal/avro"
	"github.com/catena-bridge/catena-bridge/internal/catena"
	"github.com/catena-bridge/catena-bridge/internal/geo"
	"github.com/catena-bridge/catena-bridge/internal/record"
	"github.com/catena-bridge/catena-bridge/schemas"
)

// bridgeGCPercent is cmd/catena-bridge's defaultGCPercent.
const bridgeGCPercent = 150

// Stage names, in pipeline order. The first is the HTTP read of a page's
// body (the client's request, the kernel's copy into the client's buffer,
// the socket reader's wake-ups), which ends when the client has the body
// whole (readDone); the bridge then decodes each record as the client splits the page (one pass
// over the bytes), so splitting and decoding are one stage; the third is
// what the split left to decode (items that are not valid JSON: none here).
var stageNames = []string{"page read (HTTP)", "split and decode (one pass)", "decode left after the split", "validate and enrich", "encode"}

// readStages is how many of stageNames come before the pre-Kafka stages
// (split, decode, validate, enrich, encode).
const readStages = 1

// stageFigures is what `cpubench stages` prints: per stage, the CPU and the
// heap allocations of this process, and the records.
type stageFigures struct {
	Records int64
	CPU     [5]time.Duration
	Allocs  [5]uint64
}

// runStages is `cpubench stages`: the bridge's pre-Kafka stages, one after
// the other on each page of every vehicle's history, as the pipeline runs
// them, with the process's CPU (getrusage, all threads: the HTTP client's
// goroutines and the garbage collector are counted where they run) and
// heap allocations read between stages. The simulator serves from another
// process, so its CPU is not counted.
func runStages(args []string) error {
	// The collector as the bridge binary sets it (cmd/catena-bridge's
	// defaultGCPercent), so that the stages pay for their garbage as they
	// do in the bridge.
	if os.Getenv("GOGC") == "" {
		debug.SetGCPercent(bridgeGCPercent)
	}
	fs := flag.NewFlagSet("stages", flag.ExitOnError)
	api := fs.String("api", "", "simulator URL")
	fromS := fs.String("from", "", "RFC3339")
	toS := fs.String("to", "", "RFC3339")
	cpuProfile := fs.String("cpuprofile", "", "write a CPU profile of the stages to this file")
	_ = fs.Parse(args)
	from, err := time.Parse(time.RFC3339, *fromS)
	if err != nil {
		return err
	}
	to, err := time.Parse(time.RFC3339, *toS)
	if err != nil {
		return err
	}
	ctx := context.Background()
	read := &readDone{}
	cl, err := catena.New(catena.Config{APIURL: *api, TokenURL: *api + "/realms/catena/protocol/openid-connect/token",
		ClientID: "demo", ClientSecret: "demo", Observer: read})
	if err != nil {
		return err
	}
	var vehicles []string
	vp := cl.Vehicles(catena.VehicleQuery{}, "")
	for {
		pg, err := vp.Next(ctx)
		if err != nil {
			return err
		}
		if pg == nil {
			break
		}
		for _, v := range pg.Items {
			vehicles = append(vehicles, v.ID)
		}
	}
	codec, err := avro.NewCodec(schemas.VehicleLocation)
	if err != nil {
		return err
	}
	enc := avro.NewEncoder(codec, avro.ConfluentFraming(1))
	enr, err := geo.NewEnricher(geo.DefaultResolutions)
	if err != nil {
		return err
	}

	if *cpuProfile != "" {
		f, err := os.Create(*cpuProfile)
		if err != nil {
			return err
		}
		if err := pprof.StartCPUProfile(f); err != nil {
			return err
		}
		defer func() { pprof.StopCPUProfile(); _ = f.Close() }()
	}
	var fig stageFigures
	var locs []record.Location
	arena := make([]byte, 0, 1<<20)
	cpu0, al0 := usage()
	mark := func(stage int) {
		cpu, al := usage()
		fig.CPU[stage] += cpu - cpu0
		fig.Allocs[stage] += al - al0
		cpu0, al0 = cpu, al
	}
	read.done = func() { mark(0) }
	var sc scanned
	for _, v := range vehicles {
		p := cl.History(v, catena.Window{From: from, To: to}, catena.LocationQuery{Size: 1000}, "")
		p.ScanItems(sc.scan) // as the backfill does (pipeline.pageDecoder)
		for {
			cpu0, al0 = usage()
			pg, err := p.Next(ctx) // reads the body (mark(0) in readDone), then splits and decodes
			if err != nil {
				return err
			}
			mark(1)
			if pg == nil {
				break
			}
			items := pg.Items
			fig.Records += int64(len(items))
			locs = sc.rest(items)
			mark(2)
			now := time.Now()
			for i := range locs {
				l := &locs[i]
				if err := l.Validate(); err != nil {
					return fmt.Errorf("record %d of vehicle %s: %w", i, v, err)
				}
				if err := l.CheckFuture(now, time.Hour); err != nil {
					return err
				}
				enr.Enrich(l)
			}
			mark(3)
			arena = arena[:0]
			for i := range locs {
				arena = append(arena, locs[i].FleetID...)
				if arena, err = enc.Append(arena, &locs[i], now); err != nil {
					return err
				}
			}
			mark(4)
			// As the backfill does once the stages have run.
			catena.ReleaseItems(items)
		}
	}
	out, _ := json.Marshal(fig)
	fmt.Println(string(out))
	return nil
}

// readDone marks the end of the page read: the client calls Request once
// it has read a response's body whole into its buffer, before it splits
// the page. So the read stage is what the bridge does to read a page (the
// request, the socket's bytes copied once into the client's buffer), and
// the split starts from that buffer, as in the bridge.
type readDone struct {
	done func() // nil until the pages are read
}

func (r *readDone) Request(endpoint string, status int, err error, _ time.Duration) {
	if r.done != nil && endpoint == catena.EndpointVehicleLocations && err == nil && status/100 == 2 {
		r.done()
	}
}

func (*readDone) Retry(string, int, time.Duration)  {}
func (*readDone) Budget(catena.Lane, time.Duration) {}

// scanned decodes the records as the client splits a page, as the
// backfill does (pipeline.pageDecoder).
type scanned struct {
	locs []record.Location
	raws [][]byte
	vals []record.Values
	slab record.Slab // the strings, as a backfill's pageDecoder holds them
}

func (s *scanned) scan(i int, b []byte) int {
	if i == 0 {
		s.locs, s.raws = s.locs[:0], s.raws[:0]
	}
	if i != len(s.locs) {
		return 0
	}
	s.locs = append(s.locs, record.Location{})
	if i >= len(s.vals) {
		s.vals = append(s.vals, record.Values{})
	}
	n, err := record.DecodeItemInto(b, &s.locs[i], &s.vals[i], &s.slab)
	if err != nil {
		panic(err)
	}
	s.raws = append(s.raws, b[:n:n])
	return n
}

// rest decodes the items scan could not.
func (s *scanned) rest(items []json.RawMessage) []record.Location {
	for len(s.locs) < len(items) {
		s.locs = append(s.locs, record.Location{})
		s.raws = append(s.raws, nil)
	}
	for i, raw := range items {
		if r := s.raws[i]; len(r) == 0 || &r[0] != &raw[0] {
			if err := record.Decode(raw, &s.locs[i]); err != nil {
				panic(err)
			}
		}
	}
	return s.locs[:len(items)]
}

// usage is this process's CPU so far (user + system, all threads) and its
// heap allocations so far (objects).
func usage() (time.Duration, uint64) {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	s := []metrics.Sample{{Name: "/gc/heap/allocs:objects"}}
	metrics.Read(s)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano()), s[0].Value.Uint64()
}
