package ipset

import (
	"net/netip"
	"testing"
)

func TestParseAndContains(t *testing.T) {
	tests := []struct {
		name    string
		list    []string
		opts    Options
		in, out []string
		errAt   int // -1: no error
	}{
		{name: "v4 address", list: []string{"127.0.0.1"}, in: []string{"127.0.0.1", "::ffff:127.0.0.1"}, out: []string{"127.0.0.2", "::1"}, errAt: -1},
		{name: "v4 cidr with host bits", list: []string{"127.0.0.3/24"}, in: []string{"127.0.0.200"}, out: []string{"127.0.1.1"}, errAt: -1},
		{name: "v4 all", list: []string{"0.0.0.0/0"}, in: []string{"8.8.8.8"}, out: []string{"::1"}, errAt: -1},
		{name: "v6 all", list: []string{"::/0"}, in: []string{"fe80::1"}, out: []string{"10.0.0.1"}, errAt: -1},
		{name: "v6 cidr", list: []string{"fe80::1/64"}, in: []string{"fe80::abcd"}, out: []string{"fe80:fe::1", "80::1"}, errAt: -1},
		{name: "mapped entry", list: []string{"::ffff:10.0.0.0/104"}, in: []string{"10.1.2.3"}, out: []string{"11.0.0.1"}, errAt: -1},
		{name: "brackets allowed", list: []string{"[::1]"}, opts: Options{Brackets: true}, in: []string{"::1"}, errAt: -1},
		{name: "brackets refused", list: []string{"[::1]"}, errAt: 0},
		{name: "mask too long", list: []string{"::1", "1.2.3.4/33"}, errAt: 1},
		{name: "mask leading zero", list: []string{"1.2.3.4/08"}, errAt: 0},
		{name: "mask not a number", list: []string{"1.2.3.4/abc"}, errAt: 0},
		{name: "zone", list: []string{"fe80::1%lo"}, errAt: 0},
		{name: "leading zero octet", list: []string{"01.2.3.4"}, errAt: 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, err := Parse(tt.list, tt.opts)
			if tt.errAt >= 0 {
				pe, ok := err.(*ParseError)
				if !ok || pe.Index != tt.errAt || pe.Entry != tt.list[tt.errAt] {
					t.Fatalf("Parse(%v) error = %v, want entry %d", tt.list, err, tt.errAt)
				}
				return
			}
			if err != nil {
				t.Fatalf("Parse(%v): %v", tt.list, err)
			}
			for _, a := range tt.in {
				if !s.Contains(netip.MustParseAddr(a)) {
					t.Errorf("%v should contain %s", tt.list, a)
				}
			}
			for _, a := range tt.out {
				if s.Contains(netip.MustParseAddr(a)) {
					t.Errorf("%v should not contain %s", tt.list, a)
				}
			}
		})
	}
	var nilSet *Set
	if nilSet.Contains(netip.MustParseAddr("1.1.1.1")) || nilSet.Len() != 0 || nilSet.String() != "" {
		t.Fatal("nil set must be empty")
	}
}
