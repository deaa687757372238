// Package builtin lists the plugins zoneproxy implements: a new plugin is its package and one
// line here.
package builtin

import (
	"github.com/zoneproxy/zoneproxy/proxy/plugin"
	"github.com/zoneproxy/zoneproxy/proxy/plugin/basicauth"
	"github.com/zoneproxy/zoneproxy/proxy/plugin/consumerrestriction"
	"github.com/zoneproxy/zoneproxy/proxy/plugin/cors"
	"github.com/zoneproxy/zoneproxy/proxy/plugin/echo"
	"github.com/zoneproxy/zoneproxy/proxy/plugin/faultinjection"
	"github.com/zoneproxy/zoneproxy/proxy/plugin/gzip"
	"github.com/zoneproxy/zoneproxy/proxy/plugin/iprestriction"
	"github.com/zoneproxy/zoneproxy/proxy/plugin/jwtauth"
	"github.com/zoneproxy/zoneproxy/proxy/plugin/keyauth"
	"github.com/zoneproxy/zoneproxy/proxy/plugin/limitconn"
	"github.com/zoneproxy/zoneproxy/proxy/plugin/limitcount"
	"github.com/zoneproxy/zoneproxy/proxy/plugin/limitreq"
	"github.com/zoneproxy/zoneproxy/proxy/plugin/prometheus"
	"github.com/zoneproxy/zoneproxy/proxy/plugin/proxyrewrite"
	"github.com/zoneproxy/zoneproxy/proxy/plugin/realip"
	"github.com/zoneproxy/zoneproxy/proxy/plugin/redirect"
	"github.com/zoneproxy/zoneproxy/proxy/plugin/requestid"
	"github.com/zoneproxy/zoneproxy/proxy/plugin/responserewrite"
	"github.com/zoneproxy/zoneproxy/proxy/plugin/trafficsplit"
)

// All returns the plugins zoneproxy implements.
func All() []plugin.Plugin {
	return []plugin.Plugin{
		basicauth.Plugin,
		consumerrestriction.Plugin,
		cors.Plugin,
		echo.Plugin,
		faultinjection.Plugin,
		gzip.Plugin,
		iprestriction.Plugin,
		jwtauth.Plugin,
		keyauth.Plugin,
		limitconn.Plugin,
		limitcount.Plugin,
		limitreq.Plugin,
		prometheus.Plugin,
		proxyrewrite.Plugin,
		realip.Plugin,
		redirect.Plugin,
		requestid.Plugin,
		responserewrite.Plugin,
		trafficsplit.Plugin,
	}
}

// Registry returns a registry of All.
func Registry() *plugin.Registry { return plugin.NewRegistry(All()...) }
