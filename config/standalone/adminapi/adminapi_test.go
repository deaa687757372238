package adminapi

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/zoneproxy/zoneproxy/config/state"
	"github.com/zoneproxy/zoneproxy/internal/testutil"
)

// checkURI stands for the builder's check: a route's uri must be a string.
func checkURI(key string, value []byte) error {
	if !strings.Contains(key, "/routes/") {
		return nil
	}
	var r struct {
		URI any `json:"uri"`
	}
	_ = json.Unmarshal(value, &r)
	if _, ok := r.URI.(string); !ok {
		return errors.New(`property "uri" validation failed: wrong type: expected string`)
	}
	return nil
}

type applied struct {
	mu  sync.Mutex
	sts []*state.State
}

func (a *applied) apply(_ context.Context, st *state.State) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.sts = append(a.sts, st)
}

func (a *applied) last() *state.State {
	a.mu.Lock()
	defer a.mu.Unlock()
	if len(a.sts) == 0 {
		return nil
	}
	return a.sts[len(a.sts)-1]
}

func serve(t *testing.T, s *Store) string {
	t.Helper()
	ln := testutil.Listen(t)
	srv := &http.Server{Handler: s.Handler()}
	go func() { _ = srv.Serve(ln) }()
	t.Cleanup(func() { _ = srv.Close() })
	return "http://" + ln.Addr().String()
}

func do(t *testing.T, method, url, body string, h map[string]string) (int, http.Header, string) {
	t.Helper()
	req, _ := http.NewRequest(method, url, strings.NewReader(body))
	for k, v := range h {
		req.Header.Set(k, v)
	}
	resp, err := (&http.Client{Timeout: 5 * time.Second}).Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, resp.Header, string(b)
}

func TestPut(t *testing.T) {
	var ap applied
	s := New(Options{Check: checkURI, Apply: ap.apply, Now: func() time.Time { return time.Unix(1700000000, 0) }})
	base := serve(t, s)
	url := base + ConfigsPath

	// A push with a bad object applies nothing, and names the first bad object only.
	code, _, body := do(t, "PUT", url, `{"routes":[{"id":"a","uri":"/a"},{"id":"b","uri":1},{"id":"c","uri":2}]}`, map[string]string{"X-Digest": "x"})
	if code != 400 || !strings.Contains(body, `"invalid configuration: property \"uri\" validation failed`) || ap.last() != nil {
		t.Fatalf("bad push = %d %s, applied %v", code, body, ap.last())
	}
	if st := s.Status(); st.Rejected != 1 || st.Loaded {
		t.Errorf("status %+v", st)
	}
	code, _, body = do(t, "PUT", url, `{"plugins":[{"name":"key-auth"},{"stream":true}]}`, map[string]string{"X-Digest": "x"})
	if code != 400 || !strings.Contains(body, "a plugin entry needs a name") {
		t.Errorf("plugins without a name = %d %s", code, body)
	}

	code, h, _ := do(t, "PUT", url, `{"routes":[{"id":"a","uri":"/a"},{"uri":"/anon"}],"plugins":[{"name":"key-auth"}],"upstreams_conf_version":7}`,
		map[string]string{"X-Digest": "d1"})
	if code != 202 || h.Get("X-Last-Modified") != "1700000000" || h.Get("X-Digest") != "d1" {
		t.Fatalf("push = %d %v", code, h)
	}
	st := ap.last()
	want := map[string]string{
		"/apisix/routes/a":     `{"id":"a","uri":"/a"}`,
		"/apisix/routes/arr_2": `{"id":"arr_2","uri":"/anon"}`,
		"/apisix/plugins":      `[{"name":"key-auth"}]`,
	}
	if st.KVs.Len() != len(want) || st.Source != state.SourceAdmin || st.Revision != 1 {
		t.Fatalf("state: %d keys, source %s, revision %d", st.KVs.Len(), st.Source, st.Revision)
	}
	for k, v := range want {
		if kv, _ := st.KVs.Get(k); string(kv.Value) != v {
			t.Errorf("%s = %s, want %s", k, kv.Value, v)
		}
	}

	code, _, body = do(t, "GET", url, "", nil)
	var dump map[string]any
	if err := json.Unmarshal([]byte(body), &dump); err != nil || code != 200 {
		t.Fatalf("GET = %d %s", code, body)
	}
	if dump["routes_conf_version"] != float64(1) || dump["upstreams_conf_version"] != float64(7) || dump["X-Digest"] != "d1" ||
		dump["X-Last-Modified"] != float64(1700000000) || len(dump["routes"].([]any)) != 2 {
		t.Errorf("dump %v", dump)
	}

	// An empty push deletes every type; the next state says which keys changed.
	if code, _, body := do(t, "PUT", url, `{}`, map[string]string{"X-Digest": "d2"}); code != 202 {
		t.Fatalf("empty push = %d %s", code, body)
	}
	if st := ap.last(); st.KVs.Len() != 0 || st.Previous != 1 || len(st.Changed) != 3 {
		t.Errorf("after {}: %d keys, previous %d, changed %v", st.KVs.Len(), st.Previous, st.Changed)
	}
	if code, _, _ := do(t, "DELETE", url, "", nil); code != 404 {
		t.Errorf("DELETE = %d, want 404", code)
	}
}
