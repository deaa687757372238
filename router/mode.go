package router

import "fmt"

// Mode selects APISIX's HTTP router (config key apisix.router.http).
type Mode int

const (
	// ModeHostURI is radixtree_host_uri, APISIX's default: routes with a
	// host are tried first, by host (exact, then wildcards from the most
	// specific), then routes without a host.
	ModeHostURI Mode = iota
	// ModeURI is radixtree_uri: one tree by path; a route's hosts only
	// filter its candidates, like methods do.
	ModeURI
	// ModeURIWithParameter is radixtree_uri_with_parameter: ModeURI where
	// ":name" path segments are parameters.
	ModeURIWithParameter
)

// ParseMode maps an apisix.router.http value to a Mode; "" is the default.
func ParseMode(s string) (Mode, error) {
	switch s {
	case "", "radixtree_host_uri":
		return ModeHostURI, nil
	case "radixtree_uri":
		return ModeURI, nil
	case "radixtree_uri_with_parameter":
		return ModeURIWithParameter, nil
	}
	return 0, fmt.Errorf("router.http: unknown router %q (want radixtree_host_uri, radixtree_uri or radixtree_uri_with_parameter)", s)
}

// String returns the APISIX name of the mode.
func (m Mode) String() string {
	switch m {
	case ModeHostURI:
		return "radixtree_host_uri"
	case ModeURI:
		return "radixtree_uri"
	case ModeURIWithParameter:
		return "radixtree_uri_with_parameter"
	}
	return fmt.Sprintf("Mode(%d)", int(m))
}
