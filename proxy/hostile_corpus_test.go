package proxy

import (
	"bufio"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// TestHostileCorpus sends every request case of testdata/hostile/*.txt through a Proxy with
// hostileOptions to a recorder upstream, and checks for each what the client got and exactly
// which requests the upstream received (issue 20, "How to show it"). Each file holds cases
// separated by blank lines; a case is:
//
//	# comments
//	case: its name
//	send: "Go-quoted bytes"          (repeatable, concatenated; a line may end "* N" to repeat)
//	status: 400                      (every answer the client gets, in order)
//	upstream: none                   (or one line per request: METHOD target "body" [* N])
//	header: Name = "value" "value2"  (the values of Name in the last upstream request; none: absent)
//
// "$PORT" in a header value is the proxy's listening port.
func TestHostileCorpus(t *testing.T) {
	cases := loadCorpus(t, "testdata/hostile")
	if len(cases) < 60 {
		t.Fatalf("only %d cases in testdata/hostile", len(cases))
	}
	h, rec := wireProxy(t, hostileOptions, "")
	_, port, _ := net.SplitHostPort(h.addr)
	var wcs []wireCase
	for _, c := range cases {
		wcs = append(wcs, c.wireCase(port))
	}
	runWire(t, h.addr, rec, wcs)
}

// corpusCase is one case of a corpus file.
type corpusCase struct {
	name, send string
	status     []int
	upstream   []string
	headers    [][]string // name, values...
}

func (c *corpusCase) wireCase(port string) wireCase {
	wc := wireCase{name: c.name, send: c.send, status: c.status, upstream: c.upstream}
	if len(c.headers) > 0 {
		var fs []func(t *testing.T, reqs []*wireReq)
		for _, hv := range c.headers {
			vals := make([]string, len(hv)-1)
			for i, v := range hv[1:] {
				vals[i] = strings.ReplaceAll(v, "$PORT", port)
			}
			fs = append(fs, fieldIs(hv[0], vals...))
		}
		wc.check = checks(fs...)
	}
	return wc
}

// loadCorpus reads every case of the .txt files in dir.
func loadCorpus(t testing.TB, dir string) []*corpusCase {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(dir, "*.txt"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no corpus in %s: %v", dir, err)
	}
	var all []*corpusCase
	for _, f := range files {
		cs, err := parseCorpus(f)
		if err != nil {
			t.Fatal(err)
		}
		all = append(all, cs...)
	}
	return all
}

func parseCorpus(path string) ([]*corpusCase, error) {
	fh, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer fh.Close()
	var cases []*corpusCase
	var c *corpusCase
	sc := bufio.NewScanner(fh)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for n := 1; sc.Scan(); n++ {
		line := sc.Text()
		fail := func(err error) error { return fmt.Errorf("%s:%d: %w", path, n, err) }
		if strings.HasPrefix(line, "#") || strings.TrimSpace(line) == "" {
			continue
		}
		key, val, ok := strings.Cut(line, ":")
		if !ok {
			return nil, fail(fmt.Errorf("no key in %q", line))
		}
		val = strings.TrimSpace(val)
		if key != "case" && c == nil {
			return nil, fail(fmt.Errorf("%s before case", key))
		}
		switch key {
		case "case":
			c = &corpusCase{name: filepath.Base(path) + ": " + val}
			cases = append(cases, c)
		case "send":
			s, err := quotedRepeat(val)
			if err != nil {
				return nil, fail(err)
			}
			c.send += s
		case "status":
			for _, f := range strings.Fields(val) {
				code, err := strconv.Atoi(f)
				if err != nil {
					return nil, fail(err)
				}
				c.status = append(c.status, code)
			}
		case "upstream":
			if val == "none" {
				continue
			}
			mt, body, ok := strings.Cut(val, ` "`)
			if !ok {
				return nil, fail(fmt.Errorf("upstream %q: want METHOD target \"body\"", val))
			}
			b, err := quotedRepeat(`"` + body)
			if err != nil {
				return nil, fail(err)
			}
			c.upstream = append(c.upstream, mt+" "+strconv.Quote(b))
		case "header":
			name, vals, _ := strings.Cut(val, "=")
			hv := []string{strings.TrimSpace(name)}
			rest := strings.TrimSpace(vals)
			for rest != "" && rest != "none" {
				q, err := strconv.QuotedPrefix(rest)
				if err != nil {
					return nil, fail(fmt.Errorf("header values %q: %w", rest, err))
				}
				v, _ := strconv.Unquote(q)
				hv = append(hv, v)
				rest = strings.TrimSpace(rest[len(q):])
			}
			c.headers = append(c.headers, hv)
		default:
			return nil, fail(fmt.Errorf("unknown key %q", key))
		}
	}
	if err := sc.Err(); err != nil {
		return nil, err
	}
	for _, c := range cases {
		if c.send == "" || c.status == nil {
			return nil, fmt.Errorf("%s: case %q lacks send or status", path, c.name)
		}
	}
	return cases, nil
}

// quotedRepeat parses a Go-quoted string, optionally followed by "* N".
func quotedRepeat(val string) (string, error) {
	q, err := strconv.QuotedPrefix(val)
	if err != nil {
		return "", fmt.Errorf("send %q: %w", val, err)
	}
	s, _ := strconv.Unquote(q)
	rest := strings.TrimSpace(val[len(q):])
	if rest == "" {
		return s, nil
	}
	n, err := strconv.Atoi(strings.TrimSpace(strings.TrimPrefix(rest, "*")))
	if !strings.HasPrefix(rest, "*") || err != nil {
		return "", fmt.Errorf("send %q: want \"...\" * N", val)
	}
	return strings.Repeat(s, n), nil
}
