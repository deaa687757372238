package cptest

import (
	"context"
	"crypto/tls"
	"encoding/base64"
	"encoding/json"
	"errors"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	"go.etcd.io/etcd/client/pkg/v3/transport"
	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"
)

// opTimeout bounds one etcd request in these tests.
const opTimeout = 10 * time.Second

// tlsFiles writes the cluster's client files into a temporary directory.
func tlsFiles(t testing.TB, c *Cluster) Files {
	t.Helper()
	f, err := c.WriteFiles(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	return f
}

// endpointClient is a client of the one endpoint url configured from the TLS
// files, as zoneproxy is. auth may be nil.
func endpointClient(t testing.TB, url string, f Files, auth *Auth) (*clientv3.Client, error) {
	t.Helper()
	tc, err := transport.TLSInfo{CertFile: f.Cert, KeyFile: f.Key, TrustedCAFile: f.CA}.ClientConfig()
	if err != nil {
		t.Fatal(err)
	}
	cfg := clientv3.Config{
		Endpoints:   []string{url},
		TLS:         tc,
		DialTimeout: opTimeout,
		Logger:      zap.NewNop(),
	}
	if auth != nil {
		cfg.Username, cfg.Password = auth.User, auth.Password
	}
	cli, err := clientv3.New(cfg)
	if err != nil {
		return nil, err
	}
	t.Cleanup(func() { cli.Close() })
	return cli, nil
}

func mustEndpointClient(t testing.TB, url string, f Files, auth *Auth) *clientv3.Client {
	t.Helper()
	cli, err := endpointClient(t, url, f, auth)
	if err != nil {
		t.Fatalf("client of %s: %v", url, err)
	}
	return cli
}

func put(t testing.TB, cli *clientv3.Client, key, val string) int64 {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), opTimeout)
	defer cancel()
	resp, err := cli.Put(ctx, key, val)
	if err != nil {
		t.Fatalf("put %s: %v", key, err)
	}
	return resp.Header.Revision
}

// get reads key through cli with a short timeout.
func get(cli *clientv3.Client, key string, timeout time.Duration) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	resp, err := cli.Get(ctx, key)
	if err != nil {
		return "", err
	}
	if len(resp.Kvs) == 0 {
		return "", nil
	}
	return string(resp.Kvs[0].Value), nil
}

func mustGet(t testing.TB, cli *clientv3.Client, key, want string) {
	t.Helper()
	got, err := get(cli, key, opTimeout)
	if err != nil {
		t.Fatalf("get %s: %v", key, err)
	}
	if got != want {
		t.Fatalf("get %s = %q, want %q", key, got, want)
	}
}

// gatewayRange reads key through the v3 HTTP/JSON gateway of url, as APISIX
// does, and returns the HTTP status and the value.
func gatewayRange(t testing.TB, hc *http.Client, url, key, token string) (int, string, error) {
	t.Helper()
	body := `{"key":"` + base64.StdEncoding.EncodeToString([]byte(key)) + `"}`
	req, err := http.NewRequest(http.MethodPost, url+"/v3/kv/range", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if token != "" {
		req.Header.Set("Authorization", token)
	}
	resp, err := hc.Do(req)
	if err != nil {
		return 0, "", err
	}
	defer resp.Body.Close()
	var out struct {
		Kvs []struct {
			Value []byte `json:"value"`
		} `json:"kvs"`
	}
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		return resp.StatusCode, "", err
	}
	if resp.StatusCode != http.StatusOK {
		return resp.StatusCode, string(raw), nil
	}
	if err := json.Unmarshal(raw, &out); err != nil {
		t.Fatalf("gateway answer %s: %v", raw, err)
	}
	if len(out.Kvs) == 0 {
		return resp.StatusCode, "", nil
	}
	return resp.StatusCode, string(out.Kvs[0].Value), nil
}

func httpClient(tc *tls.Config) *http.Client {
	return &http.Client{
		Timeout:   opTimeout,
		Transport: &http.Transport{TLSClientConfig: tc, DisableKeepAlives: true},
	}
}

func TestClusterServesEveryEndpoint(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		opts Options
	}{
		{"1 member 3 endpoints", Options{Members: 1}},
		{"3 members 3 endpoints", Options{Members: 3}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			c := StartT(t, tt.opts)
			t.Logf("%s: started in %v", tt.name, c.StartupTime())
			if got := len(c.Endpoints()); got != 3 {
				t.Fatalf("%d endpoints, want 3", got)
			}
			rev := put(t, c.Client(), "/apisix/routes/1", `{"uri":"/a"}`)
			f := tlsFiles(t, c)
			hc := httpClient(c.TLSConfig())
			for i, url := range c.Endpoints() {
				if !strings.HasPrefix(url, "https://127.0.0.1:") || c.Endpoint(i).URL() != url {
					t.Errorf("endpoint %d URL %q", i, url)
				}
				// A follower may lag the admin write for a moment; a
				// linearizable read does not.
				cli := mustEndpointClient(t, url, f, nil)
				mustGet(t, cli, "/apisix/routes/1", `{"uri":"/a"}`)
				code, val, err := gatewayRange(t, hc, url, "/apisix/routes/1", "")
				if err != nil || code != http.StatusOK || val != `{"uri":"/a"}` {
					t.Errorf("gateway of endpoint %d: %d %q %v", i, code, val, err)
				}
				if n := c.Endpoint(i).Accepted(); n < 2 {
					t.Errorf("endpoint %d accepted %d connections, want >= 2", i, n)
				}
			}
			if rev < 2 {
				t.Errorf("put revision %d", rev)
			}
		})
	}
}

func TestClusterTLS(t *testing.T) {
	t.Parallel()
	c := StartT(t, Options{Members: 3, UntrustedClientCA: []int{1}})
	f := tlsFiles(t, c)
	put(t, c.Client(), "k", "v") // the admin client passes member 1 too

	noCert := &tls.Config{RootCAs: c.CA().CertPool(), MinVersion: tls.VersionTLS12}
	tests := []struct {
		name     string
		endpoint int
		tls      *tls.Config
		files    Files
		wantOK   bool
	}{
		{"our certificate on a trusting endpoint", 0, c.TLSConfig(), f, true},
		{"our certificate on the untrusting endpoint", 1, c.TLSConfig(), f, false},
		{"our certificate on the last endpoint", 2, c.TLSConfig(), f, true},
		{"no client certificate", 0, noCert, Files{CA: f.CA}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			url := c.Endpoint(tt.endpoint).URL()
			code, _, err := gatewayRange(t, httpClient(tt.tls), url, "k", "")
			if gotOK := err == nil && code == http.StatusOK; gotOK != tt.wantOK {
				t.Errorf("gateway: status %d, error %v; want ok=%v", code, err, tt.wantOK)
			}
			// In TLS 1.3 the client finishes its handshake before the server checks the client's
			// certificate: the refusal is the server's alert, or, when the server's close meets
			// the request already sent, a reset that overtakes the alert.
			if !tt.wantOK && err != nil && !strings.Contains(err.Error(), "tls") && !errors.Is(err, syscall.ECONNRESET) {
				t.Errorf("gateway refused with %v, want a TLS error or a reset", err)
			}
			tc := tt.tls.Clone()
			cli, err := clientv3.New(clientv3.Config{
				Endpoints: []string{url}, TLS: tc, DialTimeout: opTimeout, Logger: zap.NewNop(),
			})
			if err != nil {
				t.Fatal(err)
			}
			defer cli.Close()
			_, err = get(cli, "k", time.Second)
			if gotOK := err == nil; gotOK != tt.wantOK {
				t.Errorf("gRPC get: %v; want ok=%v", err, tt.wantOK)
			}
		})
	}
}

func TestClusterAuth(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		auth Auth
	}{
		{"root", Auth{Password: "s3cret"}},
		{"named user", Auth{User: "apisix", Password: "s3cret"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			auth := tt.auth
			c := StartT(t, Options{Members: 1, Endpoints: 1, Auth: &auth})
			put(t, c.Client(), "/apisix/k", "v")
			f := tlsFiles(t, c)
			url := c.Endpoints()[0]
			user := cmpOr(tt.auth.User, "root")

			if _, err := endpointClient(t, url, f, &Auth{User: user, Password: "wrong"}); !errors.Is(err, rpctypes.ErrAuthFailed) {
				t.Errorf("wrong password: %v, want %v", err, rpctypes.ErrAuthFailed)
			}
			cli := mustEndpointClient(t, url, f, &Auth{User: user, Password: tt.auth.Password})
			mustGet(t, cli, "/apisix/k", "v")
			anon := mustEndpointClient(t, url, f, nil)
			if _, err := get(anon, "/apisix/k", opTimeout); !errors.Is(err, rpctypes.ErrPermissionDenied) && !errors.Is(err, rpctypes.ErrUserEmpty) {
				t.Errorf("no credentials: %v, want permission denied", err)
			}

			hc := httpClient(c.TLSConfig())
			if code, _, err := gatewayAuth(t, hc, url, user, "wrong"); err != nil || code == http.StatusOK {
				t.Errorf("gateway, wrong password: %d %v, want refused", code, err)
			}
			code, token, err := gatewayAuth(t, hc, url, user, tt.auth.Password)
			if err != nil || code != http.StatusOK {
				t.Fatalf("gateway authenticate: %d %v", code, err)
			}
			if code, val, err := gatewayRange(t, hc, url, "/apisix/k", token); err != nil || code != http.StatusOK || val != "v" {
				t.Errorf("gateway range with token: %d %q %v", code, val, err)
			}
		})
	}
}

// gatewayAuth authenticates through the gateway and returns the token.
func gatewayAuth(t testing.TB, hc *http.Client, url, user, password string) (int, string, error) {
	t.Helper()
	body, _ := json.Marshal(map[string]string{"name": user, "password": password})
	resp, err := hc.Post(url+"/v3/auth/authenticate", "application/json", strings.NewReader(string(body)))
	if err != nil {
		return 0, "", err
	}
	defer resp.Body.Close()
	var out struct {
		Token string `json:"token"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil {
		return resp.StatusCode, "", err
	}
	return resp.StatusCode, out.Token, nil
}

func cmpOr(a, b string) string {
	if a != "" {
		return a
	}
	return b
}

// TestEndpointFaultsOnEtcd breaks endpoints in front of a real member.
// Every case uses its own endpoint, so the cases share one cluster.
func TestEndpointFaultsOnEtcd(t *testing.T) {
	t.Parallel()
	c := StartT(t, Options{Members: 1, Endpoints: 4, ProgressNotifyInterval: 200 * time.Millisecond})
	f := tlsFiles(t, c)
	admin := c.Client()

	tests := []struct {
		name string
		run  func(t *testing.T, ep *Endpoint)
	}{
		{"stop refuses, restore serves again on the same URL", func(t *testing.T, ep *Endpoint) {
			cli := mustEndpointClient(t, ep.URL(), f, nil)
			put(t, admin, "stop/k", "1")
			mustGet(t, cli, "stop/k", "1")
			ep.Stop()
			_, err := net.DialTimeout("tcp", strings.TrimPrefix(ep.URL(), "https://"), waitTimeout)
			if !isRefused(err) {
				t.Fatalf("dial a stopped endpoint: %v, want ECONNREFUSED", err)
			}
			if _, err := get(cli, "stop/k", 500*time.Millisecond); err == nil {
				t.Fatal("get through a stopped endpoint succeeded")
			}
			if err := ep.Restore(); err != nil {
				t.Fatal(err)
			}
			put(t, admin, "stop/k", "2")
			eventually(t, "a get through the restored endpoint", func() bool {
				v, err := get(cli, "stop/k", time.Second)
				return err == nil && v == "2"
			})
		}},
		{"blackhole hangs requests and watches, restore delivers", func(t *testing.T, ep *Endpoint) {
			cli := mustEndpointClient(t, ep.URL(), f, nil)
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			wch := cli.Watch(ctx, "bh/", clientv3.WithPrefix(), clientv3.WithCreatedNotify())
			expectCreated(t, wch)
			rev0 := put(t, admin, "bh/0", "0")
			expectPut(t, wch, "bh/0")

			if err := ep.Blackhole(); err != nil {
				t.Fatal(err)
			}
			start := time.Now()
			_, err := get(cli, "bh/0", 500*time.Millisecond)
			if !errors.Is(err, context.DeadlineExceeded) {
				t.Errorf("get through a blackhole: %v, want deadline exceeded", err)
			}
			if took := time.Since(start); took < 500*time.Millisecond {
				t.Errorf("get failed after %v, want it to hang until its timeout", took)
			}
			put(t, admin, "bh/1", "1")
			put(t, admin, "bh/2", "2")
			select {
			case resp := <-wch:
				t.Fatalf("watch got %+v through a blackhole", resp)
			case <-time.After(quiet):
			}
			if err := ep.Restore(); err != nil {
				t.Fatal(err)
			}
			expectPut(t, wch, "bh/1", "bh/2")
			if ep.Accepted() != 1 {
				t.Errorf("accepted %d connections, want 1 (the watch resumed on its connection)", ep.Accepted())
			}
			if rev0 < 1 {
				t.Errorf("revision %d", rev0)
			}
		}},
		{"reset breaks an open watch stream, which reconnects", func(t *testing.T, ep *Endpoint) {
			cli := mustEndpointClient(t, ep.URL(), f, nil)
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			wch := cli.Watch(ctx, "rst/", clientv3.WithPrefix(), clientv3.WithCreatedNotify())
			expectCreated(t, wch)
			before := ep.Accepted()

			// The gateway's chunked watch, as APISIX uses, sees the RST.
			body := gatewayWatch(t, c.TLSConfig(), ep.URL(), "rst/")

			ep.Reset()
			if _, err := io.Copy(io.Discard, body); !isReset(err) {
				t.Errorf("gateway watch stream after Reset: %v, want ECONNRESET", err)
			}
			put(t, admin, "rst/1", "1")
			expectPut(t, wch, "rst/1")
			if ep.Accepted() <= before+1 {
				t.Errorf("accepted %d connections after %d, want a reconnect", ep.Accepted(), before+1)
			}
		}},
		{"slow still serves", func(t *testing.T, ep *Endpoint) {
			cli := mustEndpointClient(t, ep.URL(), f, nil)
			put(t, admin, "slow/k", "v")
			mustGet(t, cli, "slow/k", "v")
			ep.Slow(50 * time.Millisecond)
			start := time.Now()
			mustGet(t, cli, "slow/k", "v")
			if took := time.Since(start); took < 100*time.Millisecond {
				t.Errorf("slow get took %v, want >= 100ms", took)
			}
		}},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.run(t, c.Endpoint(i))
		})
	}

	t.Run("progress notifications at the configured interval", func(t *testing.T) {
		cli := mustEndpointClient(t, c.Endpoint(3).URL(), f, nil)
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		wch := cli.Watch(ctx, "quiet/", clientv3.WithPrefix(), clientv3.WithProgressNotify())
		deadline := time.After(waitTimeout)
		for {
			select {
			case resp := <-wch:
				if resp.IsProgressNotify() {
					return
				}
			case <-deadline:
				t.Fatal("no progress notification")
			}
		}
	})
}

func expectCreated(t testing.TB, wch clientv3.WatchChan) {
	t.Helper()
	select {
	case resp := <-wch:
		if !resp.Created {
			t.Fatalf("first watch response %+v, want created", resp)
		}
	case <-time.After(waitTimeout):
		t.Fatal("watch not created")
	}
}

// expectPut waits for put events on keys, in order.
func expectPut(t testing.TB, wch clientv3.WatchChan, keys ...string) {
	t.Helper()
	deadline := time.After(waitTimeout)
	for len(keys) > 0 {
		select {
		case resp, ok := <-wch:
			if !ok {
				t.Fatal("watch channel closed")
			}
			if err := resp.Err(); err != nil {
				t.Fatalf("watch: %v", err)
			}
			for _, ev := range resp.Events {
				if len(keys) == 0 || string(ev.Kv.Key) != keys[0] {
					t.Fatalf("watch event on %s, want %v", ev.Kv.Key, keys)
				}
				keys = keys[1:]
			}
		case <-deadline:
			t.Fatalf("watch: no event for %v", keys)
		}
	}
}

// gatewayWatch opens a chunked /v3/watch stream on prefix and waits for its
// "created" message. The stream ends after waitTimeout at the latest.
func gatewayWatch(t testing.TB, tc *tls.Config, url, prefix string) io.Reader {
	t.Helper()
	key := base64.StdEncoding.EncodeToString([]byte(prefix))
	end := base64.StdEncoding.EncodeToString([]byte(clientv3.GetPrefixRangeEnd(prefix)))
	body := `{"create_request":{"key":"` + key + `","range_end":"` + end + `"}}`
	ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
	t.Cleanup(cancel)
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url+"/v3/watch", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	hc := &http.Client{Transport: &http.Transport{TLSClientConfig: tc, DisableKeepAlives: true}}
	resp, err := hc.Do(req)
	if err != nil {
		t.Fatalf("gateway watch: %v", err)
	}
	t.Cleanup(func() { resp.Body.Close() })
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("gateway watch: status %d", resp.StatusCode)
	}
	var created struct {
		Result struct {
			Created bool `json:"created"`
		} `json:"result"`
	}
	dec := json.NewDecoder(resp.Body)
	if err := dec.Decode(&created); err != nil || !created.Result.Created {
		t.Fatalf("gateway watch: first message %+v, %v", created, err)
	}
	return io.MultiReader(dec.Buffered(), resp.Body)
}

func TestMemberStopRestart(t *testing.T) {
	t.Parallel()
	c := StartT(t, Options{Members: 3})
	f := tlsFiles(t, c)
	clients := make([]*clientv3.Client, 3)
	for i, url := range c.Endpoints() {
		clients[i] = mustEndpointClient(t, url, f, nil)
	}
	put(t, c.Client(), "m/k", "0")

	tests := []struct {
		name   string
		leader bool
	}{
		{"the leader", true},
		{"a follower", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			i := memberIndex(t, c, tt.leader)
			if err := c.StopMember(i); err != nil {
				t.Fatal(err)
			}
			if err := c.StopMember(i); err == nil {
				t.Error("second StopMember succeeded")
			}
			val := "without-" + strconv.Itoa(i)
			put(t, c.Client(), "m/k", val)
			for j, cli := range clients {
				if j == i {
					if _, err := get(cli, "m/k", 500*time.Millisecond); err == nil {
						t.Errorf("endpoint %d of the stopped member answered", j)
					}
					continue
				}
				mustGet(t, cli, "m/k", val)
			}
			if err := c.RestartMember(i); err != nil {
				t.Fatal(err)
			}
			if err := c.RestartMember(i); err == nil {
				t.Error("second RestartMember succeeded")
			}
			eventually(t, "the restarted member serves", func() bool {
				v, err := get(clients[i], "m/k", time.Second)
				return err == nil && v == val
			})
		})
	}
	for _, i := range []int{-1, 3} {
		if err := c.StopMember(i); err == nil {
			t.Errorf("StopMember(%d) succeeded", i)
		}
		if err := c.RestartMember(i); err == nil {
			t.Errorf("RestartMember(%d) succeeded", i)
		}
	}
}

// memberIndex returns the index of the leader, or of a follower.
func memberIndex(t testing.TB, c *Cluster, leader bool) int {
	t.Helper()
	for i, m := range c.members {
		u := m.clientURL()
		ctx, cancel := context.WithTimeout(context.Background(), opTimeout)
		st, err := c.Client().Status(ctx, u.String())
		cancel()
		if err != nil {
			t.Fatalf("status of member %d: %v", i, err)
		}
		if (st.Leader == st.Header.MemberId) == leader {
			return i
		}
	}
	t.Fatalf("no member with leader=%v", leader)
	return -1
}
