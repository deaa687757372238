package regionsync

import (
	"context"
	"errors"
	"fmt"
	"sync"
)

// Target is a control plane to sync: an etcd cluster (Etcd) or an APISIX Admin API.
type Target interface {
	// Name is the target's name on the command line; String its URL.
	Name() string
	String() string
	// Read returns the objects the target holds.
	Read(ctx context.Context) (*Remote, error)
	// Apply writes plan, made from what Read returned; done of total steps succeeded.
	Apply(ctx context.Context, plan *Plan) (done, total int, err error)
	Close() error
}

// Options are the settings of a Diff or Apply run.
type Options struct {
	// Selector narrows the objects managed (empty: all).
	Selector Selector
	// DryRun makes Apply plan without writing.
	DryRun bool
	// beforeApply, when set, runs between the read and the write of each target (tests).
	beforeApply func(Target)
}

// Result is the outcome for one target.
type Result struct {
	Target string // the target's name
	URL    string
	// Plan is nil when the target could not be read.
	Plan *Plan
	// Applied is true when Apply wrote the plan whole; Steps and StepsDone count its
	// transactions (etcd) or calls (Admin API).
	Applied          bool
	Steps, StepsDone int
	// Calls: the steps are Admin API calls (undone on failure), not etcd transactions.
	Calls bool
	Err   error
}

// ErrConflicts is the error of a target whose plan has conflicts (Plan.Conflicts).
var ErrConflicts = errors.New("objects of the file exist on the target without the selected labels")

// Diff plans every target in parallel; results are in the order of targets.
func Diff(ctx context.Context, desired Objects, targets []Target, o Options) []Result {
	dc := canonicalAll(desired)
	return each(targets, func(t Target) Result { return plan(ctx, desired, dc, t, o) })
}

// Apply plans every target and writes its plan, all targets in parallel (unless o.DryRun).
func Apply(ctx context.Context, desired Objects, targets []Target, o Options) []Result {
	dc := canonicalAll(desired)
	return each(targets, func(t Target) Result {
		r := plan(ctx, desired, dc, t, o)
		if r.Err != nil || o.DryRun || len(r.Plan.Changes) == 0 {
			return r
		}
		if o.beforeApply != nil {
			o.beforeApply(t)
		}
		_, r.Calls = t.(*Admin)
		r.StepsDone, r.Steps, r.Err = t.Apply(ctx, r.Plan)
		r.Applied = r.Err == nil
		return r
	})
}

func plan(ctx context.Context, desired Objects, dc map[string]canon, t Target, o Options) Result {
	r := Result{Target: t.Name(), URL: t.String()}
	remote, err := t.Read(ctx)
	if err != nil {
		r.Err = err
		return r
	}
	r.Plan = makePlan(desired, dc, remote, o.Selector)
	if len(r.Plan.Conflicts) > 0 {
		r.Err = fmt.Errorf("%w: %v", ErrConflicts, r.Plan.Conflicts)
	}
	return r
}

func each(targets []Target, f func(Target) Result) []Result {
	out := make([]Result, len(targets))
	var wg sync.WaitGroup
	for i, t := range targets {
		wg.Go(func() { out[i] = f(t) })
	}
	wg.Wait()
	return out
}
