package faultinjection

import (
	"testing"
	"time"

	"github.com/valyala/fasthttp"

	"github.com/zoneproxy/zoneproxy/proxy/plugin"
)

// FuzzCompile: a conf is rejected with an error or compiles to an instance whose rewrite runs
// without panicking and answers a status nginx can send.
func FuzzCompile(f *testing.F) {
	for _, s := range []string{
		`{"abort":{"http_status":403,"body":"no $remote_addr","headers":{"X-A":"$evil","X-B":2},"percentage":50,"vars":[[["http_x","==","1"]]]}}`,
		`{"delay":{"duration":0.5,"percentage":100,"vars":[[["http_x","==","1"]],[["http_y","~~","a.*"]]]}}`,
		`{"abort":{"http_status":200},"delay":{"duration":0}}`,
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, conf string) {
		inst, err := Plugin.Compile([]byte(conf), nil)
		if err != nil {
			return
		}
		inst.(*Conf).sleeper = func(*fasthttp.RequestCtx, time.Duration) {}
		var ctx fasthttp.RequestCtx
		ctx.Request.Header.Set("X", "1")
		rep := inst.(plugin.Rewriter).Rewrite(&plugin.Request{Ctx: &ctx, Vars: fakeVars{"evil": "a\r\nb"}})
		if rep.Status != 0 && (rep.Status < 200 || rep.Status > 999) {
			t.Fatalf("status %d", rep.Status)
		}
	})
}
