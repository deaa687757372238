package keyring

import (
	"errors"
	"fmt"
	"strings"
	"testing"
)

// TestAPISIXVector is APISIX's own vector (t/node/data_encrypt.t, TEST 1).
func TestAPISIXVector(t *testing.T) {
	k, err := New([]string{"edd1c9f0985e76a2"})
	if err != nil {
		t.Fatal(err)
	}
	const ct = "77+NmbYqNfN+oLm0aX5akg=="
	if got := k.Encrypt("bar"); got != ct {
		t.Errorf("Encrypt(bar) = %q, want %q", got, ct)
	}
	if got, err := k.Decrypt(ct); err != nil || got != "bar" {
		t.Errorf("Decrypt = %q, %v; want bar", got, err)
	}
	// With the default keyring, the vector's key is the second entry: it is tried after the first.
	def, err := New(Default)
	if err != nil {
		t.Fatal(err)
	}
	if got, err := def.Decrypt(ct); err != nil || got != "bar" {
		t.Errorf("default keyring: Decrypt = %q, %v; want bar", got, err)
	}
}

func TestDecrypt(t *testing.T) {
	k128, _ := New([]string{"qeddd145sfvddff3"})
	k256, _ := New([]string{"0123456789abcdef0123456789abcdef"})
	other, _ := New([]string{"ffffffffffffffff"})
	pem := "-----BEGIN PRIVATE KEY-----\nMIIB\n-----END PRIVATE KEY-----\n"
	tests := []struct {
		name    string
		k       *Keyring
		in      string
		want    string
		wantErr bool
	}{
		{"plaintext PEM passes", k128, pem, pem, false},
		{"empty keyring passes", &Keyring{}, "anything", "anything", false},
		{"nil keyring passes", nil, "anything", "anything", false},
		{"AES-128 round trip", k128, k128.Encrypt(pem), pem, false},
		{"AES-256 round trip", k256, k256.Encrypt(pem), pem, false},
		{"block-sized plaintext", k128, k128.Encrypt("0123456789abcdef"), "0123456789abcdef", false},
		{"wrong key", other, k128.Encrypt(pem), "", true},
		{"not base64", k128, "not base64!", "", true},
		{"not whole blocks", k128, "YWJj", "", true},
		{"empty", k128, "", "", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := tt.k.Decrypt(tt.in)
			if tt.wantErr {
				if !errors.Is(err, ErrDecrypt) {
					t.Errorf("err = %v, want ErrDecrypt", err)
				}
				return
			}
			if err != nil || got != tt.want {
				t.Errorf("Decrypt = %q, %v; want %q", got, err, tt.want)
			}
		})
	}
}

// TestOrder: entries are tried in order; the one that encrypted the value decrypts it wherever it is.
func TestOrder(t *testing.T) {
	a, _ := New([]string{"aaaaaaaaaaaaaaaa"})
	b, _ := New([]string{"bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb"})
	both, err := New([]string{"aaaaaaaaaaaaaaaa", "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb", "aaaaaaaaaaaaaaaa"})
	if err != nil {
		t.Fatal(err)
	}
	if both.Len() != 2 {
		t.Errorf("Len = %d, want 2 (duplicates kept once)", both.Len())
	}
	for _, k := range []*Keyring{a, b} {
		ct := k.Encrypt(strings.Repeat("secret ", 20))
		if got, err := both.Decrypt(ct); err != nil || got != strings.Repeat("secret ", 20) {
			t.Errorf("Decrypt = %q, %v", got, err)
		}
	}
}

func TestNewRejectsLengths(t *testing.T) {
	for _, e := range []string{"", "short", "0123456789abcdef0", "0123456789abcdef0123456789abcdef0123456789abcdef"} {
		if _, err := New([]string{e}); err == nil {
			t.Errorf("New(%q): no error", e)
		}
	}
}

// TestWrongEntryThatUnpads: a value encrypted with the keyring's second entry whose decryption
// with the first entry happens to end in valid padding (about one value in 256) still decrypts to
// itself: the first entry's output is not text, so the second entry is tried. The value is found
// by search, since encryption here is deterministic (the entry is the IV).
func TestWrongEntryThatUnpads(t *testing.T) {
	def, _ := New(Default)
	first, _ := New(Default[:1])
	second, _ := New(Default[1:])
	found := 0
	for i := 0; i < 20000 && found < 3; i++ {
		pt := fmt.Sprintf("secret value %d", i)
		ct := second.Encrypt(pt)
		if _, err := first.Decrypt(ct); err != nil {
			continue // the first entry's padding check already rejects it
		}
		found++
		if got, err := def.Decrypt(ct); err != nil || got != pt {
			t.Errorf("Decrypt(%q) = %q, %v; want %q", ct, got, err, pt)
		}
	}
	if found == 0 {
		t.Fatal("no value whose second-entry ciphertext unpads under the first entry")
	}
}
