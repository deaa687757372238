package standalone

import (
	"fmt"
	"strings"
	"testing"
)

func routesYAML(n int) []byte {
	var b strings.Builder
	b.WriteString("upstreams:\n  - id: u1\n    type: roundrobin\n    nodes:\n      \"127.0.0.1:80\": 1\nroutes:\n")
	for i := 0; i < n; i++ {
		fmt.Fprintf(&b, "  - id: \"%05d\"\n    uri: /api/v1/r%d/*\n    methods: [GET]\n    upstream_id: u1\n", i, i)
	}
	b.WriteString("#END\n")
	return []byte(b.String())
}

// BenchmarkDecode10k decodes an apisix.yaml of 10,000 routes.
//
//	go test -run x -bench Decode10k -benchmem ./config/standalone/
func BenchmarkDecode10k(b *testing.B) {
	data := routesYAML(10_000)
	b.ReportAllocs()
	b.SetBytes(int64(len(data)))
	for b.Loop() {
		kvs, _, err := Decode(data, YAML, "/apisix", nil, true)
		if err != nil || len(kvs) != 10_001 {
			b.Fatal(err, len(kvs))
		}
	}
}

// BenchmarkDecode10kJSON decodes the same 10,000 routes as apisix.json.
func BenchmarkDecode10kJSON(b *testing.B) {
	var sb strings.Builder
	sb.WriteString(`{"upstreams":[{"id":"u1","type":"roundrobin","nodes":{"127.0.0.1:80":1}}],"routes":[`)
	for i := 0; i < 10_000; i++ {
		if i > 0 {
			sb.WriteByte(',')
		}
		fmt.Fprintf(&sb, `{"id":"%05d","uri":"/api/v1/r%d/*","methods":["GET"],"upstream_id":"u1"}`, i, i)
	}
	sb.WriteString("]}")
	data := []byte(sb.String())
	b.ReportAllocs()
	b.SetBytes(int64(len(data)))
	for b.Loop() {
		kvs, _, err := Decode(data, JSON, "/apisix", nil, false)
		if err != nil || len(kvs) != 10_001 {
			b.Fatal(err, len(kvs))
		}
	}
}

// BenchmarkDecoder10kOneChange decodes a 10,000-route apisix.yaml in which one route changed
// since the version before, with a Decoder (the reload path of the file source).
//
//	go test -run x -bench Decoder10kOneChange -benchmem ./config/standalone/
func BenchmarkDecoder10kOneChange(b *testing.B) {
	v1 := routesYAML(10_000)
	v2 := []byte(strings.Replace(string(v1), "uri: /api/v1/r0/*", "uri: /changed", 1))
	var dec Decoder
	if _, _, _, err := dec.Decode(v1, YAML, "/apisix", nil, true); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	b.SetBytes(int64(len(v2)))
	i := 0
	for b.Loop() {
		data := v1
		if i%2 == 0 {
			data = v2
		}
		i++
		kvs, changed, _, err := dec.Decode(data, YAML, "/apisix", nil, true)
		if err != nil || len(kvs) != 10_001 || dec.Parsed != 1 || len(changed) != 1 {
			b.Fatal(err, len(kvs), dec.Parsed, changed)
		}
	}
}
