// Command zoneproxy is the data plane: it reads config.yaml, follows the control plane's configuration
// over the etcd v3 API and proxies HTTP traffic as Apache APISIX would.
//
//	zoneproxy [-c config.yaml] [-log-format text|json]   run
//	zoneproxy -t [-c config.yaml]                         check the configuration file and exit
//	zoneproxy -v                                          print the version and exit
//	zoneproxy sync dump|diff|apply ...                    sync control planes with a file (issue 24)
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"

	"github.com/zoneproxy/zoneproxy/internal/sysmon"
	"github.com/zoneproxy/zoneproxy/lifecycle"
	"github.com/zoneproxy/zoneproxy/lifecycle/logswitch"
)

// version is set at build time (-ldflags "-X main.version=...").
var version = "dev"

func main() {
	if len(os.Args) < 2 || os.Args[1] != "sync" {
		// The proxy runs itself again with the runtime's sysmon kept from its deep sleep
		// (package sysmon); if that cannot be done, it goes on as it is.
		_ = sysmon.Reexec()
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	signals := make(chan os.Signal, 4)
	signal.Notify(signals, syscall.SIGHUP, syscall.SIGUSR1)
	code := run(ctx, os.Args[1:], os.Stdout, os.Stderr, signals)
	stop()
	os.Exit(code)
}

// run is the whole program; it returns the exit code. Cancelling ctx starts the graceful shutdown;
// signals delivers SIGHUP (reload config.yaml) and SIGUSR1 (reopen the access log).
func run(ctx context.Context, args []string, stdout, stderr io.Writer, signals <-chan os.Signal) int {
	if len(args) > 0 && args[0] == "sync" {
		return runSync(ctx, args[1:], os.LookupEnv, stdout, stderr)
	}
	fs := flag.NewFlagSet("zoneproxy", flag.ContinueOnError)
	fs.SetOutput(stderr)
	path := fs.String("c", "config.yaml", "configuration file (APISIX's config.yaml shape)")
	test := fs.Bool("t", false, "check the configuration file and exit")
	showVersion := fs.Bool("v", false, "print the version and exit")
	logFormat := fs.String("log-format", "", "log format, text or json (default: zoneproxy.log.format)")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "zoneproxy: unexpected argument %q\n", fs.Arg(0))
		return 2
	}
	if *showVersion {
		fmt.Fprintf(stdout, "zoneproxy %s\n", version)
		return 0
	}
	if *logFormat != "" && *logFormat != "text" && *logFormat != "json" {
		fmt.Fprintf(stderr, "zoneproxy: -log-format: %q is not text or json\n", *logFormat)
		return 2
	}
	cfg, warnings, err := lifecycle.LoadConfig(*path)
	if err != nil {
		fmt.Fprintf(stderr, "zoneproxy: %s: %v\n", *path, err)
		if *test {
			fmt.Fprintf(stderr, "zoneproxy: configuration file %s test failed\n", *path)
		}
		return 1
	}
	if *test {
		for _, w := range warnings {
			fmt.Fprintf(stderr, "zoneproxy: warning: %s\n", w)
		}
		fmt.Fprintf(stdout, "zoneproxy: configuration file %s test is successful\n", *path)
		return 0
	}
	format := *logFormat
	if format == "" {
		format = string(cfg.Zoneproxy.Log.Format)
	}
	logs := logswitch.New(stderr, format, cfg.Zoneproxy.Log.Level)
	log := logs.Logger()
	for _, w := range warnings {
		log.Warn("config.yaml", "warning", w)
	}
	if len(cfg.Ignored) > 0 {
		log.Info("config.yaml: APISIX settings zoneproxy does not use", "keys", cfg.Ignored)
	}
	err = lifecycle.Run(ctx, lifecycle.Options{Path: *path, Config: cfg, Logs: logs, Signals: signals, Version: version})
	if err != nil {
		log.Error("zoneproxy stopped", "error", err)
		return 1
	}
	return 0
}
