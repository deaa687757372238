package harness

import (
	"bytes"
	"encoding/json"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func near(a, b float64) bool { return math.Abs(a-b) < 1e-9 }

func TestSummarize(t *testing.T) {
	tests := []struct {
		name             string
		rps              []float64
		rss              []float64
		wantRPS, wantRSS float64
		wantErrs         int64
	}{
		{"odd: the middle one", []float64{300, 100, 200}, []float64{20, 25, 22}, 200, 25, 3},
		{"even: the mean of the middle two", []float64{100, 400, 200, 300}, []float64{1, 2, 3, 4}, 250, 4, 4},
		{"one", []float64{7}, []float64{9}, 7, 9, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			runs := make([]Measurement, len(tt.rps))
			for i := range runs {
				runs[i] = Measurement{RPS: tt.rps[i], RSS: tt.rss[i], Errors: WrkErrors{Status: 1}}
			}
			s := summarize(runs)
			if !near(s.RPS, tt.wantRPS) || !near(s.RSS, tt.wantRSS) || s.Errors.Total() != tt.wantErrs {
				t.Fatalf("rps %v rss %v errors %d; want %v %v %d", s.RPS, s.RSS, s.Errors.Total(), tt.wantRPS, tt.wantRSS, tt.wantErrs)
			}
		})
	}
}

// sample is a report of two scenarios whose figures make every verdict known in advance.
func sample() *Report {
	m := func(rps, p99, rss, cpu, eff float64) Measurement {
		return Measurement{RPS: rps, P50: p99 / 4, P99: p99, RSS: rss, CPUPercent: cpu, ReqPerCPUSec: eff}
	}
	tr := func(name string, s Measurement) TargetResult {
		return TargetResult{Target: name, Runs: []Measurement{s}, Summary: s}
	}
	scs := []ScenarioResult{
		{Name: "10k", Routes: 10000, Targets: []TargetResult{
			tr(TargetUpstream, m(100000, 1, 8, 100, 100000)),
			tr(TargetNginx, m(40000, 4, 60, 100, 40000)),
			tr(TargetZoneproxy, m(60000, 3, 28, 100, 60000)), // 1.5x nginx per CPU-s, p99 0.75x, 28 MiB
		}},
		{Name: "churn", Routes: 101, Targets: []TargetResult{
			tr(TargetZoneproxy, m(50000, 2, 20, 100, 50000)),
			tr(TargetChurn, m(45000, 2.1, 21, 100, 45000)), // -10 % rps: fail; +5 % p99: pass
		}},
	}
	for i := range scs {
		scs[i].compare()
	}
	return &Report{Started: time.Date(2026, 11, 23, 20, 0, 0, 0, time.UTC), Scenarios: scs, Verdicts: verdicts(scs),
		Notes: []string{"a note"}}
}

func TestCompareAndVerdicts(t *testing.T) {
	r := sample()
	zp := r.Scenarios[0].target(TargetZoneproxy)
	t.Run("ratios", func(t *testing.T) {
		if !near(zp.VsNginx.ReqPerCPUSec, 1.5) || !near(zp.VsNginx.P99, 0.75) || !near(zp.VsUpstream.RPS, 0.6) {
			t.Fatalf("vs nginx %+v, vs upstream %+v", zp.VsNginx, zp.VsUpstream)
		}
		if ng := r.Scenarios[0].target(TargetNginx); ng.VsNginx != nil || ng.VsUpstream == nil {
			t.Fatalf("nginx ratios: vs nginx %v, vs upstream %v", ng.VsNginx, ng.VsUpstream)
		}
		if ch := r.Scenarios[1].target(TargetChurn); !near(ch.VsQuiet.RPS, 0.9) {
			t.Fatalf("churn vs quiet %+v", ch.VsQuiet)
		}
	})
	want := map[string]bool{
		"10k/req/CPU-s >= 1.3 x nginx":         true,
		"10k/p99 <= nginx":                     true,
		"10k/RSS <= 30 MiB with 10,000 routes": true,
		"churn/churn: rps within 5% of quiet":  false,
		"churn/churn: p99 within 10% of quiet": true,
	}
	if len(r.Verdicts) != len(want) {
		t.Fatalf("%d verdicts, want %d: %+v", len(r.Verdicts), len(want), r.Verdicts)
	}
	for _, v := range r.Verdicts {
		t.Run(v.Scenario+"/"+v.Goal, func(t *testing.T) {
			pass, ok := want[v.Scenario+"/"+v.Goal]
			if !ok || pass != v.Pass {
				t.Fatalf("verdict %+v; want known goal passing=%v", v, pass)
			}
		})
	}
}

// TestCompareLoop: the event-loop forwarder gets its ratios to nginx and to the bare forwarder, and
// no verdict: the goals are zoneproxy's.
func TestCompareLoop(t *testing.T) {
	m := func(eff, p99 float64) Measurement {
		return Measurement{RPS: eff, P99: p99, CPUPercent: 100, ReqPerCPUSec: eff}
	}
	s := ScenarioResult{Name: "1route", Targets: []TargetResult{
		{Target: TargetNginx, Summary: m(50000, 2)},
		{Target: TargetBare, Summary: m(40000, 4)},
		{Target: TargetLoop, Summary: m(60000, 1)},
	}}
	s.compare()
	lp := s.target(TargetLoop)
	if lp.VsNginx == nil || lp.VsBare == nil || !near(lp.VsNginx.ReqPerCPUSec, 1.2) || !near(lp.VsBare.ReqPerCPUSec, 1.5) ||
		!near(lp.VsNginx.P99, 0.5) {
		t.Fatalf("loop vs nginx %+v, vs bare %+v", lp.VsNginx, lp.VsBare)
	}
	if v := verdicts([]ScenarioResult{s}); len(v) != 0 {
		t.Fatalf("verdicts without zoneproxy: %+v", v)
	}
	var b bytes.Buffer
	if err := WriteTable(&b, &Report{Scenarios: []ScenarioResult{s}}); err != nil {
		t.Fatal(err)
	}
	if out := b.String(); !strings.Contains(out, "1.20x") || !strings.Contains(out, "1.50x") {
		t.Fatalf("the table lacks loop's ratio rows:\n%s", out)
	}
}

func TestWriteTable(t *testing.T) {
	var b bytes.Buffer
	if err := WriteTable(&b, sample()); err != nil {
		t.Fatal(err)
	}
	out := b.String()
	for _, want := range []string{
		"req/CPU-s", "÷ nginx", "÷ upstream", "÷ quiet", "1.50x", "0.75x", "zoneproxy+churn",
		"RSS <= 30 MiB with 10,000 routes", "FAIL", "pass", "note: a note",
	} {
		t.Run(want, func(t *testing.T) {
			if !strings.Contains(out, want) {
				t.Fatalf("table lacks %q:\n%s", want, out)
			}
		})
	}
	t.Run("ratio rows only under zoneproxy", func(t *testing.T) {
		if n := strings.Count(out, "÷ upstream"); n != 1 {
			t.Fatalf("%d rows divided by upstream, want 1 (zoneproxy's only):\n%s", n, out)
		}
	})
}

func TestWriteResults(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "results")
	path, err := WriteResults(dir, sample())
	if err != nil {
		t.Fatal(err)
	}
	if filepath.Base(path) != "20261123T200000Z.json" {
		t.Fatalf("path %s", path)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var back Report
	if err := json.Unmarshal(b, &back); err != nil {
		t.Fatal(err)
	}
	if len(back.Scenarios) != 2 || back.Scenarios[0].Targets[2].VsNginx == nil {
		t.Fatalf("decoded %+v", back.Scenarios)
	}
	ents, _ := os.ReadDir(dir)
	var names []string
	for _, e := range ents {
		names = append(names, e.Name())
	}
	if strings.Join(names, ",") != "20261123T200000Z.json,20261123T200000Z.txt" {
		t.Fatalf("files %v", names)
	}
}

// TestComparePlain: a plugin scenario's zoneproxy is divided by zoneproxy's on the plain route of the
// same run and judged against the scenario's PlainGoal; without the plain route there is no ratio.
func TestComparePlain(t *testing.T) {
	zp := func(eff, p99 float64) TargetResult {
		m := Measurement{RPS: eff, P99: p99, RSS: 10, CPUPercent: 100, ReqPerCPUSec: eff}
		return TargetResult{Target: TargetZoneproxy, Runs: []Measurement{m}, Summary: m}
	}
	nginx := TargetResult{Target: TargetNginx, Summary: Measurement{RPS: 40000, P99: 2, ReqPerCPUSec: 40000}}
	run := func(withPlain bool) []ScenarioResult {
		var scs []ScenarioResult
		if withPlain {
			scs = append(scs, ScenarioResult{Name: PlainScenario, Targets: []TargetResult{zp(50000, 2)}})
		}
		scs = append(scs,
			ScenarioResult{Name: "keyauth", Targets: []TargetResult{nginx, zp(48000, 2)}}, // 0.96 >= 0.95
			ScenarioResult{Name: "jwtauth", Targets: []TargetResult{zp(40000, 3)}},        // 0.80 < 0.85
			ScenarioResult{Name: "10k", Targets: []TargetResult{zp(45000, 2)}},            // not a plugin scenario
		)
		comparePlain(scs)
		return scs
	}
	t.Run("with the plain route", func(t *testing.T) {
		scs := run(true)
		if r := scs[1].target(TargetZoneproxy).VsPlain; r == nil || !near(r.ReqPerCPUSec, 0.96) {
			t.Fatalf("keyauth vs plain %+v", r)
		}
		if r := scs[2].target(TargetZoneproxy).VsPlain; r == nil || !near(r.ReqPerCPUSec, 0.8) || !near(r.P99, 1.5) {
			t.Fatalf("jwtauth vs plain %+v", r)
		}
		for _, i := range []int{0, 3} {
			if r := scs[i].target(TargetZoneproxy).VsPlain; r != nil {
				t.Fatalf("%s has a ratio to the plain route: %+v", scs[i].Name, r)
			}
		}
		got := map[string]bool{}
		for _, v := range verdicts(scs) {
			if strings.Contains(v.Goal, "plain route") {
				got[v.Scenario+"/"+v.Goal+"/"+v.Value] = v.Pass
			}
		}
		want := map[string]bool{
			"keyauth/req/CPU-s >= 0.95 x plain route/0.96x": true,
			"jwtauth/req/CPU-s >= 0.85 x plain route/0.80x": false,
		}
		if len(got) != len(want) {
			t.Fatalf("verdicts %v, want %v", got, want)
		}
		for k, pass := range want {
			if p, ok := got[k]; !ok || p != pass {
				t.Errorf("verdict %s: got %v (present %v), want %v", k, p, ok, pass)
			}
		}
		var b bytes.Buffer
		if err := WriteTable(&b, &Report{Scenarios: scs, Verdicts: verdicts(scs)}); err != nil {
			t.Fatal(err)
		}
		if n := strings.Count(b.String(), "÷ plain"); n != 2 {
			t.Fatalf("%d rows divided by the plain route, want 2 (keyauth, jwtauth):\n%s", n, b.String())
		}
	})
	t.Run("without the plain route", func(t *testing.T) {
		for _, s := range run(false) {
			if r := s.target(TargetZoneproxy).VsPlain; r != nil {
				t.Fatalf("%s: ratio to a plain route that did not run: %+v", s.Name, r)
			}
		}
	})
}
