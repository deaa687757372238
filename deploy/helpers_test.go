package deploy

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"testing"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/zoneproxy/zoneproxy/config"
)

// Paths are relative to this package's directory, the working directory of its tests.
const (
	repoRoot       = ".."
	dockerfilePath = "../Dockerfile"
	imageConfig    = "config.yaml"
	composeFile    = "compose/compose.yaml"
	kustomization  = "kubernetes/kustomization.yaml"
	k8sManifest    = "kubernetes/zoneproxy.yaml"

	// configPath is where the image, the compose demo and the Deployment put config.yaml: the path
	// of APISIX's images.
	configPath = "/usr/local/apisix/conf/config.yaml"
)

// readDocs decodes every document of a YAML stream, failing the test on a syntax error.
func readDocs(t *testing.T, path string) []*yaml.Node {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	dec := yaml.NewDecoder(bytes.NewReader(data))
	var docs []*yaml.Node
	for {
		var n yaml.Node
		err := dec.Decode(&n)
		if errors.Is(err, io.EOF) {
			return docs
		}
		if err != nil {
			t.Fatalf("%s: document %d: %v", path, len(docs)+1, err)
		}
		docs = append(docs, &n)
	}
}

// decodeFile decodes a single-document YAML file into v.
func decodeFile(t *testing.T, path string, v any) {
	t.Helper()
	docs := readDocs(t, path)
	if len(docs) != 1 {
		t.Fatalf("%s: %d documents, want 1", path, len(docs))
	}
	if err := docs[0].Decode(v); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
}

// parseConfig parses a zoneproxy config.yaml as zoneproxy does, with env as the whole environment.
// A warning (an unknown key, say) is an error here: the shipped files must be clean.
func parseConfig(path string, env map[string]string) (*config.Config, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	cfg, warnings, err := config.Parse(data, func(k string) (string, bool) {
		v, ok := env[k]
		return v, ok
	})
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	if len(warnings) > 0 {
		return nil, fmt.Errorf("%s: warnings: %s", path, strings.Join(warnings, "; "))
	}
	return cfg, nil
}

// loadConfig is parseConfig that fails the test on an error.
func loadConfig(t *testing.T, path string, env map[string]string) *config.Config {
	t.Helper()
	cfg, err := parseConfig(path, env)
	if err != nil {
		t.Fatal(err)
	}
	return cfg
}

// seconds returns d in whole seconds, rounded up.
func seconds(d time.Duration) int {
	return int((d + time.Second - 1) / time.Second)
}

// subset reports whether every label of sel is in labels with the same value (an empty sel selects
// nothing here: a selector must say something).
func subset(sel, labels map[string]string) bool {
	if len(sel) == 0 {
		return false
	}
	for k, v := range sel {
		if labels[k] != v {
			return false
		}
	}
	return true
}

// check is one named assertion of a table: it returns nil or what is wrong.
type check struct {
	name string
	fn   func() error
}

func runChecks(t *testing.T, checks []check) {
	t.Helper()
	for _, c := range checks {
		t.Run(c.name, func(t *testing.T) {
			if err := c.fn(); err != nil {
				t.Error(err)
			}
		})
	}
}

// hasAll reports the first of want missing from have.
func hasAll(have []string, want ...string) error {
	for _, w := range want {
		found := false
		for _, h := range have {
			found = found || h == w
		}
		if !found {
			return fmt.Errorf("%q missing from %s", w, strings.Join(have, " "))
		}
	}
	return nil
}
