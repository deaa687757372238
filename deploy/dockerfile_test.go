package deploy

import (
	"bufio"
	"encoding/json"
	"fmt"
	"os"
	"path"
	"regexp"
	"strconv"
	"strings"
	"testing"
)

// instruction is one Dockerfile instruction, continuation lines joined.
type instruction struct {
	cmd  string // upper case: FROM, RUN, ...
	args string
	line int // where it starts
}

// stage is a FROM and the instructions up to the next FROM.
type stage struct {
	from  string // the image reference
	name  string // AS name, or ""
	instr []instruction
}

var heredoc = regexp.MustCompile(`<<-?["']?[A-Za-z_]`)

// parseDockerfile splits a Dockerfile into instructions: comments, blank lines and parser directives
// are dropped, lines ending in a backslash are joined. (No heredocs: the Dockerfile has none.)
func parseDockerfile(text string) ([]instruction, error) {
	var out []instruction
	var cur strings.Builder
	start := 0
	sc := bufio.NewScanner(strings.NewReader(text))
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if strings.HasPrefix(line, "#") || (line == "" && cur.Len() == 0) {
			continue // comments may sit between continuation lines too
		}
		if cur.Len() == 0 {
			start = n
		}
		if body, ok := strings.CutSuffix(line, `\`); ok {
			cur.WriteString(body)
			cur.WriteByte(' ')
			continue
		}
		cur.WriteString(line)
		cmd, args, _ := strings.Cut(strings.TrimSpace(cur.String()), " ")
		if heredoc.MatchString(args) {
			return nil, fmt.Errorf("line %d: heredocs are not handled", start)
		}
		out = append(out, instruction{cmd: strings.ToUpper(cmd), args: strings.Join(strings.Fields(args), " "), line: start})
		cur.Reset()
	}
	if cur.Len() > 0 {
		return nil, fmt.Errorf("line %d: the file ends inside a continued instruction", start)
	}
	return out, sc.Err()
}

// stages groups instructions by FROM; global ARGs before the first FROM are returned apart.
func stages(instrs []instruction) (args map[string]string, st []stage, err error) {
	args = map[string]string{}
	for _, in := range instrs {
		switch {
		case in.cmd == "FROM":
			f := strings.Fields(in.args)
			for len(f) > 0 && strings.HasPrefix(f[0], "--") {
				f = f[1:] // --platform=...
			}
			s := stage{}
			switch {
			case len(f) == 1:
				s.from = f[0]
			case len(f) == 3 && strings.EqualFold(f[1], "AS"):
				s.from, s.name = f[0], f[2]
			default:
				return nil, nil, fmt.Errorf("line %d: FROM %s", in.line, in.args)
			}
			st = append(st, s)
		case len(st) == 0 && in.cmd == "ARG":
			k, v, _ := strings.Cut(in.args, "=")
			args[k] = v
		case len(st) == 0:
			return nil, nil, fmt.Errorf("line %d: %s before the first FROM", in.line, in.cmd)
		default:
			st[len(st)-1].instr = append(st[len(st)-1].instr, in)
		}
	}
	return args, st, nil
}

// expand replaces ${NAME} and $NAME by the global ARG defaults.
func expand(s string, args map[string]string) string {
	return os.Expand(s, func(k string) string { return args[k] })
}

func (s stage) all(cmd string) []instruction {
	var out []instruction
	for _, in := range s.instr {
		if in.cmd == cmd {
			out = append(out, in)
		}
	}
	return out
}

// last returns the last cmd of the stage (the one that counts for USER, CMD, ...).
func (s stage) last(cmd string) (instruction, error) {
	all := s.all(cmd)
	if len(all) == 0 {
		return instruction{}, fmt.Errorf("no %s in the stage FROM %s", cmd, s.from)
	}
	return all[len(all)-1], nil
}

// execForm decodes a JSON-array argument (["a", "b"]).
func execForm(in instruction, args string) ([]string, error) {
	var v []string
	if err := json.Unmarshal([]byte(args), &v); err != nil {
		return nil, fmt.Errorf("line %d: %s %s is not in exec (JSON array) form: %w", in.line, in.cmd, args, err)
	}
	return v, nil
}

// dockerfile is the parsed repository Dockerfile.
type dockerfile struct {
	args   map[string]string
	stages []stage
}

func readDockerfile(t *testing.T) dockerfile {
	t.Helper()
	data, err := os.ReadFile(dockerfilePath)
	if err != nil {
		t.Fatal(err)
	}
	instrs, err := parseDockerfile(string(data))
	if err != nil {
		t.Fatal(err)
	}
	args, st, err := stages(instrs)
	if err != nil {
		t.Fatal(err)
	}
	if len(st) < 2 {
		t.Fatalf("%d stages; want a multi-stage build", len(st))
	}
	return dockerfile{args: args, stages: st}
}

func (d dockerfile) final() stage { return d.stages[len(d.stages)-1] }

// user returns the final stage's numeric USER uid.
func (d dockerfile) user() (int, error) {
	in, err := d.final().last("USER")
	if err != nil {
		return 0, err
	}
	uid, _, _ := strings.Cut(in.args, ":")
	n, err := strconv.Atoi(uid)
	if err != nil {
		// Kubernetes' runAsNonRoot cannot check a user name.
		return 0, fmt.Errorf("line %d: USER %s is not numeric", in.line, in.args)
	}
	return n, nil
}

func TestDockerfileParser(t *testing.T) {
	tests := []struct {
		name    string
		text    string
		want    []instruction
		wantErr bool
	}{
		{
			name: "directive, comments and continuations",
			text: "# syntax=docker/dockerfile:1\n\nFROM a AS b\n# c\nRUN x \\\n    # inside\n    y\nuser 1:2\n",
			want: []instruction{{"FROM", "a AS b", 3}, {"RUN", "x y", 5}, {"USER", "1:2", 8}},
		},
		{name: "dangling continuation", text: "FROM a\nRUN x \\\n", wantErr: true},
		{name: "heredoc", text: "FROM a\nRUN <<EOF\nx\nEOF\n", wantErr: true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := parseDockerfile(tc.text)
			if (err != nil) != tc.wantErr {
				t.Fatalf("error %v, want error %v", err, tc.wantErr)
			}
			if tc.wantErr {
				return
			}
			if fmt.Sprint(got) != fmt.Sprint(tc.want) {
				t.Errorf("got %v, want %v", got, tc.want)
			}
		})
	}
}

func TestDockerfile(t *testing.T) {
	d := readDockerfile(t)
	build, final := d.stages[0], d.final()
	cfg := loadConfig(t, imageConfig, nil)

	goMod, err := os.ReadFile("../go.mod")
	if err != nil {
		t.Fatal(err)
	}
	goLine := regexp.MustCompile(`(?m)^go (\d+\.\d+)`).FindSubmatch(goMod)
	if goLine == nil {
		t.Fatal("go.mod has no go directive")
	}

	runChecks(t, []check{
		{"build stage is named and final stage copies from it", func() error {
			if build.name == "" {
				return fmt.Errorf("the first stage (FROM %s) has no AS name", build.from)
			}
			for _, in := range final.all("COPY") {
				if strings.Contains(in.args, "--from="+build.name+" ") {
					return nil
				}
			}
			return fmt.Errorf("the final stage has no COPY --from=%s", build.name)
		}},
		{"builder is the Go of go.mod", func() error {
			img := expand(build.from, d.args)
			want := "golang:" + string(goLine[1])
			if !strings.HasPrefix(img, want) {
				return fmt.Errorf("builder %s, want %s (go.mod)", img, want)
			}
			return nil
		}},
		{"runtime image is pinned", func() error {
			img := expand(final.from, d.args)
			if !regexp.MustCompile(`^[a-z0-9./-]+:[0-9][0-9.]*$`).MatchString(img) {
				return fmt.Errorf("final image %q is not pinned to a version", img)
			}
			return nil
		}},
		{"static build with CGO_ENABLED=0", func() error {
			for _, in := range build.all("RUN") {
				if !strings.Contains(in.args, "go build") {
					continue
				}
				for _, want := range []string{"CGO_ENABLED=0", "-trimpath", "-X main.version=", "./cmd/zoneproxy"} {
					if !strings.Contains(in.args, want) {
						return fmt.Errorf("line %d: go build without %s", in.line, want)
					}
				}
				return nil
			}
			return fmt.Errorf("no RUN go build in the build stage")
		}},
		{"USER is numeric and not root", func() error {
			uid, err := d.user()
			if err != nil {
				return err
			}
			if uid == 0 {
				return fmt.Errorf("USER is root")
			}
			return nil
		}},
		{"EXPOSE the ports of config.yaml", func() error {
			in, err := final.last("EXPOSE")
			if err != nil {
				return err
			}
			return hasAll(strings.Fields(in.args),
				strconv.Itoa(cfg.APISIX.NodeListen[0].Port),
				strconv.Itoa(cfg.APISIX.Status.Port),
				strconv.Itoa(cfg.Prometheus.ExportAddr.Port))
		}},
		{"EXPOSE 9080 7085 9091", func() error {
			in, err := final.last("EXPOSE")
			if err != nil {
				return err
			}
			return hasAll(strings.Fields(in.args), "9080", "7085", "9091")
		}},
		{"config.yaml copied to APISIX's path", func() error {
			for _, in := range final.all("COPY") {
				if f := strings.Fields(in.args); len(f) == 2 && f[0] == "deploy/"+imageConfig && f[1] == configPath {
					return nil
				}
			}
			return fmt.Errorf("no COPY deploy/%s %s", imageConfig, configPath)
		}},
		{"ENTRYPOINT and CMD run zoneproxy -c config.yaml", func() error {
			ep, err := final.last("ENTRYPOINT")
			if err != nil {
				return err
			}
			epArgs, err := execForm(ep, ep.args)
			if err != nil {
				return err
			}
			cmd, err := final.last("CMD")
			if err != nil {
				return err
			}
			cmdArgs, err := execForm(cmd, cmd.args)
			if err != nil {
				return err
			}
			if len(epArgs) != 1 || path.Base(epArgs[0]) != "zoneproxy" {
				return fmt.Errorf("ENTRYPOINT %v, want the zoneproxy binary alone", epArgs)
			}
			if strings.Join(cmdArgs, " ") != "-c "+configPath {
				return fmt.Errorf("CMD %v, want -c %s", cmdArgs, configPath)
			}
			for _, in := range final.all("COPY") {
				if strings.HasPrefix(in.args, "--from=") && strings.HasSuffix(in.args, " "+epArgs[0]) {
					return nil
				}
			}
			return fmt.Errorf("nothing is copied to %s", epArgs[0])
		}},
		{"HEALTHCHECK probes /status without a shell", func() error {
			in, err := final.last("HEALTHCHECK")
			if err != nil {
				return err
			}
			_, cmd, ok := strings.Cut(in.args, "CMD ")
			if !ok {
				return fmt.Errorf("line %d: HEALTHCHECK without CMD", in.line)
			}
			argv, err := execForm(in, cmd)
			if err != nil {
				return err
			}
			url := fmt.Sprintf("http://127.0.0.1:%d/status", cfg.APISIX.Status.Port)
			if err := hasAll(argv, url); err != nil {
				return err
			}
			// wget comes with busybox: the runtime image must be one that has it.
			if argv[0] == "wget" && !strings.HasPrefix(expand(final.from, d.args), "alpine:") {
				return fmt.Errorf("HEALTHCHECK uses wget on %s", final.from)
			}
			return nil
		}},
		{"data_dir is a VOLUME", func() error {
			in, err := final.last("VOLUME")
			if err != nil {
				return err
			}
			vols, err := execForm(in, in.args)
			if err != nil {
				return err
			}
			return hasAll(vols, cfg.Zoneproxy.DataDir)
		}},
		{"data_dir is writable by USER", func() error {
			uid, err := d.user()
			if err != nil {
				return err
			}
			for _, in := range final.all("RUN") {
				if strings.Contains(in.args, cfg.Zoneproxy.DataDir) &&
					regexp.MustCompile(`chown (\S+:)?(apisix|`+strconv.Itoa(uid)+`)\b`).MatchString(in.args) {
					return nil
				}
			}
			return fmt.Errorf("no RUN chowns %s to the user", cfg.Zoneproxy.DataDir)
		}},
		{"status server and metrics listen outside the container", func() error {
			if ip := cfg.APISIX.Status.IP; ip != "0.0.0.0" {
				return fmt.Errorf("apisix.status.ip is %s", ip)
			}
			if ip := cfg.Prometheus.ExportAddr.IP; ip != "0.0.0.0" {
				return fmt.Errorf("plugin_attr.prometheus.export_addr.ip is %s", ip)
			}
			return nil
		}},
		{"STOPSIGNAL is SIGTERM", func() error {
			in, err := final.last("STOPSIGNAL")
			if err != nil {
				return nil // the default is SIGTERM
			}
			if in.args != "SIGTERM" {
				return fmt.Errorf("STOPSIGNAL %s: zoneproxy drains on SIGTERM", in.args)
			}
			return nil
		}},
	})
}
