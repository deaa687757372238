package upstream

import "errors"

// Sentinels that callers can branch on with errors.Is.
var (
	// ErrInvalid marks an upstream object that APISIX's schema (or its data-plane checks) rejects.
	ErrInvalid = errors.New("invalid upstream")
	// ErrUnsupported marks an upstream object that APISIX accepts but zoneproxy cannot serve
	// (service discovery, gRPC and L4 schemes, an unresolved tls.client_cert_id).
	ErrUnsupported = errors.New("unsupported upstream")
	// ErrClientCert marks an https upstream whose tls.client_cert and tls.client_key are not a
	// usable pair: APISIX accepts the object and fails its requests with 503.
	ErrClientCert = errors.New("unusable upstream client certificate")
)

// FieldError says which field of an upstream object is wrong and why. It unwraps to ErrInvalid
// ErrUnsupported or ErrClientCert.
type FieldError struct {
	Field  string // dotted JSON path, e.g. "checks.active.timeout" or "nodes"
	Reason string
	Err    error // ErrInvalid, ErrUnsupported or ErrClientCert
}

func (e *FieldError) Error() string { return e.Field + ": " + e.Reason }

// Unwrap returns the sentinel the error belongs to.
func (e *FieldError) Unwrap() error { return e.Err }

func invalid(field, reason string) error {
	return &FieldError{Field: field, Reason: reason, Err: ErrInvalid}
}

func unsupported(field, reason string) error {
	return &FieldError{Field: field, Reason: reason, Err: ErrUnsupported}
}
