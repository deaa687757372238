package tlsload

import (
	"bufio"
	"context"
	"crypto/tls"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/zoneproxy/zoneproxy/internal/testutil"
)

// serve answers every connection of ln with one 200 after reading a request head, and records
// the heads it read.
func serve(t *testing.T, ln net.Listener, cfg *tls.Config) (heads func() []string) {
	var mu sync.Mutex
	var got []string
	var wg sync.WaitGroup
	t.Cleanup(wg.Wait)
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			wg.Add(1)
			go func() {
				defer wg.Done()
				defer c.Close()
				tc := tls.Server(c, cfg)
				br := bufio.NewReader(tc)
				var head strings.Builder
				for {
					line, err := br.ReadString('\n')
					if err != nil {
						return
					}
					head.WriteString(line)
					if line == "\r\n" {
						break
					}
				}
				mu.Lock()
				got = append(got, head.String())
				mu.Unlock()
				_, _ = tc.Write([]byte("HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok"))
			}()
		}
	}()
	return func() []string {
		mu.Lock()
		defer mu.Unlock()
		return append([]string(nil), got...)
	}
}

func TestRun(t *testing.T) {
	certPEM, keyPEM := testutil.Cert(t, testutil.ECDSA, "bench.example", "127.0.0.1")
	pair, err := tls.X509KeyPair([]byte(certPEM), []byte(keyPEM))
	if err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		name   string
		resume bool
	}{{"full", false}, {"resumed", true}} {
		t.Run(tt.name, func(t *testing.T) {
			ln := testutil.Listen(t)
			heads := serve(t, ln, &tls.Config{Certificates: []tls.Certificate{pair}})
			r, err := Run(context.Background(), Options{URL: "https://" + ln.Addr().String() + "/bench",
				Conns: 2, Duration: 300 * time.Millisecond, Resume: tt.resume,
				Headers: []string{"apikey: k", "Connection: close"}})
			_ = ln.Close()
			if err != nil {
				t.Fatal(err)
			}
			if r.Requests < 2 || r.Errors != (Errors{}) || r.Latency.P50 <= 0 || r.DurationUS <= 0 {
				t.Fatalf("result %+v", r)
			}
			// Every handshake after a worker's first resumes, or none does.
			if tt.resume && r.Resumed < r.Requests-2 || !tt.resume && r.Resumed != 0 {
				t.Errorf("%d of %d requests resumed", r.Resumed, r.Requests)
			}
			h := heads()[0]
			for _, want := range []string{"GET /bench HTTP/1.1\r\n", "apikey: k\r\n", "Connection: close\r\n"} {
				if !strings.Contains(h, want) {
					t.Errorf("request head lacks %q:\n%s", want, h)
				}
			}
			if strings.Count(h, "Connection:") != 1 {
				t.Errorf("Connection sent more than once:\n%s", h)
			}
		})
	}
}

// TestRunFails: nothing listening: every request is a connect error and Run says so.
func TestRunFails(t *testing.T) {
	ln := testutil.Listen(t)
	addr := ln.Addr().String()
	_ = ln.Close()
	r, err := Run(context.Background(), Options{URL: "https://" + addr + "/", Duration: 50 * time.Millisecond})
	if err == nil || r.Errors.Connect == 0 {
		t.Fatalf("result %+v, error %v", r, err)
	}
	if _, err := Run(context.Background(), Options{URL: "http://" + addr + "/"}); err == nil {
		t.Error("an http URL is accepted")
	}
}
