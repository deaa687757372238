package cptest

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/zoneproxy/zoneproxy/internal/testutil"
)

func TestOptionsNormalize(t *testing.T) {
	tests := []struct {
		name    string
		opts    Options
		wantErr string // substring naming the field; "" = valid
		check   func(t *testing.T, o Options)
	}{
		{"zero value", Options{}, "", func(t *testing.T, o Options) {
			if o.Endpoints != 3 || o.Members != 3 || o.Logger == nil {
				t.Errorf("got %+v", o)
			}
		}},
		{"one member", Options{Members: 1}, "", func(t *testing.T, o Options) {
			if o.Endpoints != 3 || o.Members != 1 {
				t.Errorf("got %+v", o)
			}
		}},
		{"auth user defaults to root", Options{Auth: &Auth{Password: "p"}}, "", func(t *testing.T, o Options) {
			if o.Auth.User != "root" {
				t.Errorf("Auth.User = %q", o.Auth.User)
			}
		}},
		{"negative endpoints", Options{Endpoints: -1}, "Endpoints", nil},
		{"members neither 1 nor endpoints", Options{Endpoints: 3, Members: 2}, "Members", nil},
		{"ports count", Options{Ports: []int{7943}}, "Ports", nil},
		{"port out of range", Options{Endpoints: 1, Ports: []int{70000}}, "Ports[0]", nil},
		{"port twice", Options{Endpoints: 2, Ports: []int{7943, 7943}}, "Ports[1]", nil},
		{"untrusted needs a member per endpoint", Options{Members: 1, UntrustedClientCA: []int{0}}, "UntrustedClientCA", nil},
		{"untrusted out of range", Options{UntrustedClientCA: []int{3}}, "UntrustedClientCA[0]", nil},
		{"empty password", Options{Auth: &Auth{User: "u"}}, "Auth.Password", nil},
		{"negative progress interval", Options{ProgressNotifyInterval: -time.Second}, "ProgressNotifyInterval", nil},
		{"negative keepalive", Options{KeepAliveMinTime: -time.Second}, "KeepAliveMinTime", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			o, err := tt.opts.normalize()
			if tt.wantErr == "" {
				if err != nil {
					t.Fatal(err)
				}
				tt.check(t, o)
				return
			}
			if !errors.Is(err, ErrInvalidOptions) || !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("error %v, want ErrInvalidOptions naming %s", err, tt.wantErr)
			}
		})
	}
}

func TestStartRejectsBadOptions(t *testing.T) {
	full := t.TempDir()
	if err := os.WriteFile(filepath.Join(full, "x"), nil, 0o600); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		opts Options
	}{
		{"bad members", Options{Members: 2}},
		{"dir not empty", Options{Members: 1, Dir: full}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if c, err := Start(context.Background(), tt.opts); !errors.Is(err, ErrInvalidOptions) {
				if c != nil {
					c.Close()
				}
				t.Errorf("Start: %v, want ErrInvalidOptions", err)
			}
		})
	}
}

func TestStartFailsOnBusyPort(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	busy := ln.Addr().(*net.TCPAddr).Port
	c, err := Start(context.Background(), Options{Members: 1, Endpoints: 1, Ports: []int{busy}})
	if err == nil {
		c.Close()
		t.Fatal("Start on a busy port succeeded")
	}
	if !strings.Contains(err.Error(), "endpoint 0") {
		t.Errorf("error %v does not name the endpoint", err)
	}
}

func TestCAIssue(t *testing.T) {
	ca, err := NewCA()
	if err != nil {
		t.Fatal(err)
	}
	other, err := NewCA()
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name    string
		cn      string
		hosts   []string
		client  bool
		usage   x509.ExtKeyUsage
		verify  string // host to verify as a server certificate
		wantErr bool
	}{
		{"server", "", serverHosts, false, x509.ExtKeyUsageServerAuth, "127.0.0.1", false},
		{"server ipv6", "", serverHosts, false, x509.ExtKeyUsageServerAuth, "::1", false},
		{"server localhost", "", serverHosts, false, x509.ExtKeyUsageServerAuth, "localhost", false},
		{"server as client", "", serverHosts, false, x509.ExtKeyUsageClientAuth, "", false},
		{"client", "", nil, true, x509.ExtKeyUsageClientAuth, "", false},
		{"named client", "alice", nil, true, x509.ExtKeyUsageClientAuth, "", false},
		{"empty host", "x", []string{""}, false, 0, "", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			certPEM, keyPEM, err := ca.Issue(tt.cn, tt.hosts, tt.client)
			if tt.wantErr {
				if err == nil {
					t.Fatal("Issue succeeded")
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			pair, err := tls.X509KeyPair(certPEM, keyPEM)
			if err != nil {
				t.Fatal(err)
			}
			leaf := pair.Leaf
			if leaf.Subject.CommonName != tt.cn {
				t.Errorf("CN %q, want %q", leaf.Subject.CommonName, tt.cn)
			}
			opts := x509.VerifyOptions{Roots: ca.CertPool(), DNSName: tt.verify, KeyUsages: []x509.ExtKeyUsage{tt.usage}}
			if _, err := leaf.Verify(opts); err != nil {
				t.Errorf("verify: %v", err)
			}
			opts.Roots = other.CertPool()
			if _, err := leaf.Verify(opts); err == nil {
				t.Error("verified against another CA")
			}
			if tt.client {
				opts := x509.VerifyOptions{Roots: ca.CertPool(), KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}
				if _, err := leaf.Verify(opts); err == nil {
					t.Error("a client certificate verified for server authentication")
				}
			}
		})
	}
	p := ca.CertPEM()
	p[0] = 'X'
	if bytes.Equal(p, ca.CertPEM()) {
		t.Error("CertPEM returned the CA's own buffer")
	}
}

func TestWriteFiles(t *testing.T) {
	ca, err := NewCA()
	if err != nil {
		t.Fatal(err)
	}
	pair, err := ca.issuePair("", nil, true)
	if err != nil {
		t.Fatal(err)
	}
	c := &Cluster{ca: ca, clientPair: pair}
	dir := t.TempDir()
	f, err := c.WriteFiles(dir)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		path string
		want []byte
		mode os.FileMode
	}{
		{"ca", f.CA, ca.certPEM, 0o644},
		{"cert", f.Cert, pair.certPEM, 0o644},
		{"key", f.Key, pair.keyPEM, 0o600},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if filepath.Dir(tt.path) != dir {
				t.Errorf("%s written outside %s", tt.path, dir)
			}
			got, err := os.ReadFile(tt.path)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got, tt.want) {
				t.Error("content differs")
			}
			if b, _ := pem.Decode(got); b == nil {
				t.Error("not PEM")
			}
			st, err := os.Stat(tt.path)
			if err != nil {
				t.Fatal(err)
			}
			if st.Mode().Perm() != tt.mode {
				t.Errorf("mode %v, want %v", st.Mode().Perm(), tt.mode)
			}
		})
	}
	if _, err := c.WriteFiles(filepath.Join(dir, "missing")); err == nil {
		t.Error("WriteFiles into a missing directory succeeded")
	}
}

// TestCloseReleasesEverything is not parallel: it counts goroutines.
func TestCloseReleasesEverything(t *testing.T) {
	var logs testutil.Buffer
	var c *Cluster
	var port int
	// A fixed port for endpoint 0: one the kernel just gave out and took back. Another process
	// may take it in between; then the test picks another, a few times.
	for attempt := 1; ; attempt++ {
		fixed, err := reservePort(0)
		if err != nil {
			t.Fatal(err)
		}
		port = fixed.port
		if err := fixed.Close(); err != nil {
			t.Fatal(err)
		}
		c, err = Start(context.Background(), Options{
			Members: 1, Endpoints: 2, Ports: []int{port, 0},
			Logger: slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelInfo})),
		})
		if err == nil {
			break
		}
		if !errors.Is(err, syscall.EADDRINUSE) || attempt == 5 {
			t.Fatal(err)
		}
	}
	if got := c.Endpoint(0).URL(); got != "https://127.0.0.1:"+strconv.Itoa(port) {
		t.Errorf("endpoint 0 at %s, want port %d", got, port)
	}
	if c.Endpoint(-1) != nil || c.Endpoint(2) != nil {
		t.Error("Endpoint out of range is not nil")
	}
	f := tlsFiles(t, c)
	cli := mustEndpointClient(t, c.Endpoint(1).URL(), f, nil)
	put(t, c.Client(), "k", "v")
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	wch := cli.Watch(ctx, "k", clientv3.WithCreatedNotify())
	expectCreated(t, wch)
	eventually(t, "a connection on endpoint 1", func() bool { return c.Endpoint(1).Conns() > 0 })
	if c.Endpoint(0).Conns() != 0 {
		t.Errorf("endpoint 0 has %d connections, want 0", c.Endpoint(0).Conns())
	}

	ports := []int{c.Endpoint(0).Port(), c.Endpoint(1).Port(), c.members[0].client.port, c.members[0].peer.port}
	dir := c.dir
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	if err := c.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
	if err := c.StopMember(0); !errors.Is(err, ErrClosed) {
		t.Errorf("StopMember after Close: %v, want ErrClosed", err)
	}
	for _, p := range ports {
		ln, err := net.Listen("tcp", net.JoinHostPort(loopback, strconv.Itoa(p)))
		if err != nil {
			t.Errorf("port %d still taken: %v", p, err)
			continue
		}
		ln.Close()
	}
	if _, err := os.Stat(dir); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("data dir %s left behind: %v", dir, err)
	}
	eventually(t, "no goroutine of this package left", func() bool { return len(ownGoroutines()) == 0 })
	if !strings.Contains(logs.String(), "control plane started") || !strings.Contains(logs.String(), "control plane closed") {
		t.Errorf("logs lack start/close lines:\n%s", logs.String())
	}
	if strings.Contains(logs.String(), "component=etcd") {
		t.Error("etcd logged although the logger is not at debug")
	}
}

func TestEtcdLogsAtDebug(t *testing.T) {
	var logs testutil.Buffer
	c := StartT(t, Options{Members: 1, Endpoints: 1,
		Logger: slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))})
	put(t, c.Client(), "k", "v")
	if !strings.Contains(logs.String(), "component=etcd") || !strings.Contains(logs.String(), "member=m0") {
		t.Error("no etcd log reached the debug logger")
	}
}
