package expr

import (
	"errors"
	"testing"
)

func TestParseResponseVar(t *testing.T) {
	tests := []struct {
		name string
		kind VarKind
		key  string
	}{
		{"status", VarStatus, ""},
		{"STATUS", VarStatus, ""},
		{"upstream_status", VarUpstreamStatus, ""},
		{"sent_http_content_type", VarSentHTTP, "content-type"},
		{"sent_http_X_Cache", VarSentHTTP, "x-cache"},
		{"upstream_http_x_upstream_id", VarUpstreamHTTP, "x-upstream-id"},
		// The request's variables are there too.
		{"http_x_user", VarHTTP, "x_user"},
		{"uri", VarURI, ""},
		{"arg_page", VarArg, "page"},
		{"route_id", VarNil, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			v, err := ParseResponseVar(tt.name)
			if err != nil || v.Kind != tt.kind || v.Key != tt.key || v.Name != tt.name {
				t.Fatalf("ParseResponseVar(%q) = %+v, %v; want kind %d key %q", tt.name, v, err, tt.kind, tt.key)
			}
		})
	}
	for _, name := range []string{"sent_http_", "upstream_http_", "upstream_addr", "graphql_name", "request_body"} {
		t.Run(name+" is rejected", func(t *testing.T) {
			if v, err := ParseResponseVar(name); err == nil {
				t.Fatalf("ParseResponseVar(%q) = %+v, want an error", name, v)
			}
		})
	}
}

// TestCompileResponse: the response's variables compile in a response expression and are
// evaluated through the Source; a route's vars (Compile) still reject them.
func TestCompileResponse(t *testing.T) {
	tests := []struct {
		name string
		rule string
		src  mapSource
		want bool
	}{
		{"status ==", `[["status","==",200]]`, mapSource{"status": "200"}, true},
		{"status >=", `[["status",">=",500]]`, mapSource{"status": "404"}, false},
		{"status in", `[["status","in",["500","502"]]]`, mapSource{"status": "502"}, true},
		{"upstream_status missing", `[["upstream_status","==","200"]]`, mapSource{"status": "200"}, false},
		{"upstream_status ~= on a proxy's answer", `[["upstream_status","~=","200"]]`, mapSource{}, true},
		{"sent header regex", `[["sent_http_content_type","~~","^application/json"]]`,
			mapSource{"sent_http_content_type": "application/json; charset=utf-8"}, true},
		{"upstream header with a request header", `[["upstream_http_x_cache","==","HIT"],["http_x_debug","==","1"]]`,
			mapSource{"upstream_http_x_cache": "HIT", "http_x_debug": "1"}, true},
		{"OR of both", `["OR",["status","==",500],["sent_http_x_fail","==","1"]]`, mapSource{"sent_http_x_fail": "1"}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e, err := CompileResponse([]byte(tt.rule))
			if err != nil {
				t.Fatalf("CompileResponse(%s): %v", tt.rule, err)
			}
			if got := e.Eval(tt.src); got != tt.want {
				t.Fatalf("Eval(%s) with %v = %v, want %v", tt.rule, tt.src, got, tt.want)
			}
			_, err = Compile([]byte(tt.rule))
			var uv *UnsupportedVarError
			if !errors.As(err, &uv) {
				t.Fatalf("Compile(%s) (a route's vars) = %v, want an UnsupportedVarError", tt.rule, err)
			}
		})
	}
	t.Run("bad rule", func(t *testing.T) {
		if _, err := CompileResponse([]byte(`[["status","=~",200]]`)); err == nil {
			t.Fatal("an unknown operator compiled")
		}
	})
}
