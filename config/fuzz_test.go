package config

import (
	"errors"
	"net"
	"os"
	"path/filepath"
	"slices"
	"testing"
)

// FuzzParse checks that Parse never panics, that every error it returns is
// an *Error with a message, and that a configuration it accepts passes
// Validate again, is what a second Parse of the same bytes gives (settings
// and warnings), lists etcd endpoints in their normal form (ParseEndpoint
// gives them back unchanged), has listen addresses that split into host and
// port, and prints without its etcd password. Seeds: the YAML files in
// testdata, the shipped config.yaml and testdata/fuzz/FuzzParse.
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
		c, warns, err := Parse(data, lookup)
		if err != nil {
			if c != nil {
				t.Fatalf("a config was returned with the error %v", err)
			}
			for _, l := range leaves(err) {
				var e *Error
				if !errors.As(l, &e) {
					t.Fatalf("error %T is not an *Error: %v", l, l)
				}
				if e.Msg == "" {
					t.Fatalf("error without a message: %#v", e)
				}
			}
			return
		}
		if err := c.Validate(); err != nil {
			t.Fatalf("accepted config fails Validate: %v\ninput:\n%s", err, data)
		}
		out := c.String()
		if out == "" {
			t.Fatal("empty String()")
		}
		c2, warns2, err := Parse(data, lookup)
		if err != nil || c2.String() != out || !slices.Equal(warns, warns2) {
			t.Fatalf("a second Parse differs: %v\n%s\n%q\nfirst:\n%s\n%q", err, c2, warns2, out, warns)
		}
		for i, h := range c.Deployment.Etcd.Host {
			ep, err := ParseEndpoint(h)
			if err != nil || ep.URL() != h {
				t.Fatalf("etcd host %d %q is not normal: %v %q", i, h, err, ep.URL())
			}
		}
		for _, a := range c.ListenAddrs() {
			if _, port, err := net.SplitHostPort(a); err != nil || port == "0" {
				t.Fatalf("listen address %q: %v", a, err)
			}
		}
		if c.Deployment.Etcd.Password != "" {
			other := *c
			other.Deployment.Etcd.Password = "a-different-password"
			if other.String() != out {
				t.Fatalf("the printed config depends on the etcd password:\n%s", out)
			}
		}
	})
}
