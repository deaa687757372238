package config

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"gopkg.in/yaml.v3"
)

// Load reads the file at path and parses it with the process environment;
// see Parse.
func Load(path string) (*Config, []string, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, nil, fmt.Errorf("config: %w", err)
	}
	c, warnings, err := Parse(data, os.LookupEnv)
	if err != nil {
		return nil, warnings, err
	}
	c.resolvePaths(filepath.Dir(path))
	return c, warnings, nil
}

// resolvePaths makes zoneproxy.data_dir, when relative, relative to dir (the directory of
// config.yaml), as APISIX resolves its paths against its prefix rather than the working directory:
// a binary started from elsewhere must find the state file it wrote.
func (c *Config) resolvePaths(dir string) {
	if !filepath.IsAbs(c.Zoneproxy.DataDir) {
		c.Zoneproxy.DataDir = filepath.Join(dir, c.Zoneproxy.DataDir)
	}
	if f := c.Zoneproxy.StandaloneFile; f != "" && !filepath.IsAbs(f) {
		c.Zoneproxy.StandaloneFile = filepath.Join(dir, c.Zoneproxy.StandaloneFile)
	}
}

// Parse parses a config.yaml. It substitutes ${{VAR}} and ${{VAR:=default}}
// (looked up with lookupEnv; nil means an empty environment), replaces
// deployment.etcd.host with APISIX_DEPLOYMENT_ETCD_HOST when that variable
// is set, decodes over the defaults and validates. Only the first YAML
// document is read, as APISIX does.
//
// On success it returns the configuration and the warnings (unknown keys,
// ignored settings that change behaviour, duplicate keys). Otherwise the
// error is one *Error or several joined with errors.Join; the warnings
// found so far are returned with it.
func Parse(data []byte, lookupEnv func(string) (string, bool)) (*Config, []string, error) {
	root, err := parseYAML(data)
	if err != nil {
		return nil, nil, err
	}
	d := newDecoder(lookupEnv)
	c := Default()
	if root != nil {
		d.substitute(root)
		d.root(c, root)
	}
	d.envHost(c)
	if c.Zoneproxy.StandaloneFile == "" && c.Deployment.Standalone() == StandaloneFile {
		c.Zoneproxy.StandaloneFile = d.standaloneFileName(c)
	}
	d.errs = append(d.errs, d.unrelated(c.check(d.lines))...)
	if len(d.errs) > 0 {
		return nil, d.warns, errors.Join(d.errs...)
	}
	d.finish(c)
	return c, d.warns, nil
}

// parseYAML returns the root node of the first document, or nil for an
// empty document.
func parseYAML(data []byte) (root *yaml.Node, err error) {
	defer func() {
		// yaml.v3 is not known to panic on v3.0.1, but bad input must never
		// take the process down.
		if r := recover(); r != nil {
			root, err = nil, &Error{Msg: fmt.Sprintf("invalid YAML: %v", r)}
		}
	}()
	var doc yaml.Node
	if err := yaml.Unmarshal(data, &doc); err != nil {
		return nil, yamlError(err)
	}
	if doc.Kind != yaml.DocumentNode || len(doc.Content) == 0 {
		return nil, nil
	}
	return doc.Content[0], nil
}

// unrelated drops the validation errors about keys that already have a
// decoding error (or whose parent or child has one): those are consequences
// of the first error, such as an empty list after its only item was
// rejected.
func (d *decoder) unrelated(errs []error) []error {
	if len(d.errs) == 0 {
		return errs
	}
	related := func(a, b string) bool {
		if len(a) < len(b) {
			a, b = b, a
		}
		return a == b || strings.HasPrefix(a, b) && (a[len(b)] == '.' || a[len(b)] == '[')
	}
	out := errs[:0]
next:
	for _, err := range errs {
		if e, ok := err.(*Error); ok {
			for _, de := range d.errs {
				if de, ok := de.(*Error); ok && de.Key != "" && related(e.Key, de.Key) {
					continue next
				}
			}
		}
		out = append(out, err)
	}
	return out
}

// yamlError turns yaml.v3's "yaml: line N: msg" into an *Error.
func yamlError(err error) *Error {
	msg := strings.TrimPrefix(err.Error(), "yaml: ")
	e := &Error{Msg: "invalid YAML: " + msg}
	if rest, ok := strings.CutPrefix(msg, "line "); ok {
		num, tail, ok := strings.Cut(rest, ": ")
		if n, err := strconv.Atoi(num); ok && err == nil {
			e.Line, e.Msg = n, "invalid YAML: "+tail
		}
	}
	return e
}

// standaloneFileName is APISIX's name of the standalone file: apisix.yaml, or apisix.json for
// the json provider, with -<profile> before the extension when APISIX_PROFILE is set.
func (d *decoder) standaloneFileName(c *Config) string {
	ext := ".yaml"
	if c.Deployment.Provider() == ProviderJSON {
		ext = ".json"
	}
	if p, ok := d.lookupEnv("APISIX_PROFILE"); ok && p != "" {
		return "apisix-" + p + ext
	}
	return "apisix" + ext
}

// envHost applies APISIX_DEPLOYMENT_ETCD_HOST, a JSON array of URLs that
// replaces deployment.etcd.host.
func (d *decoder) envHost(c *Config) {
	v, ok := d.lookupEnv(envEtcdHost)
	if !ok {
		return
	}
	if strings.TrimSpace(v) == "" {
		d.warnf("%s is set but empty and is ignored", envEtcdHost)
		return
	}
	var raw any
	if err := json.Unmarshal([]byte(v), &raw); err != nil {
		d.errs = append(d.errs, &Error{Key: envEtcdHost, Msg: "is not a JSON array of URLs: " + err.Error()})
		return
	}
	list, ok := raw.([]any)
	if !ok {
		d.errs = append(d.errs, &Error{Key: envEtcdHost, Msg: fmt.Sprintf("is not a JSON array of URLs: %.100s", v)})
		return
	}
	hosts := make([]string, 0, len(list))
	for i, e := range list {
		s, ok := e.(string)
		if !ok {
			d.errs = append(d.errs, &Error{Key: indexPath(envEtcdHost, i), Msg: fmt.Sprintf("expected a string, got %v", e)})
			continue
		}
		hosts = append(hosts, s)
	}
	c.Deployment.Etcd.Host = hosts
	c.Deployment.Etcd.hostKey = envEtcdHost
}

// finish normalises a valid configuration and adds the warnings that need
// the whole of it.
func (d *decoder) finish(c *Config) {
	e := &c.Deployment.Etcd
	seen := make(map[string]int, len(e.Host))
	schemes := make(map[string]bool)
	for i, h := range e.Host {
		ep, err := ParseEndpoint(h)
		if err != nil {
			continue // cannot happen: check passed
		}
		e.Host[i] = ep.URL()
		schemes[ep.Scheme] = true
		if j, dup := seen[e.Host[i]]; dup {
			d.warnf("%s[%d] repeats %s[%d] (%s)", e.key(), i, e.key(), j, e.Host[i])
		} else {
			seen[e.Host[i]] = i
		}
	}
	if len(schemes) > 1 {
		d.warnf("%s mixes http and https endpoints", e.key())
	}
	if e.User != "" && e.Password == "" {
		d.warnf("deployment.etcd.user is set without deployment.etcd.password: as in APISIX, etcd auth is not used")
	}
	c.Ignored = sortedUnique(d.ignored)
}

func (e *Etcd) key() string {
	if e.hostKey != "" {
		return e.hostKey
	}
	return etcdHostKey
}
