package config

import (
	"os"
	"path/filepath"
	"testing"
)

// TestStandaloneModes: data_plane + yaml|json reads apisix.yaml|json beside config.yaml
// (apisix-<profile>.yaml with APISIX_PROFILE, or zoneproxy.standalone_file relative to
// config.yaml's directory), without deployment.etcd.host; traditional + yaml is the API-driven
// mode, which reads no file.
func TestStandaloneModes(t *testing.T) {
	dir := t.TempDir()
	tests := []struct {
		name, src string
		env       map[string]string
		mode      StandaloneMode
		file      string // relative to dir; "" for none
	}{
		{"etcd", "deployment: {role: traditional}", nil, NotStandalone, ""},
		{"data plane yaml", "deployment: {role: data_plane, role_data_plane: {config_provider: yaml}, etcd: {host: []}}",
			nil, StandaloneFile, "apisix.yaml"},
		{"data plane json", "deployment: {role: data_plane, role_data_plane: {config_provider: json}}",
			nil, StandaloneFile, "apisix.json"},
		{"profile", "deployment: {role: data_plane, role_data_plane: {config_provider: yaml}}",
			map[string]string{"APISIX_PROFILE": "prod"}, StandaloneFile, "apisix-prod.yaml"},
		{"configured, relative", "deployment: {role: data_plane, role_data_plane: {config_provider: yaml}}\nzoneproxy: {standalone_file: conf/routes.yaml}",
			nil, StandaloneFile, "conf/routes.yaml"},
		{"API-driven", "deployment: {role: traditional, role_traditional: {config_provider: yaml}, etcd: {host: []}}",
			nil, StandaloneAPI, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := filepath.Join(dir, "config.yaml")
			if err := os.WriteFile(path, []byte(tt.src), 0o600); err != nil {
				t.Fatal(err)
			}
			for k, v := range tt.env {
				t.Setenv(k, v)
			}
			c, _, err := Load(path)
			if err != nil {
				t.Fatal(err)
			}
			if got := c.Deployment.Standalone(); got != tt.mode {
				t.Errorf("mode %v, want %v", got, tt.mode)
			}
			want := ""
			if tt.file != "" {
				want = filepath.Join(dir, tt.file)
			}
			if c.Zoneproxy.StandaloneFile != want {
				t.Errorf("standalone file %q, want %q", c.Zoneproxy.StandaloneFile, want)
			}
		})
	}
}
