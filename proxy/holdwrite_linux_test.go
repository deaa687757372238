package proxy

import (
	"bufio"
	"bytes"
	"io"
	"net"
	"net/http"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	tu "github.com/zoneproxy/zoneproxy/internal/testutil"
	"github.com/zoneproxy/zoneproxy/upstream"
)

// writeCalls is the process's count of write system calls so far (syscw of /proc/self/io:
// write, writev and the like).
func writeCalls(t *testing.T) int {
	t.Helper()
	b, err := os.ReadFile("/proc/self/io")
	if err != nil {
		t.Skipf("no /proc/self/io: %v", err)
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "syscw: "); ok {
			n, err := strconv.Atoi(v)
			if err != nil {
				t.Fatal(err)
			}
			return n
		}
	}
	t.Fatal("no syscw in /proc/self/io")
	return 0
}

// TestHoldOneSystemCall: a held write and the one after it take one system call, where the
// same two writes without the hold take two.
func TestHoldOneSystemCall(t *testing.T) {
	client, server := tu.TCPPair(t)
	defer client.Close()
	c := &lazyConn{TCPConn: server.(*net.TCPConn)}
	defer c.TCPConn.Close()
	head, rest := bytes.Repeat([]byte("h"), holdMax), bytes.Repeat([]byte("r"), 3000)
	buf := make([]byte, len(head)+len(rest))
	const rounds = 50
	calls := func(hold bool) int {
		before := writeCalls(t)
		for range rounds {
			if hold {
				c.hold.Store(holdArmed)
			}
			if _, err := c.Write(head); err != nil {
				t.Fatal(err)
			}
			if _, err := c.Write(rest); err != nil {
				t.Fatal(err)
			}
			// The peer takes both before the next round: the socket never fills, so that no
			// write is split.
			_ = client.SetReadDeadline(time.Now().Add(waitFor))
			if _, err := io.ReadFull(client, buf); err != nil {
				t.Fatal(err)
			}
		}
		return writeCalls(t) - before
	}
	without, with := calls(false), calls(true)
	// The runtime may write too (waking its poller): a margin, far from the difference.
	if with > rounds+rounds/5 || without < 2*rounds {
		t.Errorf("%d rounds of two writes: %d write system calls with the hold, %d without; want about %d and at least %d",
			rounds, with, without, rounds, 2*rounds)
	}
}

// TestHeldResponseWrites: through the proxy, a 16 KiB response takes one write system call
// to the client, not two. Counted over the whole process: per request, the client's write,
// the proxy's write upstream, the upstream's writes (fasthttp's, head and body in two) and the
// proxy's to the client.
func TestHeldResponseWrites(t *testing.T) {
	body := heldBody()
	h := start(t, Options{}, upstream.Options{}, "/apisix/routes/1", route("/api/*", "", "", fixedBackend(t, "", body)))
	c, err := net.Dial("tcp", h.addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	br := bufio.NewReader(c)
	req := []byte("GET /api/x HTTP/1.1\r\nHost: h\r\n\r\n")
	get := func() {
		_ = c.SetDeadline(time.Now().Add(waitFor))
		if _, err := c.Write(req); err != nil {
			t.Fatal(err)
		}
		resp, err := http.ReadResponse(br, nil)
		if err != nil {
			t.Fatal(err)
		}
		b, err := io.ReadAll(resp.Body)
		if err != nil || !bytes.Equal(b, body) {
			t.Fatalf("body of %d bytes (%v), want the upstream's %d", len(b), err, len(body))
		}
	}
	for range 10 {
		get()
	}
	const rounds = 100
	before := writeCalls(t)
	for range rounds {
		get()
	}
	per := float64(writeCalls(t)-before) / rounds
	t.Logf("%.2f write system calls per request", per)
	if per > 4.5 {
		t.Errorf("%.2f write system calls per request, want 4 (5 when the proxy writes the response in two)", per)
	}
}
