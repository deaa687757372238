package main

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/zoneproxy/zoneproxy/internal/testutil"
)

// The file-driven standalone mode end to end: zoneproxy runs in-process with
// deployment.role data_plane + config_provider yaml|json, reading a real file, and proxies to
// real upstreams.

const fileDeployment = "  role: data_plane\n  role_data_plane: {config_provider: %s}\n"

// startFileZoneproxy writes content to file and starts zoneproxy reading it.
func startFileZoneproxy(t *testing.T, provider, file, content string) *instance {
	t.Helper()
	if content != "" {
		writeFile(t, file, content)
	}
	return startZoneproxy(t, instanceOpts{deployment: fmt.Sprintf(fileDeployment, provider),
		extra: fmt.Sprintf("  standalone_file: %q\n", file)})
}

func writeFile(t *testing.T, path, content string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}

// renameInto writes content beside path and renames it over path, as an atomic writer does.
func renameInto(t *testing.T, path, content string) {
	t.Helper()
	tmp := path + ".tmp"
	writeFile(t, tmp, content)
	if err := os.Rename(tmp, path); err != nil {
		t.Fatal(err)
	}
}

// yamlRoutes is an apisix.yaml with one route per uri -> upstream address, ids r<n>.
func yamlRoutes(routes ...[2]string) string {
	var b strings.Builder
	b.WriteString("routes:\n")
	for i, r := range routes {
		fmt.Fprintf(&b, "  - id: r%d\n    uri: %s\n    upstream:\n      type: roundrobin\n      nodes:\n        %q: 1\n", i+1, r[0], r[1])
	}
	b.WriteString("#END\n")
	return b.String()
}

func fileStatus(t *testing.T, zp *instance) map[string]any {
	t.Helper()
	v := controlPlaneView(t, zp)
	cp, ok := v["control_plane"].(map[string]any)
	if !ok {
		t.Fatalf("/status/control-plane: %v", v)
	}
	return cp
}

func TestStandaloneFile(t *testing.T) {
	a, b := backend(t, "a"), backend(t, "b")
	dir := t.TempDir()
	file := filepath.Join(dir, "apisix.yaml")
	first := yamlRoutes([2]string{"/r1", a})
	zp := startFileZoneproxy(t, "yaml", file, first)
	testutil.WaitFor(t, "route 1", 10*time.Second, serves(zp.proxy+"/r1", "", "a GET /r1"))
	testutil.WaitFor(t, "ready with the file loaded", 5*time.Second, func() bool { return ready(zp) == 200 })
	sum := sha256.Sum256([]byte(first))
	if st := fileStatus(t, zp); st["source"] != "file" || st["path"] != file || st["digest"] != hex.EncodeToString(sum[:]) ||
		st["loaded"] != true || st["mtime"] == nil {
		t.Errorf("status %v", st)
	}

	t.Run("in-place write", func(t *testing.T) {
		writeFile(t, file, yamlRoutes([2]string{"/r1", a}, [2]string{"/r2", a}))
		testutil.WaitFor(t, "route 2", 10*time.Second, serves(zp.proxy+"/r2", "", "a GET /r2"))
	})
	t.Run("atomic rename", func(t *testing.T) {
		renameInto(t, file, yamlRoutes([2]string{"/r1", b}, [2]string{"/r2", a}))
		testutil.WaitFor(t, "route 1 on b", 10*time.Second, serves(zp.proxy+"/r1", "", "b GET /r1"))
	})
	t.Run("truncated mid-write is not loaded", func(t *testing.T) {
		full := yamlRoutes([2]string{"/r1", a}, [2]string{"/r2", a}, [2]string{"/r3", a})
		writeFile(t, file, full[:len(full)-20])
		testutil.WaitFor(t, "the failure in the status", 10*time.Second, func() bool {
			e, _ := fileStatus(t, zp)["last_error"].(string)
			return strings.Contains(e, "end flag")
		})
		if code, _ := httpGet(zp.proxy+"/r3", ""); code != 404 {
			t.Errorf("/r3 = %d from a half-written file", code)
		}
		// The configuration served is now older than the file: a GSLB check with a bound on its
		// age fails once the last load is older than the bound; plain readiness holds.
		testutil.WaitFor(t, "max_config_age failing on a stale file", 5*time.Second, func() bool {
			code, _ := readyCode(zp, "?max_config_age=1ms")
			return code == 503
		})
		if code := ready(zp); code != 200 {
			t.Errorf("/status/ready = %d while the last good file serves", code)
		}
		if code, body := httpGet(zp.proxy+"/r1", ""); code != 200 || !strings.HasPrefix(body, "b GET") {
			t.Errorf("/r1 = %d %q: the last good file should serve", code, body)
		}
		writeFile(t, file, full) // the writer finishes
		testutil.WaitFor(t, "route 3", 10*time.Second, serves(zp.proxy+"/r3", "", "a GET /r3"))
		// The status follows the new version's serving (filesource: digest, warnings, errors).
		testutil.WaitFor(t, "last_error cleared after a good file", 5*time.Second, func() bool {
			return fileStatus(t, zp)["last_error"] == nil
		})
		if code, body := readyCode(zp, "?max_config_age=1s"); code != 200 {
			t.Errorf("/status/ready?max_config_age=1s = %d %q with the file's last version loaded", code, body)
		}
	})
	t.Run("a bad object is rejected alone", func(t *testing.T) {
		renameInto(t, file, fmt.Sprintf(`routes:
  - {id: good, uri: /good, upstream_id: u1}
  - {id: bad, uri: 123, upstream_id: u1}
  - {id: colour, uri: /colour, upstream_id: u1, colour: red}
  - just a string
upstreams:
  - {id: u1, nodes: {%q: 1}}
#END
`, a))
		testutil.WaitFor(t, "the good route", 10*time.Second, serves(zp.proxy+"/good", "", "a GET /good"))
		for _, p := range []string{"/colour", "/r1"} {
			if code, _ := httpGet(zp.proxy+p, ""); code != 404 {
				t.Errorf("%s = %d, want 404", p, code)
			}
		}
		testutil.WaitFor(t, "the rejections logged", 5*time.Second, func() bool {
			l := zp.logs.String()
			return strings.Contains(l, "key=/apisix/routes/bad") && strings.Contains(l, `reason="colour: unknown field"`) &&
				strings.Contains(l, "routes[3]: is a string, not an object")
		})
	})
	t.Run("duplicate and missing ids", func(t *testing.T) {
		renameInto(t, file, fmt.Sprintf(`routes:
  - {id: dup, uri: /dup-old, upstream: {nodes: {%[1]q: 1}}}
  - {id: dup, uri: /dup-new, upstream: {nodes: {%[1]q: 1}}}
  - {uri: /no-id, upstream: {nodes: {%[1]q: 1}}}
#END
`, a))
		testutil.WaitFor(t, "the route without an id", 10*time.Second, serves(zp.proxy+"/no-id", "", "a GET /no-id"))
		testutil.WaitFor(t, "the later duplicate", 10*time.Second, serves(zp.proxy+"/dup-new", "", "a GET /dup-new"))
		if code, _ := httpGet(zp.proxy+"/dup-old", ""); code != 404 {
			t.Errorf("/dup-old = %d: the later entry should replace it", code)
		}
		// The status follows the new version's serving (filesource: digest, warnings, errors).
		testutil.WaitFor(t, "the duplicate id in the warnings", 5*time.Second, func() bool {
			return strings.Contains(fmt.Sprint(fileStatus(t, zp)["warnings"]), "duplicate id")
		})
	})
	// Files that must not load: each keeps the last good configuration.
	for _, tt := range []struct {
		name, content, want string
		size                int64 // a sparse file of this size instead
	}{
		{"YAML bomb", `a: &a ["x","x","x","x","x","x","x","x","x","x"]
b: &b [*a,*a,*a,*a,*a,*a,*a,*a,*a,*a]
c: &c [*b,*b,*b,*b,*b,*b,*b,*b,*b,*b]
d: &d [*c,*c,*c,*c,*c,*c,*c,*c,*c,*c]
e: &e [*d,*d,*d,*d,*d,*d,*d,*d,*d,*d]
f: &f [*e,*e,*e,*e,*e,*e,*e,*e,*e,*e]
g: &g [*f,*f,*f,*f,*f,*f,*f,*f,*f,*f]
routes: [{id: g, uri: /g, plugins: *g}]
#END
`, "aliases", 0},
		{"over 64 MiB", "", "larger than", 64<<20 + 1},
		{"bad YAML", "routes: [\n#END\n", "invalid YAML", 0},
		{"unset variable", "routes: [{id: v, uri: '${{ZONEPROXY_TEST_UNSET_VAR}}'}]\n#END\n", "ZONEPROXY_TEST_UNSET_VAR", 0},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if tt.size > 0 {
				tmp := file + ".big"
				f, err := os.Create(tmp)
				if err != nil {
					t.Fatal(err)
				}
				if err := f.Truncate(tt.size); err != nil {
					t.Fatal(err)
				}
				f.Close()
				if err := os.Rename(tmp, file); err != nil {
					t.Fatal(err)
				}
			} else {
				renameInto(t, file, tt.content)
			}
			testutil.WaitFor(t, "the failure in the status", 10*time.Second, func() bool {
				e, _ := fileStatus(t, zp)["last_error"].(string)
				return strings.Contains(e, tt.want)
			})
			if code, body := httpGet(zp.proxy+"/no-id", ""); code != 200 || !strings.HasPrefix(body, "a GET") {
				t.Errorf("/no-id = %d %q: the last good file should serve", code, body)
			}
		})
	}
	t.Run("SIGHUP rebuild serves the file's configuration", func(t *testing.T) {
		b, err := os.ReadFile(zp.configPath)
		if err != nil {
			t.Fatal(err)
		}
		writeFile(t, zp.configPath, string(b)+"  unknown_plugins: ignore\n")
		mark := len(zp.logs.String())
		zp.signals <- syscall.SIGHUP
		testutil.WaitFor(t, "the reload", 10*time.Second, func() bool {
			l := logsSince(zp, mark)
			return strings.Contains(l, "config.yaml reloaded") && strings.Contains(l, "configuration applied")
		})
		if code, body := httpGet(zp.proxy+"/no-id", ""); code != 200 || !strings.HasPrefix(body, "a GET") {
			t.Errorf("/no-id = %d %q after the rebuild", code, body)
		}
		if l := zp.logs.String(); strings.Contains(l, "control-plane configuration") {
			t.Errorf("a control-plane client ran in file mode")
		}
	})
	t.Run("metrics", func(t *testing.T) {
		_, body := httpGet(zp.metrics+"/apisix/prometheus/metrics", "")
		for _, want := range []string{`zoneproxy_config_reloads_total{result="applied",source="file"}`,
			`zoneproxy_config_reloads_total{result="failed",source="file"}`, `zoneproxy_config_rejected_total{kind="routes"}`} {
			if !strings.Contains(body, want) {
				t.Errorf("metrics lack %s", want)
			}
		}
	})
}

// TestStandaloneFileConfigMap: apisix.json mounted as Kubernetes mounts a ConfigMap: the file is
// a symlink through ..data, a symlink to a timestamped directory that is swapped by a rename.
// Without a file zoneproxy starts and is not ready; the first version makes it ready.
func TestStandaloneFileConfigMap(t *testing.T) {
	a, b := backend(t, "a"), backend(t, "b")
	dir := t.TempDir()
	file := filepath.Join(dir, "apisix.json")
	zp := startFileZoneproxy(t, "json", file, "")
	if code := ready(zp); code != 503 {
		t.Errorf("/status/ready = %d without a file, want 503", code)
	}
	version := func(name, backend string) {
		d := filepath.Join(dir, name)
		if err := os.Mkdir(d, 0o755); err != nil {
			t.Fatal(err)
		}
		writeFile(t, filepath.Join(d, "apisix.json"),
			fmt.Sprintf(`{"routes":[{"id":"1","uri":"/cm","upstream":{"nodes":{%q:1}}}]}`, backend))
		link := filepath.Join(dir, "..data_tmp")
		if err := os.Symlink(name, link); err != nil {
			t.Fatal(err)
		}
		if err := os.Rename(link, filepath.Join(dir, "..data")); err != nil {
			t.Fatal(err)
		}
	}
	version("..2026_12_06_v1", a)
	if err := os.Symlink(filepath.Join("..data", "apisix.json"), file); err != nil {
		t.Fatal(err)
	}
	testutil.WaitFor(t, "v1", 10*time.Second, serves(zp.proxy+"/cm", "", "a GET /cm"))
	testutil.WaitFor(t, "ready", 5*time.Second, func() bool { return ready(zp) == 200 })
	version("..2026_12_06_v2", b)
	testutil.WaitFor(t, "v2 after the swap", 10*time.Second, serves(zp.proxy+"/cm", "", "b GET /cm"))
}

// TestStandaloneFilePollNoAdmin: with standalone_watch: poll the file is re-read by the 1 s
// check alone (status says inotify false), and, as APISIX's data_plane role forces enable_admin
// off (no admin server in nginx.conf), the admin listener is not opened: its port refuses
// connections and /apisix/admin/* on the proxy port is an unmatched path, 404.
func TestStandaloneFilePollNoAdmin(t *testing.T) {
	a, b := backend(t, "a"), backend(t, "b")
	file := filepath.Join(t.TempDir(), "apisix.yaml")
	writeFile(t, file, yamlRoutes([2]string{"/p", a}))
	adminPort := testutil.FreePorts(t, 1)[0]
	zp := startZoneproxy(t, instanceOpts{
		deployment: fmt.Sprintf(fileDeployment, "yaml") + fmt.Sprintf(
			"  admin:\n    admin_listen: {ip: 127.0.0.1, port: %d}\n", adminPort),
		extra: fmt.Sprintf("  standalone_file: %q\n  standalone_watch: poll\n", file)})
	testutil.WaitFor(t, "route from the file", 10*time.Second, serves(zp.proxy+"/p", "", "a GET /p"))
	if st := fileStatus(t, zp); st["inotify"] != false {
		t.Errorf("status inotify = %v with standalone_watch: poll", st["inotify"])
	}
	renameInto(t, file, yamlRoutes([2]string{"/p", b}))
	testutil.WaitFor(t, "the change, by polling", 10*time.Second, serves(zp.proxy+"/p", "", "b GET /p"))

	if conn, err := net.DialTimeout("tcp", fmt.Sprintf("127.0.0.1:%d", adminPort), time.Second); err == nil {
		conn.Close()
		t.Errorf("the admin port %d accepts connections in file-driven standalone mode", adminPort)
	}
	resp, err := http.Get(zp.proxy + "/apisix/admin/routes")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusNotFound {
		t.Errorf("GET /apisix/admin/routes on the proxy port = %d, want 404", resp.StatusCode)
	}
}

// TestStandaloneFileInvalidAtStart: a file that does not parse at start stops zoneproxy with
// APISIX's "invalid apisix.yaml file" (there is no last good configuration in this mode to serve
// instead); a file with no #END yet is a writer mid-write: zoneproxy waits for it, not ready.
func TestStandaloneFileInvalidAtStart(t *testing.T) {
	for _, tc := range []struct{ name, content string }{
		{"bad YAML", "routes:\n  - id: 1\n    uri: [unclosed\n#END\n"},
		{"unset variable", "routes:\n  - id: 1\n    uri: ${{ZONEPROXY_TEST_UNSET_VAR}}\n#END\n"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			file := filepath.Join(t.TempDir(), "apisix.yaml")
			writeFile(t, file, tc.content)
			zp := startZoneproxy(t, instanceOpts{deployment: fmt.Sprintf(fileDeployment, "yaml"),
				extra: fmt.Sprintf("  standalone_file: %q\n", file), noWait: true})
			select {
			case <-zp.exited:
			case <-time.After(20 * time.Second):
				t.Fatal("zoneproxy kept running with an unparsable file at start")
			}
			if code := zp.stop(); code != 1 {
				t.Errorf("exit code %d, want 1", code)
			}
			if !strings.Contains(zp.logs.String(), "invalid apisix.yaml file") {
				t.Errorf("no 'invalid apisix.yaml file' in the log:\n%s", zp.logs.String())
			}
		})
	}
	t.Run("no #END yet", func(t *testing.T) {
		a := backend(t, "a")
		file := filepath.Join(t.TempDir(), "apisix.yaml")
		full := yamlRoutes([2]string{"/w", a})
		writeFile(t, file, strings.TrimSuffix(full, "#END\n"))
		zp := startFileZoneproxy(t, "yaml", file, "")
		if code := ready(zp); code != 503 {
			t.Errorf("/status/ready = %d with a half-written file, want 503", code)
		}
		renameInto(t, file, full)
		testutil.WaitFor(t, "the completed file", 10*time.Second, serves(zp.proxy+"/w", "", "a GET /w"))
	})
}
