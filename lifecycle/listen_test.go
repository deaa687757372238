package lifecycle

import (
	"log/slog"
	"net"
	"strings"
	"testing"

	"github.com/zoneproxy/zoneproxy/config"
)

// TestListenAll: every node_listen address is opened on its own address family; an address that
// cannot be opened fails the whole call, naming the key, and closes what was opened before it.
func TestListenAll(t *testing.T) {
	log := slog.New(slog.DiscardHandler)
	lns, err := listenAll("apisix.node_listen", []config.ListenAddr{{IP: "127.0.0.1"}, {IP: "127.0.0.2"}}, log)
	if err != nil {
		t.Fatal(err)
	}
	if len(lns) != 2 {
		t.Fatalf("%d listeners, want 2", len(lns))
	}
	for i, want := range []string{"127.0.0.1", "127.0.0.2"} {
		if host, _, _ := net.SplitHostPort(lns[i].Addr().String()); host != want {
			t.Errorf("listener %d on %s, want %s", i, lns[i].Addr(), want)
		}
	}
	if ln6, err := net.Listen("tcp6", "[::1]:0"); err == nil {
		_ = ln6.Close()
		six, err := listenAll("apisix.node_listen", []config.ListenAddr{{IP: "::1"}}, log)
		if err != nil {
			t.Errorf("::1: %v", err)
		} else {
			if host, _, _ := net.SplitHostPort(six[0].Addr().String()); host != "::1" {
				t.Errorf("IPv6 listener on %s", six[0].Addr())
			}
			closeAll(six)
		}
	}

	busy := lns[1].Addr().(*net.TCPAddr).Port
	_, err = listenAll("apisix.node_listen", []config.ListenAddr{{IP: "127.0.0.3", Port: busy}, {IP: "127.0.0.2", Port: busy}}, log)
	if err == nil || !strings.Contains(err.Error(), "apisix.node_listen") {
		t.Fatalf("a port in use: %v, want an error naming apisix.node_listen", err)
	}
	closeAll(lns)
	// The first address of the failed call was closed again: it can be opened once more.
	again, err := listenAll("apisix.node_listen", []config.ListenAddr{{IP: "127.0.0.3", Port: busy}}, log)
	if err != nil {
		t.Fatalf("reopening after the failed call: %v", err)
	}
	closeAll(again)
}
