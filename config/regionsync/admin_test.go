package regionsync

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"testing"

	"github.com/zoneproxy/zoneproxy/config/adminapi"
	"github.com/zoneproxy/zoneproxy/cpclient/cptest"
	"github.com/zoneproxy/zoneproxy/internal/testutil"
)

// adminRegion is an embedded etcd cluster with APISIX's Admin API (config/adminapi, as devcp
// serves it) on a loopback port, and a target on it.
func adminRegion(t *testing.T, name string) (*cptest.Cluster, *Admin) {
	t.Helper()
	c := cptest.StartT(t, cptest.Options{Endpoints: 1, Members: 1})
	h, err := adminapi.New(adminapi.Options{KV: c.Client(), Keyring: testKeyring, EncryptFields: testFields})
	if err != nil {
		t.Fatal(err)
	}
	ln := testutil.Listen(t)
	srv := &http.Server{Handler: h}
	go func() { _ = srv.Serve(ln) }()
	t.Cleanup(func() { _ = srv.Close() })
	tg, err := NewAdmin(name, "http://"+ln.Addr().String(), AdminOptions{Secrets: &Secrets{Keyring: testKeyring, PluginFields: testFields}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = tg.Close() })
	return c, tg
}

const adminSample = sample + `consumers:
  - username: jack
    plugins:
      key-auth: {key: jack-key}
  - id: jack/credentials/cred-1
    plugins:
      basic-auth: {username: jack, password: pw}
`

func loadSealed(t *testing.T, file string) Objects {
	t.Helper()
	objs, err := Load([]Input{{Name: "f.yaml", Data: []byte(file)}}, nil, nil, &Secrets{Keyring: testKeyring, PluginFields: testFields})
	if err != nil {
		t.Fatal(err)
	}
	return objs
}

// TestAdminApplyIdempotent: a file applied through an Admin API lands in etcd (secrets encrypted
// once, by the Admin API), with the fingerprint an etcd target computes; a second apply calls
// nothing.
func TestAdminApplyIdempotent(t *testing.T) {
	c, tg := adminRegion(t, "eu")
	ctx := context.Background()
	desired := loadSealed(t, adminSample)
	res := Apply(ctx, desired, []Target{tg}, Options{})
	if res[0].Err != nil || !res[0].Applied || len(res[0].Plan.Changes) != 6 {
		t.Fatalf("apply: %+v", res[0])
	}
	kvs, rev0 := etcdState(t, c)
	if v := string(kvs["/apisix/consumers/jack"]); strings.Contains(v, "jack-key") || !strings.Contains(v, testKeyring.Encrypt("jack-key")) {
		t.Errorf("consumer stored as %s, want its key encrypted once", v)
	}
	if _, ok := kvs["/apisix/consumers/jack/credentials/cred-1"]; !ok {
		t.Errorf("the credential was not created: %v", kvs)
	}
	if got, want := etcdFingerprint(t, c), Fingerprint(desired).String(); got != want {
		t.Errorf("etcd fingerprint %s, file %s", got, want)
	}
	res = Apply(ctx, desired, []Target{tg}, Options{})
	if res[0].Err != nil || len(res[0].Plan.Changes) != 0 || res[0].Plan.Unchanged != 6 {
		t.Fatalf("second apply: %+v %v", res[0].Plan, res[0].Err)
	}
	if _, rev := etcdState(t, c); rev != rev0 {
		t.Errorf("second apply wrote: revision %d -> %d", rev0, rev)
	}
}

// TestAdminRollback: a call refused half-way undoes the calls made before it: created objects
// deleted, an updated one put back.
func TestAdminRollback(t *testing.T) {
	c, tg := adminRegion(t, "eu")
	ctx := context.Background()
	if res := Apply(ctx, loadSealed(t, "upstreams:\n  - {id: u0, nodes: {\"127.0.0.1:1\": 1}}\nroutes:\n  - {id: r1, uri: /old, upstream_id: u0}\n"),
		[]Target{tg}, Options{}); res[0].Err != nil {
		t.Fatal(res[0].Err)
	}
	before, _ := etcdState(t, c)
	// u1 and s1 are created, r1 updated, then r9 is refused (its upstream does not exist).
	file := "upstreams:\n  - {id: u0, nodes: {\"127.0.0.1:1\": 1}}\n  - {id: u1, nodes: {\"127.0.0.1:2\": 1}}\n" +
		"services:\n  - {id: s1, upstream_id: u1}\n" +
		"routes:\n  - {id: r1, uri: /new, upstream_id: u0}\n  - {id: r9, uri: /x, upstream_id: missing}\n"
	res := Apply(ctx, loadSealed(t, file), []Target{tg}, Options{})
	if !errors.Is(res[0].Err, ErrRolledBack) || res[0].Applied || res[0].StepsDone != 0 {
		t.Fatalf("result %+v, want a rolled-back failure", res[0])
	}
	if !strings.Contains(res[0].Err.Error(), "call 4 of 4 (create routes/r9)") {
		t.Errorf("error %v does not name the failed call", res[0].Err)
	}
	after, _ := etcdState(t, c)
	for _, k := range []string{"/apisix/upstreams/u1", "/apisix/services/s1", "/apisix/routes/r9"} {
		if _, ok := after[k]; ok {
			t.Errorf("%s is left after the rollback", k)
		}
	}
	if !strings.Contains(string(after["/apisix/routes/r1"]), `"uri":"/old"`) {
		t.Errorf("routes/r1 = %s, want the old version back (before: %s)", after["/apisix/routes/r1"], before["/apisix/routes/r1"])
	}
}
