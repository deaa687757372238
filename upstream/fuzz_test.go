package upstream

import (
	"errors"
	"testing"
	"time"
)

// FuzzParse: every input either fails with a *FieldError or yields a Spec that compiles into a
// Pool whose Pick, Done and retries do not panic. Seeds live in testdata/fuzz/FuzzParse.
func FuzzParse(f *testing.F) {
	f.Add([]byte(`{"nodes":{"127.0.0.1:1980":1}}`))
	r := NewRegistry(Options{Hostname: "fuzz"})
	ctx := requestCtx("192.0.2.1", "/p?a=1", "X-K", "v", "Cookie", "c=1")
	f.Fuzz(func(t *testing.T, data []byte) {
		s, err := Parse(data)
		if err != nil {
			var fe *FieldError
			if !errors.As(err, &fe) || fe.Field == "" {
				t.Fatalf("Parse error %v (%T) is not a *FieldError", err, err)
			}
			return
		}
		p, err := r.Pool("fuzz", s)
		if err != nil {
			return // e.g. an unusable client certificate
		}
		var tried Tried
		for range len(p.Nodes()) + 1 {
			n := p.Pick(ctx, &tried)
			if n == nil {
				break
			}
			tried.Add(n)
			n.Done(500, nil, time.Millisecond)
			n.ReportProbe(ProbeTCPFailure, 0)
		}
		r.Retain(nil)
	})
}
