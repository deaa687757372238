package harness

import (
	"fmt"
	"io"
	"text/tabwriter"
)

// WriteTable prints the report as a table: one row per target with its summary figures, then, under
// zoneproxy, a row of its figures divided by nginx's and one divided by the bare upstream's (under
// zoneproxy+churn: divided by quiet zoneproxy's; in a plugin scenario, one divided by zoneproxy's on
// the plain route, PlainScenario, when it ran too); then the goals, passed or failed. "other %"
// is the share of the pinned CPU busy with something else than the server and interrupts (a measure of
// the noise from other work on the machine), "irq %" its share in interrupts (loopback networking).
func WriteTable(w io.Writer, r *Report) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "scenario\ttarget\trps\tp50\tp99\tRSS MiB\tCPU %\treq/CPU-s\tother %\tirq %\terrors\t")
	for _, s := range r.Scenarios {
		name := s.Name
		for _, t := range s.Targets {
			m := t.Summary
			if ir := t.Idle; ir != nil {
				fmt.Fprintf(tw, "%s\t%s\t%d conns\t\t\t%.1f\t\t%.1f KiB/conn\t\t\t\t\n", name, t.Target, ir.Conns, ir.AfterMiB, ir.KiBPerConn)
				name = ""
				continue
			}
			fmt.Fprintf(tw, "%s\t%s\t%.0f\t%s\t%s\t%.1f\t%.0f\t%.0f\t%.0f\t%.0f\t%d\t\n", name, t.Target, m.RPS,
				ms(m.P50), ms(m.P99), m.RSS, m.CPUPercent, m.ReqPerCPUSec, m.OtherPercent, m.IRQPercent, m.Errors.Total())
			name = ""
			if t.Target == TargetNginx || t.Target == TargetBare {
				continue // nginx ÷ upstream is in the JSON; the table keeps to zoneproxy's ratios
			}
			for _, x := range []struct {
				label string
				r     *Ratios
			}{{"÷ nginx", t.VsNginx}, {"÷ bare", t.VsBare}, {"÷ upstream", t.VsUpstream}, {"÷ quiet", t.VsQuiet}, {"÷ plain", t.VsPlain}} {
				if x.r == nil {
					continue
				}
				fmt.Fprintf(tw, "\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t\t\t\t\n", x.label, times(x.r.RPS), times(x.r.P50),
					times(x.r.P99), times(x.r.RSS), times(x.r.CPUPercent), times(x.r.ReqPerCPUSec))
			}
		}
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	if len(r.Verdicts) > 0 {
		fmt.Fprintln(w)
		tw = tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
		fmt.Fprintln(tw, "goal\tscenario\tvalue\tresult")
		for _, v := range r.Verdicts {
			res := "FAIL"
			if v.Pass {
				res = "pass"
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", v.Goal, v.Scenario, v.Value, res)
		}
		if err := tw.Flush(); err != nil {
			return err
		}
	}
	for _, n := range r.Notes {
		fmt.Fprintln(w, "note:", n)
	}
	return nil
}

// ms formats milliseconds with a precision that suits sub-millisecond loopback latencies.
func ms(v float64) string {
	switch {
	case v == 0:
		return "-"
	case v < 10:
		return fmt.Sprintf("%.2fms", v)
	default:
		return fmt.Sprintf("%.1fms", v)
	}
}

func times(v float64) string {
	if v == 0 {
		return "-"
	}
	return fmt.Sprintf("%.2fx", v)
}
