package expr

import (
	"fmt"
	"strings"
)

// VarKind identifies where a variable's value comes from.
type VarKind uint8

// Variable kinds. The comments give the APISIX / nginx variable names.
const (
	VarNil              VarKind = iota // always Missing (see ParseVar)
	VarEmpty                           // always the empty string (resp_body before a response exists)
	VarURI                             // uri, document_uri: the normalised path
	VarHost                            // host: lowercase host without port
	VarRemoteAddr                      // remote_addr
	VarRemotePort                      // remote_port
	VarServerAddr                      // server_addr
	VarServerPort                      // server_port
	VarRequestMethod                   // request_method, method
	VarScheme                          // scheme: "http" or "https"
	VarHTTPS                           // https: "on" or ""
	VarRequestURI                      // request_uri: uri + "?" + args, as APISIX rewrites it before routing
	VarRealRequestURI                  // real_request_uri: the request target as received
	VarArgs                            // args, query_string: the raw query string
	VarIsArgs                          // is_args: "?" when there is a query string, else ""
	VarServerProtocol                  // server_protocol: "HTTP/1.1"
	VarArg                             // arg_<Key>: first query argument named Key, decoded
	VarPostArg                         // post_arg_<Key>: first urlencoded form field named Key
	VarHTTP                            // http_<Key>: request header(s), Key lowercase with '-' as '_'
	VarCookie                          // cookie_<Key>: cookie named Key
	VarRealIPRemoteAddr                // realip_remote_addr: the peer's address, before nginx's realip module
	VarRealIPRemotePort                // realip_remote_port: the peer's port
)

// Variable kinds of HTTPS connections (nginx's ngx_http_ssl_module): missing on plain ones.
const (
	VarSSLServerName        VarKind = VarRealIPRemotePort + 1 + iota // ssl_server_name: the SNI
	VarSSLProtocol                                                   // ssl_protocol: "TLSv1.2" or "TLSv1.3"
	VarSSLClientVerify                                               // ssl_client_verify: "SUCCESS", "NONE" or "FAILED:<reason>"
	VarSSLClientSDN                                                  // ssl_client_s_dn: the client certificate's subject (RFC 2253)
	VarSSLClientIDN                                                  // ssl_client_i_dn: its issuer (RFC 2253)
	VarSSLClientSerial                                               // ssl_client_serial: its serial number, upper-case hex
	VarSSLClientFingerprint                                          // ssl_client_fingerprint: SHA-1 of its DER, lower-case hex
)

// Variable kinds of the response, which only CompileResponse resolves (a route's vars, evaluated
// before any response exists, reject them, as APISIX's router cannot see them).
const (
	VarStatus         VarKind = VarSSLClientFingerprint + 1 + iota // status: the response's status
	VarUpstreamStatus                                              // upstream_status: the upstream's status; missing on a response the proxy made
	VarSentHTTP                                                    // sent_http_<Key>: a response header, Key lowercase with '_' as '-'
	VarUpstreamHTTP                                                // upstream_http_<Key>: a header of the upstream's response, Key as for VarSentHTTP
)

// Var is a variable reference resolved at compile time.
type Var struct {
	Name string  // as written in the rule
	Kind VarKind // where the value comes from
	Key  string  // argument, header or cookie name for the prefixed kinds
}

// UnsupportedVarError reports a variable that APISIX would read but
// zoneproxy cannot provide while routing.
type UnsupportedVarError struct {
	Name string
}

func (e *UnsupportedVarError) Error() string {
	return fmt.Sprintf("variable %q is not supported by zoneproxy", e.Name)
}

// exactVar maps nginx / APISIX variable names (lowercase) to their kind.
func exactVar(name string) (VarKind, bool) {
	switch name {
	case "uri", "document_uri":
		return VarURI, true
	case "host":
		return VarHost, true
	case "remote_addr":
		return VarRemoteAddr, true
	case "remote_port":
		return VarRemotePort, true
	case "realip_remote_addr":
		return VarRealIPRemoteAddr, true
	case "realip_remote_port":
		return VarRealIPRemotePort, true
	case "server_addr":
		return VarServerAddr, true
	case "server_port":
		return VarServerPort, true
	case "request_method":
		return VarRequestMethod, true
	case "scheme":
		return VarScheme, true
	case "https":
		return VarHTTPS, true
	case "request_uri":
		return VarRequestURI, true
	case "real_request_uri":
		return VarRealRequestURI, true
	case "args", "query_string":
		return VarArgs, true
	case "is_args":
		return VarIsArgs, true
	case "server_protocol":
		return VarServerProtocol, true
	case "ssl_server_name":
		return VarSSLServerName, true
	case "ssl_protocol":
		return VarSSLProtocol, true
	case "ssl_client_verify":
		return VarSSLClientVerify, true
	case "ssl_client_s_dn":
		return VarSSLClientSDN, true
	case "ssl_client_i_dn":
		return VarSSLClientIDN, true
	case "ssl_client_serial":
		return VarSSLClientSerial, true
	case "ssl_client_fingerprint":
		return VarSSLClientFingerprint, true
	case "balancer_ip", "balancer_port", "consumer_group_id", "consumer_name",
		"route_id", "route_name", "service_id", "service_name", "upstream_unresolved_host":
		// APISIX context fields filled once a route matched: nil while
		// matching.
		return VarNil, true
	}
	return VarNil, false
}

// unsupportedVar reports nginx or APISIX variables that have a value in
// APISIX but none zoneproxy can compute at routing time. A rule naming one is
// rejected rather than silently evaluated against nil. nginx's own
// $arg_/$cookie_ spellings (reached through a differently-cased prefix)
// differ from APISIX's: they are neither decoded nor case-sensitive.
func unsupportedVar(lower string) bool {
	switch lower {
	case "cookie", "request_body", "request_body_file", "request_id", "request_length",
		"request_time", "binary_remote_addr", "proxy_protocol_addr", "proxy_protocol_port", "proxy_protocol_server_addr",
		"proxy_protocol_server_port", "server_name", "hostname", "remote_user", "http2",
		"http3", "connection", "connection_requests", "connection_time", "msec",
		"time_iso8601", "time_local", "status", "bytes_sent", "body_bytes_sent",
		"bytes_received", "request", "request_line", "request_completion",
		"request_filename", "document_root", "realpath_root", "limit_rate",
		"nginx_version", "pid", "pipe", "tcpinfo_rtt", "tcpinfo_rttvar",
		"tcpinfo_snd_cwnd", "tcpinfo_rcv_space", "date_gmt", "date_local",
		"invalid_referer", "ancient_browser", "modern_browser", "msie", "gzip_ratio",
		"apisix_request_id", "proxy_add_x_forwarded_for", "proxy_host", "proxy_port":
		return true
	}
	for _, p := range [...]string{
		"graphql_", "post_arg.", "sent_http_", "sent_trailer_", "upstream_", "ssl_",
		"arg_", "cookie_", "jwt_", "geoip_", "limit_", "secure_link",
	} {
		if strings.HasPrefix(lower, p) {
			return true
		}
	}
	return false
}

// ParseVar resolves a variable name the way APISIX's ctx.var does: the
// APISIX prefixes (cookie_, arg_, post_arg_, uri_param_, http_) are matched
// case-sensitively, then the name is looked up (lowercased, as ngx.var
// does) among nginx variables. A name nginx does not know is nil in APISIX,
// and VarNil here; a known variable zoneproxy cannot provide is an
// *UnsupportedVarError.
func ParseVar(name string) (Var, error) {
	v := Var{Name: name}
	switch {
	case strings.HasPrefix(name, "cookie_"):
		v.Kind, v.Key = VarCookie, name[len("cookie_"):]
		return v, nil
	case strings.HasPrefix(name, "arg_"):
		v.Kind, v.Key = VarArg, name[len("arg_"):]
		return v, nil
	case strings.HasPrefix(name, "post_arg_"):
		v.Kind, v.Key = VarPostArg, name[len("post_arg_"):]
		return v, nil
	case strings.HasPrefix(name, "uri_param_"):
		// Filled from the matched route's parameters: nil while matching.
		v.Kind = VarNil
		return v, nil
	case strings.HasPrefix(name, "graphql_"), strings.HasPrefix(name, "post_arg."):
		return v, &UnsupportedVarError{Name: name}
	}
	if name == "method" {
		v.Kind = VarRequestMethod
		return v, nil
	}
	if name == "resp_body" {
		v.Kind = VarEmpty
		return v, nil
	}
	if k, ok := exactVar(name); ok {
		v.Kind = k
		return v, nil
	}
	lower := strings.ToLower(name)
	if strings.HasPrefix(lower, "http_") {
		v.Kind, v.Key = VarHTTP, headerKey(lower[len("http_"):])
		return v, nil
	}
	switch lower {
	case "content_type", "content_length":
		v.Kind, v.Key = VarHTTP, lower
		return v, nil
	}
	if unsupportedVar(lower) {
		return v, &UnsupportedVarError{Name: name}
	}
	if k, ok := exactVar(lower); ok && k != VarNil {
		v.Kind = k
		return v, nil
	}
	v.Kind = VarNil
	return v, nil
}

// ParseResponseVar resolves a variable of an expression evaluated on a response (APISIX's
// header filter phase, response-rewrite's vars): status, upstream_status, sent_http_<name> and
// upstream_http_<name> (nginx lowercases the name and reads '_' as '-'), then every variable
// ParseVar knows.
func ParseResponseVar(name string) (Var, error) {
	v := Var{Name: name}
	lower := strings.ToLower(name)
	switch {
	case lower == "status":
		v.Kind = VarStatus
	case lower == "upstream_status":
		v.Kind = VarUpstreamStatus
	case strings.HasPrefix(lower, "sent_http_") && len(lower) > len("sent_http_"):
		v.Kind, v.Key = VarSentHTTP, responseHeaderKey(lower[len("sent_http_"):])
	case strings.HasPrefix(lower, "upstream_http_") && len(lower) > len("upstream_http_"):
		v.Kind, v.Key = VarUpstreamHTTP, responseHeaderKey(lower[len("upstream_http_"):])
	default:
		return ParseVar(name)
	}
	return v, nil
}

// responseHeaderKey is the header name of a sent_http_/upstream_http_ suffix: lowercase, '_' as '-'.
func responseHeaderKey(s string) string {
	return strings.ReplaceAll(s, "_", "-")
}

// headerKey turns a header variable suffix into nginx's comparison form:
// lowercase, '-' as '_'.
func headerKey(s string) string {
	return strings.ReplaceAll(strings.ToLower(s), "-", "_")
}
