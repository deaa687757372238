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

// reference is Decode as it was first written, a character at a time.
func reference(src []byte, alphabet *Alphabet) ([]byte, bool) {
	n := 0
	for n < len(src) && src[n] != '=' {
		if alphabet[src[n]] == 0xff {
			return nil, false
		}
		n++
	}
	if n%4 == 1 {
		return nil, false
	}
	var dst []byte
	var acc uint32
	bits := 0
	for _, c := range src[:n] {
		acc = acc<<6 | uint32(alphabet[c])
		bits += 6
		if bits >= 8 {
			bits -= 8
			dst = append(dst, byte(acc>>bits))
		}
	}
	return dst, true
}

// FuzzDecode: Decode (four characters at a time) decodes as the character-at-a-time reference.
func FuzzDecode(f *testing.F) {
	for _, s := range []string{"", "Zm9vYg==", "Zm9vYh", "Zm9vY", "-_8", "+/8", "eyJhbGciOiJIUzI1NiJ9", "a=b", "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, src []byte) {
		for _, a := range []*Alphabet{Std, URL, Mixed} {
			want, wantOK := reference(src, a)
			got, ok := Decode([]byte("prefix"), src, a)
			if ok != wantOK || (ok && string(got) != "prefix"+string(want)) {
				t.Fatalf("Decode(%q) = %q, %v; want %q, %v", src, got, ok, want, wantOK)
			}
		}
	})
}
