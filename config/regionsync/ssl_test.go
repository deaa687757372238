package regionsync

import (
	"bytes"
	"context"
	"encoding/json"
	"strings"
	"testing"

	"github.com/zoneproxy/zoneproxy/internal/testutil"
)

// sslFile is a standalone file with one SSL object, its key in clear PEM.
func sslFile(t *testing.T) (file, keyPEM string) {
	cert, key := testutil.Cert(t, testutil.ECDSA, "eu.example.com")
	quote := func(s string) string { b, _ := json.Marshal(s); return string(b) }
	return "ssls:\n  - {id: s1, snis: [eu.example.com], cert: " + quote(cert) + ", key: " + quote(key) + "}\n", key
}

// TestSSLSecrets: an SSL key is stored encrypted with the keyring (etcd target) or by the Admin
// API; a second apply changes nothing on either (the Admin API never shows the key); a dump shows
// the key in clear and loads back to the same objects.
func TestSSLSecrets(t *testing.T) {
	ctx := context.Background()
	file, keyPEM := sslFile(t)
	desired := loadSealed(t, file)
	rs := startRegions(t, "eu")
	c, admin := adminRegion(t, "us")
	targets := []Target{rs[0].target, admin}
	for i, r := range Apply(ctx, desired, targets, Options{}) {
		if r.Err != nil || !r.Applied {
			t.Fatalf("target %d: %+v", i, r)
		}
	}
	for _, cl := range []struct {
		name string
		kvs  map[string][]byte
	}{{"etcd", must(etcdState(t, rs[0].cluster))}, {"admin", must(etcdState(t, c))}} {
		v := string(cl.kvs["/apisix/ssls/s1"])
		if strings.Contains(v, "BEGIN") && strings.Contains(v, "PRIVATE KEY") || !strings.Contains(v, `"key":"`) {
			t.Errorf("%s: the SSL key is not stored encrypted: %.200s", cl.name, v)
		}
		var o struct{ Key string }
		_ = json.Unmarshal(cl.kvs["/apisix/ssls/s1"], &o)
		if plain, err := testKeyring.Decrypt(o.Key); err != nil || plain != keyPEM {
			t.Errorf("%s: the stored key does not decrypt to the file's: %v", cl.name, err)
		}
	}
	for i, r := range Apply(ctx, desired, targets, Options{}) {
		if r.Err != nil || len(r.Plan.Changes) != 0 {
			t.Errorf("target %d, second apply: %+v %v", i, r.Plan.Changes, r.Err)
		}
	}
	remote, err := rs[0].target.Read(ctx)
	if err != nil {
		t.Fatal(err)
	}
	secrets := &Secrets{Keyring: testKeyring, PluginFields: testFields}
	var dump bytes.Buffer
	if err := WriteDump(&dump, remote.Objects, secrets); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(dump.String(), "PRIVATE KEY") {
		t.Errorf("the dump does not show the key in clear:\n%s", &dump)
	}
	back, err := Load([]Input{{Name: "dump.yaml", Data: dump.Bytes()}}, nil, nil, secrets)
	if err != nil {
		t.Fatal(err)
	}
	if p := MakePlan(back, remote, nil); len(p.Changes) != 0 {
		t.Errorf("dump -> apply plans %+v", p.Changes)
	}
}

func must[T any](v T, _ int64) T { return v }
