package config

import (
	"errors"
	"os"
	"path/filepath"
	"testing"
)

// FuzzParse checks that Parse never panics, that every error it returns is
// an *Error, and that a configuration it accepts passes Validate again and
// prints. Seeds: the YAML files in testdata, the shipped config.yaml and
// testdata/fuzz/FuzzParse.
func FuzzParse(f *testing.F) {
	seeds, err := filepath.Glob(filepath.Join("testdata", "*.yaml"))
	if err != nil {
		f.Fatal(err)
	}
	seeds = append(seeds, filepath.Join("..", "config.yaml"))
	for _, p := range seeds {
		data, err := os.ReadFile(p)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(data)
	}
	lookup := env(map[string]string{
		"HOST": "127.0.0.1", "PORT": "9080", "EMPTY": "", "BOOL": "false", "DUR": "250ms",
		envEtcdHost + "_UNUSED": "[]",
	})
	f.Fuzz(func(t *testing.T, data []byte) {
		c, _, err := Parse(data, lookup)
		if err != nil {
			if c != nil {
				t.Fatalf("a config was returned with the error %v", err)
			}
			for _, l := range leaves(err) {
				var e *Error
				if !errors.As(l, &e) {
					t.Fatalf("error %T is not an *Error: %v", l, l)
				}
			}
			return
		}
		if err := c.Validate(); err != nil {
			t.Fatalf("accepted config fails Validate: %v\ninput:\n%s", err, data)
		}
		if c.String() == "" {
			t.Fatal("empty String()")
		}
	})
}
