package main

import (
	"context"
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
// config.yaml — on free ports instead of the fixed ones, and proxies the demo routes.
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
	ports := freePorts(t, 8)
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
	).Replace(string(shipped))
	for _, want := range []string{"node_listen: " + proxyPort, "port: " + statusPort, "127.0.0.1:" + cpPorts[2], cpDir + "/client.key"} {
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
			"-upstreams", up1 + "," + up2, "-ready-url", "http://127.0.0.1:" + statusPort + "/status/ready",
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
