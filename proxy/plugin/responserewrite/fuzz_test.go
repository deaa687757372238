package responserewrite

import (
	"testing"

	"github.com/valyala/fasthttp"

	"github.com/zoneproxy/zoneproxy/proxy/plugin"
	"github.com/zoneproxy/zoneproxy/proxy/plugin/internal/bodytest"
)

// FuzzCompile: a conf is rejected with an error or compiles to an instance that rewrites any
// response without panicking, holding no more than max_resp_body_size.
func FuzzCompile(f *testing.F) {
	for _, s := range []string{
		`{"status_code":201,"headers":{"add":["X-A: $remote_addr"],"set":{"X-B":"b"},"remove":["X-Gone"]}}`,
		`{"body":"aGVsbG8=","body_base64":true}`,
		`{"filters":[{"regex":"(\\w)o","replace":"<$1>","scope":"global","options":"ia"}],"max_resp_body_size":5}`,
		`{"vars":[["http_x","==","1"]],"body":"x"}`,
		`{"headers":{"X-A":1}}`,
	} {
		f.Add(s, []byte("foo boo zoo"))
	}
	f.Fuzz(func(t *testing.T, conf string, body []byte) {
		inst, err := Plugin.Compile([]byte(conf), nil)
		if err != nil {
			return
		}
		var ctx fasthttp.RequestCtx
		ctx.Response.Header.Set("Content-Encoding", "gzip")
		bf := inst.(plugin.BodyFilterer).BodyFilter(&plugin.Request{Ctx: &ctx, Vars: fakeVars{"remote_addr": "a\r\nb"}})
		if bf != nil {
			_, taken := bodytest.Run(bf, body, 4)
			if hb, ok := bf.(*heldBody); ok && taken > hb.conf.maxBody+4 {
				t.Fatalf("took %d bytes past the cap %d", taken, hb.conf.maxBody)
			}
		}
	})
}
