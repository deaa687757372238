package upstream

import (
	"net"
	"strconv"
	"strings"

	"github.com/valyala/fasthttp"
)

// ConsumerKey is the RequestCtx user value a chash upstream with hash_on "consumer" hashes on:
// the authenticating plugin stores the consumer's name there as a string. Without it the key
// falls back to remote_addr, as APISIX does.
const ConsumerKey = "zoneproxy.consumer"

// varKind names the nginx variables a chash key can read.
type varKind uint8

const (
	varUnknown varKind = iota
	varURI
	varRequestURI
	varQueryString
	varHost
	varHostname
	varServerName
	varServerAddr
	varServerPort
	varRemoteAddr
	varRemotePort
	varScheme
	varMethod
	varArg
	varHTTP
	varCookie
)

var namedVars = map[string]varKind{
	"uri": varURI, "request_uri": varRequestURI, "query_string": varQueryString, "args": varQueryString,
	"host": varHost, "hostname": varHostname, "server_name": varServerName, "server_addr": varServerAddr,
	"server_port": varServerPort, "remote_addr": varRemoteAddr, "remote_port": varRemotePort,
	"scheme": varScheme, "request_method": varMethod,
}

// varRef is one compiled variable reference.
type varRef struct {
	kind varKind
	name string // argument, header (lower case, '-' separated) or cookie name
	// alts are the header's other spellings nginx reads as the same $http_ variable: '_' for
	// '-' at some separators (nginx folds case and reads '-' as '_'; APISIX turns
	// underscores_in_headers on). Only up to maxHeaderSeps separators; beyond, the '-' spelling.
	alts []string
	// emptyUnset: fasthttp keeps this header apart and returns it empty, not nil, when absent.
	emptyUnset bool
}

// maxHeaderSeps bounds the separators of a header variable whose spellings are all tried
// (2^n - 1 alternatives).
const maxHeaderSeps = 4

// dedicatedHeaders are the request headers fasthttp stores outside its list: an absent one
// reads as empty rather than nil.
var dedicatedHeaders = map[string]bool{
	"host": true, "content-type": true, "user-agent": true, "content-length": true,
	"cookie": true, "connection": true, "trailer": true,
}

func compileVar(name string) varRef {
	if k, ok := namedVars[name]; ok {
		return varRef{kind: k}
	}
	switch {
	case strings.HasPrefix(name, "arg_"):
		return varRef{kind: varArg, name: name[len("arg_"):]}
	case strings.HasPrefix(name, "http_"):
		return headerVar(name[len("http_"):])
	case strings.HasPrefix(name, "cookie_"):
		return varRef{kind: varCookie, name: name[len("cookie_"):]}
	}
	return varRef{kind: varUnknown}
}

// headerVar maps an nginx header variable suffix to the header it reads: nginx compares
// lower-cased names with '-' read as '_'.
func headerVar(name string) varRef {
	dash := strings.ReplaceAll(strings.ToLower(name), "_", "-")
	v := varRef{kind: varHTTP, name: dash, emptyUnset: dedicatedHeaders[dash]}
	var seps []int
	for i := 0; i < len(dash); i++ {
		if dash[i] == '-' {
			seps = append(seps, i)
		}
	}
	if len(seps) > maxHeaderSeps {
		return v
	}
	for mask := 1; mask < 1<<len(seps); mask++ {
		b := []byte(dash)
		for j, p := range seps {
			if mask&(1<<j) != 0 {
				b[p] = '_'
			}
		}
		v.alts = append(v.alts, string(b))
	}
	return v
}

// peekHeader returns the header's value as nginx's $http_ variable reads it, nil when unset.
func (v *varRef) peekHeader(h *fasthttp.RequestHeader) []byte {
	val := h.Peek(v.name)
	for i := 0; val == nil && i < len(v.alts); i++ {
		val = h.Peek(v.alts[i])
	}
	if len(val) == 0 && v.emptyUnset {
		return nil
	}
	return val
}

// keyEnv is what key evaluation needs beyond the request.
type keyEnv struct {
	hostname string
}

// hash feeds the variable's value into h; ok is false when the variable is unset.
func (v *varRef) hash(ctx *fasthttp.RequestCtx, env *keyEnv, h uint64) (uint64, bool) {
	var val []byte
	switch v.kind {
	case varURI:
		val = ctx.Path()
	case varRequestURI:
		val = ctx.RequestURI()
	case varQueryString:
		val = ctx.URI().QueryString()
		if len(val) == 0 {
			return h, false
		}
	case varHost:
		host := ctx.Host()
		if i := hostPortIndex(host); i >= 0 {
			host = host[:i]
		}
		return hashLower(h, host), true
	case varHostname:
		return hashString(h, env.hostname), true
	case varServerName:
		return hashString(h, "_"), true // APISIX's server block is `server_name _`
	case varServerAddr:
		return hashIP(h, ctx.LocalAddr())
	case varServerPort:
		return hashPort(h, ctx.LocalAddr())
	case varRemoteAddr:
		return hashIP(h, ctx.RemoteAddr())
	case varRemotePort:
		return hashPort(h, ctx.RemoteAddr())
	case varScheme:
		if ctx.IsTLS() {
			return hashString(h, "https"), true
		}
		return hashString(h, "http"), true
	case varMethod:
		val = ctx.Method()
	case varArg:
		val = ctx.QueryArgs().Peek(v.name)
	case varHTTP:
		val = v.peekHeader(&ctx.Request.Header)
	case varCookie:
		val = ctx.Request.Header.Cookie(v.name)
	}
	if val == nil {
		return h, false
	}
	return hashBytes(h, val), true
}

// hostPortIndex finds the ':' before a port in a Host header value, skipping IPv6 brackets.
func hostPortIndex(host []byte) int {
	for i := len(host) - 1; i >= 0; i-- {
		switch host[i] {
		case ':':
			return i
		case ']':
			return -1
		}
	}
	return -1
}

// hashIP hashes the address's bytes (4 for IPv4, IPv4-mapped included; 16 for IPv6) rather than
// its text: the same key for the same client, without formatting on the hot path.
func hashIP(h uint64, addr net.Addr) (uint64, bool) {
	tcp, ok := addr.(*net.TCPAddr)
	if !ok || len(tcp.IP) == 0 {
		return h, false
	}
	if ip4 := tcp.IP.To4(); ip4 != nil {
		return hashBytes(h, ip4), true
	}
	return hashBytes(h, tcp.IP), true
}

func hashPort(h uint64, addr net.Addr) (uint64, bool) {
	tcp, ok := addr.(*net.TCPAddr)
	if !ok {
		return h, false
	}
	var buf [8]byte
	return hashBytes(h, strconv.AppendInt(buf[:0], int64(tcp.Port), 10)), true
}

// keySource computes a chash upstream's key from a request, as APISIX's fetch_chash_hash_key
// does: hash_on vars (one variable), header, cookie, consumer, or vars_combinations (a template
// of $var and ${var ?? default} references). A missing key falls back to remote_addr.
type keySource struct {
	consumer bool
	parts    []keyPart // a single variable part for vars, header and cookie
	env      keyEnv
}

type keyPart struct {
	lit    string
	v      varRef
	isVar  bool
	def    string
	hasDef bool
}

func compileKey(hashOn, key, hostname string) keySource {
	ks := keySource{env: keyEnv{hostname: hostname}}
	switch hashOn {
	case "consumer":
		ks.consumer = true
	case "header":
		ks.parts = []keyPart{{v: headerVar(key), isVar: true}}
	case "cookie":
		ks.parts = []keyPart{{v: varRef{kind: varCookie, name: key}, isVar: true}}
	case "vars_combinations":
		ks.parts = compileTemplate(key)
	default:
		ks.parts = []keyPart{{v: compileVar(key), isVar: true}}
	}
	return ks
}

// compileTemplate splits an APISIX vars_combinations template (core.utils.resolve_var): `$name`
// with name of [A-Za-z0-9_.], or `${ name ?? default }`; a `$` preceded by a backslash is
// literal (the backslash stays).
func compileTemplate(tpl string) []keyPart {
	var parts []keyPart
	lit := strings.Builder{}
	flush := func() {
		if lit.Len() > 0 {
			parts = append(parts, keyPart{lit: lit.String()})
			lit.Reset()
		}
	}
	for i := 0; i < len(tpl); i++ {
		c := tpl[i]
		if c != '$' || i > 0 && tpl[i-1] == '\\' || i+1 >= len(tpl) {
			lit.WriteByte(c)
			continue
		}
		if tpl[i+1] == '{' {
			end := strings.IndexByte(tpl[i+2:], '}')
			inner := ""
			if end >= 0 {
				inner = strings.TrimSpace(tpl[i+2 : i+2+end])
			}
			if inner == "" {
				lit.WriteByte(c)
				continue
			}
			flush()
			p := keyPart{isVar: true}
			name, def, hasDef := strings.Cut(inner, "??")
			p.v = compileVar(strings.TrimSpace(name))
			if hasDef {
				def, _, _ = strings.Cut(def, "??")
				p.def, p.hasDef = strings.TrimSpace(def), true
			}
			parts = append(parts, p)
			i += 2 + end
			continue
		}
		j := i + 1
		for j < len(tpl) && isWordOrDot(tpl[j]) {
			j++
		}
		if j == i+1 {
			lit.WriteByte(c)
			continue
		}
		flush()
		parts = append(parts, keyPart{isVar: true, v: compileVar(tpl[i+1 : j])})
		i = j - 1
	}
	flush()
	return parts
}

func isWordOrDot(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c == '.'
}

var remoteAddrVar = varRef{kind: varRemoteAddr}

// hash returns the key's hash for the request.
func (k *keySource) hash(ctx *fasthttp.RequestCtx) uint64 {
	if ctx == nil {
		return fmix64(fnvOffset)
	}
	h := uint64(fnvOffset)
	resolved := false
	if k.consumer {
		if name, _ := ctx.UserValue(ConsumerKey).(string); name != "" {
			h, resolved = hashString(h, name), true
		}
	}
	for i := range k.parts {
		p := &k.parts[i]
		if !p.isVar {
			h = hashString(h, p.lit)
			continue
		}
		if h2, ok := p.v.hash(ctx, &k.env, h); ok {
			h, resolved = h2, true
		} else if p.hasDef {
			h, resolved = hashString(h, p.def), true
		}
	}
	if !resolved {
		h, _ = remoteAddrVar.hash(ctx, &k.env, fnvOffset)
	}
	return fmix64(h)
}
