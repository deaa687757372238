package proxy

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/tls"
	"encoding/binary"
	"errors"
	"io"
	"net"
	"os/exec"
	"strings"
	"testing"
	"time"

	tu "github.com/zoneproxy/zoneproxy/internal/testutil"
)

// clientHello returns the first flight of a crypto/tls client for cfg: its ClientHello record.
func clientHello(t *testing.T, cfg *tls.Config) []byte {
	t.Helper()
	c1, c2 := net.Pipe()
	defer c2.Close()
	go func() {
		_ = tls.Client(c1, cfg).Handshake() // fails once c2 closes
		c1.Close()
	}()
	hdr := make([]byte, 5)
	if _, err := io.ReadFull(c2, hdr); err != nil {
		t.Fatal(err)
	}
	body := make([]byte, binary.BigEndian.Uint16(hdr[3:]))
	if _, err := io.ReadFull(c2, body); err != nil {
		t.Fatal(err)
	}
	return append(hdr, body...)
}

// rawTLS is a TLS client connection over a TCP connection the test can also write to raw.
type rawTLS struct {
	tcp net.Conn
	tls *tls.Conn
}

func dialRawTLS(t *testing.T, addr string, cfg *tls.Config) *rawTLS {
	t.Helper()
	tcp, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { tcp.Close() })
	c := tls.Client(tcp, cfg)
	_ = tcp.SetDeadline(time.Now().Add(waitFor))
	if err := c.Handshake(); err != nil {
		t.Fatal(err)
	}
	return &rawTLS{tcp: tcp, tls: c}
}

// record is a TLS record of type typ holding body, unencrypted.
func record(typ byte, body []byte) []byte {
	r := []byte{typ, 3, 3, 0, 0}
	binary.BigEndian.PutUint16(r[3:], uint16(len(body)))
	return append(r, body...)
}

// ended waits until the server closes conn (its reads end), failing the test after waitFor.
func ended(t *testing.T, conn net.Conn) {
	t.Helper()
	_ = conn.SetReadDeadline(time.Now().Add(waitFor))
	if _, err := io.Copy(io.Discard, conn); err != nil {
		var ne net.Error
		if errors.As(err, &ne) && ne.Timeout() {
			t.Fatal("the server did not end the connection")
		}
	}
}

// TestTLSHostileClients: a client that breaks the TLS protocol, before or after its handshake,
// gets its connection ended and counted, while another client is served meanwhile; a stalled
// handshake is cut after client_header_timeout.
func TestTLSHostileClients(t *testing.T) {
	c, k := tu.Cert(t, tu.ECDSA, "a.example")
	be := echoBackend(t)
	h := startTLS(t, Options{HeaderTimeout: 500 * time.Millisecond}, "/apisix/ssls/1", sslJSON(`"sni":"a.example"`, c, k),
		"/apisix/routes/1", route("/echo", "", "", be))
	hello := clientHello(t, &tls.Config{ServerName: "a.example", InsecureSkipVerify: true})
	garbage := make([]byte, 4096)
	_, _ = rand.Read(garbage)
	good := h.client(false)
	served := func(t *testing.T) {
		t.Helper()
		if code, body, _ := httpsGet(t, good, "https://a.example/echo"); code != 200 {
			t.Errorf("another client got %d %q while the hostile one was connected", code, body)
		}
	}
	// Before or during the handshake: counted as a failed handshake, by reason.
	for _, tt := range []struct {
		name   string
		send   []byte
		close  bool   // half-close after sending
		reason string // the handshake failure counted
	}{
		{"garbage instead of a ClientHello", garbage, false, "error"},
		{"a ClientHello record with a broken body", append(hello[:5:5], bytes.Repeat([]byte{0xff}, len(hello)-5)...), false, "error"},
		{"a truncated ClientHello, then the end", hello[:len(hello)/2], true, "closed"},
		{"a truncated ClientHello, then nothing", hello[:len(hello)/2], false, "timeout"},
		{"a whole ClientHello, then no Finished", hello, false, "timeout"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			before := h.failures(tt.reason)
			conn, err := net.Dial("tcp", h.addr)
			if err != nil {
				t.Fatal(err)
			}
			defer conn.Close()
			if _, err := conn.Write(tt.send); err != nil {
				t.Fatal(err)
			}
			if tt.close {
				_ = conn.(*net.TCPConn).CloseWrite()
			}
			served(t)
			ended(t, conn)
			tu.WaitFor(t, "the failure counted", waitFor, func() bool { return h.failures(tt.reason) == before+1 })
		})
	}
	// A ClientHello dribbled a byte at a time: client_header_timeout bounds the whole handshake,
	// not each read, so it is cut all the same.
	t.Run("a ClientHello dribbled a byte at a time", func(t *testing.T) {
		before := h.failures("timeout")
		conn, err := net.Dial("tcp", h.addr)
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		stop := make(chan struct{})
		defer close(stop)
		go func() {
			tick := time.NewTicker(20 * time.Millisecond) // the attack's pace, 25 bytes a header timeout
			defer tick.Stop()
			for i := range hello {
				select {
				case <-stop:
					return
				case <-tick.C:
				}
				if _, err := conn.Write(hello[i : i+1]); err != nil {
					return
				}
			}
		}()
		served(t)
		ended(t, conn)
		tu.WaitFor(t, "the failure counted", waitFor, func() bool { return h.failures("timeout") == before+1 })
	})
	// After the handshake: counted as a record error.
	for _, tt := range []struct {
		name string
		cfg  *tls.Config
		send []byte
	}{
		{"a flood of records that carry nothing", &tls.Config{MinVersion: tls.VersionTLS13},
			bytes.Repeat(record(20, []byte{1}), 100)}, // change_cipher_spec, ignored a few times only
		{"a record that does not decrypt", &tls.Config{MinVersion: tls.VersionTLS13}, record(23, garbage[:512])},
		{"a plaintext ClientHello on a TLS 1.2 connection", &tls.Config{MaxVersion: tls.VersionTLS12}, hello},
	} {
		t.Run(tt.name, func(t *testing.T) {
			before := h.p.tlsFailures.RecordErrors()
			tt.cfg.ServerName, tt.cfg.InsecureSkipVerify = "a.example", true
			rc := dialRawTLS(t, h.addr, tt.cfg)
			if _, err := rc.tcp.Write(tt.send); err != nil {
				t.Fatal(err)
			}
			served(t)
			ended(t, rc.tcp)
			tu.WaitFor(t, "the record error counted", waitFor, func() bool { return h.p.tlsFailures.RecordErrors() == before+1 })
		})
	}
}

// TestTLSRenegotiation: a TLS 1.2 client that asks to renegotiate (openssl s_client's "R") gets its
// connection ended and counted; crypto/tls never renegotiates as a server. Skipped without openssl.
func TestTLSRenegotiation(t *testing.T) {
	bin, err := exec.LookPath("openssl")
	if err != nil {
		t.Skip("openssl is not installed")
	}
	c, k := tu.Cert(t, tu.ECDSA, "a.example")
	be := echoBackend(t)
	h := startTLS(t, Options{}, "/apisix/ssls/1", sslJSON(`"sni":"a.example"`, c, k),
		"/apisix/routes/1", route("/echo", "", "", be))
	before := h.p.tlsFailures.RecordErrors()
	ctx, cancel := context.WithTimeout(context.Background(), waitFor)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, "s_client", "-connect", h.addr, "-servername", "a.example", "-tls1_2")
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	var out tu.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { _ = stdin.Close(); _ = cmd.Wait() }()
	// The session summary ends openssl's report of the handshake; after it, it reads commands.
	tu.WaitFor(t, "openssl's handshake", waitFor, func() bool { return strings.Contains(out.String(), "Verify return code") })
	_, _ = io.WriteString(stdin, "R\n")
	// openssl's output comes through a pipe, possibly after the server has counted the refusal.
	tu.WaitFor(t, "the renegotiation tried, refused and counted", waitFor, func() bool {
		return strings.Contains(out.String(), "RENEGOTIATING") && h.p.tlsFailures.RecordErrors() == before+1
	})
	if code, body, _ := httpsGet(t, h.client(false), "https://a.example/echo"); code != 200 {
		t.Errorf("another client got %d %q", code, body)
	}
}
