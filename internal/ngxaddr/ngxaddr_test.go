package ngxaddr

import "testing"

// TestParseAddrPort: the addresses of a real-IP header are read as nginx's ngx_parse_addr_port
// reads them, leniencies included.
func TestParseAddrPort(t *testing.T) {
	tests := []struct {
		in   string
		want string // "" when it does not parse
	}{
		{"203.0.113.7", "203.0.113.7:0"},
		{"203.0.113.7:80", "203.0.113.7:80"},
		{"203.0.113.7:65535", "203.0.113.7:65535"},
		{"203.0.113.7:65536", ""},
		{"203.0.113.7:0", ""},
		{"203.0.113.7:", ""},
		{"203.0.113.7:8x", ""},
		{"010.0.0.1", "10.0.0.1:0"}, // decimal, not octal
		{"1..2.3", "1.0.2.3:0"},     // an empty number is 0
		{"1.2.3.4.5", ""},
		{"1.2.3", ""},
		{"256.0.0.1", ""},
		{"::1", "[::1]:0"},
		{"::", "[::]:0"},
		{"2001:DB8::1", "[2001:db8::1]:0"},
		{"1:2:3:4:5:6:7:8", "[1:2:3:4:5:6:7:8]:0"},
		{":1:2:3:4:5:6:7:8", "[1:2:3:4:5:6:7:8]:0"}, // nginx skips one leading colon
		{"1:2:3:4:5:6:7:8:9", ""},
		{"1::2::3", ""},
		{"12345::1", ""},
		{"::ffff:1.2.3.4", "[::ffff:1.2.3.4]:0"},
		{"64:ff9b::192.0.2.33", "[64:ff9b::c000:221]:0"},
		{"[2001:db8::1]", "[2001:db8::1]:0"},
		{"[2001:db8::1]:443", "[2001:db8::1]:443"},
		{"[1.2.3.4]:80", "1.2.3.4:80"},
		{"[2001:db8::1]x", ""},
		{"[2001:db8::1", ""},
		{"fe80::1%eth0", ""},
		{"", ""},
		{" 1.2.3.4", ""},
		{"unknown", ""},
	}
	for _, tt := range tests {
		a, ok := ParseAddrPort([]byte(tt.in))
		got := ""
		if ok {
			got = a.String()
		}
		if got != tt.want {
			t.Errorf("ParseAddrPort(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}
