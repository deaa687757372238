package upstream

import (
	"encoding/json"
	"errors"
	"reflect"
	"testing"
	"time"
)

// FuzzParse: every input either fails with a *FieldError or yields a Spec that
//   - marshals to a document that Parse reads back to the same Spec (the Spec is a canonical,
//     complete form of the object);
//   - compiles into a Pool with one Node per NodeSpec, in order;
//   - picks, on fresh state, each node of weight > 0 once before Pick returns nil, never a node
//     already tried (a lone node is picked on every try when its weight is > 0);
//
// and Pick, Done, probes and Retain do not panic once nodes turn unhealthy. Seeds live in
// testdata/fuzz/FuzzParse.
func FuzzParse(f *testing.F) {
	f.Add([]byte(`{"nodes":{"127.0.0.1:1980":1}}`))
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
		canon, err := json.Marshal(s)
		if err != nil {
			t.Fatalf("marshal the Spec: %v", err)
		}
		again, err := Parse(canon)
		if err != nil {
			t.Fatalf("the Spec's own JSON is rejected: %v\n%s", err, canon)
		}
		if !reflect.DeepEqual(s, again) {
			t.Fatalf("round trip changed the Spec:\n%+v\n%+v\nvia %s", s, again, canon)
		}

		// A fresh registry per input, so that health and load never leak between inputs.
		r := NewRegistry(Options{Hostname: "fuzz"})
		p, err := r.Pool("fuzz", s)
		if err != nil {
			return // e.g. an unusable client certificate
		}
		nodes := p.Nodes()
		if len(nodes) != len(s.Nodes) {
			t.Fatalf("%d nodes in the pool, %d in the spec", len(nodes), len(s.Nodes))
		}
		for i, n := range nodes {
			if ns := s.Nodes[i]; n.Addr != ns.Addr() || n.Weight != ns.Weight || n.Priority != ns.Priority {
				t.Fatalf("node %d is %+v, spec %+v", i, n, ns)
			}
		}

		// Fresh state: every node is healthy.
		var tried Tried
		picked := 0
		for range len(nodes) + 1 {
			n := p.Pick(ctx, &tried)
			if n == nil {
				break
			}
			if n.pool != p {
				t.Fatalf("picked a node of another pool")
			}
			if len(nodes) > 1 && tried.Has(n) {
				t.Fatalf("picked %s, already tried", n.Addr)
			}
			if n.Weight == 0 && len(nodes) > 1 {
				t.Fatalf("picked %s of weight 0 while every node is healthy", n.Addr)
			}
			tried.Add(n)
			picked++
			n.Done(200, nil, time.Millisecond)
		}
		switch {
		case len(nodes) == 1:
			if picked == 0 {
				t.Fatalf("lone node of weight %d never picked", nodes[0].Weight)
			}
		default:
			for _, n := range nodes {
				if n.Weight > 0 && !tried.Has(n) {
					t.Fatalf("Pick gave up before trying %s (weight %d, priority %d)", n.Addr, n.Weight, n.Priority)
				}
			}
		}

		// Failures: nodes turn unhealthy; nothing may panic.
		tried.Reset()
		for range len(nodes) + 1 {
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
