package ngxbase64

import "testing"

func TestDecode(t *testing.T) {
	tests := []struct {
		name, in string
		alphabet *Alphabet
		want     string
		ok       bool
	}{
		{"padded", "Zm9vYg==", Std, "foob", true},
		{"unpadded", "Zm9vYg", Std, "foob", true},
		{"after the padding is ignored", "Zm9v=garbage", Std, "foo", true},
		{"trailing bits ignored", "Zm9vYh", Std, "foob", true},
		{"one char too many", "Zm9vY", Std, "", false},
		{"outside the alphabet", "Zm9v!", Std, "", false},
		{"URL-safe in standard", "-_8", Std, "", false},
		{"URL-safe", "-_8", URL, "\xfb\xff", true},
		{"standard in URL-safe", "+/8", URL, "", false},
		{"mixed takes both", "+_8", Mixed, "\xfb\xff", true},
		{"empty", "", Std, "", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, ok := Decode(nil, []byte(tt.in), tt.alphabet)
			if ok != tt.ok || (ok && string(got) != tt.want) {
				t.Errorf("Decode(%q) = %q, %v; want %q, %v", tt.in, got, ok, tt.want, tt.ok)
			}
		})
	}
}
