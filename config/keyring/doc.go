// Package keyring decrypts the values APISIX stores encrypted in etcd: the private keys of SSL
// objects (key, keys[i]), an upstream's tls.client_key, and plugin fields marked encrypted.
//
// The scheme is APISIX's (apisix/core/data_encryption.lua, apisix/ssl.lua): standard padded base64
// of raw AES-CBC ciphertext with PKCS#7 padding, no IV prefix and no MAC. Each keyring entry's
// ASCII bytes are both the AES key and the IV: 16 characters select AES-128-CBC, 32 select
// AES-256-CBC with the entry's first 16 bytes as the IV. Decryption tries the entries in order and
// the first one whose output unpads and is UTF-8 text wins (APISIX takes the first that unpads,
// which a wrong entry does for about one value in 256); encryption uses the first entry. A value that starts
// with "---" is a plaintext PEM block and is returned as it is. An empty keyring stores and reads
// plaintext, as APISIX does with keyring: null.
//
// The keyring comes from config.yaml: apisix.data_encryption.keyring (APISIX's default
// ["qeddd145sfvddff3", "edd1c9f0985e76a2"] when the key is absent), followed by the entries of the
// older apisix.ssl.key_encrypt_salt.
//
// Concurrency: a Keyring is immutable; its methods are safe for concurrent use.
package keyring
