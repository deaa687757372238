package snapshot

import (
	"errors"
	"fmt"

	"github.com/zoneproxy/zoneproxy/config/state"
	"github.com/zoneproxy/zoneproxy/upstream"
)

// ErrNotDecoded is returned by Check for a key of a kind the Builder keeps but does not decode
// (protos, stream_routes, secrets...): there is nothing of it to validate.
var ErrNotDecoded = errors.New("objects of this kind are kept as they are, not decoded")

// Check validates one object as a Builder with opts would decode it from key: the schema of its
// kind, its plugins (each against its own schema, in the enabled set of opts) and, for an SSL
// object, its certificates and keys. References to other objects are not resolved. It is what
// an Admin API or a standalone file validates a write with before storing it: the same code the
// data plane runs, so that an object accepted there is one the data plane serves.
//
// Check builds nothing that outlives it; Options.Registry may be nil.
func Check(opts Options, key string, value []byte) error {
	if opts.Registry == nil {
		opts.Registry = upstream.NewRegistry(upstream.Options{})
	}
	opts.OnReject, opts.Metrics = nil, nil
	b, err := NewBuilder(opts)
	if err != nil {
		return err
	}
	kind, id, ok := b.split(key)
	if !ok {
		return fmt.Errorf("%q is not the key of an object under %s", key, b.opts.Prefix)
	}
	e := newEntry(state.KV{Key: key, Value: value, ModRevision: 1}, kind, id)
	if err := b.decode(e); err != nil {
		if errors.Is(err, errNotObject) {
			if len(value) == 0 || firstNonSpace(value) < 0 {
				return errors.New("value is empty")
			}
			return errors.New("value is not a JSON object")
		}
		return err
	}
	if e.obj == nil {
		return ErrNotDecoded
	}
	return nil
}
