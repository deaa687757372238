package regionsync

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"strconv"
	"strings"

	"gopkg.in/yaml.v3"

	"github.com/zoneproxy/zoneproxy/config/standalone"
)

// WriteDump writes objs in the standalone YAML format, normalised: lists in APISIX's order,
// objects by key, fields sorted, create_time and update_time dropped, secrets opened with
// secrets (nil: as stored), credentials in the consumers list under their
// "<username>/credentials/<id>" ids, and APISIX's #END marker. Loading the dump and applying it
// to where it came from changes nothing.
func WriteDump(w io.Writer, objs Objects, secrets *Secrets) error {
	lists := map[string][]any{}
	for _, rel := range sortedKeys(objs) {
		kind, id, _ := strings.Cut(rel, "/")
		v, err := secrets.Open(rel, objs[rel])
		if err != nil {
			return fmt.Errorf("%s: %w", rel, err)
		}
		m, ok := rawObject(v)
		if !ok {
			return fmt.Errorf("%s: the stored value is not a JSON object", rel)
		}
		delete(m, "create_time")
		delete(m, "update_time")
		m["id"] = id
		lists[kind] = append(lists[kind], yamlValue(m))
	}
	var b bytes.Buffer
	for _, typ := range standalone.Types {
		if len(lists[typ]) == 0 {
			continue
		}
		out, err := yaml.Marshal(map[string]any{typ: lists[typ]})
		if err != nil {
			return err
		}
		b.Write(out)
	}
	b.WriteString("#END\n")
	_, err := w.Write(b.Bytes())
	return err
}

// yamlValue turns json.Numbers into int64 or float64, which YAML writes as numbers (a
// json.Number would be a quoted string).
func yamlValue(v any) any {
	switch x := v.(type) {
	case map[string]any:
		for k, e := range x {
			x[k] = yamlValue(e)
		}
	case []any:
		for i, e := range x {
			x[i] = yamlValue(e)
		}
	case json.Number:
		if i, err := strconv.ParseInt(string(x), 10, 64); err == nil {
			return i
		}
		if f, err := strconv.ParseFloat(string(x), 64); err == nil {
			return f
		}
	}
	return v
}
