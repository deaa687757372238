package main

import (
	"bytes"
	"context"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/zoneproxy/zoneproxy/config"
	"github.com/zoneproxy/zoneproxy/config/adminapi"
	"github.com/zoneproxy/zoneproxy/config/adminauth"
	"github.com/zoneproxy/zoneproxy/cpclient/cptest"
	"github.com/zoneproxy/zoneproxy/internal/testutil"
)

// syncCmd runs `zoneproxy sync args...` in-process with env as the environment.
func syncCmd(env map[string]string, args ...string) (int, string, string) {
	var stdout, stderr bytes.Buffer
	lookup := func(k string) (string, bool) { v, ok := env[k]; return v, ok }
	code := runSync(context.Background(), args, lookup, &stdout, &stderr)
	return code, stdout.String(), stderr.String()
}

func etcdTarget(name string, c *cptest.Cluster) string {
	var hosts []string
	for _, u := range c.Endpoints() {
		hosts = append(hosts, strings.TrimPrefix(u, "https://"))
	}
	return name + "=etcd+https://" + strings.Join(hosts, ",")
}

var fingerprintOf = regexp.MustCompile(`(?m)^(\w+): .*fingerprint=([0-9a-f]{32})$`)

// TestSyncCommand: `zoneproxy sync` end to end on two regions, one of which a zoneproxy serves:
// diff, apply, idempotent apply, dump -> apply no-op, a refused invalid file; the fingerprint
// sync prints is the one the data plane reports.
func TestSyncCommand(t *testing.T) {
	eu, files := startCluster(t)
	us := cptest.StartT(t, cptest.Options{Endpoints: 1, Members: 1, CA: eu.CA()})
	a := backend(t, "a")
	dir := t.TempDir()
	file := filepath.Join(dir, "apisix.yaml")
	if err := os.WriteFile(file, []byte(`upstreams:
  - id: u1
    nodes: {"${BACKEND}": 1}
routes:
  - id: r1
    uri: /hello
    upstream_id: u1
    labels: {region: "${REGION:=any}"}
consumers:
  - username: jack
    plugins:
      key-auth: {key: jack-key}
`), 0o600); err != nil {
		t.Fatal(err)
	}
	env := map[string]string{"BACKEND": a}
	tls := []string{"--cacert", files.CA, "--cert", files.Cert, "--key", files.Key}
	targets := []string{"--target", etcdTarget("eu", eu), "--target", etcdTarget("us", us)}
	args := func(cmd string, extra ...string) []string {
		return append(append(append([]string{cmd, "-f", file}, tls...), targets...), extra...)
	}
	zp := startZoneproxy(t, instanceOpts{endpoints: eu.Endpoints(), files: files})

	code, out, errOut := syncCmd(env, args("diff")...)
	if code != 1 || !strings.Contains(out, "eu: + routes/r1") || !strings.Contains(out, "us: differs create=3") {
		t.Fatalf("diff before apply: exit %d\n%s%s", code, out, errOut)
	}
	code, out, errOut = syncCmd(env, args("apply", "--dry-run")...)
	if code != 0 || !strings.Contains(out, "eu: dry run, would write create=3") {
		t.Fatalf("dry run: exit %d\n%s%s", code, out, errOut)
	}
	code, out, errOut = syncCmd(env, args("apply")...)
	if code != 0 || !strings.Contains(out, "eu: applied create=3") || !strings.Contains(out, "TARGET  CREATED") {
		t.Fatalf("apply: exit %d\n%s%s", code, out, errOut)
	}
	fps := map[string]string{}
	for _, m := range fingerprintOf.FindAllStringSubmatch(out, -1) {
		fps[m[1]] = m[2]
	}
	if fps["eu"] == "" || fps["eu"] != fps["us"] || fps["eu"] != fps["file"] {
		t.Fatalf("fingerprints %v, want eu = us = file:\n%s", fps, out)
	}
	testutil.WaitFor(t, "the synced route", 10*time.Second, serves(zp.proxy+"/hello", "", "a GET /hello"))
	testutil.WaitForState(t, "the data plane to report the fingerprint sync printed", 10*time.Second, func() (bool, string) {
		got, _ := controlPlaneView(t, zp)["config_fingerprint"].(string)
		return got == fps["eu"], got
	})
	if code, body := readyCode(zp, "?fingerprint="+fps["eu"]); code != 200 {
		t.Errorf("ready?fingerprint=<what sync printed> = %d %s", code, body)
	}
	// The key-auth key is stored encrypted, as APISIX's admin does.
	kvs := etcdGet(t, eu, "/apisix/consumers/jack")
	if strings.Contains(kvs, "jack-key") {
		t.Errorf("the consumer's key is stored in clear: %s", kvs)
	}

	code, out, _ = syncCmd(env, args("apply")...)
	if code != 0 || !strings.Contains(out, "eu: unchanged, nothing to write") || !strings.Contains(out, "us: unchanged, nothing to write") {
		t.Errorf("second apply: exit %d\n%s", code, out)
	}
	code, out, _ = syncCmd(env, args("diff")...)
	if code != 0 || !strings.Contains(out, "drift: none, eu, us hold the same configuration") {
		t.Errorf("diff after apply: exit %d\n%s", code, out)
	}

	// Drift: someone edits us by hand.
	putKV(t, us, "/apisix/routes/r1", `{"uri":"/hand-edited","upstream_id":"u1"}`)
	code, out, _ = syncCmd(env, args("diff")...)
	if code != 1 || !strings.Contains(out, `us:     ~ uri: "/hand-edited" -> "/hello"`) ||
		!strings.Contains(out, "drift: us hold fingerprint=") {
		t.Errorf("diff with drift: exit %d\n%s", code, out)
	}

	// dump -> apply is a no-op.
	code, dump, errOut := syncCmd(env, append(append([]string{"dump"}, tls...), "--target", strings.SplitN(etcdTarget("eu", eu), "=", 2)[1])...)
	if code != 0 || !strings.Contains(errOut, "fingerprint="+fps["eu"]) {
		t.Fatalf("dump: exit %d\n%s", code, errOut)
	}
	dumpFile := filepath.Join(dir, "dump.yaml")
	if err := os.WriteFile(dumpFile, []byte(dump), 0o600); err != nil {
		t.Fatal(err)
	}
	code, out, errOut = syncCmd(nil, append(append([]string{"diff", "-f", dumpFile}, tls...), "--target", etcdTarget("eu", eu))...)
	if code != 0 || !strings.Contains(out, "eu: in sync") {
		t.Errorf("diff of eu's dump against eu: exit %d\n%s%s\n%s", code, out, errOut, dump)
	}

	// An invalid object refuses the whole file before any target is touched.
	bad := filepath.Join(dir, "bad.yaml")
	if err := os.WriteFile(bad, []byte("routes:\n  - {id: r9, uri: /x, upstream: {nodes: {\"127.0.0.1:1\": -5}}}\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	code, _, errOut = syncCmd(env, append(append([]string{"apply", "-f", file, "-f", bad}, tls...), targets...)...)
	if code != 2 || !strings.Contains(errOut, "routes/r9") {
		t.Errorf("invalid file: exit %d %s", code, errOut)
	}
	if v := etcdGet(t, eu, "/apisix/routes/r9"); v != "" {
		t.Errorf("routes/r9 was written: %s", v)
	}
	// Unset variable, unknown subcommand.
	if code, _, errOut := syncCmd(nil, args("diff")...); code != 2 || !strings.Contains(errOut, "BACKEND") {
		t.Errorf("unset variable: exit %d %s", code, errOut)
	}
	if code, _, _ := syncCmd(nil, "push"); code != 2 {
		t.Errorf("unknown subcommand: exit %d", code)
	}
}

func etcdGet(t *testing.T, c *cptest.Cluster, key string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	resp, err := c.Client().Get(ctx, key)
	if err != nil {
		t.Fatal(err)
	}
	if len(resp.Kvs) == 0 {
		return ""
	}
	return string(resp.Kvs[0].Value)
}

// TestSyncAdminTarget: an Admin API target (APISIX's Admin API as devcp serves it, key
// required) takes the file from ZONEPROXY_ADMIN_KEY's key; a wrong key fails that target alone.
func TestSyncAdminTarget(t *testing.T) {
	cluster := cptest.StartT(t, cptest.Options{Endpoints: 1, Members: 1})
	api, err := adminapi.New(adminapi.Options{KV: cluster.Client()})
	if err != nil {
		t.Fatal(err)
	}
	auth, err := adminauth.New(config.Admin{KeyRequired: true, Keys: []config.AdminKey{{Name: "admin", Key: "s3cret-admin-key", Role: config.AdminRoleAdmin}}})
	if err != nil {
		t.Fatal(err)
	}
	ln := testutil.Listen(t)
	srv := &http.Server{Handler: auth.Wrap(api)}
	go func() { _ = srv.Serve(ln) }()
	t.Cleanup(func() { _ = srv.Close() })
	file := filepath.Join(t.TempDir(), "apisix.yaml")
	if err := os.WriteFile(file, []byte("routes:\n  - {id: r1, uri: /a, upstream: {nodes: {\"127.0.0.1:1980\": 1}}}\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	target := "eu=http://" + ln.Addr().String()
	code, out, errOut := syncCmd(map[string]string{"ZONEPROXY_ADMIN_KEY": "s3cret-admin-key"}, "apply", "-f", file, "--target", target)
	if code != 0 || !strings.Contains(out, "eu: applied in 1 call create=1") {
		t.Fatalf("apply: exit %d\n%s%s", code, out, errOut)
	}
	if v := etcdGet(t, cluster, "/apisix/routes/r1"); !strings.Contains(v, `"uri":"/a"`) {
		t.Errorf("routes/r1 = %q", v)
	}
	code, out, _ = syncCmd(nil, "diff", "-f", file, "--target", target, "--admin-key", "s3cret-admin-key")
	if code != 0 || !strings.Contains(out, "eu: in sync") {
		t.Errorf("diff: exit %d\n%s", code, out)
	}
	code, out, _ = syncCmd(nil, "diff", "-f", file, "--target", target, "--admin-key", "wrong")
	if code != 2 || !strings.Contains(out, "wrong apikey") {
		t.Errorf("diff with a wrong key: exit %d\n%s", code, out)
	}
}
