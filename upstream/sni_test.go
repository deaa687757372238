package upstream

import (
	"fmt"
	"testing"
)

func TestClientForSNI(t *testing.T) {
	r := NewRegistry(Options{})
	pool := func(t *testing.T, passHost string) *Pool {
		t.Helper()
		spec, err := Parse([]byte(fmt.Sprintf(`{"scheme":"https","pass_host":%q,"upstream_host":"up.example.com",
			"nodes":{"127.0.0.1:8443":1,"backend.internal:8443":1}}`, passHost)))
		if err != nil {
			t.Fatal(err)
		}
		p, err := r.Pool("/apisix/upstreams/"+passHost, spec)
		if err != nil {
			t.Fatal(err)
		}
		return p
	}
	t.Run("pass sends the request's host", func(t *testing.T) {
		n := pool(t, "pass").Nodes()[0]
		if !n.SNIFromHost() {
			t.Error("SNIFromHost is false under pass")
		}
		a := n.ClientFor([]byte("a.example.com"))
		if a == n.Client() || a.TLSConfig.ServerName != "a.example.com" {
			t.Fatalf("client for a.example.com: server name %q", a.TLSConfig.ServerName)
		}
		if again := n.ClientFor([]byte("a.example.com")); again != a {
			t.Errorf("the same name got another client")
		}
		if b := n.ClientFor([]byte("b.example.com")); b == a || b.TLSConfig.ServerName != "b.example.com" {
			t.Errorf("client for b.example.com: %q", b.TLSConfig.ServerName)
		}
		if ip := n.ClientFor([]byte("10.1.2.3")); ip != n.Client() {
			t.Errorf("an IP host must not become an SNI")
		}
		if allocs := testing.AllocsPerRun(100, func() { n.ClientFor([]byte("a.example.com")) }); allocs != 0 {
			t.Errorf("%v allocations for a known name", allocs)
		}
		for i := 0; i < 2*maxSNIClients; i++ {
			n.ClientFor([]byte(fmt.Sprintf("h%d.example.com", i)))
		}
		if got := len(*n.sni.m.Load()); got != maxSNIClients {
			t.Errorf("%d clients kept, want the bound %d", got, maxSNIClients)
		}
	})
	t.Run("node and rewrite keep their fixed name", func(t *testing.T) {
		for _, ph := range []string{"node", "rewrite"} {
			p := pool(t, ph)
			for _, n := range p.Nodes() {
				if n.SNIFromHost() {
					t.Errorf("pass_host %s: SNIFromHost is true", ph)
				}
				if c := n.ClientFor([]byte("a.example.com")); c != n.Client() {
					t.Errorf("pass_host %s: a per-host client", ph)
				}
			}
		}
		if got := pool(t, "rewrite").Nodes()[0].Client().TLSConfig.ServerName; got != "up.example.com" {
			t.Errorf("rewrite server name %q", got)
		}
	})
	t.Run("Retain keeps the clients in use", func(t *testing.T) {
		p := pool(t, "pass")
		c := p.Nodes()[1].ClientFor([]byte("kept.example.com"))
		r.Retain([]*Pool{p})
		r.mu.Lock()
		defer r.mu.Unlock()
		found := false
		for _, rc := range r.clients {
			found = found || rc == c
		}
		if !found {
			t.Errorf("Retain released a per-host client of a live pool")
		}
	})
}
