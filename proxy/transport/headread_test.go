package transport

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
)

// readRooms records the room each Read of a connection was given.
type readRooms struct {
	net.Conn
	mu    *sync.Mutex
	rooms *[]int
}

func (r readRooms) Read(p []byte) (int, error) {
	r.mu.Lock()
	*r.rooms = append(*r.rooms, len(p))
	r.mu.Unlock()
	return r.Conn.Read(p)
}

// TestHeadReadsLeaveTheBody: after a response whose body is at least the head buffer's size
// (max_response_header_bytes, 16 KiB here), the reads of the next head on that plain TCP upstream
// connection ask for at most headReadSize bytes, so that a large body behind the head is read
// into the body's buffer rather than into the head buffer and copied from there. A head longer
// than headReadSize takes more reads and still parses. After smaller responses the head reads
// have the whole buffer's room, so that a response of a few KiB comes in one read. The upstream
// writes each response, head and body, in one write; five requests go on one connection.
func TestHeadReadsLeaveTheBody(t *testing.T) {
	for _, tc := range []struct {
		body, filler int
		bounded      bool // the heads after the first are read with headReadSize's room
	}{
		{64 << 10, 0, true},
		{64 << 10, 10 << 10, true},
		{8 << 10, 0, false},
	} {
		t.Run(fmt.Sprintf("%d-byte body, %d bytes of filler", tc.body, tc.filler), func(t *testing.T) {
			body := strings.Repeat("b", tc.body)
			resp := fmt.Sprintf("HTTP/1.1 200 OK\r\nContent-Length: %d\r\nX-Filler: %s\r\n\r\n%s",
				tc.body, strings.Repeat("f", tc.filler), body)
			var conns atomic.Int64
			addr := rawBackend(t, &conns, func(c net.Conn) {
				br := bufio.NewReader(c)
				for {
					if _, err := readRequestHead(br); err != nil {
						return
					}
					if _, err := io.WriteString(c, resp); err != nil {
						return
					}
				}
			})
			var (
				mu    sync.Mutex
				rooms []int
			)
			tr := New(Options{})
			tr.dialled = func(c net.Conn) net.Conn { return readRooms{Conn: c, mu: &mu, rooms: &rooms} }
			h := serveFront(t, tr, newPool(t, tr, nil, "", addr))
			const requests = 5
			for i := range requests {
				r, got := get(t, h.base+"/")
				if r.StatusCode != 200 || got != body || len(r.Header.Get("X-Filler")) != tc.filler {
					t.Fatalf("request %d: %d, %d body bytes, %d filler bytes", i, r.StatusCode, len(got), len(r.Header.Get("X-Filler")))
				}
			}
			if n := conns.Load(); n != 1 {
				t.Fatalf("%d upstream connections, want 1", n)
			}
			mu.Lock()
			defer mu.Unlock()
			bounded, whole := 0, 0 // reads with headReadSize's room or less; with the head buffer's
			for _, room := range rooms {
				switch {
				case room <= headReadSize:
					bounded++
				case room == tr.opts.MaxResponseHeaderBytes:
					whole++
				case room < tc.body-tr.opts.MaxResponseHeaderBytes:
					t.Errorf("a read with room for %d bytes, neither a head's nor the body's buffer; all reads: %v", room, rooms)
				}
			}
			if tc.bounded && (bounded < requests-1 || whole > 1) {
				t.Errorf("%d bounded head reads and %d with the whole head buffer, want at least %d and at most 1: %v",
					bounded, whole, requests-1, rooms)
			}
			if !tc.bounded && bounded > 0 {
				t.Errorf("%d bounded head reads after small responses: %v", bounded, rooms)
			}
		})
	}
}

// TestPlainStatusLine: every status line plainStatusLine takes, parseStatusLine reads to the
// same status (and not HTTP/1.0), for every three-digit code and the bytes around it; and the
// ones it leaves go to parseStatusLine.
func TestPlainStatusLine(t *testing.T) {
	check := func(line string) {
		t.Helper()
		status, ok := plainStatusLine([]byte(line))
		if !ok {
			return
		}
		want, http10, err := parseStatusLine([]byte(line))
		if err != nil || http10 || status != want {
			t.Fatalf("%q: plain %d, parsed %d %v %v", line, status, want, http10, err)
		}
	}
	taken := 0
	for code := 0; code < 1000; code++ {
		for _, tail := range []string{"", " ", " OK", "  x", "0", "x", "\t"} {
			line := fmt.Sprintf("HTTP/1.1 %03d%s", code, tail)
			check(line)
			if _, ok := plainStatusLine([]byte(line)); ok {
				taken++
			}
		}
	}
	if taken != 900*4 {
		t.Errorf("plainStatusLine took %d lines, want %d (codes 100-999 with four tails)", taken, 900*4)
	}
	for _, line := range []string{"HTTP/1.1 200", "HTTP/1.0 200 OK", "HTTP/1.1  200 OK", "HTTP/1.10 200",
		"HTTP/1.1 2OO OK", "HTTP/1.1 099", "HTTP/2 200", "http/1.1 200", "HTTP/1.1 20", "HTTP/1.1 \xff00"} {
		check(line)
	}
}

// FuzzPlainStatusLine: on any line, what plainStatusLine takes parseStatusLine reads alike.
func FuzzPlainStatusLine(f *testing.F) {
	f.Add("HTTP/1.1 200 OK")
	f.Add("HTTP/1.1 404")
	f.Add("HTTP/1.1 1000")
	f.Fuzz(func(t *testing.T, line string) {
		if status, ok := plainStatusLine([]byte(line)); ok {
			want, http10, err := parseStatusLine([]byte(line))
			if err != nil || http10 || status != want {
				t.Fatalf("%q: plain %d, parsed %d %v %v", line, status, want, http10, err)
			}
		}
	})
}
