//go:build !race

package ssl

import "testing"

// TestLookupAllocs: a lookup among 10,000 objects allocates nothing, hit or miss.
func TestLookupAllocs(t *testing.T) {
	x := bigIndex(10000)
	for _, sni := range []string{"host-5000.example.com", "api.tenant-5001.example.com", "API.Tenant-5001.Example.COM.", "x.y.tenant-5001.example.com", "nothing.example.org"} {
		if allocs := testing.AllocsPerRun(1000, func() { _ = x.Lookup(sni) }); allocs != 0 {
			t.Errorf("Lookup(%q): %v allocations, want 0", sni, allocs)
		}
		host := []byte(sni) // a Host header, as the mTLS check looks it up
		if allocs := testing.AllocsPerRun(1000, func() { _ = x.LookupBytes(host) }); allocs != 0 {
			t.Errorf("LookupBytes(%q): %v allocations, want 0", sni, allocs)
		}
	}
}
