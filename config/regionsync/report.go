package regionsync

import (
	"errors"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
)

// Exit codes of `zoneproxy sync`.
const (
	ExitOK      = 0 // every target matches (diff) or was applied or matched (apply)
	ExitDiffers = 1 // diff: a target differs; apply: a target failed
	ExitError   = 2 // bad input or flags; diff: a target could not be read
)

// WriteDiff prints, per target, its changes with field-level diffs and one line ending with
// fingerprint=<hex> (the target's as read), then the drift between targets. It returns the exit
// code of `sync diff`.
func WriteDiff(w io.Writer, results []Result) int {
	code := ExitOK
	for _, r := range results {
		if r.Plan != nil {
			writeChanges(w, r)
		}
		switch {
		case r.Plan == nil:
			fmt.Fprintf(w, "%s: error: %v fingerprint=-\n", r.Target, r.Err)
			code = ExitError
		case r.Err != nil:
			fmt.Fprintf(w, "%s: error: %v %s fingerprint=%s\n", r.Target, r.Err, counts(r.Plan), r.Plan.Have)
			code = ExitError
		case len(r.Plan.Changes) == 0:
			fmt.Fprintf(w, "%s: in sync %s fingerprint=%s\n", r.Target, counts(r.Plan), r.Plan.Have)
		default:
			fmt.Fprintf(w, "%s: differs %s want=%s fingerprint=%s\n", r.Target, counts(r.Plan), r.Plan.Want, r.Plan.Have)
			code = max(code, ExitDiffers)
		}
	}
	writeDrift(w, results)
	return code
}

// WriteApply prints one line per target ending with fingerprint=<hex> (the target's after the
// run), then the result table. It returns the exit code of `sync apply`.
func WriteApply(w io.Writer, results []Result, dryRun bool) int {
	code := ExitOK
	for _, r := range results {
		switch {
		case r.Plan == nil:
			fmt.Fprintf(w, "%s: error: %v fingerprint=-\n", r.Target, r.Err)
			code = ExitDiffers
		case r.Err != nil:
			what := "nothing applied"
			switch {
			case len(r.Plan.Changes) == 0 || errors.Is(r.Err, ErrConflicts) || errors.Is(r.Err, ErrConflict) && r.StepsDone == 0:
			case errors.Is(r.Err, ErrRolledBack):
				what = "nothing applied: rolled back"
			case r.StepsDone == 0:
				what = "nothing applied, unless the failed transaction reached etcd before the error: run diff"
			default:
				what = fmt.Sprintf("PARTIALLY applied: %d of %d transactions or calls", r.StepsDone, r.Steps)
			}
			fmt.Fprintf(w, "%s: error: %v (%s) fingerprint=%s\n", r.Target, r.Err, what, r.Plan.Have)
			code = ExitDiffers
		case len(r.Plan.Changes) == 0:
			fmt.Fprintf(w, "%s: unchanged, nothing to write %s fingerprint=%s\n", r.Target, counts(r.Plan), r.Plan.Have)
		case dryRun:
			writeChanges(w, r)
			fmt.Fprintf(w, "%s: dry run, would write %s fingerprint=%s\n", r.Target, counts(r.Plan), r.Plan.Want)
		default:
			note := ""
			switch {
			case r.Calls:
				note = fmt.Sprintf(" in %d call", r.Steps)
				if r.Steps > 1 {
					note += "s"
				}
			case r.Steps > 1:
				note = fmt.Sprintf(" in %d transactions (not atomic)", r.Steps)
			}
			fmt.Fprintf(w, "%s: applied%s %s fingerprint=%s\n", r.Target, note, counts(r.Plan), r.Plan.Want)
		}
	}
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "TARGET\tCREATED\tUPDATED\tDELETED\tUNCHANGED\tERROR")
	for _, r := range results {
		errText := "-"
		if r.Err != nil {
			errText = firstLine(r.Err.Error())
		}
		if r.Plan == nil {
			fmt.Fprintf(tw, "%s\t-\t-\t-\t-\t%s\n", r.Target, errText)
			continue
		}
		c, u, d := r.Plan.Counts()
		if !r.Applied && !dryRun {
			c, u, d = 0, 0, 0 // what was written
		}
		fmt.Fprintf(tw, "%s\t%d\t%d\t%d\t%d\t%s\n", r.Target, c, u, d, r.Plan.Unchanged, errText)
	}
	tw.Flush()
	return code
}

func counts(p *Plan) string {
	c, u, d := p.Counts()
	return fmt.Sprintf("create=%d update=%d delete=%d unchanged=%d", c, u, d, p.Unchanged)
}

func writeChanges(w io.Writer, r Result) {
	for _, c := range r.Plan.Changes {
		switch c.Op {
		case Create:
			fmt.Fprintf(w, "%s: + %s\n", r.Target, c.Key)
		case Delete:
			fmt.Fprintf(w, "%s: - %s\n", r.Target, c.Key)
		default:
			fmt.Fprintf(w, "%s: ~ %s\n", r.Target, c.Key)
			for _, line := range FieldDiff(c.Old, c.New) {
				fmt.Fprintf(w, "%s:     %s\n", r.Target, line)
			}
		}
	}
}

// writeDrift says which targets hold the same configuration, when there are several.
func writeDrift(w io.Writer, results []Result) {
	if len(results) < 2 {
		return
	}
	groups := map[string][]string{}
	var order []string
	for _, r := range results {
		if r.Plan == nil {
			continue
		}
		fp := r.Plan.Have.String()
		if _, ok := groups[fp]; !ok {
			order = append(order, fp)
		}
		groups[fp] = append(groups[fp], r.Target)
	}
	if len(order) <= 1 {
		if len(order) == 1 {
			fmt.Fprintf(w, "drift: none, %s hold the same configuration fingerprint=%s\n", strings.Join(groups[order[0]], ", "), order[0])
		}
		return
	}
	for _, fp := range order {
		fmt.Fprintf(w, "drift: %s hold fingerprint=%s\n", strings.Join(groups[fp], ", "), fp)
	}
}

func firstLine(s string) string {
	s, _, _ = strings.Cut(s, "\n")
	if len(s) > 120 {
		s = s[:120] + "..."
	}
	return s
}
