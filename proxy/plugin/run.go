package plugin

import (
	"bytes"
	"net"
	"net/netip"
	"unsafe"

	"github.com/valyala/fasthttp"

	"github.com/zoneproxy/zoneproxy/upstream"
)

// Request is the per-request state of the plugin pipeline. The proxy pools it; Reset makes it
// ready for the next request. Nothing in it outlives the request.
type Request struct {
	Ctx *fasthttp.RequestCtx
	// RouteID and ServiceID name the matched route and its service ("" on the 404 path).
	RouteID, ServiceID string
	// Consumers is the snapshot's consumer index; Vars evaluates `_meta.filter`.
	Consumers *Consumers
	Vars      Vars
	// Metadata is the snapshot's plugin_metadata: a plugin reads its own with
	// r.Metadata.Get(Name) (nil: none, APISIX's defaults apply).
	Metadata *Metadata
	// Targets are the route's upstreams an UpstreamPicker may pick (nil: none); picked is the
	// pool it picked (PickUpstream).
	Targets *Targets
	picked  *upstream.Pool
	// Consumer is the consumer an authentication plugin attached (Attach), CredentialID the
	// credential it matched.
	Consumer     *Consumer
	CredentialID string
	// Counted is set by the prometheus plugin's log phase: the request goes into the
	// apisix_http_* metrics, which APISIX keeps only for requests whose route, service,
	// consumer or global rule has the plugin.
	Counted bool

	global *Chain
	active []*Entry // the route's chain, the consumer's plugins merged in: what access, header filter and log run
	merged []*Entry // backs active when a consumer brought plugins

	headerDone bool // HeaderFilter ran
	// upstreamStatus is the upstream's status when it answered (UpstreamHead), else 0; resp is
	// EvalResponse's variable source.
	upstreamStatus int
	resp           responseVars

	// bodies are the body filters of the response, until FilterBody or FilterBufferedBody
	// takes them.
	bodies []BodyFilter

	// Scratch is a buffer a plugin may use within one of its phase calls (decoding a
	// credential); it is kept across requests so that using it allocates nothing once warm.
	Scratch []byte

	// respHeaders are the response headers plugins set before the upstream answered
	// (SetResponseHeader, DeferResponseHeader), applied to the answer by Run when a plugin
	// answers and by Finish. The slots beyond len keep their buffers for the next requests, so
	// that setting a header allocates nothing once warm; nameBuf is SetResponseHeader's.
	respHeaders []respHeader
	nameBuf     []byte

	// afterBody, set by the proxy, defers a release until a streamed response body is sent
	// (AfterBody).
	afterBody func(*fasthttp.Response, interface{ Release() }) bool

	// client backs the address SetClientAddr gives the request (clientSet).
	client    net.TCPAddr
	clientIP  [16]byte
	clientSet bool
}

// AfterBody releases x once the response body has been sent: at once when the body is in
// memory, when a streamed body ends (or is abandoned) otherwise. A plugin's Log calls it for
// what must be held while the body streams (limit-conn's slot).
func (r *Request) AfterBody(x interface{ Release() }) {
	if r.afterBody == nil || !r.afterBody(&r.Ctx.Response, x) {
		x.Release()
	}
}

// SetAfterBody makes f what AfterBody asks first whether it defers a release (the proxy's
// transport.AfterBody).
func (r *Request) SetAfterBody(f func(*fasthttp.Response, interface{ Release() }) bool) {
	r.afterBody = f
}

// SetClientAddr makes a the request's client address ($remote_addr, $remote_port), as the
// real-ip plugin does: every later plugin, the X-Forwarded-For and X-Real-IP the upstream gets
// and the access log read it from r.Ctx.RemoteAddr. Routing is done by then and does not see
// it. The address stays set until Reset, which gives the request its previous address back; it
// allocates nothing.
func (r *Request) SetClientAddr(a netip.AddrPort) {
	ip := a.Addr().Unmap()
	if ip.Is4() {
		b := ip.As4()
		copy(r.clientIP[:], b[:])
		r.client.IP = r.clientIP[:4]
	} else {
		r.clientIP = ip.As16()
		r.client.IP = r.clientIP[:]
	}
	r.client.Port = int(a.Port())
	r.Ctx.SetRemoteAddr(&r.client)
	r.clientSet = true
}

// Reset clears r for the next request.
func (r *Request) Reset() {
	if r.clientSet {
		// The proxy's own real-IP address, if any, is put back after this (and cleared).
		r.Ctx.SetRemoteAddr(nil)
		r.clientSet = false
	}
	r.Ctx, r.RouteID, r.ServiceID, r.Consumers, r.Vars, r.Metadata = nil, "", "", nil, nil, nil
	r.Consumer, r.CredentialID, r.Counted, r.global, r.active, r.headerDone = nil, "", false, nil, nil, false
	r.Targets, r.picked, r.afterBody, r.upstreamStatus = nil, nil, nil, 0
	clear(r.merged)
	r.merged = r.merged[:0]
	if len(r.bodies) > 0 {
		clear(r.bodies)
		r.bodies = r.bodies[:0]
	}
	if len(r.respHeaders) > 0 {
		for i := range r.respHeaders {
			r.respHeaders[i].name = nil // a conf's, maybe: not kept alive by the pool
		}
		r.respHeaders = r.respHeaders[:0]
	}
}

// respHeader is a response header a plugin set: name in fasthttp's canonical form, the
// plugin's (DeferResponseHeader) or own (SetResponseHeader normalised it into own); the
// value copied into its own buffer.
type respHeader struct{ name, own, value []byte }

// respHeader is the slot of the header named name (canonical), a new one when there is none
// (found false, its name not set).
func (r *Request) respHeader(name []byte) (e *respHeader, found bool) {
	for i := range r.respHeaders {
		if bytes.Equal(r.respHeaders[i].name, name) {
			return &r.respHeaders[i], true
		}
	}
	if n := len(r.respHeaders); n < cap(r.respHeaders) {
		r.respHeaders = r.respHeaders[:n+1]
	} else {
		r.respHeaders = append(r.respHeaders, respHeader{})
	}
	return &r.respHeaders[len(r.respHeaders)-1], false
}

// setRespHeaders sets the headers plugins set (respHeaders) on r.Ctx.Response.
func (r *Request) setRespHeaders() {
	h := &r.Ctx.Response.Header
	for i := range r.respHeaders {
		h.SetCanonical(r.respHeaders[i].name, r.respHeaders[i].value)
	}
}

// SetResponseHeader sets a header of the response, as APISIX's core.response.set_header does in
// the rewrite or access phase: on the plugin's own answer, or on the upstream's (or the error
// page) when the request goes on, where Finish sets it again (limit-count's X-RateLimit-*).
func (r *Request) SetResponseHeader(name string, value []byte) {
	r.nameBuf = fasthttp.AppendNormalizedHeaderKey(r.nameBuf[:0], name)
	r.Ctx.Response.Header.SetCanonical(r.nameBuf, value)
	e, found := r.respHeader(r.nameBuf)
	if !found {
		e.own = append(e.own[:0], r.nameBuf...)
		e.name = e.own
	}
	e.value = append(e.value[:0], value...)
}

// DeferResponseHeader sets a header of the response the client gets, as SetResponseHeader
// does, but only once that response is there: on a plugin's answer as Run returns it, and on
// whichever answer is sent by Finish. r.Ctx.Response does not have it before. A request that
// goes on gets the upstream's head, which replaces what r.Ctx.Response had, so a header set at
// once would be set twice (limit-count's X-RateLimit-*, on every request). name is as fasthttp
// normalises it (fasthttp.AppendNormalizedHeaderKey, made once when the conf is compiled): it
// is not normalised again, and r keeps it, not a copy, until Reset: it must not change.
func (r *Request) DeferResponseHeader(name, value []byte) {
	e, found := r.respHeader(name)
	if !found {
		e.name = name
	}
	e.value = append(e.value[:0], value...)
}

// Finish ends the request for the plugins, once the proxy has the response it sends: the
// headers plugins set before the upstream answered (SetResponseHeader) are set on it, and the
// log phase runs (Log). Call it for every request Run ran for, whatever the outcome (a plugin's
// answer, the upstream's, an error page, a client gone), so that what a plugin holds for the
// request (a limit-conn slot) is released. It costs a few comparisons when no plugin needs it.
func (r *Request) Finish() {
	if len(r.respHeaders) > 0 {
		r.setRespHeaders()
	}
	if r.global.HasLog() || r.hasLog() {
		r.Log()
	}
}

// hasLog reports whether a plugin the request runs (the route's, its consumer's) has a log phase.
func (r *Request) hasLog() bool {
	for _, e := range r.active {
		if e.log != nil {
			return true
		}
	}
	return false
}

// Attach makes c the request's consumer, as APISIX's consumer.attach_consumer does: the
// X-Consumer-Username, X-Credential-Identifier and X-Consumer-Custom-ID request headers are set
// for the upstream (an absent value removes what the client sent), and a chash upstream hashing
// on the consumer finds its name.
func (r *Request) Attach(c *Consumer, credentialID string) {
	r.Consumer, r.CredentialID = c, credentialID
	h := &r.Ctx.Request.Header
	// The names are canonical: set and deleted without fasthttp normalising them again (a
	// copy and two passes over the name, about 200 instructions each).
	wasOff := h.DisableNormalizing()
	setOrDel(h, keyConsumerUsername, c.Username)
	setOrDel(h, keyCredentialIdentifier, credentialID)
	setOrDel(h, keyConsumerCustomID, c.CustomID)
	if !wasOff {
		h.EnableNormalizing()
	}
	r.Ctx.SetUserValue(upstream.ConsumerKey, c.name)
}

// The request headers Attach sets.
const (
	HeaderConsumerUsername     = "X-Consumer-Username"
	HeaderCredentialIdentifier = "X-Credential-Identifier"
	HeaderConsumerCustomID     = "X-Consumer-Custom-ID"
)

// Their names as fasthttp normalises them. Never written to.
var (
	keyConsumerUsername     = fasthttp.AppendNormalizedHeaderKey(nil, HeaderConsumerUsername)
	keyCredentialIdentifier = fasthttp.AppendNormalizedHeaderKey(nil, HeaderCredentialIdentifier)
	keyConsumerCustomID     = fasthttp.AppendNormalizedHeaderKey(nil, HeaderConsumerCustomID)
)

// setOrDel makes v the only value of the field named key (canonical), as ngx.req.set_header
// does: every field of that name the client sent goes (SetCanonical alone would replace only
// the first, and a second one would reach the upstream beside the proxy's). An empty v leaves
// none.
func setOrDel(h *fasthttp.RequestHeader, key []byte, v string) {
	if h.PeekCanonical(key) != nil { // a lookup costs a fraction of a delete
		h.DelBytes(key)
	}
	if v != "" {
		h.SetCanonical(key, unsafe.Slice(unsafe.StringData(v), len(v))) // copied, never written to
	}
}

// Run runs the rewrite and then the access phase of the global rules and the route's chain, as
// APISIX's http_access_phase does: global rewrite, route rewrite, the attached consumer's plugins
// merged in (their rewrite run), global access, route access. It stops at the first plugin that
// answers and returns its Reply (with `_meta.error_response` applied); the zero Reply lets the
// request go on. route is nil on the 404 path. The answer has the response headers the
// plugins set (DeferResponseHeader).
func (r *Request) Run(global, route *Chain) Reply {
	rep := r.run(global, route)
	if rep.Status != 0 && len(r.respHeaders) > 0 {
		r.setRespHeaders()
	}
	return rep
}

func (r *Request) run(global, route *Chain) Reply {
	r.global = global
	var routeEntries []*Entry
	if route != nil {
		routeEntries = route.entries
	}
	// A plugin that answers in the rewrite phase still gets the route's header filter (cors on
	// its own preflight answer), as APISIX's api_ctx.plugins is set before the rewrite runs.
	r.active = routeEntries
	if global != nil && global.phases.rewrite {
		if rep := r.rewrite(global.entries); rep.Status != 0 {
			return rep
		}
	}
	// Set before the route's rewrite: a request one of its plugins answers still runs their
	// header filter and log phases, as in APISIX.
	r.active = routeEntries
	if route != nil && route.phases.rewrite {
		if rep := r.rewrite(routeEntries); rep.Status != 0 {
			return rep
		}
	}
	if c := r.Consumer; c != nil {
		if c.GroupMissing {
			return Reply{Status: fasthttp.StatusServiceUnavailable}
		}
		if c.Plugins != nil {
			if rep := r.rewrite(c.Plugins.entries); rep.Status != 0 {
				return rep
			}
			r.active = r.merge(routeEntries, c.Plugins.entries)
		}
	}
	if global != nil && global.phases.access {
		if rep := r.access(global.entries); rep.Status != 0 {
			return rep
		}
	}
	return r.access(r.active)
}

// HeaderFilter runs the header filter phase (global rules first) on the response about to be
// sent, once: a second call does nothing. Call it only when Run ran for the request. The body
// filters the plugins return (BodyFilterer) wait in r for FilterBody or FilterBufferedBody;
// encoders come last.
func (r *Request) HeaderFilter() {
	if r.headerDone {
		return
	}
	r.headerDone = true
	encoders := false
	for _, es := range [2][]*Entry{r.globalEntries(), r.active} {
		for _, e := range es {
			if e.header != nil && r.pass(e) {
				e.header.HeaderFilter(r)
			}
			if e.body != nil {
				if e.encoder {
					encoders = true
				} else if r.pass(e) {
					r.filterBody(e)
				}
			}
		}
	}
	if !encoders {
		return
	}
	for _, es := range [2][]*Entry{r.globalEntries(), r.active} {
		for _, e := range es {
			if e.encoder && r.pass(e) {
				r.filterBody(e)
			}
		}
	}
}

// NeedsHeaderFilter reports whether a plugin of the request's global rules or chain (with the
// consumer's plugins merged in) has a header filter phase. Call it after Run.
func (r *Request) NeedsHeaderFilter() bool {
	if r.global.HasHeaderFilter() {
		return true
	}
	for _, e := range r.active {
		if e.header != nil || e.body != nil {
			return true
		}
	}
	return false
}

// Log runs the log phase (global rules first) once the response is sent.
func (r *Request) Log() {
	for _, es := range [2][]*Entry{r.globalEntries(), r.active} {
		for _, e := range es {
			if e.log != nil && r.pass(e) {
				e.log.Log(r)
			}
		}
	}
}

func (r *Request) globalEntries() []*Entry {
	if r.global == nil {
		return nil
	}
	return r.global.entries
}

func (r *Request) pass(e *Entry) bool {
	return e.filter == nil || r.Vars == nil || r.Vars.Eval(r.Ctx, e.filter)
}

func (r *Request) rewrite(es []*Entry) Reply {
	for _, e := range es {
		if e.rewrite == nil || !r.pass(e) {
			continue
		}
		if rep := e.rewrite.Rewrite(r); rep.Status != 0 {
			return e.reply(rep)
		}
	}
	return Reply{}
}

func (r *Request) access(es []*Entry) Reply {
	for _, e := range es {
		if e.access == nil || !r.pass(e) {
			continue
		}
		if rep := e.access.Access(r); rep.Status != 0 {
			return e.reply(rep)
		}
	}
	return Reply{}
}

func (e *Entry) reply(rep Reply) Reply {
	if rep.Status >= 400 && e.errorResponse != nil {
		rep.Body = e.errorResponse
	}
	return rep
}

// merge returns route's entries with the consumer's over them (a consumer's conf of a plugin
// wins), in run order, in r's Scratch slice.
func (r *Request) merge(route, consumer []*Entry) []*Entry {
	out := r.merged[:0]
	i, j := 0, 0
	for i < len(route) || j < len(consumer) {
		if i < len(route) && overridden(route[i], consumer) {
			i++
			continue
		}
		if j >= len(consumer) || (i < len(route) && order(route[i], consumer[j]) <= 0) {
			out = append(out, route[i])
			i++
		} else {
			out = append(out, consumer[j])
			j++
		}
	}
	r.merged = out
	return out
}

func overridden(e *Entry, by []*Entry) bool {
	for _, x := range by {
		if x.name == e.name {
			return true
		}
	}
	return false
}

// DelQueryArg removes every query argument named name from the request the upstream gets (the
// other arguments are encoded again, as APISIX's core.request.set_uri_args does).
func (r *Request) DelQueryArg(name string) {
	args := r.Ctx.QueryArgs()
	args.Del(name)
	h := &r.Ctx.Request.Header
	uri := h.RequestURI()
	path := uri
	if i := bytes.IndexByte(uri, '?'); i >= 0 {
		path = uri[:i]
	}
	r.Scratch = append(r.Scratch[:0], path...)
	if args.Len() > 0 {
		r.Scratch = append(r.Scratch, '?')
		r.Scratch = args.AppendBytes(r.Scratch)
	}
	h.SetRequestURIBytes(r.Scratch)
}
