package plugin

import (
	"crypto/aes"
	"crypto/cipher"
	"encoding/base64"
	"fmt"
)

// DefaultKeyring is APISIX's apisix.data_encryption.keyring when config.yaml sets none
// (apache/apisix apisix/cli/config.lua).
var DefaultKeyring = []string{"qeddd145sfvddff3", "edd1c9f0985e76a2"}

// Keyring decrypts the plugin fields the control plane stores encrypted
// (apisix.data_encryption): each entry is both the AES-128-CBC key and the IV, the value is the
// base64 of the PKCS#7-padded ciphertext, and the entries are tried in order (apache/apisix
// apisix/ssl.lua aes_decrypt_pkey). Immutable; safe for concurrent use.
type Keyring struct {
	blocks []keyIV
}

type keyIV struct {
	block cipher.Block
	iv    []byte
}

// NewKeyring returns a keyring of entries of 16 bytes each.
func NewKeyring(entries []string) (*Keyring, error) {
	k := &Keyring{}
	for i, e := range entries {
		if len(e) != 16 {
			return nil, fmt.Errorf("keyring entry %d: must be 16 characters long (AES-128), got %d", i, len(e))
		}
		b, _ := aes.NewCipher([]byte(e))
		k.blocks = append(k.blocks, keyIV{block: b, iv: []byte(e)})
	}
	return k, nil
}

// Decrypt returns the plaintext of s, and false when s is not base64 or no entry decrypts it to
// a validly padded plaintext (APISIX then keeps s as it is).
func (k *Keyring) Decrypt(s string) (string, bool) {
	if k == nil || len(k.blocks) == 0 {
		return s, false
	}
	ct, err := base64.StdEncoding.DecodeString(s)
	if err != nil || len(ct) == 0 || len(ct)%aes.BlockSize != 0 {
		return s, false
	}
	buf := make([]byte, len(ct))
	for _, kb := range k.blocks {
		cipher.NewCBCDecrypter(kb.block, kb.iv).CryptBlocks(buf, ct)
		if pt, ok := unpad(buf); ok {
			return string(pt), true
		}
	}
	return s, false
}

// Encrypt is the control plane's side, for tests and tools: the first entry encrypts.
func (k *Keyring) Encrypt(s string) string {
	kb := k.blocks[0]
	n := aes.BlockSize - len(s)%aes.BlockSize
	pt := append([]byte(s), make([]byte, n)...)
	for i := len(s); i < len(pt); i++ {
		pt[i] = byte(n)
	}
	cipher.NewCBCEncrypter(kb.block, kb.iv).CryptBlocks(pt, pt)
	return base64.StdEncoding.EncodeToString(pt)
}

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
