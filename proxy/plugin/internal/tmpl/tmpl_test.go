package tmpl

import (
	"testing"

	"github.com/valyala/fasthttp"

	"github.com/zoneproxy/zoneproxy/proxy/plugin"
	"github.com/zoneproxy/zoneproxy/router/expr"
)

type fakeVars map[string]string

func (fakeVars) Eval(*fasthttp.RequestCtx, *expr.Expr) bool { return true }

func (f fakeVars) AppendVar(dst []byte, _ *fasthttp.RequestCtx, v *expr.Var) ([]byte, bool) {
	s, ok := f[v.Name]
	return append(dst, s...), ok
}

func TestAppend(t *testing.T) {
	vars := fakeVars{"host": "h.com", "empty": "", "a.b": "dot"}
	subject := []byte("/users/42")
	caps := []int{0, 9, 1, 6, 7, 9} // $0 "/users/42", $1 "users", $2 "42"
	tests := []struct {
		name, tpl string
		g         Grammar
		want      string
	}{
		{"plain", "/x", Vars, "/x"},
		{"var", "$host/x", Vars, "h.com/x"},
		{"braces and spaces", "${ host }!", Vars, "h.com!"},
		{"default for nil", "${nope ?? fallback}", Vars, "fallback"},
		{"no default for empty", "${empty ?? fallback}|", Vars, "|"},
		{"unknown is empty", "[$nope]", Vars, "[]"},
		{"dotted name", "$a.b", Vars, "dot"},
		{"escaped", `\$host`, Vars, `\$host`},
		{"lone dollar", "a$ b$", Vars, "a$ b$"},
		{"route id", "$route_id", Vars, "r1"},
		{"captures", "$1-${2}-$0-$9", VarsCaptures, "users-42-/users/42-"},
		{"captures and vars", "$1@$host", VarsCaptures, "users@h.com"},
		{"redirect", "https://$host${host}$", Redirect, "https://h.comh.com$"},
		{"redirect escaped", `\$host/\$`, Redirect, `\$host/$`},
		{"redirect no dots", "$a.b", Redirect, ".b"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tp, err := Compile(tt.tpl, tt.g)
			if err != nil {
				t.Fatal(err)
			}
			r := &plugin.Request{Ctx: &fasthttp.RequestCtx{}, Vars: vars, RouteID: "r1"}
			if got := string(tp.Append(nil, r, subject, caps, nil)); got != tt.want {
				t.Errorf("%q, want %q", got, tt.want)
			}
		})
	}
	if _, err := Compile("$graphql_name", Vars); err == nil {
		t.Error("an unsupported variable compiled")
	}
}
