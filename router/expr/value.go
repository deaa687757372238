package expr

// Kind says whether a variable has a value and of which Lua type.
type Kind uint8

const (
	// Missing is Lua nil: the variable is not set for this request.
	Missing Kind = iota
	// String is a string value (possibly empty).
	String
	// True is Lua true: what ngx.req.get_uri_args returns for a query
	// argument without "=" (as in "?debug").
	True
)

// Value is one variable's value for one request. S is only meaningful for
// String and is valid until the next call on the same Source.
type Value struct {
	Kind Kind
	S    []byte
}

// Source yields variable values for one request. Value must not retain v.
type Source interface {
	Value(v *Var) Value
}
