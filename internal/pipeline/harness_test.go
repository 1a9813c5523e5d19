package pipeline_test

import (
	"bytes"
	"cmp"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"log/slog"
	"maps"
	"net/http"
	"net/http/httptest"
	"os"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/sr"
	"github.com/twmb/franz-go/pkg/sr/srfake"

	"github.com/catena-bridge/catena-bridge/internal/avro"
	"github.com/catena-bridge/catena-bridge/internal/catena"
	"github.com/catena-bridge/catena-bridge/internal/catenasim"
	"github.com/catena-bridge/catena-bridge/internal/geo"
	"github.com/catena-bridge/catena-bridge/internal/pipeline"
	"github.com/catena-bridge/catena-bridge/internal/sink"
	"github.com/catena-bridge/catena-bridge/internal/verify"
	"github.com/catena-bridge/catena-bridge/schemas"
)

// harness is the whole bridge on real protocols: the simulated API over
// HTTP, Kafka (kfake in-process, or the broker in KAFKA_BROKERS) and a
// Schema Registry (srfake).
type harness struct {
	t           testing.TB
	sim         *catenasim.Server
	clock       *catenasim.ManualClock
	apiURL      string
	brokers     []string
	net         *network  // the test's in-memory network: the API, the registry and kfake
	dial        []kgo.Opt // a Kafka client's options to reach brokers: seed brokers and, with kfake, the network's dialer
	topic       string
	registry    *srfake.Registry
	registryURL string
	sinkCfg     sink.Config
	client      *catena.Client
	sink        *sink.Sink
	pipe        *pipeline.Pipeline
	metrics     *pipeline.Metrics
	logs        *logBuffer

	now             catenasim.Clock                                                    // the simulator's and the bridge's clock: h.clock unless the test gave one
	apiDown         atomic.Bool                                                        // the API answers 503 to everything while set
	refuseCursors   atomic.Int64                                                       // the API answers 400 to this many requests with a cursor
	retryMaxElapsed time.Duration                                                      // the client's, default 1m
	rateLimit       float64                                                            // the client's requests per second, default none
	descending      atomic.Bool                                                        // the API pages history newest first (the contract states no order)
	hide            atomic.Pointer[func(vehicleID string, occurredAt time.Time) bool]  // the API leaves out matching location items (not yet reported)
	fail            atomic.Pointer[func(r *http.Request) bool]                         // the API answers 503 to matching requests
	answer          atomic.Pointer[func(r *http.Request) int]                          // the API answers this status (0: as usual), with an error body
	vehicleList     atomic.Pointer[func(items []json.RawMessage) []json.RawMessage]    // the API's vehicle list, edited
	rewrite         atomic.Pointer[func(latest bool, item map[string]json.RawMessage)] // the API serves location items edited by it
	rewriteOnly     atomic.Pointer[string]                                             // rewrite sees only the items that contain it (an id): decoding every item costs a long test seconds
	rawOnce         sync.Once
	raw             *catena.Client                        // rawHistory's client of the simulator itself
	onRequest       atomic.Pointer[func(r *http.Request)] // sees every API request first
}

// brokers returns KAFKA_BROKERS, or the address of a new in-process kfake
// cluster on n; dial is what a Kafka client needs to reach them.
func brokers(t testing.TB, n *network) (addrs []string, dial []kgo.Opt) {
	if env := os.Getenv("KAFKA_BROKERS"); env != "" {
		addrs = strings.Split(env, ",")
		return addrs, []kgo.Opt{kgo.SeedBrokers(addrs...)}
	}
	c, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.Ports(9092), kfake.ListenFn(n.Listen))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	addrs = c.ListenAddrs()
	// kfake asks clients for KIP-714 metrics, which they would push all
	// along the bubble's fake hours: 3% of the package's CPU, for nothing
	// the tests read.
	return addrs, []kgo.Opt{kgo.SeedBrokers(addrs...), kgo.Dialer(n.DialContext), kgo.DisableClientMetrics()}
}

var nonTopic = regexp.MustCompile(`[^a-zA-Z0-9._-]+`)

func uniqueTopic(t testing.TB) string {
	var b [4]byte
	rand.Read(b[:])
	return "e2e." + nonTopic.ReplaceAllString(t.Name(), "_") + "." + hex.EncodeToString(b[:])
}

func newHarness(t testing.TB, simCfg catenasim.Config, start time.Time, tune func(*pipeline.Config)) *harness {
	t.Helper()
	h := &harness{t: t, clock: catenasim.NewManualClock(start), net: &network{}, topic: uniqueTopic(t), now: simCfg.Clock}
	h.brokers, h.dial = brokers(t, h.net)
	if simCfg.PushClient == nil {
		simCfg.PushClient = h.net.client(t)
	}
	if h.now == nil {
		// The bridge's clock is the simulator's, which the test moves.
		simCfg.Clock, h.now = h.clock, h.clock
	}
	sim, err := catenasim.New(simCfg)
	if err != nil {
		t.Fatal(err)
	}
	h.sim = sim
	h.apiURL = h.net.serve(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if f := h.onRequest.Load(); f != nil {
			(*f)(r)
		}
		if r.URL.Query().Get("cursor") != "" && h.refuseCursors.Add(-1) >= 0 {
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusBadRequest)
			w.Write([]byte(`{"code":400,"message":"Bad Request","detail":"Invalid cursor value"}`))
			return
		}
		if f := h.answer.Load(); f != nil {
			if code := (*f)(r); code != 0 {
				w.Header().Set("Content-Type", "application/json")
				w.WriteHeader(code)
				fmt.Fprintf(w, `{"code":%d,"message":%q}`, code, http.StatusText(code))
				return
			}
		}
		if f := h.vehicleList.Load(); f != nil && strings.HasSuffix(r.URL.Path, "/telematics/vehicles") {
			rec := httptest.NewRecorder()
			sim.ServeHTTP(rec, r)
			var env map[string]json.RawMessage
			if rec.Code == 200 && json.Unmarshal(rec.Body.Bytes(), &env) == nil {
				var items []json.RawMessage
				json.Unmarshal(env["items"], &items)
				env["items"], _ = json.Marshal((*f)(items))
				b, _ := json.Marshal(env)
				w.Header().Set("Content-Type", "application/json")
				w.Write(b)
				return
			}
			w.WriteHeader(rec.Code)
			w.Write(rec.Body.Bytes())
			return
		}
		if f := h.fail.Load(); f != nil && (*f)(r) {
			w.WriteHeader(http.StatusServiceUnavailable)
			return
		}
		if h.apiDown.Load() {
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusServiceUnavailable)
			w.Write([]byte(`{"message":"Service Unavailable"}`))
			return
		}
		if h.descending.Load() && r.URL.Query().Get("only_latest") == "false" {
			h.serveDescending(w, r, sim)
			return
		}
		if f := h.hide.Load(); (f != nil || h.rewrite.Load() != nil) && strings.Contains(r.URL.Path, "vehicle-locations") {
			if f == nil {
				none := func(string, time.Time) bool { return false }
				f = &none
			}
			rec := httptest.NewRecorder()
			sim.ServeHTTP(rec, r)
			items, tail, ok := splitItems(rec.Body.Bytes())
			if rec.Code == 200 && !ok {
				// The simulator's format changed: the hooks would be
				// skipped and the tests that hide points prove nothing.
				t.Errorf("the simulator's page does not begin %s: %.80s", itemsPrefix, rec.Body.Bytes())
			}
			if rec.Code == 200 && ok {
				kept := []json.RawMessage{}
				for _, it := range items {
					at, _ := time.Parse(time.RFC3339Nano, wireString(it, "occurred_at"))
					if !(*f)(wireString(it, "vehicle_id"), at) {
						if rw, only := h.rewrite.Load(), h.rewriteOnly.Load(); rw != nil && (only == nil || bytes.Contains(it, []byte(*only))) {
							var m map[string]json.RawMessage
							json.Unmarshal(it, &m)
							(*rw)(r.URL.Query().Get("only_latest") != "false", m)
							it = joinObject(m)
						}
						kept = append(kept, it)
					}
				}
				b := append([]byte(itemsPrefix), joinArray(kept)[1:]...)
				b = append(b, tail...)
				for k, v := range rec.Header() {
					w.Header()[k] = v
				}
				w.Header().Del("Content-Length")
				w.WriteHeader(200)
				w.Write(b)
				return
			}
			for k, v := range rec.Header() {
				w.Header()[k] = v
			}
			w.WriteHeader(rec.Code)
			w.Write(rec.Body.Bytes())
			return
		}
		sim.ServeHTTP(w, r)
	}))
	h.registry = srfake.NewRegistry()
	h.registryURL = h.net.serve(t, h.registry.Handler())
	h.sinkCfg = sink.Config{Brokers: h.brokers, Topic: h.topic, Partitions: 6, TransactionTimeout: 20 * time.Second, ExtraOpts: h.dial[1:]}
	h.start(tune)
	return h
}

// cancelAtPage calls cancel when the API receives the n-th request for a
// page of history: a backfill stops part-way, at a point that depends on
// its requests, not on timing.
func (h *harness) cancelAtPage(n int, cancel func()) {
	var seen atomic.Int64
	f := func(r *http.Request) {
		if strings.Contains(r.URL.Path, "vehicle-locations") && r.URL.Query().Get("only_latest") == "false" && seen.Add(1) == int64(n) {
			cancel()
		}
	}
	h.onRequest.Store(&f)
}

// start wires a new bridge process (client, sink, pipeline) against the same
// API, topic and registry: calling it again is a restart.
func (h *harness) start(tune func(*pipeline.Config)) {
	p := h.process("", tune)
	h.client, h.sink, h.pipe, h.metrics, h.logs = p.client, p.sink, p.pipe, p.metrics, p.logs
}

// process is one bridge process of a harness.
type process struct {
	client  *catena.Client
	sink    *sink.Sink
	pipe    *pipeline.Pipeline
	metrics *pipeline.Metrics
	logs    *logBuffer // what the process logged
}

// process wires a bridge process with its own transactional id (""
// keeps the harness's): processes with different ids run side by side, as
// a backfill and a live tail do.
func (h *harness) process(txnID string, tune func(*pipeline.Config)) *process {
	t := h.t
	ctx := h.t.Context()
	m := pipeline.NewMetrics(nil)
	client, err := catena.New(catena.Config{
		APIURL: h.apiURL, TokenURL: h.apiURL + "/realms/catena/protocol/openid-connect/token",
		ClientID: "demo", ClientSecret: "demo",
		RetryInitialInterval: 10 * time.Millisecond, RetryMaxInterval: 100 * time.Millisecond, RetryMaxElapsed: cmp.Or(h.retryMaxElapsed, time.Minute),
		RateLimit: h.rateLimit, Observer: m, HTTPClient: h.net.client(t),
	})
	if err != nil {
		t.Fatal(err)
	}
	logs := &logBuffer{}
	log := slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelInfo}))
	if _, bench := t.(*testing.B); bench {
		log = slog.New(slog.DiscardHandler) // keep make bench's output to the results
	} else {
		t.Cleanup(func() {
			if t.Failed() {
				t.Logf("log of process %q:\n%s", txnID, logs)
			}
		})
	}
	scfg := h.sinkCfg
	scfg.Logger = log
	if txnID != "" {
		scfg.TransactionalID = txnID
	}
	s, err := sink.New(ctx, scfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Close)
	if err := s.EnsureTopics(ctx); err != nil {
		t.Fatal(err)
	}
	reg, err := sr.NewClient(sr.URLs(h.registryURL), sr.HTTPClient(h.net.client(t)))
	if err != nil {
		t.Fatal(err)
	}
	codec, err := eventCodec()
	if err != nil {
		t.Fatal(err)
	}
	id, err := avro.Register(ctx, reg, h.topic+"-value", codec)
	if err != nil {
		t.Fatal(err)
	}
	enr, err := geo.NewEnricher(geo.DefaultResolutions)
	if err != nil {
		t.Fatal(err)
	}
	cfg := pipeline.Config{
		Client: client, Sink: s, Encoder: avro.NewEncoder(codec, avro.ConfluentFraming(id)), Enricher: enr,
		Metrics: m, Logger: log, Now: h.now.Now, PageSize: 100, Concurrency: 4,
	}
	if tune != nil {
		tune(&cfg)
	}
	p, err := pipeline.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return &process{client: client, sink: s, pipe: p, metrics: m, logs: logs}
}

// eventCodec is the event schema's codec, made once for the package's
// bridge processes: a Codec does not change once made (the schema parsed
// by two libraries and its fingerprint) and a process only encodes with it,
// while making one per process, at every harness start and restart, was
// about 2% of the package's CPU under -race. Each process still registers
// the schema with its registry.
var eventCodec = sync.OnceValues(func() (*avro.Codec, error) { return avro.NewCodec(schemas.VehicleLocation) })

// logBuffer collects a process's log lines; safe for concurrent use.
type logBuffer struct {
	mu sync.Mutex
	b  strings.Builder
}

func (l *logBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *logBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// readBack reads the events and dead-letter topics as a read_committed
// consumer.
func (h *harness) readBack() (events, dlq []*kgo.Record) {
	h.t.Helper()
	r, err := sink.NewReader(h.sinkCfg)
	if err != nil {
		h.t.Fatal(err)
	}
	defer r.Close()
	ctx := h.t.Context()
	if err := r.ReadAll(ctx, h.topic, func(rec *kgo.Record) { events = append(events, rec) }); err != nil {
		h.t.Fatal(err)
	}
	if err := r.ReadAll(ctx, h.topic+".dlq", func(rec *kgo.Record) { dlq = append(dlq, rec) }); err != nil {
		h.t.Fatal(err)
	}
	return events, dlq
}

// truth is verify.Truth over the harness's simulator.
func (h *harness) truth(from, to, asOf time.Time) (valid, malformed map[string]catenasim.Point) {
	return verify.Truth(h.sim, from, to, asOf)
}

// serveDescending answers a history request with the simulator's records
// newest first, paged by an offset cursor of its own.
func (h *harness) serveDescending(w http.ResponseWriter, r *http.Request, sim http.Handler) {
	q := r.URL.Query()
	size, _ := strconv.Atoi(q.Get("size"))
	if size == 0 {
		size = 300
	}
	offset := 0
	if c := q.Get("cursor"); c != "" {
		offset, _ = strconv.Atoi(strings.TrimPrefix(c, "desc:"))
	}
	var all []json.RawMessage
	q.Set("size", "1000")
	q.Del("cursor")
	for {
		req := r.Clone(r.Context())
		req.URL.RawQuery = q.Encode()
		rec := httptest.NewRecorder()
		sim.ServeHTTP(rec, req)
		if rec.Code != 200 {
			w.WriteHeader(rec.Code)
			w.Write(rec.Body.Bytes())
			return
		}
		// The items cut as the hooks of newHarness cut them, and read with
		// wireString: decoding each item (and the envelope's items) of every
		// page, up to all of a vehicle's history for each page served, was
		// most of the CPU of the test that pages newest first.
		items, tail, ok := splitItems(rec.Body.Bytes())
		if !ok {
			h.t.Errorf("the simulator's page does not begin %s: %.80s", itemsPrefix, rec.Body.Bytes())
			w.WriteHeader(http.StatusInternalServerError)
			return
		}
		var env struct {
			NextPage *string `json:"next_page"`
		}
		json.Unmarshal(append([]byte{'{'}, tail[1:]...), &env)
		for _, it := range items {
			if f := h.hide.Load(); f != nil {
				at, _ := time.Parse(time.RFC3339Nano, wireString(it, "occurred_at"))
				if (*f)(wireString(it, "vehicle_id"), at) {
					continue
				}
			}
			all = append(all, it)
		}
		if env.NextPage == nil || *env.NextPage == "" {
			break
		}
		q.Set("cursor", *env.NextPage)
	}
	slices.Reverse(all)
	end := min(offset+size, len(all))
	var next any
	if end < len(all) {
		next = "desc:" + strconv.Itoa(end)
	}
	page := all[min(offset, len(all)):end]
	if page == nil {
		page = []json.RawMessage{}
	}
	b, _ := json.Marshal(map[string]any{"items": page, "total": len(all), "next_page": next})
	w.Header().Set("Content-Type", "application/json")
	w.Write(b)
}

// wireString returns the string value of key in a simulator's location
// item, "" if it has none. The simulator writes compact JSON, so a search
// finds it: a decode of every item would cost most of a live test's CPU.
// It takes the first occurrence at any depth and does not unescape: the
// simulator's vehicle_id and occurred_at are top-level, UUIDs and RFC 3339
// times, and no nested object of its items has those keys.
func wireString(item []byte, key string) string {
	k := `"` + key + `":"`
	i := bytes.Index(item, []byte(k))
	if i < 0 {
		return ""
	}
	v := item[i+len(k):]
	if j := bytes.IndexByte(v, '"'); j >= 0 {
		return string(v[:j])
	}
	return ""
}

// joinArray writes a JSON array of compact values, without encoding/json's
// second pass over each.
func joinArray(vals []json.RawMessage) json.RawMessage {
	b := []byte{'['}
	for i, v := range vals {
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, v...)
	}
	return append(b, ']')
}

// joinObject writes a JSON object of compact values, keys sorted as
// encoding/json sorts a map's, without its second pass over each value:
// json.Marshal compacts and validates every json.RawMessage, which for the
// tests' rewritten items includes megabytes of oversized extras, served
// again at every sweep (under -race, most of the soak test's API handler).
// The values are the simulator's compact JSON, or the test's own, so the
// only difference from json.Marshal is that strings keep the bytes the
// simulator wrote (json.Marshal would escape <, > and & in them); for every
// item the package's tests rewrite the two give the same bytes.
func joinObject(m map[string]json.RawMessage) json.RawMessage {
	keys := slices.Sorted(maps.Keys(m))
	n := 2
	for _, k := range keys {
		n += len(k) + len(m[k]) + 4
	}
	b := make([]byte, 0, n)
	b = append(b, '{')
	for i, k := range keys {
		if i > 0 {
			b = append(b, ',')
		}
		b = strconv.AppendQuote(b, k)
		b = append(b, ':')
		b = append(b, m[k]...)
	}
	return append(b, '}')
}

// itemsPrefix is how the simulator begins every page.
const itemsPrefix = `{"items":[`

// splitItems cuts a simulator's page into its items and what follows the
// items array (the rest of the envelope). The simulator writes compact JSON
// in a fixed order, each item beginning {"fleet_id": and the envelope's rest
// ],"total":, so two searches cut it (package bytes searches in assembly,
// which the race detector does not slow byte by byte); no item it serves
// holds either string. ok is false for any other body.
func splitItems(body []byte) (items []json.RawMessage, tail []byte, ok bool) {
	end := bytes.LastIndex(body, []byte(`],"total":`))
	if !bytes.HasPrefix(body, []byte(itemsPrefix)) || end < len(itemsPrefix) {
		return nil, nil, false
	}
	arr, sep := body[len(itemsPrefix):end], []byte(`},{"fleet_id":`)
	for len(arr) > 0 {
		i := bytes.Index(arr, sep)
		if i < 0 {
			items = append(items, arr)
			break
		}
		items = append(items, arr[:i+1])
		arr = arr[i+2:]
	}
	return items, body[end+1:], true
}
