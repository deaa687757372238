package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/zoneproxy/zoneproxy/internal/testutil"
)

// freePorts returns n distinct loopback ports, as strings, for the processes devcp starts (they
// bind them themselves, so a listener cannot be handed over; see testutil.FreePorts for the
// window that leaves).
func freePorts(t *testing.T, n int) []string {
	t.Helper()
	var ports []string
	for _, p := range testutil.FreePorts(t, n) {
		ports = append(ports, strconv.Itoa(p))
	}
	return ports
}

// TestMakeRun runs what `make run` runs — devcp with zoneproxy as its command and the shipped
// config.yaml — on free ports instead of the fixed ones, and proxies the demo routes; then it
// follows the demo's text: a route put through the Admin API is served, and `devcp fault` moves
// zoneproxy to the next zone's endpoint and back.
func TestMakeRun(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the zoneproxy binary")
	}
	dir := t.TempDir()
	bin := filepath.Join(dir, "zoneproxy")
	build := exec.Command("go", "build", "-o", bin, "../zoneproxy")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	shipped, err := os.ReadFile("../../config.yaml")
	if err != nil {
		t.Fatal(err)
	}
	cpDir := filepath.Join(dir, "devcp")
	ports := freePorts(t, 9)
	adminAddr := "127.0.0.1:" + ports[8]
	proxyPort, statusPort, promPort := ports[0], ports[1], ports[2]
	cpPorts := ports[3:6]
	up1, up2 := "127.0.0.1:"+ports[6], "127.0.0.1:"+ports[7]
	cfg := strings.NewReplacer(
		"node_listen: 9080", "node_listen: "+proxyPort,
		"port: 7085", "port: "+statusPort,
		"port: 9091", "port: "+promPort,
		"127.0.0.1:7943", "127.0.0.1:"+cpPorts[0],
		"127.0.0.1:7944", "127.0.0.1:"+cpPorts[1],
		"127.0.0.1:7945", "127.0.0.1:"+cpPorts[2],
		".devcp/", cpDir+"/",
		"data_dir: .zoneproxy", "data_dir: "+filepath.Join(dir, "data"),
		"failback_after: 10s", "failback_after: 1s",
	).Replace(string(shipped))
	for _, want := range []string{"node_listen: " + proxyPort, "failback_after: 1s", "port: " + statusPort, "127.0.0.1:" + cpPorts[2], cpDir + "/client.key"} {
		if !strings.Contains(cfg, want) {
			t.Fatalf("the shipped config.yaml changed shape: %q not found after rewriting it", want)
		}
	}
	cfgPath := filepath.Join(dir, "config.yaml")
	if err := os.WriteFile(cfgPath, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}

	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel) // a failure below must not leave devcp and its children running
	var stdout, stderr testutil.Buffer
	exit := make(chan int, 1)
	go func() {
		exit <- run(ctx, []string{"-dir", cpDir, "-members", "1", "-ports", strings.Join(cpPorts, ","),
			"-upstreams", up1 + "," + up2, "-admin-listen", adminAddr, "-ready-url", "http://127.0.0.1:" + statusPort + "/status/ready",
			"--", bin, "-c", cfgPath}, &stdout, &stderr)
	}()
	testutil.WaitForState(t, "devcp to report zoneproxy ready", 60*time.Second, func() (bool, string) {
		select {
		case code := <-exit:
			t.Fatalf("devcp exited %d\nstdout: %s\nstderr: %s", code, stdout.String(), stderr.String())
		default:
		}
		return strings.Contains(stdout.String(), "zoneproxy is ready"),
			fmt.Sprintf("\nstdout: %s\nstderr: %s", stdout.String(), stderr.String())
	})
	seen := map[string]bool{}
	for i := 0; i < 4; i++ {
		resp, err := http.Get("http://127.0.0.1:" + proxyPort + "/hello")
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 || !strings.Contains(string(body), `"uri":"/hello"`) {
			t.Fatalf("/hello = %d %s", resp.StatusCode, body)
		}
		for _, n := range []string{"demo-1", "demo-2"} {
			if strings.Contains(string(body), n) {
				seen[n] = true
			}
		}
	}
	if !seen["demo-1"] || !seen["demo-2"] {
		t.Errorf("round-robin over the demo nodes: saw %v", seen)
	}
	adminThenFault(t, ctx, cpDir, adminAddr, proxyPort, statusPort, cpPorts, up1, up2)
	cancel()
	select {
	case code := <-exit:
		if code != 0 {
			t.Errorf("devcp exited %d after Ctrl-C\n%s", code, stderr.String())
		}
	case <-time.After(30 * time.Second):
		t.Fatal("devcp did not stop")
	}
	if !strings.Contains(stderr.String(), "zoneproxy stopped") {
		t.Errorf("zoneproxy did not stop gracefully:\n%s", stderr.String())
	}
}

// adminThenFault runs the demo's Admin API curls (APISIX's getting-started requests) against the
// running devcp and sees zoneproxy serve the route, then breaks az1 with `devcp fault` and sees
// zoneproxy move to az2's endpoint and come back once healed.
func adminThenFault(t *testing.T, ctx context.Context, cpDir, adminAddr, proxyPort, statusPort string, cpPorts []string, up1, up2 string) {
	t.Helper()
	keyBytes, err := os.ReadFile(filepath.Join(cpDir, adminKeyFile))
	if err != nil {
		t.Fatal(err)
	}
	key := strings.TrimSpace(string(keyBytes))
	admin := func(method, path, body string) (int, string) {
		req, _ := http.NewRequestWithContext(ctx, method, "http://"+adminAddr+path, strings.NewReader(body))
		req.Header.Set("X-API-KEY", key)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	for _, w := range []struct{ path, body string }{
		{"/apisix/admin/upstreams/demo", fmt.Sprintf(`{"type":"roundrobin","nodes":{%q:1,%q:1}}`, up1, up2)},
		{"/apisix/admin/routes", `{"id":"getting-started-ip","uri":"/ip","upstream_id":"demo"}`},
	} {
		if status, body := admin("PUT", w.path, w.body); status != http.StatusCreated {
			t.Fatalf("PUT %s = %d %s", w.path, status, body)
		}
	}
	if status, body := admin("PUT", "/apisix/admin/routes/bad", `{"uri":7,"upstream_id":"demo"}`); status != http.StatusBadRequest ||
		!strings.Contains(body, `property \"uri\" validation failed`) {
		t.Errorf("an invalid route = %d %s, want APISIX's 400", status, body)
	}
	testutil.WaitForState(t, "zoneproxy to serve the route put through the Admin API", 30*time.Second, func() (bool, string) {
		resp, err := http.Get("http://127.0.0.1:" + proxyPort + "/ip")
		if err != nil {
			return false, err.Error()
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		return resp.StatusCode == 200 && strings.Contains(string(b), `"uri":"/ip"`), fmt.Sprintf("%d %s", resp.StatusCode, b)
	})

	t.Setenv("DEVCP_ADMIN", adminAddr)
	t.Setenv("DEVCP_DIR", cpDir)
	current := func() (string, string) {
		resp, err := http.Get("http://127.0.0.1:" + statusPort + "/status/control-plane")
		if err != nil {
			return "", err.Error()
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		var st struct {
			ControlPlane struct {
				Current string `json:"current_endpoint"`
			} `json:"control_plane"`
		}
		_ = json.Unmarshal(b, &st)
		return st.ControlPlane.Current, string(b)
	}
	fault := func(mode string) {
		var out, errOut testutil.Buffer
		if code := run(ctx, []string{"fault", "az1", mode}, &out, &errOut); code != 0 {
			t.Fatalf("devcp fault az1 %s = %d: %s", mode, code, errOut.String())
		}
	}
	for _, step := range []struct{ mode, want string }{
		{"refuse", "https://127.0.0.1:" + cpPorts[1]},
		{"heal", "https://127.0.0.1:" + cpPorts[0]},
	} {
		fault(step.mode)
		testutil.WaitForState(t, "current_endpoint "+step.want+" after fault "+step.mode, 60*time.Second, func() (bool, string) {
			cur, raw := current()
			return cur == step.want, raw
		})
	}
	var out, errOut testutil.Buffer
	if code := run(ctx, []string{"fault", "az9", "refuse"}, &out, &errOut); code == 0 || !strings.Contains(errOut.String(), "unknown zone") {
		t.Errorf("devcp fault az9 = %d %q, want an error naming the zone", code, errOut.String())
	}
}
