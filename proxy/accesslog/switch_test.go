package accesslog_test

import (
	"strings"
	"testing"
	"time"

	"github.com/zoneproxy/zoneproxy/internal/testutil"
	"github.com/zoneproxy/zoneproxy/proxy/accesslog"
)

// TestSwitchRetiresAfterGrace: Start makes a logger current; the one it replaces keeps writing
// the lines of requests in flight for the grace period, then is closed; Close writes what the
// current one queued and closes it; Start(nil) turns the access log off.
func TestSwitchRetiresAfterGrace(t *testing.T) {
	newLogger := func(w *testutil.Buffer) *accesslog.Logger {
		t.Helper()
		l, err := accesslog.New(accesslog.Options{Writer: w, FlushInterval: time.Millisecond})
		if err != nil {
			t.Fatal(err)
		}
		return l
	}
	line := func(uri string) *accesslog.Record {
		return &accesslog.Record{Method: []byte("GET"), URI: []byte(uri), Protocol: []byte("HTTP/1.1"), Status: 200}
	}
	var out1, out2 testutil.Buffer
	l1, l2 := newLogger(&out1), newLogger(&out2)
	s := &accesslog.Switch{Grace: 2 * time.Second}
	defer s.Close()

	s.Start(l1)
	if s.Current() != l1 {
		t.Fatalf("Current is not the logger started")
	}
	l1.Log(line("/first"))
	testutil.WaitFor(t, "the first logger's line", 10*time.Second, func() bool { return strings.Contains(out1.String(), "/first") })

	s.Start(l2)
	if s.Current() != l2 {
		t.Fatalf("Current is not the logger that replaced the first")
	}
	// A request that started before the switch ends within the grace period: its line is written.
	l1.Log(line("/in-flight"))
	testutil.WaitFor(t, "the in-flight line in the replaced logger", 10*time.Second, func() bool { return strings.Contains(out1.String(), "/in-flight") })
	// After the grace period the replaced logger is closed: what it is given is dropped.
	testutil.WaitFor(t, "the replaced logger's retirement", 10*time.Second, func() bool {
		before := l1.Dropped()
		l1.Log(line("/late"))
		return l1.Dropped() > before
	})

	l2.Log(line("/queued"))
	s.Close()
	if !strings.Contains(out2.String(), "/queued") {
		t.Errorf("Close did not write the current logger's queued line: %q", out2.String())
	}
	if before := l2.Dropped(); func() bool { l2.Log(line("/after-close")); return l2.Dropped() == before }() {
		t.Errorf("the current logger still takes lines after Close")
	}
	if s.Current() != nil {
		t.Errorf("Current after Close is not nil")
	}

	s.Start(nil)
	if s.Current() != nil {
		t.Errorf("Start(nil) left a logger current")
	}
}
