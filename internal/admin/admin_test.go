package admin

import (
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
)

func get(t *testing.T, h http.Handler, path string) (int, string) {
	t.Helper()
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest("GET", path, nil))
	b, _ := io.ReadAll(rec.Body)
	return rec.Code, string(b)
}

func TestEndpoints(t *testing.T) {
	reg := prometheus.NewRegistry()
	c := prometheus.NewCounter(prometheus.CounterOpts{Name: "catena_bridge_test_total", Help: "x"})
	reg.MustRegister(c)
	c.Add(3)
	s := New(reg, nil)
	var kafkaErr error
	s.AddCheck("kafka", func() error { return kafkaErr })
	s.AddCheck("catena-api", func() error { return nil })

	if code, body := get(t, s.Handler(), "/metrics"); code != 200 || !strings.Contains(body, "catena_bridge_test_total 3") {
		t.Errorf("/metrics = %d %q", code, body)
	}
	if code, _ := get(t, s.Handler(), "/healthz"); code != 200 {
		t.Errorf("/healthz = %d", code)
	}
	if code, body := get(t, s.Handler(), "/readyz"); code != 200 || !strings.Contains(body, "kafka: ok") {
		t.Errorf("/readyz = %d %q", code, body)
	}
	kafkaErr = errors.New("dial tcp 127.0.0.1:9092: connection refused")
	code, body := get(t, s.Handler(), "/readyz")
	if code != http.StatusServiceUnavailable || !strings.Contains(body, "kafka: dial tcp") || !strings.Contains(body, "catena-api: ok") {
		t.Errorf("/readyz with the broker down = %d %q", code, body)
	}
}

func TestListenServeShutdown(t *testing.T) {
	s := New(prometheus.NewRegistry(), nil)
	if err := s.Listen("127.0.0.1:0"); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- s.Serve() }()
	resp, err := http.Get("http://" + s.Addr() + "/healthz")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	s.Shutdown()
	if err := <-done; err != nil {
		t.Fatalf("Serve after Shutdown: %v", err)
	}
}
