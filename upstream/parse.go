package upstream

import (
	"encoding/json"
	"fmt"
	"regexp"
	"slices"
	"strconv"
	"strings"
)

// topLevelFields is the upstream schema's property list; APISIX sets additionalProperties=false
// on the upstream object (and checks it on the data plane too), so anything else is rejected.
// Nested objects have no such rule and their unknown fields are ignored.
var topLevelFields = map[string]bool{
	"id": true, "name": true, "desc": true, "labels": true, "create_time": true, "update_time": true,
	"nodes": true, "retries": true, "retry_timeout": true, "timeout": true, "tls": true,
	"keepalive_pool": true, "type": true, "checks": true, "hash_on": true, "key": true,
	"scheme": true, "discovery_type": true, "discovery_args": true, "pass_host": true,
	"upstream_host": true, "service_name": true,
}

var (
	idPattern         = regexp.MustCompile(`^[a-zA-Z0-9-_.]+$`)
	hostPattern       = regexp.MustCompile(`^\*$|^\*?[0-9a-zA-Z-._\[\]:]+$`)
	labelValuePattern = regexp.MustCompile(`^\S+$`)
	// upstream_hash_vars_schema; note APISIX's own `A-z` range, kept as is.
	hashVarsPattern   = regexp.MustCompile(`^((uri|server_name|server_addr|request_uri|remote_port|remote_addr|query_string|host|hostname|mqtt_client_id)|arg_[0-9a-zA-z_-]+)$`)
	hashHeaderPattern = regexp.MustCompile(`^[a-zA-Z0-9-_]+$`)
)

// Parse decodes one APISIX upstream object (the value of /apisix/upstreams/<id>, or a route's or
// service's inline "upstream") and applies the schema defaults. Errors are *FieldError values
// naming the offending field and unwrapping to ErrInvalid or ErrUnsupported.
func Parse(data []byte) (*Spec, error) {
	obj, err := asObject(data, "upstream")
	if err != nil {
		return nil, err
	}
	for _, name := range sortedKeys(obj) {
		if !topLevelFields[name] {
			if name == "" {
				name = `""`
			}
			return nil, invalid(name, "unknown field (additionalProperties is false)")
		}
	}
	s := &Spec{
		Type:          RoundRobin,
		Scheme:        "http",
		PassHost:      "pass",
		HashOn:        "vars",
		KeepalivePool: KeepalivePool{Size: 320, IdleTimeout: 60, Requests: 1000},
	}
	steps := []func(map[string]json.RawMessage, *Spec) error{
		parseMeta, parseKind, parseNodesField, parseRetry, parseKeepalive, parseTLS, parseChecksField, parseHash,
	}
	for _, step := range steps {
		if err := step(obj, s); err != nil {
			return nil, err
		}
	}
	return s, nil
}

func sortedKeys(m map[string]json.RawMessage) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

func parseMeta(obj map[string]json.RawMessage, s *Spec) error {
	if raw, ok := obj["id"]; ok {
		id, err := parseID(raw, "id")
		if err != nil {
			return err
		}
		s.ID = id
	}
	if raw, ok := obj["name"]; ok {
		name, err := asString(raw, "name")
		if err != nil {
			return err
		}
		if len(name) < 1 || len(name) > 256 {
			return invalid("name", "length must be 1..256")
		}
		s.Name = name
	}
	if raw, ok := obj["desc"]; ok {
		desc, err := asString(raw, "desc")
		if err != nil {
			return err
		}
		if len(desc) > 256 {
			return invalid("desc", "length must be <= 256")
		}
		s.Desc = desc
	}
	if raw, ok := obj["labels"]; ok {
		labels, err := parseLabels(raw)
		if err != nil {
			return err
		}
		s.Labels = labels
	}
	for _, f := range []struct {
		name string
		dst  *int64
	}{{"create_time", &s.CreateTime}, {"update_time", &s.UpdateTime}} {
		if raw, ok := obj[f.name]; ok {
			n, err := asInt(raw, f.name)
			if err != nil {
				return err
			}
			*f.dst = n
		}
	}
	return nil
}

// parseID accepts APISIX's id_schema: a 1..64 character [a-zA-Z0-9-_.] string or an integer >= 1.
func parseID(raw json.RawMessage, field string) (string, error) {
	if jsonKind(raw) == '"' {
		id, err := asString(raw, field)
		if err != nil {
			return "", err
		}
		if len(id) < 1 || len(id) > 64 || !idPattern.MatchString(id) {
			return "", invalid(field, "must be 1..64 characters of [a-zA-Z0-9-_.] or an integer >= 1")
		}
		return id, nil
	}
	n, err := asInt(raw, field)
	if err != nil {
		return "", invalid(field, "must be a string or an integer")
	}
	if n < 1 {
		return "", invalid(field, "must be >= 1")
	}
	return strconv.FormatInt(n, 10), nil
}

func parseLabels(raw json.RawMessage) (map[string]string, error) {
	obj, err := asObject(raw, "labels")
	if err != nil {
		return nil, err
	}
	labels := make(map[string]string, len(obj))
	for _, k := range sortedKeys(obj) {
		field := "labels." + k
		v, err := asString(obj[k], field)
		if err != nil {
			return nil, err
		}
		if len(v) < 1 || len(v) > 256 || !labelValuePattern.MatchString(v) {
			return nil, invalid(field, "must be 1..256 characters without whitespace")
		}
		labels[k] = v
	}
	if len(labels) == 0 {
		return nil, nil // as no labels at all: the same object gives the same Spec
	}
	return labels, nil
}

// parseKind reads type, scheme, pass_host, upstream_host and the discovery fields.
func parseKind(obj map[string]json.RawMessage, s *Spec) error {
	if raw, ok := obj["type"]; ok {
		t, err := asString(raw, "type")
		if err != nil {
			return err
		}
		switch t {
		case RoundRobin, CHash, EWMA, LeastConn:
			s.Type = t
		default:
			return invalid("type", fmt.Sprintf("unknown balancer %q (want roundrobin, chash, ewma or least_conn)", t))
		}
	}
	if raw, ok := obj["scheme"]; ok {
		sc, err := asString(raw, "scheme")
		if err != nil {
			return err
		}
		switch sc {
		case "http", "https":
			s.Scheme = sc
		case "grpc", "grpcs", "tcp", "tls", "udp", "kafka":
			return unsupported("scheme", fmt.Sprintf("%q is not supported (http and https are)", sc))
		default:
			return invalid("scheme", fmt.Sprintf("%q is not one of grpc, grpcs, http, https, tcp, tls, udp, kafka", sc))
		}
	}
	if raw, ok := obj["pass_host"]; ok {
		ph, err := asString(raw, "pass_host")
		if err != nil {
			return err
		}
		if ph != "pass" && ph != "node" && ph != "rewrite" {
			return invalid("pass_host", fmt.Sprintf("%q is not one of pass, node, rewrite", ph))
		}
		s.PassHost = ph
	}
	if raw, ok := obj["upstream_host"]; ok {
		h, err := parseHostDef(raw, "upstream_host")
		if err != nil {
			return err
		}
		s.UpstreamHost = h
	}
	if s.PassHost == "rewrite" && s.UpstreamHost == "" {
		return invalid("upstream_host", "must not be empty when pass_host is rewrite")
	}
	_, hasNodes := obj["nodes"]
	_, hasService := obj["service_name"]
	_, hasDiscovery := obj["discovery_type"]
	switch {
	case hasNodes && hasService && hasDiscovery:
		return invalid("nodes", "must not be combined with service_name and discovery_type")
	case hasNodes:
	case hasService && hasDiscovery:
		return unsupported("discovery_type", "service discovery is not supported")
	default:
		return invalid("nodes", "is required")
	}
	for _, f := range []string{"service_name", "discovery_type"} {
		if raw, ok := obj[f]; ok {
			if _, err := asString(raw, f); err != nil {
				return err
			}
		}
	}
	if raw, ok := obj["discovery_args"]; ok {
		if _, err := asObject(raw, "discovery_args"); err != nil {
			return err
		}
	}
	return nil
}

func parseHostDef(raw json.RawMessage, field string) (string, error) {
	h, err := asString(raw, field)
	if err != nil {
		return "", err
	}
	if !hostPattern.MatchString(h) {
		return "", invalid(field, fmt.Sprintf("%q is not a valid host", h))
	}
	return h, nil
}

func parseRetry(obj map[string]json.RawMessage, s *Spec) error {
	if raw, ok := obj["retries"]; ok {
		n, err := asIntRange(raw, "retries", 0, 1<<31-1)
		if err != nil {
			return err
		}
		s.Retries = &n
	}
	if raw, ok := obj["retry_timeout"]; ok {
		f, err := asNumber(raw, "retry_timeout")
		if err != nil {
			return err
		}
		if f < 0 {
			return invalid("retry_timeout", "must be >= 0")
		}
		s.RetryTimeout = f
	}
	if raw, ok := obj["timeout"]; ok {
		t, err := asObject(raw, "timeout")
		if err != nil {
			return err
		}
		s.Timeout = &Timeout{}
		for _, f := range []struct {
			name string
			dst  *float64
		}{{"connect", &s.Timeout.Connect}, {"send", &s.Timeout.Send}, {"read", &s.Timeout.Read}} {
			field := "timeout." + f.name
			v, ok := t[f.name]
			if !ok {
				return invalid(field, "is required")
			}
			n, err := asNumber(v, field)
			if err != nil {
				return err
			}
			if n <= 0 {
				return invalid(field, "must be > 0")
			}
			*f.dst = n
		}
	}
	return nil
}

func parseKeepalive(obj map[string]json.RawMessage, s *Spec) error {
	raw, ok := obj["keepalive_pool"]
	if !ok {
		return nil
	}
	kp, err := asObject(raw, "keepalive_pool")
	if err != nil {
		return err
	}
	if v, ok := kp["size"]; ok {
		if s.KeepalivePool.Size, err = asIntRange(v, "keepalive_pool.size", 1, 1<<31-1); err != nil {
			return err
		}
	}
	if v, ok := kp["idle_timeout"]; ok {
		f, err := asNumber(v, "keepalive_pool.idle_timeout")
		if err != nil {
			return err
		}
		if f < 0 {
			return invalid("keepalive_pool.idle_timeout", "must be >= 0")
		}
		s.KeepalivePool.IdleTimeout = f
	}
	if v, ok := kp["requests"]; ok {
		if s.KeepalivePool.Requests, err = asIntRange(v, "keepalive_pool.requests", 1, 1<<31-1); err != nil {
			return err
		}
	}
	return nil
}

// parseTLS checks the tls object's shape. Whether client_cert and client_key form a usable pair
// is checked by Registry.Pool: APISIX may store the key encrypted at rest.
func parseTLS(obj map[string]json.RawMessage, s *Spec) error {
	raw, ok := obj["tls"]
	if !ok {
		return nil
	}
	t, err := asObject(raw, "tls")
	if err != nil {
		return err
	}
	s.TLS = &TLS{}
	if v, ok := t["client_cert_id"]; ok {
		if s.TLS.ClientCertID, err = parseID(v, "tls.client_cert_id"); err != nil {
			return err
		}
	}
	for _, f := range []struct {
		name     string
		min      int
		dst      *string
		required string
	}{
		{"client_cert", 128, &s.TLS.ClientCert, "client_key"},
		{"client_key", 64, &s.TLS.ClientKey, "client_cert"},
	} {
		v, ok := t[f.name]
		if !ok {
			continue
		}
		field := "tls." + f.name
		str, err := asString(v, field)
		if err != nil {
			return err
		}
		if len(str) < f.min || len(str) > 64*1024 {
			return invalid(field, fmt.Sprintf("length must be %d..65536", f.min))
		}
		if _, ok := t[f.required]; !ok {
			return invalid("tls."+f.required, "is required when tls."+f.name+" is set")
		}
		*f.dst = str
	}
	if s.TLS.ClientCertID != "" && (s.TLS.ClientCert != "" || s.TLS.ClientKey != "") {
		return invalid("tls.client_cert_id", "must not be combined with client_cert and client_key")
	}
	if v, ok := t["verify"]; ok {
		if s.TLS.Verify, err = asBool(v, "tls.verify"); err != nil {
			return err
		}
	}
	return nil
}

// parseHash reads hash_on and key, and applies APISIX's data-plane check for chash upstreams.
func parseHash(obj map[string]json.RawMessage, s *Spec) error {
	if raw, ok := obj["hash_on"]; ok {
		h, err := asString(raw, "hash_on")
		if err != nil {
			return err
		}
		switch h {
		case "vars", "header", "cookie", "consumer", "vars_combinations":
			s.HashOn = h
		default:
			return invalid("hash_on", fmt.Sprintf("%q is not one of vars, header, cookie, consumer, vars_combinations", h))
		}
	}
	if raw, ok := obj["key"]; ok {
		k, err := asString(raw, "key")
		if err != nil {
			return err
		}
		s.Key = k
	}
	if s.Type != CHash {
		return nil
	}
	switch s.HashOn {
	case "consumer":
		return nil
	case "vars_combinations":
		if _, ok := obj["key"]; !ok {
			return invalid("key", "is required for a chash upstream")
		}
		return nil
	}
	if _, ok := obj["key"]; !ok {
		return invalid("key", "is required for a chash upstream")
	}
	pattern := hashVarsPattern
	if s.HashOn != "vars" {
		pattern = hashHeaderPattern
	}
	if !pattern.MatchString(s.Key) {
		return invalid("key", fmt.Sprintf("%q is not valid for hash_on %s", s.Key, s.HashOn))
	}
	return nil
}

// hasCRLF reports whether s would break out of an HTTP header line.
func hasCRLF(s string) bool { return strings.ContainsAny(s, "\r\n") }
