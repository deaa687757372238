package gzip

import (
	"bytes"
	"compress/gzip"
	"io"
	"strings"
	"testing"

	"github.com/valyala/fasthttp"

	"github.com/zoneproxy/zoneproxy/proxy/plugin"
	"github.com/zoneproxy/zoneproxy/proxy/plugin/internal/bodytest"
)

func TestCompile(t *testing.T) {
	tests := []struct{ name, conf, err string }{
		{"defaults", `{}`, ""},
		{"all", `{"types":"*","min_length":1,"comp_level":9,"http_version":1.0,"buffers":{"number":4,"size":8192},"vary":true}`, ""},
		{"types list", `{"types":["text/plain","application/json"]}`, ""},
		{"types empty", `{"types":[]}`, `property "types" validation failed: object matches none of the required`},
		{"types other string", `{"types":"text/plain"}`, `property "types" validation failed`},
		{"min_length", `{"min_length":0}`, `property "min_length" validation failed: expected 0 to be at least 1`},
		{"comp_level", `{"comp_level":10}`, `property "comp_level" validation failed: expected 10 to be at most 9`},
		{"http_version", `{"http_version":2}`, `property "http_version" validation failed: matches none of the enum values`},
		{"buffers", `{"buffers":{"number":0}}`, `property "buffers" validation failed: property "number" validation failed: expected 0 to be at least 1`},
		{"vary", `{"vary":"yes"}`, `property "vary" validation failed: wrong type: expected boolean, got string`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Plugin.Compile([]byte(tt.conf), nil)
			if (err == nil) != (tt.err == "") || (err != nil && !strings.Contains(err.Error(), tt.err)) {
				t.Fatalf("error %v, want %q", err, tt.err)
			}
		})
	}
}

func gunzip(t *testing.T, b []byte) string {
	t.Helper()
	zr, err := gzip.NewReader(bytes.NewReader(b))
	if err != nil {
		t.Fatal(err)
	}
	out, err := io.ReadAll(zr)
	if err != nil {
		t.Fatal(err)
	}
	return string(out)
}

func TestGzip(t *testing.T) {
	long := strings.Repeat("<p>hello gzip</p>", 100)
	tests := []struct {
		name, conf string
		accept     string
		via        bool
		http10     bool
		status     int
		ctype      string
		encoding   string
		body       string
		want       bool
	}{
		{"html", `{}`, "gzip, deflate", false, false, 200, "text/html; charset=utf-8", "", long, true},
		{"no accept", `{}`, "", false, false, 200, "text/html", "", long, false},
		{"q=0", `{}`, "gzip;q=0, br", false, false, 200, "text/html", "", long, false},
		{"x-gzip", `{}`, "x-gzip", false, false, 200, "text/html", "", long, true},
		{"other type", `{}`, "gzip", false, false, 200, "application/json", "", long, false},
		{"listed type", `{"types":["application/json"]}`, "gzip", false, false, 200, "application/json", "", long, true},
		{"any type", `{"types":"*"}`, "gzip", false, false, 200, "image/svg+xml", "", long, true},
		{"too short", `{}`, "gzip", false, false, 200, "text/html", "", "short", false},
		{"min_length", `{"min_length":1}`, "gzip", false, false, 200, "text/html", "", "short", true},
		{"already encoded", `{}`, "gzip", false, false, 200, "text/html", "br", long, false},
		{"proxied", `{}`, "gzip", true, false, 200, "text/html", "", long, false},
		{"HTTP/1.0", `{}`, "gzip", false, true, 200, "text/html", "", long, false},
		{"HTTP/1.0 allowed", `{"http_version":1.0}`, "gzip", false, true, 200, "text/html", "", long, true},
		{"404", `{}`, "gzip", false, false, 404, "text/html", "", long, true},
		{"500", `{}`, "gzip", false, false, 500, "text/html", "", long, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			inst, err := Plugin.Compile([]byte(tt.conf), nil)
			if err != nil {
				t.Fatal(err)
			}
			var ctx fasthttp.RequestCtx
			ctx.Request.Header.Set("Accept-Encoding", tt.accept)
			if tt.via {
				ctx.Request.Header.Set("Via", "1.1 cdn")
			}
			if tt.http10 {
				ctx.Request.Header.SetProtocol("HTTP/1.0")
			}
			ctx.Response.SetStatusCode(tt.status)
			ctx.Response.Header.SetContentType(tt.ctype)
			ctx.Response.Header.Set("ETag", `"v1"`)
			if tt.encoding != "" {
				ctx.Response.Header.Set("Content-Encoding", tt.encoding)
			}
			ctx.Response.SetBody([]byte(tt.body))
			f := inst.(plugin.BodyFilterer).BodyFilter(&plugin.Request{Ctx: &ctx})
			if (f != nil) != tt.want {
				t.Fatalf("compressed %v, want %v", f != nil, tt.want)
			}
			if f == nil {
				return
			}
			if ce := string(ctx.Response.Header.Peek("Content-Encoding")); ce != "gzip" {
				t.Errorf("Content-Encoding %q", ce)
			}
			if etag := string(ctx.Response.Header.Peek("ETag")); etag != `W/"v1"` {
				t.Errorf("ETag %q, want it weak", etag)
			}
			out, _ := bodytest.Run(f, []byte(tt.body), 100)
			if got := gunzip(t, out); got != tt.body {
				t.Errorf("round trip %q", got)
			}
			if len(tt.body) > 1000 && len(out) >= len(tt.body) {
				t.Errorf("%d bytes compressed to %d", len(tt.body), len(out))
			}
		})
	}
}

func TestVary(t *testing.T) {
	inst, err := Plugin.Compile([]byte(`{"vary":true,"min_length":1}`), nil)
	if err != nil {
		t.Fatal(err)
	}
	var ctx fasthttp.RequestCtx
	ctx.Request.Header.Set("Accept-Encoding", "gzip")
	ctx.Response.Header.SetContentType("text/html")
	ctx.Response.Header.Add("Vary", "Origin")
	ctx.Response.SetBody([]byte("body"))
	if inst.(plugin.BodyFilterer).BodyFilter(&plugin.Request{Ctx: &ctx}) == nil {
		t.Fatal("not compressed")
	}
	if vs := ctx.Response.Header.PeekAll("Vary"); len(vs) != 2 || string(vs[1]) != "Accept-Encoding" {
		t.Errorf("Vary %q", vs)
	}
}

// BenchmarkGzip64K compresses a 64 KiB HTML body at the default level, in the proxy's 32 KiB
// pieces.
func BenchmarkGzip64K(b *testing.B) {
	inst, err := Plugin.Compile([]byte(`{}`), nil)
	if err != nil {
		b.Fatal(err)
	}
	conf := inst.(*Conf)
	page := bytes.Repeat([]byte("<li><a href=\"/item/12345\">item twelve thousand</a></li>\n"), 64<<10/56+1)[:64<<10]
	var dst []byte
	b.SetBytes(int64(len(page)))
	b.ReportAllocs()
	for b.Loop() {
		f := &body{level: conf.level}
		dst = dst[:0]
		for off := 0; off < len(page); off += 32 << 10 {
			dst, _ = f.Filter(dst, page[off:off+32<<10], off+32<<10 == len(page))
		}
	}
}
