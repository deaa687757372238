package lifecycle

import (
	"os/exec"
	"strings"
	"testing"
)

// TestLayering: imports point one way. The data plane never depends on the control-plane client
// that produces its input (nor on the process that wires them), the client knows nothing of
// fasthttp or the proxy, and the upstream transport knows nothing of routing.
func TestLayering(t *testing.T) {
	const module = "github.com/zoneproxy/zoneproxy/"
	tests := []struct {
		pkgs      string
		forbidden []string
	}{
		{"./proxy/...", []string{module + "cpclient", module + "lifecycle"}},
		{"./router/...", []string{module + "cpclient", module + "lifecycle", module + "proxy", module + "upstream"}},
		{"./upstream/...", []string{module + "cpclient", module + "lifecycle", module + "proxy", module + "router"}},
		{"./health/...", []string{module + "cpclient", module + "lifecycle", module + "proxy"}},
		{"./config/...", []string{module + "cpclient", module + "lifecycle", module + "proxy", module + "router", module + "upstream"}},
		{"./cpclient", []string{module + "proxy", module + "router", module + "upstream", module + "lifecycle", "github.com/valyala/fasthttp"}},
		{"./proxy/transport", []string{module + "proxy/accesslog", module + "proxy/snapshot", module + "router", module + "proxy/metrics", module + "proxy/plugin"}},
		{"./proxy/plugin/...", []string{module + "proxy/snapshot", module + "proxy/transport", module + "proxy/accesslog", module + "proxy/metrics", module + "config/state", module + "cpclient"}},
	}
	for _, tt := range tests {
		t.Run(tt.pkgs, func(t *testing.T) {
			out, err := exec.Command("go", "list", "-deps", "-f", "{{.ImportPath}}", module+strings.TrimPrefix(tt.pkgs, "./")).Output()
			if err != nil {
				t.Fatalf("go list -deps %s: %v", tt.pkgs, err)
			}
			deps := strings.Fields(string(out))
			if len(deps) == 0 {
				t.Fatalf("go list -deps %s listed nothing", tt.pkgs)
			}
			for _, dep := range deps {
				for _, f := range tt.forbidden {
					if dep == f || strings.HasPrefix(dep, f+"/") {
						t.Errorf("%s depends on %s", tt.pkgs, dep)
					}
				}
			}
		})
	}
}
