package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"

	"github.com/catena-bridge/catena-bridge/internal/catenasim"
)

const (
	hookID1    = "0b6f3c2a-7d1e-4f5a-9c8b-2e3d4f5a6b7c"
	hookID2    = "1c7a4d3b-8e2f-4a6b-8d9c-3f4e5a6b7c8d"
	hookFleet  = "7c9e6679-7425-40de-944b-e07fc1f90ae7"
	hookSecret = "Xk9mQ2vLp8RtW4zN" // what the fake generates
)

// fakeNotifications is a small fake of Catena's Notifications API (the
// simulator does not serve it): a token endpoint and the webhook
// subscription endpoints, recording what it is sent.
type fakeNotifications struct {
	mu       sync.Mutex
	requests []string          // "METHOD /path?query"
	bodies   []map[string]any  // create bodies
	status   map[string]string // id -> status
	echo     bool              // answer creates with the secret sent, in clear
	createFn http.HandlerFunc  // overrides the create answer
}

func newFakeNotifications(t *testing.T) (*fakeNotifications, string) {
	f := &fakeNotifications{status: map[string]string{hookID1: "stale", hookID2: "active"}}
	mux := http.NewServeMux()
	mux.HandleFunc("POST "+catenasim.TokenPath, func(w http.ResponseWriter, r *http.Request) {
		if r.FormValue("client_secret") != "right-secret-9f2" {
			w.WriteHeader(http.StatusUnauthorized)
			io.WriteString(w, `{"error":"invalid_client"}`)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		io.WriteString(w, `{"access_token":"tok","expires_in":300,"token_type":"Bearer"}`)
	})
	api := func(pattern string, h http.HandlerFunc) {
		mux.HandleFunc(pattern, func(w http.ResponseWriter, r *http.Request) {
			f.mu.Lock()
			f.requests = append(f.requests, r.Method+" "+r.URL.RequestURI())
			f.mu.Unlock()
			if r.Header.Get("Authorization") != "Bearer tok" {
				w.WriteHeader(http.StatusUnauthorized)
				return
			}
			w.Header().Set("Content-Type", "application/json")
			h(w, r)
		})
	}
	api("POST /v2/notifications/webhooks", func(w http.ResponseWriter, r *http.Request) {
		var body map[string]any
		json.NewDecoder(r.Body).Decode(&body)
		f.mu.Lock()
		f.bodies = append(f.bodies, body)
		echo, createFn := f.echo, f.createFn
		f.mu.Unlock()
		if createFn != nil {
			createFn(w, r)
			return
		}
		secret := hookSecret
		if s, ok := body["secret"].(string); ok {
			secret = "*****"
			if echo {
				secret = s
			}
		}
		one := func(id, event string) string {
			return fmt.Sprintf(`{"id":%q,"partner_id":"0f1e2d3c-4b5a-4978-8695-a4b3c2d1e0f9","url":"https://bridge.example.com/*****","event_name":%q,"filters":null,"secret":%q,"status":"active","created_at":"2025-05-01T08:00:00Z","updated_at":"2025-05-01T08:00:00Z","deleted_at":null}`, id, event, secret)
		}
		if ev := body["event_name"].(string); strings.HasSuffix(ev, ".*") {
			io.WriteString(w, "["+one(hookID1, "vehicle_location.added")+","+one(hookID2, "vehicle_location.removed")+"]")
			return
		}
		io.WriteString(w, one(hookID1, body["event_name"].(string)))
	})
	read := func(id string) string {
		f.mu.Lock()
		defer f.mu.Unlock()
		return fmt.Sprintf(`{"id":%q,"url":"https://bridge.example.com/*****","event_name":"vehicle_location.added","filters":{"fleet_ids":[%q]},"secret":"*****","status":%q,"created_at":"2025-05-01T08:00:00Z","updated_at":"2025-05-01T08:00:00Z"}`, id, hookFleet, f.status[id])
	}
	api("GET /v2/notifications/webhooks", func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Query().Get("cursor") == "" {
			fmt.Fprintf(w, `{"items":[%s],"next_page":"p2"}`, read(hookID1))
			return
		}
		fmt.Fprintf(w, `{"items":[%s],"next_page":null}`, read(hookID2))
	})
	api("POST /v2/notifications/webhooks/{id}/activate", func(w http.ResponseWriter, r *http.Request) {
		f.mu.Lock()
		f.status[r.PathValue("id")] = "active"
		f.mu.Unlock()
		io.WriteString(w, read(r.PathValue("id")))
	})
	api("POST /v2/notifications/webhooks/{id}/replay", func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusAccepted)
		io.WriteString(w, `{}`)
	})
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	return f, srv.URL
}

func (f *fakeNotifications) log() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]string(nil), f.requests...)
}

func TestWebhooksSubscribe(t *testing.T) {
	f, api := newFakeNotifications(t)
	env := apiEnv(api, "right-secret-9f2")
	code, stdout, stderr := cli(context.Background(), env, "webhooks", "subscribe",
		"--url", "https://bridge.example.com/hooks/catena", "--fleet-ids", hookFleet, "--fleet-refs", "acme-1, acme-2")
	if code != exitOK {
		t.Fatalf("exit %d; stderr:\n%s", code, stderr)
	}
	want := hookID1 + "\nSECRET (shown once, store it now, e.g. as WEBHOOK_SECRET): " + hookSecret + "\n"
	if stdout != want {
		t.Errorf("stdout %q\nwant   %q", stdout, want)
	}
	if strings.Contains(stderr, hookSecret) {
		t.Errorf("the secret is also on stderr:\n%s", stderr)
	}
	if !strings.Contains(stderr, "subscribed "+hookID1+": vehicle_location.added") {
		t.Errorf("stderr:\n%s", stderr)
	}
	wantBody := map[string]any{"url": "https://bridge.example.com/hooks/catena", "event_name": "vehicle_location.added",
		"filters": map[string]any{"fleet_ids": []any{hookFleet}, "fleet_refs": []any{"acme-1", "acme-2"}}}
	if got := mustJSONString(t, f.bodies[0]); got != mustJSONString(t, wantBody) {
		t.Errorf("create body %s\nwant %s", got, mustJSONString(t, wantBody))
	}

	// A catch-all creates one subscription per action: one id per line,
	// the shared secret once.
	code, stdout, stderr = cli(context.Background(), env, "webhooks", "subscribe", "--url", "https://bridge.example.com/h", "--event", "vehicle_location.*")
	if code != exitOK {
		t.Fatalf("catch-all: exit %d; stderr:\n%s", code, stderr)
	}
	if want := hookID1 + "\n" + hookID2 + "\nSECRET (shown once, store it now, e.g. as WEBHOOK_SECRET): " + hookSecret + "\n"; stdout != want {
		t.Errorf("catch-all stdout %q\nwant %q", stdout, want)
	}

	// --json: the whole answer, the generated secret in it, a warning aside.
	code, stdout, stderr = cli(context.Background(), env, "webhooks", "subscribe", "--url", "https://bridge.example.com/h", "--json")
	var hooks []map[string]any
	if code != exitOK || json.Unmarshal([]byte(stdout), &hooks) != nil || len(hooks) != 1 || hooks[0]["secret"] != hookSecret || hooks[0]["id"] != hookID1 {
		t.Errorf("--json: exit %d, stdout:\n%s\nstderr:\n%s", code, stdout, stderr)
	}
	if !strings.Contains(stderr, "shown once") {
		t.Errorf("--json: no warning that the secret is shown once:\n%s", stderr)
	}
}

func TestWebhooksSubscribeSecretFileNeverPrinted(t *testing.T) {
	f, api := newFakeNotifications(t)
	f.echo = true // even an answer that repeats the secret in clear
	const secret = "my-own-webhook-secret-0123456789abcdef"
	path := filepath.Join(t.TempDir(), "webhook-secret")
	if err := os.WriteFile(path, []byte("  "+secret+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	env := apiEnv(api, "right-secret-9f2")
	for _, args := range [][]string{
		{"--secret-file", path},
		{"--secret-file", path, "--json"},
		{"--secret-file", path, "--event", "vehicle_location.*"},
	} {
		code, stdout, stderr := cli(context.Background(), env, append([]string{"webhooks", "subscribe", "--url", "https://bridge.example.com/h"}, args...)...)
		if code != exitOK {
			t.Fatalf("%v: exit %d; stderr:\n%s", args, code, stderr)
		}
		if strings.Contains(stdout+stderr, secret) || strings.Contains(stdout, "SECRET") {
			t.Errorf("%v: the secret is printed:\nstdout:\n%s\nstderr:\n%s", args, stdout, stderr)
		}
		if !strings.Contains(stdout, hookID1) {
			t.Errorf("%v: no id in stdout:\n%s", args, stdout)
		}
	}
	f.mu.Lock()
	sent := f.bodies[0]["secret"]
	f.mu.Unlock()
	if sent != secret {
		t.Errorf("sent secret %q, want the file's content trimmed", sent)
	}

	// Through WEBHOOK_SECRET_FILE too; a short secret is refused without showing it.
	short := filepath.Join(t.TempDir(), "short")
	os.WriteFile(short, []byte("tiny-secret\n"), 0o600)
	env["WEBHOOK_SECRET_FILE"] = short
	code, stdout, stderr := cli(context.Background(), env, "webhooks", "subscribe", "--url", "https://bridge.example.com/h")
	if code != exitUsage || !strings.Contains(stderr, "--secret-file=") || !strings.Contains(stderr, "11 characters") || strings.Contains(stdout+stderr, "tiny-secret") {
		t.Errorf("short secret file: exit %d\nstdout:\n%s\nstderr:\n%s", code, stdout, stderr)
	}
}

func TestWebhooksSubscribeBadFlags(t *testing.T) {
	f, api := newFakeNotifications(t)
	env := apiEnv(api, "right-secret-9f2")
	for _, tt := range []struct {
		args []string
		want string
	}{
		{nil, `--url="": required`},
		{[]string{"--url", "ftp://bridge.example.com/h"}, `--url="ftp://bridge.example.com/h": scheme must be http or https`},
		{[]string{"--url", "bridge.example.com/h"}, `--url="bridge.example.com/h": scheme must be http or https`},
		{[]string{"--url", "https://u:hunter2@x.test/h", "--event", "bad event"}, `--event="bad event": must be`},
		{[]string{"--url", "https://x.test/" + strings.Repeat("p", 2100)}, "2115 characters: at most 2083"},
		{[]string{"--url", "https://x.test/h", "--fleet-ids", "acme-1"}, `--fleet-ids: "acme-1" is not a uuid`},
		{[]string{"--url", "https://x.test/h", "--secret-file", "/nonexistent/secret"}, `--secret-file="/nonexistent/secret"`},
		{[]string{"--url", "https://x.test/h", "stray"}, `unexpected argument "stray"`},
	} {
		code, stdout, stderr := cli(context.Background(), env, append([]string{"webhooks", "subscribe"}, tt.args...)...)
		if code != exitUsage || !strings.Contains(stderr, tt.want) || stdout != "" {
			t.Errorf("%v: exit %d, want %d and %q; stderr:\n%s", tt.args, code, exitUsage, tt.want, stderr)
		}
		if strings.Contains(stderr, "hunter2") {
			t.Errorf("%v: the URL's password is shown:\n%s", tt.args, stderr)
		}
	}
	if n := len(f.log()); n != 0 {
		t.Fatalf("bad flags sent %d requests", n)
	}
}

func TestWebhooksSubscribeFailures(t *testing.T) {
	f, api := newFakeNotifications(t)
	env := apiEnv(api, "right-secret-9f2")
	env["CATENA_RETRY_MAX_ELAPSED"] = "2s"
	f.createFn = func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusBadGateway)
		io.WriteString(w, `{"message":"Bad Gateway"}`)
	}
	code, _, stderr := cli(context.Background(), env, "webhooks", "subscribe", "--url", "https://bridge.example.com/h")
	if code != exitFailure || !strings.Contains(stderr, "may have been created") || !strings.Contains(stderr, "webhooks list --event vehicle_location.added") {
		t.Errorf("502: exit %d; stderr:\n%s", code, stderr)
	}
	if n := len(f.log()); n != 1 {
		t.Errorf("502: %d create requests, want 1 (not retried)", n)
	}
	f.createFn = func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusConflict)
		io.WriteString(w, `{"code":409,"message":"Conflict","detail":"webhook already exists"}`)
	}
	code, _, stderr = cli(context.Background(), env, "webhooks", "subscribe", "--url", "https://bridge.example.com/h")
	if code != exitFailure || !strings.Contains(stderr, "409 Conflict: webhook already exists") || !strings.Contains(stderr, "one subscription per event, URL and filters") {
		t.Errorf("409: exit %d; stderr:\n%s", code, stderr)
	}
}

func TestWebhooksList(t *testing.T) {
	f, api := newFakeNotifications(t)
	env := apiEnv(api, "right-secret-9f2")
	code, stdout, stderr := cli(context.Background(), env, "webhooks", "list")
	if code != exitOK {
		t.Fatalf("exit %d; stderr:\n%s", code, stderr)
	}
	lines := strings.Split(strings.TrimSpace(stdout), "\n")
	if len(lines) != 3 || !regexp.MustCompile(`^ID\s+STATUS\s+EVENT\s+URL\s+FILTERS$`).MatchString(lines[0]) ||
		!regexp.MustCompile(`^`+hookID1+`\s+stale\s+vehicle_location.added\s+https://bridge.example.com/\*\*\*\*\*\s+fleet_ids=`+hookFleet+`$`).MatchString(lines[1]) ||
		!strings.HasPrefix(lines[2], hookID2+"  active") {
		t.Errorf("stdout:\n%s", stdout)
	}

	code, stdout, stderr = cli(context.Background(), env, "webhooks", "list", "--status", "stale", "--event", "vehicle_location.added", "--json")
	if code != exitOK {
		t.Fatalf("--json: exit %d; stderr:\n%s", code, stderr)
	}
	lines = strings.Split(strings.TrimSpace(stdout), "\n")
	var first map[string]any
	if len(lines) != 2 || json.Unmarshal([]byte(lines[0]), &first) != nil || first["id"] != hookID1 || first["secret"] != "*****" {
		t.Errorf("--json stdout:\n%s", stdout)
	}
	log := f.log()
	if want := "GET /v2/notifications/webhooks?event_name=vehicle_location.added&status=stale&size=1000"; log[len(log)-2] != want ||
		!strings.Contains(log[len(log)-1], "cursor=p2") {
		t.Errorf("requests %v", log)
	}

	code, _, stderr = cli(context.Background(), env, "webhooks", "list", "--status", "stalled")
	if code != exitUsage || !strings.Contains(stderr, `--status="stalled": must be active, paused, stale or deleted`) {
		t.Errorf("--status stalled: exit %d; stderr:\n%s", code, stderr)
	}
}

func TestWebhooksActivateAndReplay(t *testing.T) {
	f, api := newFakeNotifications(t)
	env := apiEnv(api, "right-secret-9f2")
	code, stdout, stderr := cli(context.Background(), env, "webhooks", "activate", "--id", hookID1)
	if code != exitOK {
		t.Fatalf("activate: exit %d; stderr:\n%s", code, stderr)
	}
	if !regexp.MustCompile(`(?m)^`+hookID1+`\s+active\s`).MatchString(stdout) || !strings.Contains(stderr, "webhooks replay --id "+hookID1) {
		t.Errorf("activate stdout:\n%s\nstderr:\n%s", stdout, stderr)
	}
	code, stdout, stderr = cli(context.Background(), env, "webhooks", "activate", "--id", hookID1, "--json")
	var w map[string]any
	if code != exitOK || json.Unmarshal([]byte(stdout), &w) != nil || w["status"] != "active" {
		t.Errorf("activate --json: exit %d, stdout:\n%s\nstderr:\n%s", code, stdout, stderr)
	}

	code, stdout, stderr = cli(context.Background(), env, "webhooks", "replay", "--id", hookID1)
	if code != exitOK || stdout != "" || !strings.Contains(stderr, "replay of subscription "+hookID1+"'s dead-letter queue accepted") {
		t.Errorf("replay: exit %d\nstdout:\n%s\nstderr:\n%s", code, stdout, stderr)
	}
	want := []string{
		"POST /v2/notifications/webhooks/" + hookID1 + "/activate",
		"POST /v2/notifications/webhooks/" + hookID1 + "/activate",
		"POST /v2/notifications/webhooks/" + hookID1 + "/replay",
	}
	if got := f.log(); strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("requests\n%v\nwant\n%v", got, want)
	}

	for _, sub := range []string{"activate", "replay", "pause", "get"} {
		code, _, stderr := cli(context.Background(), env, "webhooks", sub, "--id", "42")
		if code != exitUsage || !strings.Contains(stderr, `--id="42": not a uuid`) {
			t.Errorf("%s --id 42: exit %d; stderr:\n%s", sub, code, stderr)
		}
	}
	// An API error exits 1.
	code, _, stderr = cli(context.Background(), env, "webhooks", "pause", "--id", hookID1)
	if code != exitFailure || !strings.Contains(stderr, "405") && !strings.Contains(stderr, "404") {
		t.Errorf("pause on a fake without it: exit %d; stderr:\n%s", code, stderr)
	}
}

func TestWebhooksHelpAndDispatch(t *testing.T) {
	ctx := context.Background()
	for _, tc := range []struct {
		sub  string
		want []string
	}{
		{"subscribe", []string{"--url URL", "-secret-file", "WEBHOOK_SECRET_FILE", "WEBHOOK_URL", "-fleet-refs", "-event", "SECRET (shown once", "CATENA_API_URL", "CATENA_CLIENT_ID", "CATENA_CLIENT_SECRET"}},
		{"list", []string{"-status", "stale", "-json", "CATENA_TOKEN_URL", "LOG_LEVEL"}},
		{"get", []string{"--id ID", "CATENA_API_URL"}},
		{"activate", []string{"--id ID", "stale", "CATENA_CLIENT_SECRET_FILE"}},
		{"pause", []string{"--id ID"}},
		{"replay", []string{"--id ID", "dead-letter queue", "202", "CATENA_RETRY_MAX_ELAPSED"}},
	} {
		code, stdout, stderr := cli(ctx, nil, "webhooks", tc.sub, "--help")
		help := stdout + stderr
		if code != exitOK || !strings.Contains(help, "Usage: catena-bridge webhooks "+tc.sub) {
			t.Errorf("%s --help: exit %d:\n%s", tc.sub, code, help)
		}
		for _, w := range tc.want {
			if !strings.Contains(help, w) {
				t.Errorf("%s --help does not mention %s", tc.sub, w)
			}
		}
	}
	code, stdout, _ := cli(ctx, nil, "webhooks", "--help")
	if code != exitOK || !strings.Contains(stdout, "Usage: catena-bridge webhooks <subcommand>") || !strings.Contains(stdout, "  replay ") {
		t.Errorf("webhooks --help: exit %d:\n%s", code, stdout)
	}
	if code, _, stderr := cli(ctx, nil, "webhooks"); code != exitUsage || !strings.Contains(stderr, "Subcommands:") {
		t.Errorf("webhooks: exit %d:\n%s", code, stderr)
	}
	if code, _, stderr := cli(ctx, nil, "webhooks", "delete"); code != exitUsage || !strings.Contains(stderr, `unknown subcommand "delete"`) {
		t.Errorf("webhooks delete: exit %d:\n%s", code, stderr)
	}
	if code, _, stderr := cli(ctx, nil, "webhooks", "--url", "https://x.test"); code != exitUsage || !strings.Contains(stderr, "the subcommand comes first") {
		t.Errorf("webhooks --url: exit %d:\n%s", code, stderr)
	}
}

func mustJSONString(t *testing.T, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}
