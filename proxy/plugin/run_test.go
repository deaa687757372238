package plugin

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/valyala/fasthttp"
)

// quota is a test plugin: in the access phase it sets X-Quota-Left (DeferResponseHeader, its
// name canonical once at compile) and X-Now (SetResponseHeader) to its conf's "left", and
// answers "deny" when set.
type quota struct{}

type quotaConf struct {
	Left string `json:"left"`
	Deny int    `json:"deny"`
	key  []byte
}

func (quota) Name() string  { return "quota" }
func (quota) Priority() int { return 1000 }
func (quota) Compile(conf []byte, _ *Env) (Instance, error) {
	c := &quotaConf{key: fasthttp.AppendNormalizedHeaderKey(nil, "x-quota-LEFT")}
	return c, json.Unmarshal(conf, c)
}

func (c *quotaConf) Access(r *Request) Reply {
	r.DeferResponseHeader(c.key, []byte(c.Left))
	r.DeferResponseHeader(c.key, []byte(c.Left)) // set again: still one header
	r.SetResponseHeader("x-now", []byte(c.Left))
	return Reply{Status: c.Deny}
}

// TestResponseHeaders: a header a plugin defers is on the response only once there is one to
// send: on the plugin's answer as Run returns it, else put by Finish on the answer that
// replaced the head (the upstream's); one SetResponseHeader sets at once is set again by
// Finish. Names go out as fasthttp writes them, each once.
func TestResponseHeaders(t *testing.T) {
	pol := &Policy{Registry: NewRegistry(quota{}), Enabled: EnabledSet([]string{"quota"})}
	chain := func(conf string) *Chain {
		s, _, _, err := pol.CompileSet(map[string]json.RawMessage{"quota": json.RawMessage(conf)}, &Env{}, false)
		if err != nil {
			t.Fatal(err)
		}
		return Merge(s)
	}
	goesOn, answers := chain(`{"left":"7"}`), chain(`{"left":"0","deny":429}`)
	var ctx fasthttp.RequestCtx
	r := &Request{}
	for i := range 3 { // the same Request again after Reset, as the proxy pools it
		r.Ctx = &ctx
		ctx.Response.Reset()
		if rep := r.Run(nil, goesOn); rep.Status != 0 {
			t.Fatalf("goes on: %d", rep.Status)
		}
		if v := ctx.Response.Header.Peek("X-Quota-Left"); v != nil {
			t.Fatalf("request %d: X-Quota-Left %q before the answer", i, v)
		}
		if string(ctx.Response.Header.Peek("X-Now")) != "7" {
			t.Fatalf("request %d: X-Now not set at once", i)
		}
		// The upstream's head replaces the response's.
		ctx.Response.Header.Reset()
		ctx.Response.Header.Set("X-Upstream", "1")
		r.Finish()
		head := ctx.Response.Header.String()
		if strings.Count(head, "X-Quota-Left: 7\r\n") != 1 || strings.Count(head, "X-Now: 7\r\n") != 1 || !strings.Contains(head, "X-Upstream: 1\r\n") {
			t.Fatalf("request %d, upstream's answer:\n%s", i, head)
		}
		r.Reset()

		r.Ctx = &ctx
		ctx.Response.Reset()
		if rep := r.Run(nil, answers); rep.Status != 429 {
			t.Fatalf("answers: %d", rep.Status)
		}
		if string(ctx.Response.Header.Peek("X-Quota-Left")) != "0" {
			t.Fatalf("request %d: the plugin's answer has no X-Quota-Left:\n%s", i, ctx.Response.Header.String())
		}
		r.Finish()
		if head := ctx.Response.Header.String(); strings.Count(head, "X-Quota-Left: 0\r\n") != 1 {
			t.Fatalf("request %d, the plugin's answer:\n%s", i, head)
		}
		r.Reset()
	}
}
