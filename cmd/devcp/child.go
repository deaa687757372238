package main

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"os/exec"
	"syscall"
	"time"
)

// superviseChild runs cmd beside the control plane, prints what to try once its readiness URL
// answers 200, and stops it (SIGTERM, then its own graceful drain) when ctx is done.
func superviseChild(ctx context.Context, cmd []string, readyURL string, stdout, stderr io.Writer) int {
	child := exec.Command(cmd[0], cmd[1:]...)
	child.Stdout, child.Stderr = stdout, stderr
	if err := child.Start(); err != nil {
		fmt.Fprintln(stderr, "devcp:", err)
		return 1
	}
	exited := make(chan error, 1)
	go func() { exited <- child.Wait() }()

	readyCtx, cancel := context.WithTimeout(ctx, 60*time.Second)
	go func() {
		defer cancel()
		if waitReady(readyCtx, readyURL) {
			fmt.Fprint(stdout, tryThis)
		}
	}()

	select {
	case err := <-exited:
		cancel()
		fmt.Fprintf(stderr, "devcp: %s exited: %v\n", cmd[0], err)
		return 1
	case <-ctx.Done():
	}
	cancel()
	_ = child.Process.Signal(syscall.SIGTERM)
	select {
	case <-exited:
	case <-time.After(45 * time.Second):
		_ = child.Process.Kill()
		<-exited
	}
	return 0
}

func waitReady(ctx context.Context, url string) bool {
	for {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
		if resp, err := http.DefaultClient.Do(req); err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return true
			}
		}
		select {
		case <-ctx.Done():
			return false
		case <-time.After(100 * time.Millisecond):
		}
	}
}

var tryThis = `
zoneproxy is ready. Try:

  curl -i http://127.0.0.1:9080/hello                           # route 1 -> upstream 1 (round-robin over two nodes)
  curl -i http://127.0.0.1:9080/api/anything                    # route 2, prefix /api/*, inline upstream
  curl -i -H 'Host: demo.local' http://127.0.0.1:9080/host-only # route 3, host-bound
  curl -i http://127.0.0.1:9080/nope                            # 404, APISIX's body
  curl -s http://127.0.0.1:7085/status/ready
  curl -s http://127.0.0.1:7085/status/control-plane

Change a route while it runs, with APISIX's Admin API (its curl examples work unchanged):

  KEY=$(cat .devcp/admin.key)
  curl -i "http://127.0.0.1:9180/apisix/admin/upstreams/demo" -X PUT -H "X-API-KEY: $KEY" -d '{"type":"roundrobin","nodes":{"127.0.0.1:1980":1,"127.0.0.1:1981":1}}'
  curl -i "http://127.0.0.1:9180/apisix/admin/routes" -X PUT -H "X-API-KEY: $KEY" -d '{"id":"getting-started-ip","uri":"/ip","upstream_id":"demo"}'
  curl -i http://127.0.0.1:9080/ip
  curl -s "http://127.0.0.1:9180/apisix/admin/routes" -H "X-API-KEY: $KEY"

or straight into etcd:

  bin/devcp put /apisix/routes/9 '{"uri":"/new","upstream_id":"1"}'
  bin/devcp del /apisix/routes/9

Break the local zone's control-plane endpoint (az1, https://127.0.0.1:7943) and watch zoneproxy
move to the next one (current_endpoint), then heal it and watch it come back:

  bin/devcp fault az1 refuse                       # or blackhole: accepted, never answered
  curl -s 127.0.0.1:7085/status/control-plane
  bin/devcp fault az1 heal                         # back on az1 after failback_after (10s)

Ctrl-C stops both.
` + "\n"
