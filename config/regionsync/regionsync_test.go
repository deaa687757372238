package regionsync

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/zoneproxy/zoneproxy/cpclient/cptest"
)

// TestApplyIdempotent: a file applied to two regions lands whole in both, with the fingerprint
// the result printed; a second apply writes nothing and says so; diff then exits 0.
func TestApplyIdempotent(t *testing.T) {
	rs := startRegions(t, "eu", "us")
	put(t, rs[1].cluster, "/apisix/routes/old", `{"uri":"/old"}`) // drift: only in us
	desired := load(t, sample)
	ctx := context.Background()

	var out bytes.Buffer
	if code := WriteDiff(&out, Diff(ctx, desired, targets(rs), Options{})); code != ExitDiffers {
		t.Errorf("diff exit %d, want %d\n%s", code, ExitDiffers, &out)
	}
	for _, want := range []string{"eu: + upstreams/u1", "us: - routes/old", "eu: differs create=4 update=0 delete=0 unchanged=0",
		"us: differs create=4 update=0 delete=1", "drift: eu hold fingerprint=", "drift: us hold fingerprint="} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("diff output lacks %q:\n%s", want, &out)
		}
	}

	out.Reset()
	res := Apply(ctx, desired, targets(rs), Options{})
	if code := WriteApply(&out, res, false); code != ExitOK {
		t.Fatalf("apply exit %d:\n%s", code, &out)
	}
	for i, r := range rs {
		fp := etcdFingerprint(t, r.cluster)
		if !strings.Contains(out.String(), r.name+": applied create=4") || fp != res[i].Plan.Want.String() ||
			!strings.Contains(out.String(), "fingerprint="+fp) {
			t.Errorf("%s: etcd fingerprint %s, result %s:\n%s", r.name, fp, res[i].Plan.Want, &out)
		}
	}
	if etcdFingerprint(t, rs[0].cluster) != etcdFingerprint(t, rs[1].cluster) {
		t.Errorf("the regions differ after apply")
	}
	if got := Fingerprint(desired).String(); got != etcdFingerprint(t, rs[0].cluster) {
		t.Errorf("the file's fingerprint %s is not the regions'", got)
	}
	kvs, _ := etcdState(t, rs[0].cluster)
	if v := string(kvs["/apisix/routes/r1"]); !strings.Contains(v, `"create_time":`) || !strings.Contains(v, `"id":"r1"`) {
		t.Errorf("routes/r1 stored as %s, want id and create_time as APISIX's admin writes", v)
	}

	_, rev0 := etcdState(t, rs[0].cluster)
	out.Reset()
	if code := WriteApply(&out, Apply(ctx, desired, targets(rs), Options{}), false); code != ExitOK {
		t.Fatalf("second apply exit %d:\n%s", code, &out)
	}
	if !strings.Contains(out.String(), "eu: unchanged, nothing to write create=0 update=0 delete=0 unchanged=4") {
		t.Errorf("second apply output:\n%s", &out)
	}
	if _, rev := etcdState(t, rs[0].cluster); rev != rev0 {
		t.Errorf("second apply wrote: revision %d -> %d", rev0, rev)
	}
	out.Reset()
	if code := WriteDiff(&out, Diff(ctx, desired, targets(rs), Options{})); code != ExitOK || !strings.Contains(out.String(), "drift: none") {
		t.Errorf("diff after apply exit %d:\n%s", code, &out)
	}
}

// TestConcurrentEditRefused: an object changed between the read and the write fails the whole
// transaction; nothing of the plan is applied and the concurrent edit stays.
func TestConcurrentEditRefused(t *testing.T) {
	rs := startRegions(t, "eu")
	c := rs[0].cluster
	ctx := context.Background()
	if r := Apply(ctx, load(t, sample), targets(rs), Options{}); r[0].Err != nil {
		t.Fatal(r[0].Err)
	}
	before, _ := etcdState(t, c)
	changed := strings.Replace(strings.Replace(sample, "uri: /a", "uri: /a2", 1), "uri: /b", "uri: /b2", 1)
	res := Apply(ctx, load(t, changed), targets(rs), Options{beforeApply: func(Target) {
		put(t, c, "/apisix/routes/r2", `{"uri":"/someone-else"}`)
	}})
	if !errors.Is(res[0].Err, ErrConflict) || res[0].Applied || res[0].StepsDone != 0 {
		t.Fatalf("result %+v, want ErrConflict with nothing applied", res[0])
	}
	after, _ := etcdState(t, c)
	if !bytes.Equal(after["/apisix/routes/r1"], before["/apisix/routes/r1"]) {
		t.Errorf("routes/r1 was written although the transaction failed: %s", after["/apisix/routes/r1"])
	}
	if string(after["/apisix/routes/r2"]) != `{"uri":"/someone-else"}` {
		t.Errorf("the concurrent edit was overwritten: %s", after["/apisix/routes/r2"])
	}
	var out bytes.Buffer
	if code := WriteApply(&out, res, false); code != ExitDiffers || !strings.Contains(out.String(), "nothing applied") {
		t.Errorf("exit %d:\n%s", code, &out)
	}
}

// TestPartialFailure: three regions; one region's etcd goes away between its read and its write.
// The other two are applied, the broken one has none of the change, the exit code says so; once
// it is back, the same apply brings it in line and leaves the others alone.
func TestPartialFailure(t *testing.T) {
	rs := startRegions(t, "eu", "us", "ap")
	ctx := context.Background()
	base := load(t, sample)
	if res := Apply(ctx, base, targets(rs), Options{}); res[0].Err != nil || res[1].Err != nil || res[2].Err != nil {
		t.Fatalf("initial apply: %+v", res)
	}
	usBefore, _ := etcdState(t, rs[1].cluster)
	// The broken region's target gives up quickly.
	rs[1].target.o.Timeout = 2e9
	changed := load(t, strings.Replace(sample, "uri: /a", "uri: /changed", 1)+"  - id: r3\n    uri: /c\n    upstream_id: u1\n")
	res := Apply(ctx, changed, targets(rs), Options{beforeApply: func(tg Target) {
		if tg.Name() == "us" {
			rs[1].cluster.Endpoint(0).Stop()
		}
	}})
	var out bytes.Buffer
	code := WriteApply(&out, res, false)
	if code != ExitDiffers || res[0].Err != nil || res[2].Err != nil || res[1].Err == nil {
		t.Fatalf("exit %d, results %+v:\n%s", code, res, &out)
	}
	if !strings.Contains(out.String(), "us      0        0        0        3          transaction 1 of 1") {
		t.Errorf("the table does not show us failed with nothing written:\n%s", &out)
	}
	if err := rs[1].cluster.Endpoint(0).Restore(); err != nil {
		t.Fatal(err)
	}
	if usAfter, _ := etcdState(t, rs[1].cluster); fmt.Sprint(usAfter) != fmt.Sprint(usBefore) {
		t.Errorf("the failed region changed:\nbefore %s\nafter  %s", usBefore, usAfter)
	}
	res = Apply(ctx, changed, targets(rs), Options{})
	out.Reset()
	if code := WriteApply(&out, res, false); code != ExitOK {
		t.Fatalf("recovery exit %d:\n%s", code, &out)
	}
	if !strings.Contains(out.String(), "eu: unchanged") || !strings.Contains(out.String(), "us: applied create=1 update=1") {
		t.Errorf("recovery output:\n%s", &out)
	}
	want := etcdFingerprint(t, rs[0].cluster)
	for _, r := range rs[1:] {
		if got := etcdFingerprint(t, r.cluster); got != want {
			t.Errorf("%s fingerprint %s, eu %s", r.name, got, want)
		}
	}
}

// TestLabelSelector: only objects carrying the selected labels are managed: others, in the file
// or on the target, are never written nor deleted; an object of the file in scope that exists on
// the target without the labels is a conflict.
func TestLabelSelector(t *testing.T) {
	rs := startRegions(t, "eu")
	c := rs[0].cluster
	ctx := context.Background()
	put(t, c, "/apisix/routes/theirs", `{"uri":"/theirs","labels":{"team":"b"}}`)
	put(t, c, "/apisix/routes/unlabelled", `{"uri":"/u"}`)
	put(t, c, "/apisix/routes/gone", `{"uri":"/gone","labels":{"team":"a"}}`)
	sel, err := ParseSelector([]string{"team=a"})
	if err != nil {
		t.Fatal(err)
	}
	res := Apply(ctx, load(t, sample), targets(rs), Options{Selector: sel})
	if res[0].Err != nil {
		t.Fatal(res[0].Err)
	}
	if c, u, d := res[0].Plan.Counts(); c != 3 || u != 0 || d != 1 {
		t.Errorf("created %d updated %d deleted %d, want 3 0 1", c, u, d)
	}
	kvs, _ := etcdState(t, c)
	for key, want := range map[string]bool{
		"/apisix/routes/r1": true, "/apisix/upstreams/u1": true, "/apisix/services/s1": true,
		"/apisix/routes/r2": false, "/apisix/routes/gone": false,
		"/apisix/routes/theirs": true, "/apisix/routes/unlabelled": true,
	} {
		if _, got := kvs[key]; got != want {
			t.Errorf("%s present %v, want %v", key, got, want)
		}
	}
	// routes/r1 taken out of scope on the target: a conflict, nothing written.
	put(t, c, "/apisix/routes/r1", `{"uri":"/mine-now"}`)
	res = Apply(ctx, load(t, sample), targets(rs), Options{Selector: sel})
	if !errors.Is(res[0].Err, ErrConflicts) || res[0].Applied {
		t.Errorf("result %+v, want ErrConflicts", res[0])
	}
	if _, err := ParseSelector([]string{"team"}); err == nil {
		t.Errorf("a selector without = was accepted")
	}
}

// TestLargeConfiguration: 3,000 routes from empty go in transactions of --max-txn-ops and say
// so; a change of 1 % then fits in one transaction and writes only the changed objects.
func TestLargeConfiguration(t *testing.T) {
	rs := startRegions(t, "eu")
	ctx := context.Background()
	file := func(changed int) string {
		var b strings.Builder
		b.WriteString("routes:\n")
		for i := range 3000 {
			uri := fmt.Sprintf("/r/%d", i)
			if i < changed {
				uri += "/v2"
			}
			fmt.Fprintf(&b, "  - {id: r%d, uri: %s, upstream: {nodes: {\"127.0.0.1:80\": 1}}}\n", i, uri)
		}
		return b.String()
	}
	res := Apply(ctx, load(t, file(0)), targets(rs), Options{})
	if res[0].Err != nil || res[0].Steps != 24 || res[0].StepsDone != 24 {
		t.Fatalf("from empty: %+v, want 24 transactions of 125 ops", res[0])
	}
	var out bytes.Buffer
	WriteApply(&out, res, false)
	if !strings.Contains(out.String(), "in 24 transactions (not atomic)") {
		t.Errorf("output does not say the apply was split:\n%s", &out)
	}
	_, rev0 := etcdState(t, rs[0].cluster)
	res = Apply(ctx, load(t, file(30)), targets(rs), Options{})
	if res[0].Err != nil || res[0].Steps != 1 {
		t.Fatalf("1 %% change: %+v", res[0])
	}
	if _, rev := etcdState(t, rs[0].cluster); rev != rev0+1 {
		t.Errorf("revision %d -> %d, want one transaction", rev0, rev)
	}
	if c, u, d := res[0].Plan.Counts(); c != 0 || u != 30 || d != 0 || res[0].Plan.Unchanged != 2970 {
		t.Errorf("counts %d %d %d unchanged %d, want 0 30 0 2970", c, u, d, res[0].Plan.Unchanged)
	}
	if got, want := etcdFingerprint(t, rs[0].cluster), res[0].Plan.Want.String(); got != want {
		t.Errorf("fingerprint %s, want %s", got, want)
	}
}

// TestDumpApplyNoop: a dump of a region, loaded back, plans nothing for that region (secrets
// opened on dump and sealed again on load).
func TestDumpApplyNoop(t *testing.T) {
	rs := startRegions(t, "eu")
	c := rs[0].cluster
	put(t, c, "/apisix/routes/1", `{"id":"1","uri":"/a","priority":1.0,"vars":[["arg_x","==","1"]],"create_time":1,"update_time":2,"upstream":{"nodes":{"127.0.0.1:80":1}}}`)
	put(t, c, "/apisix/consumers/jack", `{"username":"jack","plugins":{"key-auth":{"key":"`+testKeyring.Encrypt("secret-key")+`"}}}`)
	put(t, c, "/apisix/consumers/jack/credentials/c1", `{"id":"jack/credentials/c1","plugins":{"basic-auth":{"username":"j","password":"`+testKeyring.Encrypt("pw")+`"}}}`)
	put(t, c, "/apisix/plugin_metadata/http-logger", `{"id":"http-logger","log_format":{"host":"$host"}}`)
	put(t, c, "/apisix/routes", `init_dir`)
	secrets := &Secrets{Keyring: testKeyring, PluginFields: testFields}
	remote, err := rs[0].target.Read(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	var dump bytes.Buffer
	if err := WriteDump(&dump, remote.Objects, secrets); err != nil {
		t.Fatal(err)
	}
	if strings.Contains(dump.String(), "update_time") || !strings.Contains(dump.String(), "key: secret-key") || !strings.HasSuffix(dump.String(), "#END\n") {
		t.Errorf("dump:\n%s", &dump)
	}
	objs, err := Load([]Input{{Name: "dump.yaml", Data: dump.Bytes()}}, nil, nil, secrets)
	if err != nil {
		t.Fatalf("%v\n%s", err, &dump)
	}
	p := MakePlan(objs, remote, nil)
	if len(p.Changes) != 0 || p.Unchanged != 4 || p.Want != p.Have {
		t.Errorf("dump -> apply plans %+v:\n%s", p.Changes, &dump)
	}
	if got := Fingerprint(objs); got.String() != etcdFingerprint(t, c) {
		t.Errorf("the dump's fingerprint %s is not the region's %s", got, etcdFingerprint(t, c))
	}
}

// TestEtcdAuth: a target with etcd authentication reads and writes with --user/--password and
// fails cleanly, touching nothing, with a wrong password.
func TestEtcdAuth(t *testing.T) {
	c := cptest.StartT(t, cptest.Options{Endpoints: 1, Members: 1, Auth: &cptest.Auth{User: "sync", Password: "right"}})
	url := "etcd+https://" + strings.TrimPrefix(c.Endpoints()[0], "https://")
	target := func(password string) *Etcd {
		tg, err := NewEtcd("eu", url, EtcdOptions{TLS: c.TLSConfig(), Username: "sync", Password: password, Timeout: 5e9})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = tg.Close() })
		return tg
	}
	res := Apply(context.Background(), load(t, sample), []Target{target("wrong")}, Options{})
	if res[0].Err == nil || res[0].Plan != nil {
		t.Errorf("a wrong password: %+v", res[0])
	}
	res = Apply(context.Background(), load(t, sample), []Target{target("right")}, Options{})
	if res[0].Err != nil || !res[0].Applied {
		t.Fatalf("the right password: %+v", res[0])
	}
	if got := etcdFingerprint(t, c); got != res[0].Plan.Want.String() {
		t.Errorf("fingerprint %s, want %s", got, res[0].Plan.Want)
	}
}
