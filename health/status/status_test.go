package status

import (
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/zoneproxy/zoneproxy/internal/testutil"
)

type fakeState struct {
	loaded    atomic.Bool
	connected atomic.Bool
}

func (f *fakeState) config(require bool) Config {
	return Config{
		Loaded: func() (bool, string, int64, time.Time) {
			return f.loaded.Load(), "control_plane", 42, time.Now().Add(-3 * time.Second)
		},
		ControlPlane: func() (bool, any) {
			return f.connected.Load(), map[string]string{"current_endpoint": "https://127.0.0.1:1"}
		},
		RequireControlPlane: require,
	}
}

// serve runs s on a real loopback socket and returns its base URL.
func serve(t *testing.T, s *Server) string {
	t.Helper()
	ln := testutil.Listen(t)
	srv := s.Serve(ln)
	t.Cleanup(func() { _ = srv.Close() })
	return "http://" + ln.Addr().String()
}

func get(t *testing.T, method, url string) (int, map[string]any) {
	t.Helper()
	req, _ := http.NewRequest(method, url, nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if ct := resp.Header.Get("Content-Type"); ct != "application/json" {
		t.Errorf("%s %s: Content-Type %q", method, url, ct)
	}
	var m map[string]any
	if method != http.MethodHead {
		if err := json.Unmarshal(body, &m); err != nil {
			t.Fatalf("%s %s: body %q is not JSON: %v", method, url, body, err)
		}
	} else if len(body) != 0 {
		t.Errorf("HEAD %s: body %q", url, body)
	}
	return resp.StatusCode, m
}

func TestReadiness(t *testing.T) {
	tests := []struct {
		name                       string
		require, listening, loaded bool
		connected, draining        bool
		wantReady                  int
		wantWhy                    string
	}{
		{name: "nothing yet", wantReady: 503, wantWhy: "the proxy is not listening yet"},
		{name: "listening, no config", listening: true, wantReady: 503, wantWhy: "no configuration loaded yet"},
		{name: "config loaded", listening: true, loaded: true, wantReady: 200},
		{name: "control plane down, static stability", listening: true, loaded: true, connected: false, wantReady: 200},
		{name: "control plane required and down", require: true, listening: true, loaded: true, wantReady: 503,
			wantWhy: "no control-plane endpoint is reachable"},
		{name: "control plane required and up", require: true, listening: true, loaded: true, connected: true, wantReady: 200},
		{name: "draining", listening: true, loaded: true, connected: true, draining: true, wantReady: 503, wantWhy: "shutting down"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var f fakeState
			f.loaded.Store(tt.loaded)
			f.connected.Store(tt.connected)
			s := New(f.config(tt.require))
			s.SetListening(tt.listening)
			if tt.draining {
				s.SetDraining()
			}
			base := serve(t, s)
			if code, body := get(t, "GET", base+"/status"); code != 200 || body["status"] != "ok" {
				t.Errorf("/status = %d %v, want 200 ok", code, body)
			}
			code, body := get(t, "GET", base+"/status/ready")
			if code != tt.wantReady {
				t.Fatalf("/status/ready = %d %v, want %d", code, body, tt.wantReady)
			}
			if tt.wantReady == 200 && body["status"] != "ok" {
				t.Errorf("ready body %v", body)
			}
			if tt.wantReady == 503 && (body["status"] != "error" || body["error"] != tt.wantWhy) {
				t.Errorf("not-ready body %v, want error %q", body, tt.wantWhy)
			}
			if code, _ := get(t, "HEAD", base+"/status/ready"); code != tt.wantReady {
				t.Errorf("HEAD /status/ready = %d, want %d", code, tt.wantReady)
			}
		})
	}
}

func TestMethodsAndControlPlane(t *testing.T) {
	var f fakeState
	f.loaded.Store(true)
	f.connected.Store(true)
	s := New(f.config(false))
	s.SetListening(true)
	base := serve(t, s)
	for _, path := range []string{"/status", "/status/ready", "/status/control-plane"} {
		for _, m := range []string{"POST", "PUT", "DELETE"} {
			if code, body := get(t, m, base+path); code != 405 || !strings.Contains(body["error"].(string), "method") {
				t.Errorf("%s %s = %d %v, want 405", m, path, code, body)
			}
		}
	}
	code, body := get(t, "GET", base+"/status/control-plane")
	if code != 200 {
		t.Fatalf("control-plane = %d", code)
	}
	if body["config_source"] != "control_plane" || body["config_revision"] != float64(42) || body["connected"] != true {
		t.Errorf("control-plane body %v", body)
	}
	if age, _ := body["config_age_seconds"].(float64); age < 3 {
		t.Errorf("config_age_seconds = %v, want >= 3", body["config_age_seconds"])
	}
	cp, _ := body["control_plane"].(map[string]any)
	if cp["current_endpoint"] != "https://127.0.0.1:1" {
		t.Errorf("control_plane view %v", cp)
	}
}

// TestGSLBChecks: /status/ready's query parameters fail readiness on a stale or unexpected
// configuration, and a malformed query answers 400.
func TestGSLBChecks(t *testing.T) {
	var f fakeState
	f.loaded.Store(true)
	var confirmed atomic.Int64 // unix nanoseconds; 0: never
	cfg := f.config(false)
	cfg.Fingerprint = func() string { return "00ff00ff00ff00ff00ff00ff00ff00ff" }
	cfg.Confirmed = func() time.Time {
		if n := confirmed.Load(); n != 0 {
			return time.Unix(0, n)
		}
		return time.Time{}
	}
	s := New(cfg)
	s.SetListening(true)
	base := serve(t, s)
	tests := []struct {
		name      string
		confirmed time.Duration // ago; <0: never
		query     string
		want      int
		wantWhy   string
	}{
		{"no checks", -1, "", 200, ""},
		{"fingerprint matches", -1, "?fingerprint=00FF00FF00FF00FF00FF00FF00FF00FF", 200, ""},
		{"fingerprint differs", -1, "?fingerprint=abcd", 503, "config_fingerprint 00ff00ff00ff00ff00ff00ff00ff00ff is not the expected abcd"},
		{"never confirmed", -1, "?max_config_age=30s", 503, "the configuration was never confirmed by a control plane"},
		{"fresh", 5 * time.Second, "?max_config_age=30s", 200, ""},
		{"fresh, seconds", 5 * time.Second, "?max_config_age=30", 200, ""},
		{"stale", time.Minute, "?max_config_age=30s", 503, "the configuration was last confirmed by a control plane"},
		{"both", 5 * time.Second, "?max_config_age=30s&fingerprint=00ff00ff00ff00ff00ff00ff00ff00ff", 200, ""},
		{"bad age", -1, "?max_config_age=soon", 400, "max_config_age \"soon\""},
		{"negative age", -1, "?max_config_age=-1s", 400, "must be positive"},
		{"bad fingerprint", -1, "?fingerprint=xyz", 400, "hex digits expected"},
		{"unknown parameter", -1, "?max_age=30s", 400, "unknown parameter \"max_age\""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			confirmed.Store(0)
			if tt.confirmed >= 0 {
				confirmed.Store(time.Now().Add(-tt.confirmed).UnixNano())
			}
			code, body := get(t, "GET", base+"/status/ready"+tt.query)
			if code != tt.want {
				t.Fatalf("/status/ready%s = %d %v, want %d", tt.query, code, body, tt.want)
			}
			if why, _ := body["error"].(string); !strings.Contains(why, tt.wantWhy) || (tt.wantWhy == "") != (why == "") {
				t.Errorf("error %q, want it to contain %q", why, tt.wantWhy)
			}
		})
	}
	confirmed.Store(time.Now().Add(-2 * time.Second).UnixNano())
	_, body := get(t, "GET", base+"/status/control-plane")
	if body["config_fingerprint"] != "00ff00ff00ff00ff00ff00ff00ff00ff" {
		t.Errorf("config_fingerprint = %v", body["config_fingerprint"])
	}
	if age, _ := body["config_confirmed_age_seconds"].(float64); age < 2 {
		t.Errorf("config_confirmed_age_seconds = %v, want >= 2", body["config_confirmed_age_seconds"])
	}
}
