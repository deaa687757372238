package main

import (
	"bytes"
	"context"
	"strings"
	"testing"
)

// TestRunRejects covers the arguments refused before anything starts; measuring needs wrk and is
// `make bench`'s job, not a test's.
func TestRunRejects(t *testing.T) {
	tests := []struct {
		name string
		args []string
		want string
	}{
		{"unknown flag", []string{"-nope"}, "flag provided but not defined"},
		{"unknown scenario", []string{"-scenarios", "1route,nope"}, `"nope"`},
		{"unknown target", []string{"-targets", "haproxy"}, `"haproxy"`},
		{"short duration", []string{"-duration", "10ms"}, "shorter than 1s"},
		{"not the repository root", []string{"-scenarios", "1route"}, "repository root"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var out, errOut bytes.Buffer
			if code := run(context.Background(), tt.args, &out, &errOut); code != 2 {
				t.Fatalf("exit code %d, want 2; stderr: %s", code, errOut.String())
			}
			if !strings.Contains(errOut.String(), tt.want) {
				t.Fatalf("stderr %q lacks %q", errOut.String(), tt.want)
			}
		})
	}
}
