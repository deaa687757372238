package deploy

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/zoneproxy/zoneproxy/cpclient/tlsfiles"
	"github.com/zoneproxy/zoneproxy/internal/testutil"
)

// TestGenCerts runs the compose demo's gen-certs.sh, as its certs service does, and checks the
// certificates with zoneproxy's own TLS loader: a zoneproxy with the client certificate completes a
// mutual TLS handshake with each etcd member's server certificate.
func TestGenCerts(t *testing.T) {
	for _, tool := range []string{"sh", "openssl"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Skipf("gen-certs.sh needs %s: %v", tool, err)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()

	var members []string
	for name := range readCompose(t).etcdMembers() {
		members = append(members, name)
	}
	sort.Strings(members)
	dir := filepath.Join(t.TempDir(), "certs")
	script, err := filepath.Abs("compose/gen-certs.sh")
	if err != nil {
		t.Fatal(err)
	}
	gen := func() string {
		t.Helper()
		cmd := exec.CommandContext(ctx, "sh", script, dir)
		cmd.Dir = t.TempDir()
		cmd.Env = append(os.Environ(), "ETCD_MEMBERS="+strings.Join(members, " "),
			"CLIENT_UID="+strconv.Itoa(os.Getuid()), "CLIENT_GID="+strconv.Itoa(os.Getgid()))
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("gen-certs.sh: %v\n%s", err, out)
		}
		return string(out)
	}
	gen()

	// The files the compose file and config.yaml name, and nothing else (no CA key left behind).
	want := []string{"ca.crt", "client.crt", "client.key"}
	for _, m := range members {
		want = append(want, m+".crt", m+".key")
	}
	sort.Strings(want)
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, e := range entries {
		got = append(got, e.Name())
	}
	if strings.Join(got, " ") != strings.Join(want, " ") {
		t.Fatalf("files %v, want %v", got, want)
	}
	cfg := loadConfig(t, imageConfig, nil)
	for _, f := range []string{cfg.APISIX.SSL.TrustedCertificate, cfg.Deployment.Etcd.TLS.Cert, cfg.Deployment.Etcd.TLS.Key} {
		if err := hasAll(got, filepath.Base(f)); err != nil {
			t.Errorf("config.yaml names %s: %v", f, err)
		}
	}

	t.Run("key permissions", func(t *testing.T) {
		for _, tc := range []struct {
			file string
			mode os.FileMode
		}{{"client.key", 0o400}, {members[0] + ".key", 0o600}, {"ca.crt", 0o644}} {
			fi, err := os.Stat(filepath.Join(dir, tc.file))
			if err != nil {
				t.Fatal(err)
			}
			if fi.Mode().Perm() != tc.mode {
				t.Errorf("%s: mode %v, want %v", tc.file, fi.Mode().Perm(), tc.mode)
			}
		}
	})

	t.Run("second run keeps the certificates", func(t *testing.T) {
		before, err := os.ReadFile(filepath.Join(dir, "ca.crt"))
		if err != nil {
			t.Fatal(err)
		}
		if out := gen(); !strings.Contains(out, "already") {
			t.Errorf("second run: %s", out)
		}
		after, err := os.ReadFile(filepath.Join(dir, "ca.crt"))
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(before, after) {
			t.Error("ca.crt was made again")
		}
	})

	caPEM, err := os.ReadFile(filepath.Join(dir, "ca.crt"))
	if err != nil {
		t.Fatal(err)
	}
	roots := x509.NewCertPool()
	if !roots.AppendCertsFromPEM(caPEM) {
		t.Fatal("ca.crt: no certificate")
	}
	// zoneproxy's side, as config.yaml sets it up: the CA and the client certificate.
	loader, err := tlsfiles.New(tlsfiles.Files{
		CA:     filepath.Join(dir, "ca.crt"),
		Cert:   filepath.Join(dir, "client.crt"),
		Key:    filepath.Join(dir, "client.key"),
		Verify: true,
	}, nil)
	if err != nil {
		t.Fatal(err)
	}

	tests := []struct {
		name     string
		member   string // whose certificate the server presents
		endpoint string // the URL zoneproxy dials
		wantErr  bool
	}{
		{name: members[0], member: members[0], endpoint: "https://" + members[0] + ":7943"},
		{name: members[1], member: members[1], endpoint: "https://" + members[1] + ":7943"},
		{name: members[2], member: members[2], endpoint: "https://" + members[2] + ":7943"},
		{name: "etcdctl on 127.0.0.1", member: members[0], endpoint: "https://127.0.0.1:7943"},
		{name: "wrong name", member: members[0], endpoint: "https://" + members[1] + ":7943", wantErr: true},
	}
	for _, tc := range tests {
		t.Run("mutual TLS "+tc.name, func(t *testing.T) {
			srvCert, err := tls.LoadX509KeyPair(filepath.Join(dir, tc.member+".crt"), filepath.Join(dir, tc.member+".key"))
			if err != nil {
				t.Fatal(err)
			}
			// The etcd member's side: its certificate, and client certificates signed by the CA.
			clientSeen := make(chan string, 1)
			srvCfg := &tls.Config{
				Certificates: []tls.Certificate{srvCert},
				ClientCAs:    roots,
				ClientAuth:   tls.RequireAndVerifyClientCert,
				MinVersion:   tls.VersionTLS12,
				VerifyConnection: func(cs tls.ConnectionState) error {
					clientSeen <- cs.PeerCertificates[0].Subject.CommonName
					return nil
				},
			}
			err = handshake(ctx, t, srvCfg, func() (*tls.Config, error) { return loader.Config(tc.endpoint) })
			if (err != nil) != tc.wantErr {
				t.Fatalf("handshake: %v, want error %v", err, tc.wantErr)
			}
			if tc.wantErr {
				return
			}
			if cn := <-clientSeen; cn != "zoneproxy" {
				t.Errorf("client certificate CN %q", cn)
			}
		})
	}
}

// handshake serves one TLS connection on 127.0.0.1 with srvCfg and dials it with the client
// configuration; it returns the client's handshake error.
func handshake(ctx context.Context, t *testing.T, srvCfg *tls.Config, client func() (*tls.Config, error)) error {
	t.Helper()
	ln := testutil.Listen(t)
	defer ln.Close()
	srvDone := make(chan error, 1)
	go func() {
		c, err := ln.Accept()
		if err != nil {
			srvDone <- err
			return
		}
		defer c.Close()
		tc := tls.Server(c, srvCfg)
		err = tc.HandshakeContext(ctx)
		if err == nil {
			_, err = io.WriteString(tc, "ok")
		}
		srvDone <- err
	}()

	cfg, err := client()
	if err != nil {
		return err
	}
	d := tls.Dialer{Config: cfg}
	c, err := d.DialContext(ctx, "tcp", ln.Addr().String())
	if err != nil {
		<-srvDone
		return err
	}
	defer c.Close()
	buf := make([]byte, 2)
	if _, err := io.ReadFull(c, buf); err != nil {
		return fmt.Errorf("read: %w", err)
	}
	if err := <-srvDone; err != nil && !errors.Is(err, net.ErrClosed) {
		return fmt.Errorf("server: %w", err)
	}
	return nil
}
