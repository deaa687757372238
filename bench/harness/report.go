package harness

import (
	"fmt"
	"slices"
	"time"
)

// Report is everything one harness run measured; it is what bench/results/<timestamp>.json holds.
type Report struct {
	Started   time.Time        `json:"started"`
	Finished  time.Time        `json:"finished"`
	Env       Env              `json:"env"`
	Settings  Settings         `json:"settings"`
	Scenarios []ScenarioResult `json:"scenarios"`
	Verdicts  []Verdict        `json:"verdicts"`
	Notes     []string         `json:"notes,omitempty"`
}

// Settings are the options a run used.
type Settings struct {
	Duration  string   `json:"duration"`
	Warmup    string   `json:"warmup"`
	Runs      int      `json:"runs"`
	Conns     int      `json:"conns"`
	Threads   int      `json:"threads"`
	ChurnRate int      `json:"churn_rate_per_s"`
	ProxyCPU  string   `json:"proxy_cpu"`
	LoadCPU   string   `json:"load_cpu"`
	Pinned    bool     `json:"pinned"`
	Nice      int      `json:"nice"` // the priority applied (0: none)
	Targets   []string `json:"targets"`
	// NginxDeferred: nginx listened with "deferred" (BENCH_NGINX_DEFERRED=1).
	NginxDeferred bool `json:"nginx_deferred,omitempty"`
}

// ScenarioResult holds the targets measured in one scenario.
type ScenarioResult struct {
	Name    string         `json:"name"`
	Desc    string         `json:"desc"`
	Path    string         `json:"path"`
	Headers []string       `json:"headers,omitempty"`
	Routes  int            `json:"routes"`
	Body    int            `json:"body_bytes"`
	Targets []TargetResult `json:"targets"`
}

// TargetResult is one target's runs and their summary: the median of each figure over the runs,
// except RSS and HWM, which are the highest seen in any run.
type TargetResult struct {
	Target     string        `json:"target"`
	Runs       []Measurement `json:"runs"`
	Summary    Measurement   `json:"summary"`
	VsNginx    *Ratios       `json:"vs_nginx,omitempty"`
	VsUpstream *Ratios       `json:"vs_upstream,omitempty"`
	VsBare     *Ratios       `json:"vs_bare,omitempty"`  // zoneproxy and loop against the bare fasthttp forwarder
	VsQuiet    *Ratios       `json:"vs_quiet,omitempty"` // churn: against the quiet zoneproxy of the same scenario
	VsPlain    *Ratios       `json:"vs_plain,omitempty"` // plugin scenarios: against zoneproxy on the plain route (PlainScenario)
	Idle       *IdleResult   `json:"idle,omitempty"`     // idle scenarios: what the idle connections cost
}

// Ratios are a target's summary figures divided by another target's, from the same harness run.
type Ratios struct {
	RPS          float64 `json:"rps"`
	P50          float64 `json:"p50"`
	P99          float64 `json:"p99"`
	RSS          float64 `json:"rss"`
	CPUPercent   float64 `json:"cpu_percent"`
	ReqPerCPUSec float64 `json:"req_per_cpu_second"`
}

// Verdict is one target of the issue checked against a scenario's figures.
type Verdict struct {
	Goal     string `json:"goal"`
	Scenario string `json:"scenario"`
	Value    string `json:"value"`
	Pass     bool   `json:"pass"`
}

// summarize is the median of each figure over runs, and the highest memory.
func summarize(runs []Measurement) Measurement {
	if len(runs) == 0 {
		return Measurement{}
	}
	med := func(f func(Measurement) float64) float64 {
		v := make([]float64, len(runs))
		for i, r := range runs {
			v[i] = f(r)
		}
		slices.Sort(v)
		if n := len(v); n%2 == 1 {
			return v[n/2]
		} else {
			return (v[n/2-1] + v[n/2]) / 2
		}
	}
	s := Measurement{
		RPS:          med(func(r Measurement) float64 { return r.RPS }),
		Seconds:      med(func(r Measurement) float64 { return r.Seconds }),
		P50:          med(func(r Measurement) float64 { return r.P50 }),
		P90:          med(func(r Measurement) float64 { return r.P90 }),
		P99:          med(func(r Measurement) float64 { return r.P99 }),
		P999:         med(func(r Measurement) float64 { return r.P999 }),
		Max:          med(func(r Measurement) float64 { return r.Max }),
		CPUSeconds:   med(func(r Measurement) float64 { return r.CPUSeconds }),
		CPUPercent:   med(func(r Measurement) float64 { return r.CPUPercent }),
		ReqPerCPUSec: med(func(r Measurement) float64 { return r.ReqPerCPUSec }),
		OtherPercent: med(func(r Measurement) float64 { return r.OtherPercent }),
		IRQPercent:   med(func(r Measurement) float64 { return r.IRQPercent }),
		StealPercent: med(func(r Measurement) float64 { return r.StealPercent }),
	}
	s.Requests = int64(med(func(r Measurement) float64 { return float64(r.Requests) }))
	for _, r := range runs {
		s.RSS = max(s.RSS, r.RSS)
		s.HWM = max(s.HWM, r.HWM)
		s.Errors.Connect += r.Errors.Connect
		s.Errors.Read += r.Errors.Read
		s.Errors.Write += r.Errors.Write
		s.Errors.Status += r.Errors.Status
		s.Errors.Timeout += r.Errors.Timeout
	}
	return s
}

func ratio(a, b float64) float64 {
	if b == 0 {
		return 0
	}
	return a / b
}

func ratios(a, b Measurement) *Ratios {
	return &Ratios{
		RPS: ratio(a.RPS, b.RPS), P50: ratio(a.P50, b.P50), P99: ratio(a.P99, b.P99), RSS: ratio(a.RSS, b.RSS),
		CPUPercent: ratio(a.CPUPercent, b.CPUPercent), ReqPerCPUSec: ratio(a.ReqPerCPUSec, b.ReqPerCPUSec),
	}
}

func (s *ScenarioResult) target(name string) *TargetResult {
	for i := range s.Targets {
		if s.Targets[i].Target == name {
			return &s.Targets[i]
		}
	}
	return nil
}

// compare fills in the ratios: zoneproxy and the event-loop forwarder against nginx, the bare
// upstream and the bare forwarder, nginx against the bare upstream, and zoneproxy under churn
// against quiet zoneproxy.
func (s *ScenarioResult) compare() {
	ng, up, zp, lp := s.target(TargetNginx), s.target(TargetUpstream), s.target(TargetZoneproxy), s.target(TargetLoop)
	for _, t := range []*TargetResult{zp, lp, ng} {
		if t == nil {
			continue
		}
		if ng != nil && t != ng {
			t.VsNginx = ratios(t.Summary, ng.Summary)
		}
		if up != nil {
			t.VsUpstream = ratios(t.Summary, up.Summary)
		}
	}
	if bare := s.target(TargetBare); bare != nil {
		for _, t := range []*TargetResult{zp, lp} {
			if t != nil {
				t.VsBare = ratios(t.Summary, bare.Summary)
			}
		}
	}
	if ch := s.target(TargetChurn); ch != nil && zp != nil {
		ch.VsQuiet = ratios(ch.Summary, zp.Summary)
	}
}

// comparePlain divides each plugin scenario's zoneproxy figures by zoneproxy's on the plain route,
// when both ran in this harness run.
func comparePlain(scs []ScenarioResult) {
	var plain *TargetResult
	for i := range scs {
		if scs[i].Name == PlainScenario {
			plain = scs[i].target(TargetZoneproxy)
		}
	}
	if plain == nil {
		return
	}
	for i := range scs {
		sc, _ := scenarioByName(scs[i].Name)
		if zp := scs[i].target(TargetZoneproxy); sc.VsPlain && zp != nil && zp.Idle == nil {
			zp.VsPlain = ratios(zp.Summary, plain.Summary)
		}
	}
}

// Goals of the issue.
const (
	goalCPUEfficiency = 1.3  // requests per CPU-second ≥ 1.3 × nginx's
	goalP99           = 1.0  // p99 ≤ nginx's
	goalVsBare        = 1.0  // requests per CPU-second ≥ the bare fasthttp forwarder's
	goalIdleKiB       = 4.0  // RSS per idle keep-alive connection ≤ nginx's + 4 KiB
	goalRSS10k        = 30.0 // MiB with 10,000 routes
	goalChurnRPS      = 0.95 // throughput under churn within 5 % of quiet
	goalChurnP99      = 1.10 // p99 under churn within 10 % of quiet
)

// verdicts checks the goals against every scenario that measured what a goal needs.
func verdicts(scs []ScenarioResult) []Verdict {
	var out []Verdict
	for _, s := range scs {
		zp := s.target(TargetZoneproxy)
		if ng := s.target(TargetNginx); zp != nil && zp.Idle != nil && ng != nil && ng.Idle != nil {
			out = append(out, Verdict{Goal: fmt.Sprintf("idle RSS/conn <= nginx + %.0f KiB", goalIdleKiB), Scenario: s.Name,
				Value: fmt.Sprintf("%.1f KiB vs %.1f KiB", zp.Idle.KiBPerConn, ng.Idle.KiBPerConn),
				Pass:  zp.Idle.KiBPerConn <= ng.Idle.KiBPerConn+goalIdleKiB})
			continue
		}
		if zp != nil && zp.VsNginx != nil {
			sc, _ := scenarioByName(s.Name)
			goal := sc.goal()
			out = append(out,
				Verdict{Goal: fmt.Sprintf("req/CPU-s >= %.1f x nginx", goal), Scenario: s.Name,
					Value: fmt.Sprintf("%.2fx", zp.VsNginx.ReqPerCPUSec), Pass: zp.VsNginx.ReqPerCPUSec >= goal})
			if !sc.H2 { // h2load reports no percentiles
				out = append(out, Verdict{Goal: "p99 <= nginx", Scenario: s.Name,
					Value: fmt.Sprintf("%.2fx", zp.VsNginx.P99), Pass: zp.VsNginx.P99 > 0 && zp.VsNginx.P99 <= goalP99})
			}
		}
		if zp != nil && zp.VsPlain != nil {
			if sc, _ := scenarioByName(s.Name); sc.PlainGoal > 0 {
				out = append(out, Verdict{Goal: fmt.Sprintf("req/CPU-s >= %.2f x plain route", sc.PlainGoal), Scenario: s.Name,
					Value: fmt.Sprintf("%.2fx", zp.VsPlain.ReqPerCPUSec), Pass: zp.VsPlain.ReqPerCPUSec >= sc.PlainGoal})
			}
		}
		if zp != nil && zp.VsBare != nil {
			out = append(out, Verdict{Goal: fmt.Sprintf("req/CPU-s >= %.1f x bare", goalVsBare), Scenario: s.Name,
				Value: fmt.Sprintf("%.2fx", zp.VsBare.ReqPerCPUSec), Pass: zp.VsBare.ReqPerCPUSec >= goalVsBare})
		}
		// Under churn the quiet runs follow churned ones, whose garbage they inherit: RSS is judged
		// where nothing churns.
		if zp != nil && s.Routes >= 10000 && s.target(TargetChurn) == nil {
			out = append(out, Verdict{Goal: fmt.Sprintf("RSS <= %.0f MiB with 10,000 routes", goalRSS10k), Scenario: s.Name,
				Value: fmt.Sprintf("%.1f MiB", zp.Summary.RSS), Pass: zp.Summary.RSS <= goalRSS10k})
		}
		if ch := s.target(TargetChurn); ch != nil && ch.VsQuiet != nil {
			out = append(out,
				Verdict{Goal: "churn: rps within 5% of quiet", Scenario: s.Name,
					Value: fmt.Sprintf("%+.1f%%", 100*(ch.VsQuiet.RPS-1)), Pass: ch.VsQuiet.RPS >= goalChurnRPS},
				Verdict{Goal: "churn: p99 within 10% of quiet", Scenario: s.Name,
					Value: fmt.Sprintf("%+.1f%%", 100*(ch.VsQuiet.P99-1)), Pass: ch.VsQuiet.P99 > 0 && ch.VsQuiet.P99 <= goalChurnP99})
		}
	}
	return out
}
