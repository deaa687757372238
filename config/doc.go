// Package config reads and validates zoneproxy's config.yaml.
//
// The file has Apache APISIX's config.yaml shape, so an existing APISIX 3.x
// config.yaml loads unchanged: zoneproxy reads the keys it needs
// (apisix.node_listen, apisix.status, apisix.ssl.ssl_trusted_certificate,
// apisix.router.http, deployment.*, plugin_attr.prometheus, plugins, ...),
// ignores the APISIX keys it has no use for (nginx_config, stream_plugins,
// apisix.proxy_cache, ...) and reads its own settings from a zoneproxy:
// section that APISIX does not have.
//
// As in APISIX, ${{VAR}} and ${{VAR:=default}} are substituted in the string
// values and keys of the parsed document, and the environment variable
// APISIX_DEPLOYMENT_ETCD_HOST (a JSON array of URLs) replaces
// deployment.etcd.host. Defaults are APISIX's (and ours for the zoneproxy:
// section). Wrong types and impossible values are errors of type *Error that
// name the key path and, when known, the line; unknown keys and ignored
// settings that change behaviour are returned as warnings, never logged.
//
// Concurrency: Load and Parse are safe for concurrent use; they share no
// state. A *Config is a plain value: it is not modified after Parse returns it
// and may be read from many goroutines, but callers that modify one must
// synchronise themselves.
package config
