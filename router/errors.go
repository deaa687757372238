package router

// Error is a rejected match field. Error() reads "<field>: <reason>",
// prefixed with `route <id>: ` when the route has an ID.
type Error struct {
	Route  string // Route.ID
	Field  string // APISIX field name: uri, uris, host, hosts, methods, remote_addr, remote_addrs, vars
	Reason string // stable wording, fit for tests and logs
	Err    error  // underlying cause, if any
}

func (e *Error) Error() string {
	msg := e.Field + ": " + e.Reason
	if e.Route != "" {
		return "route " + e.Route + ": " + msg
	}
	return msg
}

func (e *Error) Unwrap() error { return e.Err }
