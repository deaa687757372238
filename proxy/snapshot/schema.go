package snapshot

import (
	"encoding/json"
	"reflect"
	"strings"
)

// docTypes are the structs objects of a kind are strictly decoded into (decodeStrict): their
// JSON fields are the fields an object may have.
var docTypes = map[string]reflect.Type{
	KindRoute:         reflect.TypeFor[routeDoc](),
	KindService:       reflect.TypeFor[serviceDoc](),
	KindPluginConfig:  reflect.TypeFor[pluginSetDoc](),
	KindGlobalRule:    reflect.TypeFor[pluginSetDoc](),
	KindConsumerGroup: reflect.TypeFor[pluginSetDoc](),
	KindConsumer:      reflect.TypeFor[consumerDoc](),
	KindCredential:    reflect.TypeFor[credentialDoc](),
	KindSSL:           reflect.TypeFor[sslDoc](),
}

// Schema returns a JSON schema of the objects of kind (KindRoute...), generated from the struct
// the Builder strictly decodes them into, so that it names exactly the fields the data plane
// accepts (additionalProperties false), with their JSON types. Checks made in Go after decoding
// (patterns, ranges, one of uri/uris) are not in it. ok is false for a kind not decoded that way
// (upstreams are parsed by package upstream; protos, stream_routes, secrets are kept as stored).
// A global rule has only id and plugins, which the schema does not say.
func Schema(kind string) (schema map[string]any, ok bool) {
	t, ok := docTypes[kind]
	if !ok {
		return nil, false
	}
	return typeSchema(t), true
}

var rawMessage = reflect.TypeFor[json.RawMessage]()

// typeSchema is the JSON schema of values decoded into t.
func typeSchema(t reflect.Type) map[string]any {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if t == rawMessage {
		return map[string]any{} // any JSON value; checked by the code that reads it
	}
	switch t.Kind() {
	case reflect.String:
		return map[string]any{"type": "string"}
	case reflect.Bool:
		return map[string]any{"type": "boolean"}
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return map[string]any{"type": "integer"}
	case reflect.Float32, reflect.Float64:
		return map[string]any{"type": "number"}
	case reflect.Slice, reflect.Array:
		return map[string]any{"type": "array", "items": typeSchema(t.Elem())}
	case reflect.Map:
		return map[string]any{"type": "object", "additionalProperties": typeSchema(t.Elem())}
	case reflect.Struct:
		props := map[string]any{}
		for i := range t.NumField() {
			sf := t.Field(i)
			name, _, _ := strings.Cut(sf.Tag.Get("json"), ",")
			if name == "" || name == "-" || !sf.IsExported() {
				continue
			}
			props[name] = typeSchema(sf.Type)
		}
		return map[string]any{"type": "object", "properties": props, "additionalProperties": false}
	}
	return map[string]any{}
}
