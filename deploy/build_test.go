package deploy

import (
	"bufio"
	"bytes"
	"context"
	"debug/elf"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"
)

// goCmd runs the go command in the repository's root with extra environment variables.
func goCmd(ctx context.Context, t *testing.T, env []string, args ...string) []byte {
	t.Helper()
	cmd := exec.CommandContext(ctx, "go", args...)
	cmd.Dir = repoRoot
	cmd.Env = append(os.Environ(), env...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("go %s: %v\n%s", strings.Join(args, " "), err, stderr.String())
	}
	return out
}

// buildVersion is set with -ldflags -X, as the Dockerfile sets main.version.
const buildVersion = "deploy-test"

// built is the static zoneproxy binary, built once per test process: go test -count=N runs the
// tests N times in one process, and one link is enough. TestMain removes its directory.
var built struct {
	once sync.Once
	dir  string
	path string
	err  error
}

func TestMain(m *testing.M) {
	code := m.Run()
	if built.dir != "" {
		os.RemoveAll(built.dir)
	}
	os.Exit(code)
}

// staticBinary builds ./cmd/zoneproxy as the Dockerfile does: CGO_ENABLED=0, -trimpath, version from
// -ldflags, for linux.
func staticBinary(t *testing.T) string {
	t.Helper()
	built.once.Do(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 8*time.Minute)
		defer cancel()
		if built.dir, built.err = os.MkdirTemp("", "zoneproxy-deploy-test-"); built.err != nil {
			return
		}
		built.path = filepath.Join(built.dir, "zoneproxy")
		cmd := exec.CommandContext(ctx, "go", "build", "-trimpath", "-ldflags", "-s -w -X main.version="+buildVersion,
			"-o", built.path, "./cmd/zoneproxy")
		cmd.Dir = repoRoot
		cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOOS=linux", "GOARCH="+runtime.GOARCH)
		if out, err := cmd.CombinedOutput(); err != nil {
			built.err = fmt.Errorf("go build ./cmd/zoneproxy: %w\n%s", err, out)
		}
	})
	if built.err != nil {
		t.Fatal(built.err)
	}
	return built.path
}

// TestStaticBuild checks that the binary the Dockerfile builds needs no dynamic loader, then runs it
// on the shipped configuration files.
func TestStaticBuild(t *testing.T) {
	bin := staticBinary(t)
	// The runs of the binary below, not its build (minutes with a cold build cache on a busy CI
	// machine), are what the deadline bounds.
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()

	t.Run("no interpreter and no dynamic section", func(t *testing.T) {
		f, err := elf.Open(bin)
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		for _, p := range f.Progs {
			if p.Type == elf.PT_INTERP || p.Type == elf.PT_DYNAMIC {
				t.Errorf("program header %v: the binary is dynamically linked", p.Type)
			}
		}
		for _, name := range []string{".interp", ".dynamic"} {
			if f.Section(name) != nil {
				t.Errorf("section %s present", name)
			}
		}
		if libs, err := f.ImportedLibraries(); err != nil || len(libs) > 0 {
			t.Errorf("imported libraries %v (%v)", libs, err)
		}
	})

	if runtime.GOOS != "linux" {
		t.Skipf("the linux binary cannot run on %s", runtime.GOOS)
	}
	run := func(t *testing.T, env []string, args ...string) string {
		t.Helper()
		cmd := exec.CommandContext(ctx, bin, args...)
		// Only what is given (not nil, which would inherit): no APISIX_DEPLOYMENT_ETCD_HOST from the shell.
		cmd.Env = append(make([]string, 0, len(env)), env...)
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("zoneproxy %s: %v\n%s", strings.Join(args, " "), err, out)
		}
		return string(out)
	}
	t.Run("version from ldflags", func(t *testing.T) {
		if out := run(t, nil, "-v"); strings.TrimSpace(out) != "zoneproxy "+buildVersion {
			t.Errorf("zoneproxy -v: %q", out)
		}
	})

	zpA := composeZoneproxies(t)["zoneproxy-a"]
	configs := []struct {
		name string
		file string
		env  []string
	}{
		{"image config.yaml", imageConfig, nil},
		{"image config.yaml with the demo's DP Managers", imageConfig,
			[]string{"APISIX_DEPLOYMENT_ETCD_HOST=" + zpA.Environment["APISIX_DEPLOYMENT_ETCD_HOST"]}},
		{"kubernetes config.yaml", "kubernetes/config.yaml", nil},
	}
	for _, tc := range configs {
		t.Run("zoneproxy -t "+tc.name, func(t *testing.T) {
			abs, err := filepath.Abs(tc.file)
			if err != nil {
				t.Fatal(err)
			}
			if out := run(t, tc.env, "-t", "-c", abs); !strings.Contains(out, "test is successful") {
				t.Errorf("zoneproxy -t: %s", out)
			}
		})
	}
}

// TestDockerignore checks that the build context keeps every file the image is built from, and
// leaves out the local control plane's data and built binaries.
func TestDockerignore(t *testing.T) {
	data, err := os.ReadFile(filepath.Join(repoRoot, ".dockerignore"))
	if err != nil {
		t.Fatal(err)
	}
	ign, err := parseDockerignore(string(data))
	if err != nil {
		t.Fatal(err)
	}

	// Every file of the module's packages that ./cmd/zoneproxy is built from.
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	out := goCmd(ctx, t, nil, "list", "-deps", "-json=Dir,GoFiles,EmbedFiles,Module", "./cmd/zoneproxy")
	root, err := filepath.Abs(repoRoot)
	if err != nil {
		t.Fatal(err)
	}
	needed := []string{"go.mod", "go.sum", "deploy/" + imageConfig}
	dec := json.NewDecoder(bytes.NewReader(out))
	for dec.More() {
		var p struct {
			Dir                 string
			GoFiles, EmbedFiles []string
			Module              *struct{ Main bool }
		}
		if err := dec.Decode(&p); err != nil {
			t.Fatal(err)
		}
		if p.Module == nil || !p.Module.Main {
			continue
		}
		rel, err := filepath.Rel(root, p.Dir)
		if err != nil {
			t.Fatal(err)
		}
		for _, f := range append(p.GoFiles, p.EmbedFiles...) {
			needed = append(needed, filepath.ToSlash(filepath.Join(rel, f)))
		}
	}
	if len(needed) < 10 {
		t.Fatalf("go list found only %v", needed)
	}
	for _, f := range needed {
		if ign.ignored(f) {
			t.Errorf("%s is needed by the build but .dockerignore leaves it out", f)
		}
	}

	tests := []struct {
		path string
		want bool
	}{
		{".devcp/ca.key", true},
		{"bin/zoneproxy", true},
		{"zoneproxy", true},
		{".git/HEAD", true},
		{"cpclient/cpclient.test", true},
		{"deploy/compose/compose.yaml", true},
		{"deploy/" + imageConfig, false},
		{"cmd/zoneproxy/main.go", false},
		{"Makefile", false},
	}
	for _, tc := range tests {
		t.Run(tc.path, func(t *testing.T) {
			if got := ign.ignored(tc.path); got != tc.want {
				t.Errorf("ignored(%s) = %v, want %v", tc.path, got, tc.want)
			}
		})
	}
}

// dockerignore holds .dockerignore's patterns, as BuildKit reads them: paths relative to the
// context, "*" and "?" within a path element, "**" across elements, "!" re-includes, the last
// matching pattern wins, and a pattern that matches a directory matches what is inside it.
type dockerignore []struct {
	re      *regexp.Regexp
	exclude bool
}

func parseDockerignore(text string) (dockerignore, error) {
	var out dockerignore
	sc := bufio.NewScanner(strings.NewReader(text))
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		exclude := true
		if rest, ok := strings.CutPrefix(line, "!"); ok {
			line, exclude = rest, false
		}
		pat := strings.TrimPrefix(filepath.ToSlash(filepath.Clean(line)), "/")
		var re strings.Builder
		re.WriteString("^")
		for i := 0; i < len(pat); i++ {
			switch c := pat[i]; {
			case strings.HasPrefix(pat[i:], "**/"):
				re.WriteString("(.*/)?")
				i += 2
			case strings.HasPrefix(pat[i:], "**"):
				re.WriteString(".*")
				i++
			case c == '*':
				re.WriteString("[^/]*")
			case c == '?':
				re.WriteString("[^/]")
			default:
				re.WriteString(regexp.QuoteMeta(string(c)))
			}
		}
		re.WriteString("$")
		r, err := regexp.Compile(re.String())
		if err != nil {
			return nil, fmt.Errorf("pattern %q: %w", line, err)
		}
		out = append(out, struct {
			re      *regexp.Regexp
			exclude bool
		}{r, exclude})
	}
	return out, sc.Err()
}

func (d dockerignore) ignored(path string) bool {
	ignored := false
	for _, p := range d {
		for q := path; q != "." && q != "/"; q = filepath.Dir(q) {
			if p.re.MatchString(q) {
				ignored = p.exclude
				break
			}
		}
	}
	return ignored
}
