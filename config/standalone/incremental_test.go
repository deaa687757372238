package standalone

import (
	"fmt"
	"reflect"
	"slices"
	"strings"
	"testing"
)

// sameAsDecode checks that dec gives exactly what Decode gives for data.
func sameAsDecode(t *testing.T, dec *Decoder, data string) {
	t.Helper()
	env := func(k string) (string, bool) {
		if k == "UP" {
			return "127.0.0.1:9", true
		}
		return "", false
	}
	wantKV, wantW, wantErr := Decode([]byte(data), YAML, "/apisix", env, true)
	gotKV, gotW, gotErr := dec.Decode([]byte(data), YAML, "/apisix", env, true)
	if fmt.Sprint(gotErr) != fmt.Sprint(wantErr) {
		t.Fatalf("error %v, Decode's %v\n%s", gotErr, wantErr, data)
	}
	if len(gotKV) != len(wantKV) {
		t.Fatalf("%d keys, Decode's %d\n%s", len(gotKV), len(wantKV), data)
	}
	for k, v := range wantKV {
		if string(gotKV[k]) != string(v) {
			t.Fatalf("%s = %s, Decode's %s\n%s", k, gotKV[k], v, data)
		}
	}
	if !sameWarnings(gotW, wantW) {
		t.Fatalf("warnings %v, Decode's %v\n%s", gotW, wantW, data)
	}
}

// TestDecoderSameAsDecode: on files it cuts and on files it parses whole, valid or not, the
// Decoder's result is Decode's, whatever version it decoded before.
func TestDecoderSameAsDecode(t *testing.T) {
	docs := []string{
		"routes:\n  - id: 1\n    uri: /a\n    upstream_id: u\nupstreams:\n  - id: u\n    nodes:\n      \"${{UP}}\": 1\n#END\n",
		"routes:\n- id: 1\n  uri: /a\n- uri: /b\n  # a comment\n  methods: [GET]\nplugins:\n  - name: key-auth\n#END\n",
		"routes:\n  - id: 1\n    uri: /a\n  - id: 1\n    uri: /dup\nroutes_conf_version: 3\n#END\n",
		"routes:\n\nupstreams: []\nconsumers:\n  - username: jack\n    plugins: {key-auth: {key: k}}\n  - id: jack/credentials/cred-one\n    plugins: {key-auth: {key: k2}}\n#END\n",
		"routes:\n  - id: 1\n    uri: /a\n    desc: |\n      two\n      lines\n  - 5\n  - id: a/b\n#END\n",
		"routes:\n  - &r {id: 1, uri: /a}\n  - *r\n#END\n",
		"routes:\n  - id: 1\n    uri: [unclosed\n#END\n",
		"routes:\n  - id: 1\n   uri: /bad-indent\n#END\n",
		"routes:\n  - id: 1\nroutes:\n  - id: 2\n#END\n",
		"routes: [{id: 1, uri: /flow}]\n#END\n",
		"unknown: 1\nroutes:\n  - id: 1\n    uri: /x\n    vars: [[\"arg_a\", \"==\", \"*\"]]\n#END\n",
		"routes:\n  - id: 1\n    uri: ${{UNSET}}\n#END\n",
		"routes:\n  - id: 1\n    uri: /no-end\n",
		"",
		"#END\n",
	}
	for i, d := range docs {
		t.Run(fmt.Sprint(i), func(t *testing.T) {
			var dec Decoder
			sameAsDecode(t, &dec, d)
			sameAsDecode(t, &dec, d) // from its own cache
			for _, other := range docs {
				dec2 := Decoder{}
				sameAsDecode(t, &dec2, other)
				sameAsDecode(t, &dec2, d) // after another version
			}
		})
	}
}

// TestDecoderReuses: one route changed in 1,000 is the only entry parsed again.
func TestDecoderReuses(t *testing.T) {
	v1 := string(routesYAML(1000))
	v2 := strings.Replace(v1, "uri: /api/v1/r500/*", "uri: /changed", 1)
	var dec Decoder
	sameAsDecode(t, &dec, v1)
	if dec.Parsed != 1001 || dec.Reused != 0 {
		t.Errorf("first version: parsed %d reused %d, want 1001 and 0", dec.Parsed, dec.Reused)
	}
	sameAsDecode(t, &dec, v2)
	if dec.Parsed != 1 || dec.Reused != 1000 {
		t.Errorf("one route changed: parsed %d reused %d, want 1 and 1000", dec.Parsed, dec.Reused)
	}
	// Entries moved, removed, and without ids (arr_<n> follows the position): still Decode's.
	v3 := strings.Replace(v2, "  - id: \"00001\"\n", "  - uri: /no-id\n  - id: \"00001\"\n", 1)
	v3 = strings.Replace(v3, "  - id: \"00002\"\n    uri: /api/v1/r2/*\n    methods: [GET]\n    upstream_id: u1\n", "", 1)
	for _, v := range []string{v3, v1, v3, v2} {
		sameAsDecode(t, &dec, v)
	}
	if dec.Parsed != 1 {
		t.Errorf("v2 after v3: parsed %d entries, want 1 (the one v3 removed; only the previous version is kept)", dec.Parsed)
	}
}

// FuzzDecoderSameAsDecode: after any version, the Decoder's result for another is Decode's.
func FuzzDecoderSameAsDecode(f *testing.F) {
	f.Add("routes:\n  - id: 1\n    uri: /a\n#END\n", "routes:\n  - id: 1\n    uri: /b\n  - id: 2\n    uri: /a\n#END\n")
	f.Add("routes:\n- uri: /a\n- uri: /b\n#END\n", "routes:\n- uri: /b\n- uri: /a\nupstreams:\n  - id: u\n#END\n")
	f.Add("consumers:\n  - username: a\n  - id: a/credentials/credential-1\n#END\n", "routes:\n  -\n    id: 1\n#END\n")
	f.Add("routes:\n  - id: 1\n    desc: |\n      x\n#END\n", "routes:\n  - id: 1\n    desc: >\n   x\n#END\n")
	f.Fuzz(func(t *testing.T, prev, cur string) {
		var dec Decoder
		_, _, _ = dec.Decode([]byte(prev), YAML, "/apisix", nil, true)
		wantKV, wantW, wantErr := Decode([]byte(cur), YAML, "/apisix", nil, true)
		gotKV, gotW, gotErr := dec.Decode([]byte(cur), YAML, "/apisix", nil, true)
		if (gotErr == nil) != (wantErr == nil) {
			t.Fatalf("error %v, Decode's %v", gotErr, wantErr)
		}
		if len(gotKV) != len(wantKV) || !sameWarnings(gotW, wantW) {
			t.Fatalf("%d keys %v, Decode's %d %v", len(gotKV), gotW, len(wantKV), wantW)
		}
		for k, v := range wantKV {
			if string(gotKV[k]) != string(v) {
				t.Fatalf("%s = %s, Decode's %s", k, gotKV[k], v)
			}
		}
	})
}

// sameWarnings compares warnings in any order: Decode lists unknown top-level keys in the order
// of a map's iteration.
func sameWarnings(a, b []Warning) bool {
	key := func(ws []Warning) []string {
		out := make([]string, len(ws))
		for i, w := range ws {
			out[i] = w.String()
		}
		slices.Sort(out)
		return out
	}
	return reflect.DeepEqual(key(a), key(b))
}
