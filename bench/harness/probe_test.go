package harness

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestProbe: the probe command gets the run's pids, names and length in its environment, and the
// harness records the run's requests beside its output once it is done.
func TestProbe(t *testing.T) {
	dir := t.TempDir()
	pb, err := startProbe(context.Background(), `env | grep ^ZPB_ | sort > "$ZPB_OUT/$ZPB_NAME.env"`, dir,
		"1route", TargetZoneproxy, 2, []int{11, 12}, "http://127.0.0.1:1/metrics", 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if err := pb.finish(Measurement{Requests: 1000, RPS: 250, Seconds: 4, CPUSeconds: 0.5}); err != nil {
		t.Fatal(err)
	}
	env, err := os.ReadFile(filepath.Join(dir, "1route-zoneproxy-2.env"))
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"ZPB_PIDS=11,12", "ZPB_TARGET=zoneproxy", "ZPB_SCENARIO=1route", "ZPB_RUN=2",
		"ZPB_SECONDS=4", "ZPB_METRICS=http://127.0.0.1:1/metrics", "ZPB_NAME=1route-zoneproxy-2"} {
		if !strings.Contains(string(env), want+"\n") {
			t.Errorf("probe environment lacks %s:\n%s", want, env)
		}
	}
	rec, err := os.ReadFile(filepath.Join(dir, "1route-zoneproxy-2.requests"))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(rec), "requests 1000\n") || !strings.Contains(string(rec), "rps 250.0\n") {
		t.Errorf("recorded %q", rec)
	}
	// No command, no probe: finish on nil is a no-op.
	if pb, err := startProbe(context.Background(), "", dir, "s", "t", 1, nil, "", time.Second); pb != nil || err != nil {
		t.Errorf("empty command: %v, %v", pb, err)
	}
	var none *probeRun
	if err := none.finish(Measurement{}); err != nil {
		t.Error(err)
	}
	// A probe that fails is reported, its run's record still written.
	pb, err = startProbe(context.Background(), "exit 3", dir, "s", "t", 1, nil, "", time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if err := pb.finish(Measurement{Requests: 1}); err == nil {
		t.Error("a failing probe reported no error")
	}
	if _, err := os.Stat(filepath.Join(dir, "s-t-1.requests")); err != nil {
		t.Error(err)
	}
}
