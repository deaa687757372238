package adminapi

// resource is one kind of object the Admin API serves: its etcd directory under the prefix and
// the methods APISIX allows on it (apisix/admin/*.lua, unsupported_methods).
type resource struct {
	dir  string // etcd directory and URL segment: "routes"
	kind string // the name APISIX's messages use: "route"
	post bool   // POST generates the id
	// patch allows PATCH.
	patch bool
	// timestamps: create_time and update_time are injected (and refused in a PUT/POST body).
	timestamps bool
	// validate: the object is checked with Options.Validate (secrets are not decoded by the
	// data plane: there is nothing to check them against).
	validate bool
}

var resources = map[string]*resource{
	"routes":          {dir: "routes", kind: "route", post: true, patch: true, timestamps: true, validate: true},
	"services":        {dir: "services", kind: "service", post: true, patch: true, timestamps: true, validate: true},
	"upstreams":       {dir: "upstreams", kind: "upstream", post: true, patch: true, timestamps: true, validate: true},
	"consumers":       {dir: "consumers", kind: "consumer", timestamps: true, validate: true},
	"credentials":     {dir: "consumers", kind: "credential", timestamps: true, validate: true},
	"ssls":            {dir: "ssls", kind: "ssl", post: true, patch: true, timestamps: true, validate: true},
	"global_rules":    {dir: "global_rules", kind: "global rule", patch: true, timestamps: true, validate: true},
	"plugin_configs":  {dir: "plugin_configs", kind: "plugin config", patch: true, timestamps: true, validate: true},
	"consumer_groups": {dir: "consumer_groups", kind: "consumer group", patch: true, timestamps: true, validate: true},
	"plugin_metadata": {dir: "plugin_metadata", kind: "plugin_metadata", validate: true},
	"protos":          {dir: "protos", kind: "proto", post: true, timestamps: true, validate: true},
	"stream_routes":   {dir: "stream_routes", kind: "stream route", post: true, timestamps: true, validate: true},
	"secrets":         {dir: "secrets", kind: "secret", patch: true},
}

// secretManagers are the managers a secret's id may start with (apisix/admin/secrets.lua).
var secretManagers = map[string]bool{"vault": true, "aws": true, "gcp": true}
