package keyring

import (
	"bytes"
	"crypto/aes"
	"crypto/cipher"
	"encoding/base64"
	"errors"
	"fmt"
	"strings"
	"unicode/utf8"
)

// Default is APISIX's keyring when config.yaml does not set apisix.data_encryption.keyring
// (apisix/cli/config.lua): a stock Admin API encrypts with its first entry.
var Default = []string{"qeddd145sfvddff3", "edd1c9f0985e76a2"}

// ErrDecrypt is returned (wrapped) when a value is not base64, or no entry of the keyring
// decrypts it.
var ErrDecrypt = errors.New("no keyring entry decrypts the value")

// Keyring is an ordered list of AES keys. The zero value, like New(nil), is empty: it reads and
// writes plaintext.
type Keyring struct {
	entries []entry
}

type entry struct {
	block cipher.Block
	iv    []byte
}

// New returns the keyring of entries, in order. An entry must be 16 or 32 ASCII characters (the
// lengths APISIX's CLI accepts, apisix/cli/schema.lua); duplicates are kept once.
func New(entries []string) (*Keyring, error) {
	k := &Keyring{}
	seen := map[string]bool{}
	for i, e := range entries {
		if seen[e] {
			continue
		}
		seen[e] = true
		if len(e) != 16 && len(e) != 32 {
			return nil, fmt.Errorf("keyring entry %d: %d characters, want 16 (AES-128) or 32 (AES-256)", i, len(e))
		}
		block, err := aes.NewCipher([]byte(e))
		if err != nil {
			return nil, fmt.Errorf("keyring entry %d: %w", i, err)
		}
		k.entries = append(k.entries, entry{block: block, iv: []byte(e[:aes.BlockSize])})
	}
	return k, nil
}

// Len is the number of entries.
func (k *Keyring) Len() int {
	if k == nil {
		return 0
	}
	return len(k.entries)
}

// Decrypt returns the plaintext of s: s itself when it starts with "---" (a PEM block stored in
// clear) or the keyring is empty; otherwise s base64-decoded and decrypted with the first entry
// that yields valid padding and UTF-8 text (the values are JSON strings). A wrong entry yields
// valid padding for about one value in 256, so APISIX's rule alone, the first entry that
// unpads, would return garbage for those when an older entry encrypted them (a rotated
// keyring); when no entry yields text, that rule decides. The error wraps ErrDecrypt.
func (k *Keyring) Decrypt(s string) (string, error) {
	if strings.HasPrefix(s, "---") || k.Len() == 0 {
		return s, nil
	}
	ct, err := base64.StdEncoding.DecodeString(s)
	if err != nil {
		return "", fmt.Errorf("%w: not base64: %v", ErrDecrypt, err)
	}
	if len(ct) == 0 || len(ct)%aes.BlockSize != 0 {
		return "", fmt.Errorf("%w: %d bytes is not a whole number of AES blocks", ErrDecrypt, len(ct))
	}
	buf := make([]byte, len(ct))
	var garbled []byte // the first output that unpads but is not text
	for _, e := range k.entries {
		cipher.NewCBCDecrypter(e.block, e.iv).CryptBlocks(buf, ct)
		pt, ok := unpad(buf)
		switch {
		case !ok:
		case utf8.Valid(pt):
			return string(pt), nil
		case garbled == nil:
			garbled = bytes.Clone(pt)
		}
	}
	if garbled != nil {
		// Only APISIX's rule matched: a value that was not text when it was encrypted.
		return string(garbled), nil
	}
	return "", fmt.Errorf("%w (tried %d entries)", ErrDecrypt, len(k.entries))
}

// Encrypt returns s encrypted with the first entry and base64-encoded, as APISIX's Admin API
// stores it; with an empty keyring it returns s.
func (k *Keyring) Encrypt(s string) string {
	if k.Len() == 0 {
		return s
	}
	e := k.entries[0]
	n := aes.BlockSize - len(s)%aes.BlockSize
	pt := append([]byte(s), bytes.Repeat([]byte{byte(n)}, n)...)
	cipher.NewCBCEncrypter(e.block, e.iv).CryptBlocks(pt, pt)
	return base64.StdEncoding.EncodeToString(pt)
}

// unpad strips PKCS#7 padding, reporting whether it was valid.
func unpad(b []byte) ([]byte, bool) {
	n := int(b[len(b)-1])
	if n == 0 || n > aes.BlockSize || n > len(b) {
		return nil, false
	}
	for _, c := range b[len(b)-n:] {
		if int(c) != n {
			return nil, false
		}
	}
	return b[:len(b)-n], true
}
