package proxy

import (
	"bufio"
	"bytes"
	"io"
	"slices"
	"strings"
	"testing"
)

// FuzzProxyBoundary sends any bytes as a client through a Proxy to a recording upstream and
// checks what crossed the proxy: the upstream can parse everything it receives, strictly (no
// desync, whatever the client framed); it never gets more requests than the client's bytes hold;
// and each request it gets parses the same way as the client's: same method, target (origin-form),
// body (de-chunked) and fields, but for those the proxy removes or sets. Seeds: the cases of
// testdata/hostile and testdata/fuzz/FuzzProxyBoundary.
func FuzzProxyBoundary(f *testing.F) {
	for _, c := range loadCorpus(f, "testdata/hostile") {
		if len(c.send) <= 8<<10 {
			f.Add([]byte(c.send))
		}
	}
	h, rec := wireProxy(f, hostileOptions, "")
	f.Fuzz(func(t *testing.T, raw []byte) {
		if len(raw) > 8<<10 {
			return
		}
		rec.take()
		sendRaw(t, h.addr, string(raw))
		got, garbage := rec.take()
		if len(garbage) > 0 {
			t.Fatalf("the upstream got bytes it cannot parse: %q\nfrom %q", garbage, raw)
		}
		sent, clean := clientRequests(raw)
		if len(got) > len(sent)+1 || clean && len(got) > len(sent) {
			t.Fatalf("the upstream got %d requests from a client that sent %d:\n%q", len(got), len(sent), raw)
		}
		for i, up := range got {
			if i >= len(sent) {
				break // the proxy accepted what the strict reader refuses (a bare LF, say)
			}
			if diff := sameRequest(sent[i], up); diff != "" {
				t.Fatalf("request %d: %s\nclient: %s\nupstream: %s\nfrom %q", i, diff, sent[i], up, raw)
			}
		}
	})
}

// clientRequests reads the requests in raw strictly but for bare LFs (readClientRequest), up to
// the first it cannot read; clean reports that it read all of raw.
func clientRequests(raw []byte) (reqs []*wireReq, clean bool) {
	br := bufio.NewReader(bytes.NewReader(raw))
	for {
		r, err := readClientRequest(br)
		if err == io.EOF {
			return reqs, true
		}
		if err != nil {
			return reqs, false
		}
		reqs = append(reqs, r)
	}
}

// sameRequest compares a client's request with what the upstream got for it.
func sameRequest(c, u *wireReq) string {
	if c.Method != u.Method {
		return "method " + u.Method
	}
	if want := originForm(c.Target); want != u.Target {
		return "target " + u.Target + ", want " + want
	}
	if !bytes.Equal(c.Body, u.Body) && !(len(c.Body) == 0 && len(u.Body) == 0) {
		return "body differs"
	}
	if cf, uf := endToEnd(c), endToEnd(u); !slices.Equal(cf, uf) {
		return "fields " + strings.Join(uf, " | ") + ", want " + strings.Join(cf, " | ")
	}
	return ""
}

// originForm is the target the upstream must get for a client's target, as nginx passes it
// on: origin-form as sent; of absolute-form, what follows the authority as sent, or with no
// path "/" and the query when it is not empty.
func originForm(target string) string {
	if strings.HasPrefix(target, "/") {
		return target
	}
	_, rest, ok := strings.Cut(target, "://")
	if !ok {
		return target
	}
	if i := strings.IndexAny(rest, "/?"); i >= 0 {
		switch {
		case rest[i] == '/':
			return rest[i:]
		case len(rest) > i+1:
			return "/" + rest[i:]
		}
	}
	return "/"
}

// endToEnd lists the fields of r that the proxy passes on untouched, sorted: all but the
// hop-by-hop ones and those named by Connection, the framing, Host, Expect and the fields the
// proxy sets.
func endToEnd(r *wireReq) []string {
	skip := map[string]bool{}
	for _, n := range []string{"host", "connection", "keep-alive", "proxy-connection", "te", "trailer",
		"transfer-encoding", "upgrade", "content-length", "expect", "forwarded", "x-forwarded-for",
		"x-forwarded-proto", "x-forwarded-host", "x-forwarded-port", "x-real-ip"} {
		skip[n] = true
	}
	for _, v := range r.values("Connection") {
		for _, tok := range strings.Split(v, ",") {
			skip[strings.ToLower(strings.TrimSpace(tok))] = true
		}
	}
	var fs []string
	for _, f := range r.Fields {
		if n := strings.ToLower(f[0]); !skip[n] {
			fs = append(fs, n+": "+f[1])
		}
	}
	slices.Sort(fs)
	return fs
}
