// Command devcp runs a local control plane for development: one etcd cluster of three members, each
// behind its own TLS "DP Manager" endpoint (https://127.0.0.1:7943, :7944, :7945, one per pretend
// availability zone), two demo upstream servers, and demo routes. It writes the CA and the client
// certificate where the default config.yaml expects them (.devcp/).
//
//	devcp [flags] [-- command args...]   run the control plane; with a command (zoneproxy), run it
//	                                     too, print what to try once it is ready, stop both on Ctrl-C
//	devcp put KEY VALUE | get PREFIX | del KEY   change or read the running control plane
//	devcp fault ZONE refuse|blackhole|heal       break or heal one zone's endpoint (az1..az3)
//
// It also serves APISIX's Admin API on 127.0.0.1:9180 (-admin-listen) over the same etcd, so that
// APISIX's curl examples work against it; its key is DEVCP_ADMIN_KEY, else a generated one,
// printed at start and left in <dir>/admin.key.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

// run is the whole program; cancelling ctx stops it (and the command it runs).
func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	if len(args) > 0 {
		switch args[0] {
		case "put", "get", "del":
			return kvCommand(args, stdout, stderr)
		case "fault":
			return faultCommand(args, stdout, stderr)
		}
	}
	fs := flag.NewFlagSet("devcp", flag.ContinueOnError)
	fs.SetOutput(stderr)
	dir := fs.String("dir", ".devcp", "directory for the certificates and etcd's data (recreated at start)")
	ports := fs.String("ports", "7943,7944,7945", "endpoint ports, one per pretend availability zone")
	members := fs.Int("members", 3, "etcd members (1 starts faster; otherwise one per endpoint)")
	upstreams := fs.String("upstreams", "127.0.0.1:1980,127.0.0.1:1981", "demo upstream addresses")
	seed := fs.Bool("seed", true, "put the demo routes")
	readyURL := fs.String("ready-url", "http://127.0.0.1:7085/status/ready", "readiness URL of the command, polled before printing what to try")
	adminListen := fs.String("admin-listen", "127.0.0.1:9180", "address of the Admin API (APISIX's) and of /devcp/fault; empty: none")
	verbose := fs.Bool("v", false, "log the control plane's own events")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	level := slog.LevelWarn
	if *verbose {
		level = slog.LevelInfo
	}
	log := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: level}))

	cp, err := startControlPlane(ctx, cpOptions{
		dir: *dir, ports: *ports, members: *members, upstreams: splitList(*upstreams), seed: *seed, log: log,
	})
	if err != nil {
		fmt.Fprintln(stderr, "devcp:", err)
		return 1
	}
	defer cp.Close()
	fmt.Fprintf(stdout, "devcp: control plane up in %s: %s\n", cp.cluster.StartupTime().Round(time.Millisecond),
		strings.Join(cp.cluster.Endpoints(), ", "))
	fmt.Fprintf(stdout, "devcp: certificates in %s/ (ca.crt, client.crt, client.key); demo upstreams on %s\n",
		*dir, *upstreams)
	if *adminListen != "" {
		srv, key, err := startAdmin(cp, *adminListen, os.Getenv("DEVCP_ADMIN_KEY"), *dir, log)
		if err != nil {
			fmt.Fprintln(stderr, "devcp:", err)
			return 1
		}
		defer srv.Close()
		fmt.Fprintf(stdout, "devcp: Admin API on http://%s/apisix/admin, X-API-KEY %s (also in %s/%s)\n",
			*adminListen, key, *dir, adminKeyFile)
	}

	if cmd := fs.Args(); len(cmd) > 0 {
		return superviseChild(ctx, cmd, *readyURL, stdout, stderr)
	}
	fmt.Fprintln(stdout, "devcp: running; Ctrl-C to stop")
	<-ctx.Done()
	return 0
}

func splitList(s string) []string {
	var out []string
	for _, p := range strings.Split(s, ",") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}

// certDir returns the directory devcp wrote its files to, for the kv subcommands.
func certDir() string {
	if d := os.Getenv("DEVCP_DIR"); d != "" {
		return d
	}
	return ".devcp"
}

var errUsage = errors.New("usage: devcp put KEY VALUE | devcp get PREFIX | devcp del KEY | devcp fault ZONE refuse|blackhole|heal")

func filesIn(dir string) (ca, cert, key string) {
	return filepath.Join(dir, "ca.crt"), filepath.Join(dir, "client.crt"), filepath.Join(dir, "client.key")
}
