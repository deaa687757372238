package plugin

import (
	"slices"
	"sync"
)

// This file derives a plugin's JSON schema from its Compile: Describe runs Compile on a probe
// conf whose getters (String, Int, Required, Objects...) record what they read instead of
// reading it. The schema is therefore the field table Compile validates with, and cannot drift
// from it. What Compile checks in Go after reading a field (an enum, a range) is not recorded.

// record collects what Compile reads from a probe conf, in order.
type record struct {
	order    []string
	props    map[string]map[string]any
	required []string
	minProps int // MinProperties' n
	// present is what Has answers: Describe runs Compile once with each answer, so that both
	// the branch of an absent optional field and the one of a present field are read.
	present bool
}

func newRecord() *record { return &record{props: map[string]map[string]any{}} }

// add records field name with schema s; the first reading of a field wins (a later Has or Raw
// adds nothing to a typed field).
func (r *record) add(name string, s map[string]any) {
	if _, ok := r.props[name]; ok {
		if len(s) == 0 {
			return
		}
		if len(r.props[name]) > 0 {
			return
		}
	} else {
		r.order = append(r.order, name)
	}
	r.props[name] = s
}

// set records field name with schema s, replacing what was recorded.
func (r *record) set(name string, s map[string]any) {
	if _, ok := r.props[name]; !ok {
		r.order = append(r.order, name)
	}
	r.props[name] = s
}

func (r *record) schema() map[string]any {
	props := make(map[string]any, len(r.props))
	for _, n := range r.order {
		p := make(map[string]any, len(r.props[n]))
		for k, v := range r.props[n] {
			if sub, ok := v.(*record); ok {
				v = sub.schema() // an array's items, read after the array
			}
			p[k] = v
		}
		props[n] = p
	}
	s := map[string]any{"type": "object", "properties": props}
	if len(r.required) > 0 {
		s["required"] = slices.Clone(r.required)
	}
	if r.minProps > 0 {
		s["minProperties"] = r.minProps
	}
	return s
}

// probes maps the first byte of a probe conf handed to Compile by Describe to the record its
// getters write to. A conf from etcd or a file is never a probe: the key is the address of a
// byte Describe allocated, which no input can name. Entries live only during Describe.
var probes sync.Map // *byte → *record

// probeRecord returns the record of raw if raw is a probe.
func probeRecord(raw []byte) *record {
	if len(raw) == 0 {
		return nil
	}
	if r, ok := probes.Load(&raw[0]); ok {
		return r.(*record)
	}
	return nil
}

// Describe returns the JSON schema of p's conf (consumer: of its consumer conf, for an Auth
// plugin; ok is false for another plugin), derived from the fields its Compile reads: Compile
// runs twice on a probe, Has answering false then true, and the fields read in either run make
// the schema. A field Compile reads only after a check a probe fails (a value that must be
// positive, a conf that must not be empty) is missing from it. It is safe for concurrent use;
// Compile runs with an empty Env, so it must not need one to describe itself.
func Describe(p Plugin, consumer bool) (schema map[string]any, ok bool) {
	a, isAuth := p.(Auth)
	if consumer && !isAuth {
		return nil, false
	}
	// Not empty: a Compile that counts the fields of its conf goes on.
	probe := []byte(`{"":null}`)
	rec := newRecord()
	probes.Store(&probe[0], rec)
	defer probes.Delete(&probe[0])
	for _, present := range []bool{false, true} {
		rec.present = present
		func() {
			// A Compile that fails or panics on a probe has described what it read until then.
			defer func() { _ = recover() }()
			if consumer {
				_, _, _ = a.CompileConsumer(probe)
			} else {
				_, _ = p.Compile(probe, &Env{})
			}
		}()
	}
	schema = rec.schema()
	if consumer {
		schema["title"] = "work with consumer object"
		if f := a.EncryptFields(); len(f) > 0 {
			schema["encrypt_fields"] = slices.Clone(f)
		}
	} else if isAuth {
		schema["title"] = "work with route or service object"
	}
	return schema, true
}

// typed is the schema of a field of JSON type ty, with def as its default when it has one.
func typed(ty string, def any, hasDef bool) map[string]any {
	s := map[string]any{"type": ty}
	if hasDef {
		s["default"] = def
	}
	return s
}

func (c Conf) trace(name string, s map[string]any) bool {
	if c.rec == nil {
		return false
	}
	c.rec.add(name, s)
	return true
}

func (c Conf) traceRequired(names []string) bool {
	if c.rec == nil {
		return false
	}
	for _, n := range names {
		if !slices.Contains(c.rec.required, n) {
			c.rec.required = append(c.rec.required, n)
		}
		c.rec.add(n, map[string]any{})
	}
	return true
}

func lengths(s map[string]any, min, max int) map[string]any {
	if min > 0 {
		s["minLength"] = min
	}
	if max >= 0 {
		s["maxLength"] = max
	}
	return s
}
