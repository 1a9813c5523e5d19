package catena

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// TestCredentialsStayHome: a redirect from the token endpoint is never
// followed (the request carries the client secret), and the API's bearer
// token follows a redirect only to the API's own scheme, host and port. A
// canary on another port of the same host must see nothing.
func TestCredentialsStayHome(t *testing.T) {
	var canary atomic.Int64
	can := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		canary.Add(1)
		w.Header().Set("Content-Type", "application/json")
		w.Write([]byte(`{"access_token":"foreign","token_type":"Bearer","expires_in":3600,"items":[],"total":0}`))
	}))
	defer can.Close()

	for _, tc := range []struct {
		name          string
		tokenRedirect int    // status of a redirect of the token request, 0: none
		apiRedirect   string // "other": to the canary; "same": to the API's own origin; "": none
		wantErr       string
	}{
		{"token 307 to another host", http.StatusTemporaryRedirect, "", "redirect refused"},
		{"token 302 to another host", http.StatusFound, "", "redirect refused"},
		{"token 308 to another host", http.StatusPermanentRedirect, "", "redirect refused"},
		{"API 302 to another port", 0, "other", "redirect refused"},
		{"API 307 to another port", 0, "other307", "redirect refused"},
		{"API 302 on its own origin", 0, "same", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			canary.Store(0)
			mux := http.NewServeMux()
			mux.HandleFunc("/token", func(w http.ResponseWriter, r *http.Request) {
				if tc.tokenRedirect != 0 {
					http.Redirect(w, r, can.URL+"/steal", tc.tokenRedirect)
					return
				}
				w.Header().Set("Content-Type", "application/json")
				w.Write([]byte(`{"access_token":"home-token","token_type":"Bearer","expires_in":3600}`))
			})
			mux.HandleFunc("/v2/telematics/vehicles", func(w http.ResponseWriter, r *http.Request) {
				switch tc.apiRedirect {
				case "other":
					http.Redirect(w, r, can.URL+r.URL.RequestURI(), http.StatusFound)
					return
				case "other307":
					http.Redirect(w, r, can.URL+r.URL.RequestURI(), http.StatusTemporaryRedirect)
					return
				case "same":
					http.Redirect(w, r, "/v2/moved/vehicles?"+r.URL.RawQuery, http.StatusFound)
					return
				}
			})
			mux.HandleFunc("/v2/moved/vehicles", func(w http.ResponseWriter, r *http.Request) {
				if r.Header.Get("Authorization") != "Bearer home-token" {
					w.WriteHeader(http.StatusUnauthorized)
					return
				}
				w.Header().Set("Content-Type", "application/json")
				w.Write([]byte(`{"items":[],"total":0,"next_page":null}`))
			})
			api := httptest.NewServer(mux)
			defer api.Close()
			c, err := New(Config{APIURL: api.URL, TokenURL: api.URL + "/token", ClientID: testClientID, ClientSecret: testClientSecret,
				RetryInitialInterval: time.Millisecond, RetryMaxInterval: time.Millisecond, RetryMaxElapsed: 50 * time.Millisecond})
			if err != nil {
				t.Fatal(err)
			}
			_, err = c.Vehicles(VehicleQuery{}, "").Next(context.Background())
			switch {
			case tc.wantErr == "" && err != nil:
				t.Errorf("redirect on the API's own origin: %v", err)
			case tc.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tc.wantErr)):
				t.Errorf("err = %v, want one containing %q", err, tc.wantErr)
			}
			if err != nil && (strings.Contains(err.Error(), testClientSecret) || strings.Contains(err.Error(), "home-token")) {
				t.Errorf("the error carries a credential: %v", err)
			}
			if n := canary.Load(); n != 0 {
				t.Errorf("the canary on %s received %d requests", can.URL, n)
			}
		})
	}
}
