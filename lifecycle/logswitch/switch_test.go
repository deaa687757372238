package logswitch

import (
	"encoding/json"
	"log/slog"
	"strings"
	"testing"

	"github.com/zoneproxy/zoneproxy/internal/testutil"
)

// TestSetChangesHandedOutLoggers: a logger handed out before Set, and one derived from it with
// attributes and a group, follow the new level and format and keep their attributes.
func TestSetChangesHandedOutLoggers(t *testing.T) {
	var out testutil.Buffer
	s := New(&out, "text", slog.LevelInfo)
	log := s.Logger()
	derived := log.With("component", "cpclient").WithGroup("g")

	log.Debug("hidden")
	derived.Info("text line", "k", "v")
	got := out.Take()
	if strings.Contains(got, "hidden") {
		t.Errorf("a debug line passed at level info: %q", got)
	}
	if !strings.Contains(got, `msg="text line" component=cpclient g.k=v`) {
		t.Errorf("text line %q lacks its attributes or group", got)
	}

	s.Set("json", slog.LevelDebug)
	log.Debug("shown")
	derived.Info("json line", "k", "v")
	lines := strings.Split(strings.TrimSpace(out.Take()), "\n")
	if len(lines) != 2 {
		t.Fatalf("%d lines after Set, want the debug line and the derived one: %q", len(lines), lines)
	}
	var m map[string]any
	if err := json.Unmarshal([]byte(lines[1]), &m); err != nil {
		t.Fatalf("not JSON after Set(json): %q: %v", lines[1], err)
	}
	if m["msg"] != "json line" || m["component"] != "cpclient" || m["g"].(map[string]any)["k"] != "v" {
		t.Errorf("JSON line %v lacks its attributes or group", m)
	}

	s.Set("text", slog.LevelWarn)
	derived.Info("quiet")
	derived.Warn("loud")
	got = out.Take()
	if strings.Contains(got, "quiet") || !strings.Contains(got, `msg=loud component=cpclient`) {
		t.Errorf("after Set(text, warn): %q", got)
	}
}
