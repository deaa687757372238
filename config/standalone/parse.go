package standalone

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
)

// Format is the syntax of a standalone configuration.
type Format int

// The formats APISIX reads: conf/apisix.yaml (config_provider yaml) and conf/apisix.json (json).
const (
	YAML Format = iota
	JSON
)

func (f Format) String() string {
	if f == JSON {
		return "json"
	}
	return "yaml"
}

// MaxSize is the largest configuration Parse reads (64 MiB): a bigger one is an error.
const MaxSize = 64 << 20

// Types are the object lists of a standalone configuration, in APISIX's order. Each is a list of
// objects; a missing one means none.
var Types = []string{
	"routes", "services", "upstreams", "consumers", "ssls", "global_rules", "plugin_configs",
	"consumer_groups", "plugin_metadata", "protos", "stream_routes", "secrets",
}

// PluginsKey is the top-level list of enabled plugins ({name, stream}), which replaces
// config.yaml's plugins list; it is stored under <prefix>/plugins as on an APISIX control plane.
const PluginsKey = "plugins"

// File-level errors, for errors.Is.
var (
	ErrTooLarge   = fmt.Errorf("configuration larger than %d bytes", MaxSize)
	ErrMissingEnd = errors.New("missing valid end flag (#END) at the end of the file")
	ErrAliases    = errors.New("YAML aliases expand to too many nodes")
)

// Document is a parsed standalone configuration: its lists, not yet split into objects.
type Document struct {
	// Lists holds the object list of every type present (an explicit null or empty list is
	// present and empty).
	Lists map[string][]any
	// Plugins is the top-level plugins list when present (HasPlugins).
	Plugins    []any
	HasPlugins bool
	// ConfVersions holds the <type>_conf_version fields present, by type (plugins included),
	// as decoded: the Admin API checks that they are numbers.
	ConfVersions map[string]any
	// Unknown lists the top-level keys that are none of the above.
	Unknown []string
}

// Parse reads a whole configuration. YAML gets ${{VAR}} references replaced in its text before
// parsing (requireEnd asks for APISIX's #END marker at its end first); JSON gets them replaced
// in decoded strings and keys, where a whole value that becomes a number or true/false takes
// that type. lookupEnv nil means an empty environment. Errors concern the whole file.
func Parse(data []byte, f Format, lookupEnv func(string) (string, bool), requireEnd bool) (*Document, error) {
	if len(data) > MaxSize {
		return nil, ErrTooLarge
	}
	if lookupEnv == nil {
		lookupEnv = func(string) (string, bool) { return "", false }
	}
	var root any
	switch f {
	case YAML:
		if requireEnd && !hasEnd(data) {
			return nil, ErrMissingEnd
		}
		text, _, err := expand(string(data), lookupEnv)
		if err != nil {
			return nil, err
		}
		if root, err = parseYAML([]byte(text)); err != nil {
			return nil, err
		}
	case JSON:
		var err error
		if root, err = parseJSON(data); err != nil {
			return nil, err
		}
		if root, err = substituteJSON(root, lookupEnv); err != nil {
			return nil, err
		}
	default:
		return nil, fmt.Errorf("unknown format %d", f)
	}
	return newDocument(root)
}

// hasEnd reports whether the last 10 bytes of data hold "#END" followed by whitespace only
// (APISIX matches "#END\s*$" there).
func hasEnd(data []byte) bool {
	tail := data[max(0, len(data)-10):]
	i := bytes.LastIndex(tail, []byte("#END"))
	return i >= 0 && len(bytes.TrimRight(tail[i+4:], " \t\r\n\v\f")) == 0
}

func newDocument(root any) (*Document, error) {
	d := &Document{Lists: map[string][]any{}, ConfVersions: map[string]any{}}
	if root == nil {
		return d, nil // an empty file: no objects
	}
	top, ok := root.(map[string]any)
	if !ok {
		return nil, fmt.Errorf("the configuration is a %s, not a mapping of lists", typeName(root))
	}
	known := map[string]bool{PluginsKey: true}
	for _, t := range Types {
		known[t] = true
	}
	for k, v := range top {
		switch {
		case known[k]:
			list, err := asList(k, v)
			if err != nil {
				return nil, err
			}
			if k == PluginsKey {
				d.Plugins, d.HasPlugins = list, true
			} else {
				d.Lists[k] = list
			}
		case strings.HasSuffix(k, "_conf_version") && known[strings.TrimSuffix(k, "_conf_version")]:
			d.ConfVersions[strings.TrimSuffix(k, "_conf_version")] = v
		case k == "X-Last-Modified" || k == "X-Digest":
			// What GET /apisix/admin/configs adds to a dump; harmless when pushed back.
		default:
			d.Unknown = append(d.Unknown, k)
		}
	}
	return d, nil
}

// asList returns v as a list; null and an empty mapping (what an empty Lua table encodes to)
// count as an empty list.
func asList(key string, v any) ([]any, error) {
	switch v := v.(type) {
	case nil:
		return nil, nil
	case []any:
		return v, nil
	case map[string]any:
		if len(v) == 0 {
			return nil, nil
		}
	}
	return nil, fmt.Errorf("%s: is a %s, not a list", key, typeName(v))
}

func typeName(v any) string {
	switch v.(type) {
	case nil:
		return "null"
	case map[string]any:
		return "mapping"
	case []any:
		return "list"
	case string:
		return "string"
	case bool:
		return "boolean"
	default:
		return "number"
	}
}

// parseJSON decodes one JSON value, numbers kept exact (json.Number).
func parseJSON(data []byte) (any, error) {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		if errors.Is(err, io.EOF) {
			return nil, errors.New("invalid JSON: empty")
		}
		return nil, fmt.Errorf("invalid JSON: %w", err)
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return nil, errors.New("invalid JSON: data after the top-level value")
	}
	return v, nil
}

// substituteJSON replaces ${{VAR}} references in the strings and keys of v.
func substituteJSON(v any, lookupEnv func(string) (string, bool)) (any, error) {
	switch v := v.(type) {
	case string:
		s, used, err := expand(v, lookupEnv)
		if err != nil || !used {
			return s, err
		}
		if s == "true" || s == "false" {
			return s == "true", nil
		}
		if _, err := strconv.ParseFloat(strings.TrimSpace(s), 64); err == nil {
			return json.Number(strings.TrimSpace(s)), nil
		}
		return s, nil
	case []any:
		for i, e := range v {
			e, err := substituteJSON(e, lookupEnv)
			if err != nil {
				return nil, err
			}
			v[i] = e
		}
		return v, nil
	case map[string]any:
		out := make(map[string]any, len(v))
		for k, e := range v {
			k, _, err := expand(k, lookupEnv)
			if err != nil {
				return nil, err
			}
			if out[k], err = substituteJSON(e, lookupEnv); err != nil {
				return nil, err
			}
		}
		return out, nil
	}
	return v, nil
}
