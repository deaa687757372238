package regionsync

import (
	"errors"
	"fmt"
	"path/filepath"
	"slices"
	"strings"

	"github.com/zoneproxy/zoneproxy/config/fingerprint"
	"github.com/zoneproxy/zoneproxy/config/standalone"
)

// Objects are configuration objects by key relative to the prefix ("routes/1"), each a JSON
// object as it would be stored.
type Objects map[string][]byte

// Input is one configuration file.
type Input struct {
	// Name is the file's name: ".json" selects JSON, anything else YAML.
	Name string
	Data []byte
}

// ErrInput is wrapped by every error about the input files: nothing was sent to any target.
var ErrInput = errors.New("invalid input")

// Load reads, merges, validates and seals inputs. lookupEnv resolves ${VAR} (nil: an empty
// environment); check validates one object by its relative key (nil: none); secrets seals the
// secret fields (nil: stored as they are). All problems are reported together, wrapping ErrInput.
func Load(inputs []Input, lookupEnv func(string) (string, bool), check func(rel string, value []byte) error, secrets *Secrets) (Objects, error) {
	out := Objects{}
	from := map[string]string{} // rel -> file
	var problems []string
	for _, in := range inputs {
		text, err := Substitute(string(in.Data), lookupEnv)
		if err != nil {
			problems = append(problems, fmt.Sprintf("%s: %v", in.Name, err))
			continue
		}
		format := standalone.YAML
		if strings.EqualFold(filepath.Ext(in.Name), ".json") {
			format = standalone.JSON
		}
		kvs, warns, err := standalone.Decode([]byte(text), format, "", lookupEnv, false)
		if err != nil {
			problems = append(problems, fmt.Sprintf("%s: %v", in.Name, err))
			continue
		}
		for _, w := range warns {
			problems = append(problems, fmt.Sprintf("%s: %s", in.Name, w))
		}
		for k, v := range kvs {
			rel := strings.TrimPrefix(k, "/")
			if _, ok := fingerprint.RelKey("", k); !ok {
				if rel == standalone.PluginsKey {
					problems = append(problems, fmt.Sprintf("%s: the top-level plugins list is config.yaml's business, not synced", in.Name))
				}
				continue
			}
			if prev, dup := from[rel]; dup {
				problems = append(problems, fmt.Sprintf("%s: duplicate id %s (also in %s)", in.Name, rel, prev))
				continue
			}
			from[rel] = in.Name
			out[rel] = v
		}
	}
	keys := sortedKeys(out)
	for _, rel := range keys {
		if check != nil {
			if err := check(rel, out[rel]); err != nil {
				problems = append(problems, fmt.Sprintf("%s: %s: %v", from[rel], rel, err))
				continue
			}
		}
		if secrets != nil {
			v, err := secrets.Seal(rel, out[rel])
			if err != nil {
				problems = append(problems, fmt.Sprintf("%s: %s: %v", from[rel], rel, err))
				continue
			}
			out[rel] = v
		}
	}
	if len(problems) > 0 {
		return nil, fmt.Errorf("%w:\n  %s", ErrInput, strings.Join(problems, "\n  "))
	}
	return out, nil
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

// Substitute replaces ${NAME} and ${NAME:=default} in text with lookupEnv's values (NAME is a
// letter or underscore followed by letters, digits and underscores). $${ is a literal "${";
// ${{ is left as it is (the standalone decoder's own syntax), and so is a "${" that does not
// start a reference. Whole-line YAML comments (first non-blank character '#') are left as they
// are. Unset variables without a default are an error naming them all.
func Substitute(text string, lookupEnv func(string) (string, bool)) (string, error) {
	if !strings.Contains(text, "${") {
		return text, nil
	}
	if lookupEnv == nil {
		lookupEnv = func(string) (string, bool) { return "", false }
	}
	var b strings.Builder
	var unset []string
	for line := range strings.Lines(text) {
		if strings.HasPrefix(strings.TrimLeft(line, " \t"), "#") {
			b.WriteString(line)
			continue
		}
		unset = substituteLine(&b, line, lookupEnv, unset)
	}
	if len(unset) > 0 {
		return "", fmt.Errorf("environment variables not set: %s", strings.Join(slices.Compact(slices.Sorted(slices.Values(unset))), ", "))
	}
	return b.String(), nil
}

func substituteLine(b *strings.Builder, text string, lookupEnv func(string) (string, bool), unset []string) []string {
	for {
		i := strings.Index(text, "${")
		if i < 0 {
			b.WriteString(text)
			break
		}
		if i > 0 && text[i-1] == '$' { // $${ -> ${
			b.WriteString(text[:i-1])
			b.WriteString("${")
			text = text[i+2:]
			continue
		}
		b.WriteString(text[:i])
		rest := text[i+2:]
		end := strings.IndexByte(rest, '}')
		name, def, hasDef := rest, "", false
		if end >= 0 {
			name = rest[:end]
			name, def, hasDef = strings.Cut(name, ":=")
		}
		if end < 0 || strings.HasPrefix(rest, "{") || !validName(name) {
			b.WriteString("${")
			text = rest
			continue
		}
		v, ok := lookupEnv(name)
		switch {
		case ok:
		case hasDef:
			v = def
		default:
			unset = append(unset, name)
		}
		b.WriteString(v)
		text = rest[end+1:]
	}
	return unset
}

func validName(s string) bool {
	if s == "" {
		return false
	}
	for i, c := range s {
		switch {
		case c == '_', c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z':
		case i > 0 && c >= '0' && c <= '9':
		default:
			return false
		}
	}
	return true
}
