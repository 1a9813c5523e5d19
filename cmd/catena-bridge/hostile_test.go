package main

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/catena-bridge/catena-bridge/internal/catenasim"
	"github.com/catena-bridge/catena-bridge/internal/sink"
)

// Secrets of the hostile-API suite: none may appear in anything the bridge
// prints, at any log level.
const (
	hostileSecret  = "hostile-CLIENT-SECRET-never-print"
	hostileRegPass = "hostile-REGISTRY-PASS-never-print"
)

// impersonator is a Catena API that is the simulator but for what a case
// changes: it sees every request first.
type impersonator struct {
	sim    *catenasim.Server
	tokens sync.Map // access tokens issued, which must not be printed either
	serve  func(w http.ResponseWriter, r *http.Request) bool
}

func (im *impersonator) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if im.serve != nil && im.serve(w, r) {
		return
	}
	rec := httptest.NewRecorder()
	im.sim.ServeHTTP(rec, r)
	if r.URL.Path == catenasim.TokenPath {
		var tok struct {
			AccessToken string `json:"access_token"`
		}
		if json.Unmarshal(rec.Body.Bytes(), &tok) == nil && tok.AccessToken != "" {
			im.tokens.Store(tok.AccessToken, true)
		}
	}
	for k, v := range rec.Header() {
		w.Header()[k] = v
	}
	w.WriteHeader(rec.Code)
	w.Write(rec.Body.Bytes())
}

// editItems serves a location page with its items edited by f.
func (im *impersonator) editItems(w http.ResponseWriter, r *http.Request, f func(items []map[string]json.RawMessage) []map[string]json.RawMessage) {
	rec := httptest.NewRecorder()
	im.sim.ServeHTTP(rec, r)
	var env map[string]json.RawMessage
	if rec.Code != 200 || json.Unmarshal(rec.Body.Bytes(), &env) != nil {
		w.WriteHeader(rec.Code)
		w.Write(rec.Body.Bytes())
		return
	}
	var items []map[string]json.RawMessage
	json.Unmarshal(env["items"], &items)
	env["items"], _ = json.Marshal(f(items))
	b, _ := json.Marshal(env)
	w.Header().Set("Content-Type", "application/json")
	w.Write(b)
}

func historyOf(r *http.Request, vehicle string) bool {
	q := r.URL.Query()
	return strings.HasSuffix(r.URL.Path, "/vehicle-locations") && q.Get("only_latest") == "false" && slices.Contains(q["vehicle_ids"], vehicle)
}

// TestHostileAPI runs a whole backfill against an API that misbehaves in
// one way per case, and checks what a user sees: the exit code, the
// message, what reaches the topics, that no credential leaves the
// configured origin (a canary on another port must see nothing), and that
// no secret (client secret, access token, registry password) is in the
// output of the run, logged at debug level.
func TestHostileAPI(t *testing.T) {
	t0 := time.Date(2026, 11, 20, 12, 0, 0, 0, time.UTC)
	from, to := t0.Add(-time.Hour), t0
	var canaryHits atomic.Int64
	canary := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		canaryHits.Add(1)
		w.Header().Set("Content-Type", "application/json")
		w.Write([]byte(`{"access_token":"canary-token","token_type":"Bearer","expires_in":3600,"items":[],"total":0}`))
	}))
	defer canary.Close()

	type env struct {
		im       *impersonator
		vehicles []catenasim.Vehicle
	}
	for _, tc := range []struct {
		name  string
		serve func(e *env) func(w http.ResponseWriter, r *http.Request) bool
		code  int
		want  []string // in stderr or stdout
		check func(t *testing.T, e *env, events, dlq []*kgo.Record)
	}{
		{
			name: "token endpoint redirects to another host",
			serve: func(*env) func(http.ResponseWriter, *http.Request) bool {
				return func(w http.ResponseWriter, r *http.Request) bool {
					if r.URL.Path != catenasim.TokenPath {
						return false
					}
					http.Redirect(w, r, canary.URL+"/token", http.StatusTemporaryRedirect)
					return true
				}
			},
			code: exitFailure, want: []string{"redirect refused", "CATENA_TOKEN_URL"},
		},
		{
			name: "API redirects to another port of its host",
			serve: func(*env) func(http.ResponseWriter, *http.Request) bool {
				return func(w http.ResponseWriter, r *http.Request) bool {
					if !strings.HasSuffix(r.URL.Path, "/telematics/vehicles") {
						return false
					}
					http.Redirect(w, r, canary.URL+r.URL.RequestURI(), http.StatusFound)
					return true
				}
			},
			code: exitFailure, want: []string{"redirect refused"},
		},
		{
			name: "token endpoint refuses the credentials",
			serve: func(*env) func(http.ResponseWriter, *http.Request) bool {
				return func(w http.ResponseWriter, r *http.Request) bool {
					if r.URL.Path != catenasim.TokenPath {
						return false
					}
					w.Header().Set("Content-Type", "application/json")
					w.WriteHeader(http.StatusUnauthorized)
					w.Write([]byte(`{"error":"invalid_client","error_description":"Invalid client or Invalid client credentials"}`))
					return true
				}
			},
			code: exitFailure, want: []string{"check the client id"},
		},
		{
			name: "one vehicle's history answers 502 for good",
			serve: func(e *env) func(http.ResponseWriter, *http.Request) bool {
				return func(w http.ResponseWriter, r *http.Request) bool {
					if !historyOf(r, e.vehicles[0].ID) {
						return false
					}
					w.WriteHeader(http.StatusBadGateway)
					return true
				}
			},
			code: exitFailure, want: []string{"backfill incomplete", "1 of 3 vehicles failed"},
			check: func(t *testing.T, e *env, events, _ []*kgo.Record) {
				if len(events) == 0 {
					t.Error("the other vehicles published nothing")
				}
			},
		},
		{
			name: "one vehicle's history is a malformed page",
			serve: func(e *env) func(http.ResponseWriter, *http.Request) bool {
				return func(w http.ResponseWriter, r *http.Request) bool {
					if !historyOf(r, e.vehicles[1].ID) {
						return false
					}
					w.Header().Set("Content-Type", "application/json")
					w.Write([]byte(`{"items":[{"id":`))
					return true
				}
			},
			code: exitFailure, want: []string{"backfill incomplete"},
		},
		{
			name: "one vehicle is gone (404)",
			serve: func(e *env) func(http.ResponseWriter, *http.Request) bool {
				return func(w http.ResponseWriter, r *http.Request) bool {
					if !historyOf(r, e.vehicles[2].ID) {
						return false
					}
					w.Header().Set("Content-Type", "application/json")
					w.WriteHeader(http.StatusNotFound)
					w.Write([]byte(`{"code":404,"message":"Not Found"}`))
					return true
				}
			},
			code: exitOK, want: []string{"published"},
		},
		{
			name: "the vehicle list has entries without a usable id",
			serve: func(e *env) func(http.ResponseWriter, *http.Request) bool {
				return func(w http.ResponseWriter, r *http.Request) bool {
					if !strings.HasSuffix(r.URL.Path, "/telematics/vehicles") {
						return false
					}
					e.im.editItems(w, r, func(items []map[string]json.RawMessage) []map[string]json.RawMessage {
						return append(items, map[string]json.RawMessage{"id": json.RawMessage(`""`)}, map[string]json.RawMessage{"id": json.RawMessage(`"../../etc"`)})
					})
					return true
				}
			},
			code: exitOK, want: []string{"3 vehicles"},
		},
		{
			name: "a record in year 9999 and one too large for the topic",
			serve: func(e *env) func(http.ResponseWriter, *http.Request) bool {
				return func(w http.ResponseWriter, r *http.Request) bool {
					if !historyOf(r, e.vehicles[0].ID) {
						return false
					}
					e.im.editItems(w, r, func(items []map[string]json.RawMessage) []map[string]json.RawMessage {
						if len(items) > 2 {
							items[0]["occurred_at"] = json.RawMessage(`"9999-12-31T00:00:00Z"`)
							items[1]["extras"], _ = json.Marshal(map[string]string{"blob": strings.Repeat("x", 1_200_000)})
						}
						return items
					})
					return true
				}
			},
			code: exitOK,
			check: func(t *testing.T, _ *env, _, dlq []*kgo.Record) {
				codes := map[string]int{}
				for _, r := range dlq {
					for _, h := range r.Headers {
						if h.Key == sink.HeaderErrorCode {
							codes[string(h.Value)]++
						}
					}
				}
				if codes["future_time"] == 0 || codes["too_large"] == 0 {
					t.Errorf("dead letters by code %v: want future_time and too_large", codes)
				}
			},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			canaryHits.Store(0)
			sim, err := catenasim.New(catenasim.Config{Seed: 3, Fleets: 1, VehiclesPerFleet: 3, ReportInterval: time.Minute,
				Clock: catenasim.NewManualClock(t0), ClientID: "demo", ClientSecret: hostileSecret})
			if err != nil {
				t.Fatal(err)
			}
			e := &env{im: &impersonator{sim: sim}, vehicles: sim.Vehicles()}
			e.im.serve = tc.serve(e)
			api := httptest.NewServer(e.im)
			defer api.Close()
			k := newKafkaEnv(t)
			vars := k.env(api.URL,
				"CATENA_CLIENT_SECRET", hostileSecret,
				"SCHEMA_REGISTRY_URL", strings.Replace(k.registry, "http://", "http://reguser:"+hostileRegPass+"@", 1),
				"LOG_LEVEL", "debug",
				"CATENA_RETRY_MAX_ELAPSED", "200ms",
				"CATENA_OUTAGE_MAX", "300ms",
			)
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
			defer cancel()
			code, stdout, stderr := cli(ctx, vars, "backfill", "--from", from.Format(time.RFC3339), "--to", to.Format(time.RFC3339))
			out := stdout + stderr
			if code != tc.code {
				t.Errorf("exit %d, want %d; output:\n%s", code, tc.code, out)
			}
			for _, w := range tc.want {
				if !strings.Contains(out, w) {
					t.Errorf("output lacks %q:\n%s", w, out)
				}
			}
			secrets := []string{hostileSecret, hostileRegPass, "canary-token"}
			e.im.tokens.Range(func(k, _ any) bool { secrets = append(secrets, k.(string)); return true })
			for _, s := range secrets {
				if strings.Contains(out, s) {
					t.Errorf("the output carries a secret (%.12s…)", s)
				}
			}
			if n := canaryHits.Load(); n != 0 {
				t.Errorf("the canary on %s got %d requests: a credential left the configured origin", canary.URL, n)
			}
			if tc.check != nil {
				r, err := sink.NewReader(sink.Config{Brokers: k.brokers, Topic: k.topic})
				if err != nil {
					t.Fatal(err)
				}
				defer r.Close()
				var events, dlq []*kgo.Record
				r.ReadAll(ctx, k.topic, func(rec *kgo.Record) { events = append(events, rec) })
				r.ReadAll(ctx, k.topic+".dlq", func(rec *kgo.Record) { dlq = append(dlq, rec) })
				tc.check(t, e, events, dlq)
			}
		})
	}
}
