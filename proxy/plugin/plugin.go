package plugin

import (
	"github.com/valyala/fasthttp"

	"github.com/zoneproxy/zoneproxy/router/expr"
)

// Plugin is one kind of plugin, as its package exports it. It is stateless: what a conf
// compiles to is an Instance.
type Plugin interface {
	// Name is the plugin's APISIX name ("key-auth").
	Name() string
	// Priority is APISIX's priority of the plugin; higher runs first.
	Priority() int
	// Compile validates conf (the plugin's JSON object, `_meta` removed) against the plugin's
	// schema, fills in APISIX's defaults and returns what the request path runs. The error is
	// APISIX's schema error text ("property \"header\" validation failed: ...").
	Compile(conf []byte, env *Env) (Instance, error)
}

// Auth is implemented by the authentication plugins (APISIX's type = 'auth'): their consumer
// side is compiled into the Consumers index, and they run before any plugin a consumer brings.
type Auth interface {
	Plugin
	// CompileConsumer validates a consumer's or a credential's conf (APISIX's consumer_schema)
	// and returns the value the plugin looks the consumer up by (key-auth's key, basic-auth's
	// username, jwt-auth's key) and the compiled conf the Credential carries.
	CompileConsumer(conf []byte) (key string, compiled any, err error)
	// EncryptFields are the consumer-conf fields APISIX stores encrypted with the keyring
	// (schema.encrypt_fields); the builder decrypts them before CompileConsumer.
	EncryptFields() []string
}

// Instance is a compiled conf. It implements one or more of Rewriter, Accessor, HeaderFilterer
// and Logger; it is immutable and shared by every request.
type Instance any

// Rewriter runs in APISIX's rewrite phase (authentication, request rewriting).
type Rewriter interface {
	Rewrite(r *Request) Reply
}

// Accessor runs in the access phase (restrictions, rate limits).
type Accessor interface {
	Access(r *Request) Reply
}

// HeaderFilterer runs on the response head, before it is sent (response rewriting, CORS).
type HeaderFilterer interface {
	HeaderFilter(r *Request)
}

// Logger runs once the response is sent (metrics, loggers, releasing a limit-conn slot).
type Logger interface {
	Log(r *Request)
}

// Reply is a plugin's answer in the rewrite or access phase: the zero Reply lets the request go
// on; a Status ends it with that status and Body (nil: nginx's error page for the status). It is
// APISIX's `return code, body`. Headers of the answer (WWW-Authenticate) the plugin sets on
// r.Ctx.Response itself.
type Reply struct {
	Status int
	Body   []byte
}

// Env is what Compile may use besides the conf: the object the conf belongs to, and state that
// outlives a snapshot (a limit-count counter that must survive an update leaving its conf as it
// was).
type Env struct {
	// Key is the etcd key of the object the conf belongs to ("/apisix/routes/1").
	Key string
	// Store keeps state across builds; nil in tests that need none.
	Store *Store
}

// Vars evaluates `vars` expressions against a request (router.Table implements it).
type Vars interface {
	Eval(ctx *fasthttp.RequestCtx, e *expr.Expr) bool
}
