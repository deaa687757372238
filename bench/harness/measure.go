package harness

import (
	"context"
	"fmt"
	"sync"
	"time"
)

// Measurement is one measured wrk run of one target. Latencies are in milliseconds, memory in MiB.
type Measurement struct {
	RPS          float64     `json:"rps"`
	Requests     int64       `json:"requests"`
	Seconds      float64     `json:"seconds"` // wall time of the wrk process
	P50          float64     `json:"p50_ms"`
	P90          float64     `json:"p90_ms"`
	P99          float64     `json:"p99_ms"`
	P999         float64     `json:"p999_ms"`
	Max          float64     `json:"max_ms"`
	Errors       WrkErrors   `json:"errors"`
	RSS          float64     `json:"rss_mib"` // highest VmRSS sampled during the run, summed over the server's processes
	HWM          float64     `json:"hwm_mib"` // VmHWM (peak since start) at the end of the run
	CPUSeconds   float64     `json:"cpu_seconds"`
	CPUPercent   float64     `json:"cpu_percent"` // of one CPU
	ReqPerCPUSec float64     `json:"req_per_cpu_second"`
	OtherPercent float64     `json:"cpu_other_percent"` // the pinned CPU's busy time not charged to the server, interrupts excluded
	IRQPercent   float64     `json:"cpu_irq_percent"`   // of the pinned CPU in hard and soft interrupts (loopback networking, mostly)
	StealPercent float64     `json:"cpu_steal_percent"` // of the pinned CPU, taken by the hypervisor
	Churn        *ChurnStats `json:"churn,omitempty"`
}

// server is a running server under test.
type server struct {
	target     string
	proc       *process
	url        string // http://127.0.0.1:port
	tree       bool   // count the process's children too (nginx's worker)
	statusURL  string // zoneproxy's status server
	metricsURL string // zoneproxy's Prometheus export (the Go runtime's counters too)
}

func (s *server) pids() []int {
	if s.tree {
		return processTree(s.proc.pid())
	}
	return []int{s.proc.pid()}
}

// churnFunc runs route updates until its context is done.
type churnFunc func(ctx context.Context) ChurnStats

// loader is a load generator run: wrk or h2load, reporting in wrk.lua's terms.
type loader interface {
	run(ctx context.Context) (WrkResult, error)
}

// measure runs w against s while sampling s's CPU time and memory, with churn running beside it if set.
func measure(ctx context.Context, s *server, w loader, cpu string, churn churnFunc) (Measurement, error) {
	pids := s.pids()
	cpu0, err := readCPUStat(cpu)
	if err != nil {
		return Measurement{}, err
	}
	ticks0 := cpuTicks(pids)

	sctx, stopSampling := context.WithCancel(ctx)
	var wg sync.WaitGroup
	var maxRSS int64
	wg.Add(1)
	go func() {
		defer wg.Done()
		t := time.NewTicker(200 * time.Millisecond)
		defer t.Stop()
		for {
			if m := memKiB(s.pids()); m.rss > maxRSS {
				maxRSS = m.rss
			}
			select {
			case <-sctx.Done():
				return
			case <-t.C:
			}
		}
	}()
	var cs ChurnStats
	if churn != nil {
		wg.Add(1)
		go func() {
			defer wg.Done()
			cs = churn(sctx)
		}()
	}

	start := time.Now()
	res, err := w.run(ctx)
	wall := time.Since(start)
	stopSampling()
	wg.Wait()
	if err != nil {
		return Measurement{}, err
	}
	if s.proc != nil {
		select {
		case <-s.proc.done:
			return Measurement{}, fmt.Errorf("%s exited during the run (%v): %s", s.target, s.proc.err, s.proc.logTail())
		default:
		}
	}
	ticks1 := cpuTicks(pids)
	cpu1, err := readCPUStat(cpu)
	if err != nil {
		return Measurement{}, err
	}
	mem := memKiB(s.pids())
	if mem.rss > maxRSS {
		maxRSS = mem.rss
	}

	r := Measurement{
		RPS: res.RPS(), Requests: res.Requests, Seconds: wall.Seconds(),
		P50: res.Latency.P50 / 1e3, P90: res.Latency.P90 / 1e3, P99: res.Latency.P99 / 1e3,
		P999: res.Latency.P999 / 1e3, Max: res.Latency.Max / 1e3, Errors: res.Errors,
		RSS: float64(maxRSS) / 1024, HWM: float64(mem.hwm) / 1024,
		CPUSeconds: float64(ticks1-ticks0) / userHZ,
	}
	r.CPUPercent = 100 * r.CPUSeconds / wall.Seconds()
	if r.CPUSeconds > 0 {
		r.ReqPerCPUSec = float64(r.Requests) / r.CPUSeconds
	}
	if total := cpu1.total - cpu0.total; total > 0 {
		busy := total - (cpu1.idle - cpu0.idle)
		irq := cpu1.irq - cpu0.irq
		r.IRQPercent = 100 * float64(irq) / float64(total)
		r.OtherPercent = max(0, 100*float64(busy-irq-(ticks1-ticks0))/float64(total))
		r.StealPercent = 100 * float64(cpu1.steal-cpu0.steal) / float64(total)
	}
	if churn != nil {
		r.Churn = &cs
	}
	return r, nil
}
