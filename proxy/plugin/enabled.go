package plugin

import (
	"encoding/json"
	"fmt"
)

// DefaultEnabled is APISIX's default `plugins:` list, in use when config.yaml has none
// (apache/apisix apisix/cli/config.lua, 3.x HEAD).
var DefaultEnabled = []string{
	"real-ip", "ai", "client-control", "proxy-control", "request-id", "zipkin", "ext-plugin-pre-req",
	"fault-injection", "mocking", "serverless-pre-function", "cors", "ip-restriction", "ua-restriction",
	"referer-restriction", "csrf", "uri-blocker", "request-validation", "chaitin-waf", "multi-auth",
	"openid-connect", "cas-auth", "authz-casbin", "authz-casdoor", "wolf-rbac", "ldap-auth", "hmac-auth",
	"basic-auth", "jwt-auth", "jwe-decrypt", "key-auth", "consumer-restriction", "attach-consumer-label",
	"forward-auth", "opa", "authz-keycloak", "proxy-cache", "body-transformer", "ai-prompt-template",
	"ai-prompt-decorator", "ai-prompt-guard", "ai-rag", "ai-rate-limiting", "ai-proxy-multi", "ai-proxy",
	"ai-aws-content-moderation", "ai-aliyun-content-moderation", "proxy-mirror", "proxy-rewrite",
	"workflow", "api-breaker", "limit-conn", "limit-count", "limit-req", "gzip", "traffic-split",
	"redirect", "response-rewrite", "mcp-bridge", "degraphql", "kafka-proxy", "grpc-transcode",
	"grpc-web", "http-dubbo", "public-api", "prometheus", "datadog", "etcd-logger", "lago",
	"loki-logger", "elasticsearch-logger", "echo", "loggly", "http-logger", "splunk-hec-logging",
	"skywalking-logger", "google-cloud-logging", "sls-logger", "tcp-logger", "kafka-logger",
	"rocketmq-logger", "syslog", "udp-logger", "file-logger", "clickhouse-logger", "tencent-cloud-cls",
	"inspect", "example-plugin", "aws-lambda", "azure-functions", "openwhisk", "openfunction",
	"serverless-post-function", "ext-plugin-post-req", "ext-plugin-post-resp", "ai-request-rewrite",
}

// EnabledSet returns the set of names (nil list: DefaultEnabled).
func EnabledSet(names []string) map[string]bool {
	if names == nil {
		names = DefaultEnabled
	}
	m := make(map[string]bool, len(names))
	for _, n := range names {
		m[n] = true
	}
	return m
}

// ParseEnabledKey parses the control plane's /apisix/plugins value, [{"name": ..., "stream":
// bool}, ...] as APISIX's Admin API writes it (apisix/admin/plugins.lua), into the HTTP plugins
// it enables.
func ParseEnabledKey(value []byte) ([]string, error) {
	var items []struct {
		Name   string `json:"name"`
		Stream bool   `json:"stream"`
	}
	if err := json.Unmarshal(value, &items); err != nil {
		return nil, fmt.Errorf("/plugins: want a JSON array of {name, stream}: %v", err)
	}
	names := make([]string, 0, len(items))
	for _, it := range items {
		if it.Name != "" && !it.Stream {
			names = append(names, it.Name)
		}
	}
	return names, nil
}
