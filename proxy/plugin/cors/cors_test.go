package cors

import (
	"strings"
	"testing"

	"github.com/valyala/fasthttp"

	"github.com/zoneproxy/zoneproxy/proxy/plugin"
)

func TestCompile(t *testing.T) {
	tests := []struct{ name, conf, err string }{
		{"defaults", `{}`, ""},
		{"list", `{"allow_origins":"http://a.com,https://b.com:8443","allow_methods":"GET,POST","max_age":-1,"expose_headers":"X-A"}`, ""},
		{"credential with explicit options", `{"allow_origins":"**","allow_methods":"**","allow_headers":"**","allow_credential":true}`, ""},
		{"credential with *", `{"allow_credential":true}`, "you can not set '*' for other option when 'allow_credential' is true"},
		{"credential with * methods", `{"allow_origins":"http://a.com","allow_credential":true,"allow_headers":"x"}`, "you can not set '*' for other option when 'allow_credential' is true"},
		{"bad origin", `{"allow_origins":"a.com"}`, `property "allow_origins" validation failed: failed to match pattern`},
		{"bad timing origin", `{"timing_allow_origins":"http://a,b"}`, `property "timing_allow_origins" validation failed: failed to match pattern`},
		{"max_age type", `{"max_age":"5"}`, `property "max_age" validation failed: wrong type: expected integer, got string`},
		{"regex", `{"allow_origins_by_regex":[".*\\.test\\.com$"]}`, ""},
		{"bad regex", `{"allow_origins_by_regex":["(foo"]}`, "missing closing )"},
		{"bad timing regex", `{"timing_allow_origins_by_regex":["[a"]}`, "missing closing ]"},
		{"duplicate regexes", `{"allow_origins_by_regex":["a","a"]}`, `property "allow_origins_by_regex" validation failed: expected unique items but items 1 and 2 are equal`},
		{"empty regex list", `{"allow_origins_by_regex":[]}`, `expect array to have at least 1 items`},
		{"metadata", `{"allow_origins_by_metadata":["company"]}`, ""},
		{"metadata, empty list", `{"allow_origins_by_metadata":[]}`, "expect array to have at least 1 items"},
		{"metadata, empty name", `{"allow_origins_by_metadata":[""]}`, "string length out of range (1 to 4096): 0"},
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

func TestHeaderFilter(t *testing.T) {
	const (
		acao = "Access-Control-Allow-Origin"
		acam = "Access-Control-Allow-Methods"
		acah = "Access-Control-Allow-Headers"
		aceh = "Access-Control-Expose-Headers"
		acma = "Access-Control-Max-Age"
		acac = "Access-Control-Allow-Credentials"
		tao  = "Timing-Allow-Origin"
	)
	tests := []struct {
		name, conf string
		reqHeaders []string
		upstream   []string          // response headers already there
		want       map[string]string // "" = absent
		vary       string            // the Vary values, joined
	}{
		{"defaults, no Origin", `{}`, nil, nil,
			map[string]string{acao: "*", acam: "*", acah: "*", acma: "5", aceh: "", acac: ""}, ""},
		{"defaults overwrite the upstream's", `{}`, []string{"Origin", "http://x.com"}, []string{acao, "http://up", "Vary", "Accept-Encoding"},
			map[string]string{acao: "*"}, "Accept-Encoding"},
		{"** echoes", `{"allow_origins":"**","allow_methods":"**","allow_headers":"**","expose_headers":"X-A","max_age":-1,"allow_credential":true}`,
			[]string{"Origin", "http://x.com", "Access-Control-Request-Headers", "X-B,X-C"}, nil,
			map[string]string{acao: "http://x.com", acam: allMethods, acah: "X-B,X-C", aceh: "X-A", acma: "-1", acac: "true"}, "Origin"},
		{"** without Origin", `{"allow_origins":"**","allow_headers":"**"}`, nil, []string{acah, "up"},
			map[string]string{acao: "*", acah: ""}, "Origin"},
		{"list, match", `{"allow_origins":"http://a.com,http://x.com"}`, []string{"Origin", "http://x.com"}, nil,
			map[string]string{acao: "http://x.com"}, "Origin"},
		{"list, no match", `{"allow_origins":"http://a.com,http://b.com"}`, []string{"Origin", "http://x.com"}, nil,
			map[string]string{acao: "", acam: ""}, "Origin"},
		{"single, match", `{"allow_origins":"http://x.com"}`, []string{"Origin", "http://x.com"}, nil,
			map[string]string{acao: "http://x.com"}, "Origin"},
		{"single, no match", `{"allow_origins":"http://a.com"}`, []string{"Origin", "http://x.com"}, nil,
			map[string]string{acao: "", acam: "", acma: ""}, "Origin"},
		{"null", `{"allow_origins":"null"}`, []string{"Origin", "null"}, nil, map[string]string{acao: "null"}, "Origin"},
		{"regex wins over allow_origins", `{"allow_origins":"http://x.com","allow_origins_by_regex":[".*\\.test\\.com$","^http://y"]}`,
			[]string{"Origin", "http://a.test.com"}, nil, map[string]string{acao: "http://a.test.com"}, "Origin"},
		{"regex, second", `{"allow_origins_by_regex":[".*\\.test\\.com$","^http://y"]}`, []string{"Origin", "http://yes.org"}, nil,
			map[string]string{acao: "http://yes.org"}, ""},
		{"regex, no match", `{"allow_origins_by_regex":[".*\\.test\\.com$"]}`, []string{"Origin", "http://x.com"}, nil,
			map[string]string{acao: ""}, ""},
		{"regex, no Origin", `{"allow_origins_by_regex":[".*"]}`, nil, nil, map[string]string{acao: ""}, ""},
		{"timing", `{"timing_allow_origins":"http://x.com,http://y.com"}`, []string{"Origin", "http://y.com"}, nil,
			map[string]string{acao: "*", tao: "http://y.com"}, ""},
		{"timing, no match", `{"timing_allow_origins":"http://x.com"}`, []string{"Origin", "http://y.com"}, nil,
			map[string]string{tao: ""}, ""},
		{"timing regex", `{"timing_allow_origins_by_regex":["y\\.com$"]}`, []string{"Origin", "http://y.com"}, nil,
			map[string]string{tao: "http://y.com"}, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			inst, err := Plugin.Compile([]byte(tt.conf), nil)
			if err != nil {
				t.Fatal(err)
			}
			var ctx fasthttp.RequestCtx
			for i := 0; i+1 < len(tt.reqHeaders); i += 2 {
				ctx.Request.Header.Set(tt.reqHeaders[i], tt.reqHeaders[i+1])
			}
			for i := 0; i+1 < len(tt.upstream); i += 2 {
				ctx.Response.Header.Add(tt.upstream[i], tt.upstream[i+1])
			}
			inst.(plugin.HeaderFilterer).HeaderFilter(&plugin.Request{Ctx: &ctx})
			for k, v := range tt.want {
				if got := string(ctx.Response.Header.Peek(k)); got != v {
					t.Errorf("%s %q, want %q", k, got, v)
				}
			}
			var vary []string
			for _, v := range ctx.Response.Header.PeekAll("Vary") {
				vary = append(vary, string(v))
			}
			if got := strings.Join(vary, ","); got != tt.vary {
				t.Errorf("Vary %q, want %q", got, tt.vary)
			}
		})
	}
}

func TestCompileMetadata(t *testing.T) {
	mc := Plugin.(plugin.MetadataCompiler)
	for _, tt := range []struct{ name, conf, err string }{
		{"empty", `{}`, ""},
		{"named lists", `{"allow_origins":{"company":"https://a.com,https://b.com","all":"*","echo":"**"}}`, ""},
		{"not an object", `{"allow_origins":"https://a.com"}`, `property "allow_origins" validation failed: wrong type: expected object, got string`},
		{"not a string", `{"allow_origins":{"a":1}}`, `property "a" validation failed: wrong type: expected string, got number`},
		{"bad origin", `{"allow_origins":{"a":"a.com"}}`, `property "a" validation failed: failed to match pattern`},
	} {
		t.Run(tt.name, func(t *testing.T) {
			_, err := mc.CompileMetadata([]byte(tt.conf))
			if (err == nil) != (tt.err == "") || (err != nil && !strings.Contains(err.Error(), tt.err)) {
				t.Fatalf("error %v, want %q", err, tt.err)
			}
		})
	}
}

// TestAllowOriginsByMetadata: the metadata's named lists are tried first, then allow_origins
// unless it is "*", as APISIX's header_filter does.
func TestAllowOriginsByMetadata(t *testing.T) {
	mc := Plugin.(plugin.MetadataCompiler)
	md, err := mc.CompileMetadata([]byte(`{"allow_origins":{"company":"https://a.com,https://b.com","one":"https://c.com","all":"*"}}`))
	if err != nil {
		t.Fatal(err)
	}
	meta := plugin.NewMetadata(map[string]any{Name: md})
	for _, tt := range []struct {
		name, conf, origin string
		meta               *plugin.Metadata
		want               string
	}{
		{"listed", `{"allow_origins_by_metadata":["company"]}`, "https://b.com", meta, "https://b.com"},
		{"second name", `{"allow_origins_by_metadata":["company","one"]}`, "https://c.com", meta, "https://c.com"},
		{"star entry echoes", `{"allow_origins_by_metadata":["all"]}`, "https://z.com", meta, "https://z.com"},
		{"not listed, allow_origins * not used", `{"allow_origins_by_metadata":["company"]}`, "https://z.com", meta, ""},
		{"not listed, allow_origins used", `{"allow_origins_by_metadata":["company"],"allow_origins":"https://z.com"}`, "https://z.com", meta, "https://z.com"},
		{"unknown name", `{"allow_origins_by_metadata":["nope"]}`, "https://a.com", meta, ""},
		{"no metadata", `{"allow_origins_by_metadata":["company"]}`, "https://a.com", nil, ""},
		{"no Origin", `{"allow_origins_by_metadata":["all"]}`, "", meta, ""},
	} {
		t.Run(tt.name, func(t *testing.T) {
			inst, err := Plugin.Compile([]byte(tt.conf), nil)
			if err != nil {
				t.Fatal(err)
			}
			var ctx fasthttp.RequestCtx
			if tt.origin != "" {
				ctx.Request.Header.Set("Origin", tt.origin)
			}
			inst.(plugin.HeaderFilterer).HeaderFilter(&plugin.Request{Ctx: &ctx, Metadata: tt.meta})
			if got := string(ctx.Response.Header.Peek("Access-Control-Allow-Origin")); got != tt.want {
				t.Errorf("Access-Control-Allow-Origin %q, want %q", got, tt.want)
			}
		})
	}
}

func TestRewrite(t *testing.T) {
	inst, _ := Plugin.Compile([]byte(`{}`), nil)
	for _, m := range []string{"OPTIONS", "GET", "POST"} {
		var ctx fasthttp.RequestCtx
		ctx.Request.Header.SetMethod(m)
		rep := inst.(plugin.Rewriter).Rewrite(&plugin.Request{Ctx: &ctx})
		if want := m == "OPTIONS"; (rep.Status == 200 && rep.Body != nil && len(rep.Body) == 0) != want {
			t.Errorf("%s: reply %+v", m, rep)
		}
	}
}
