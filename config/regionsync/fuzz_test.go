package regionsync

import (
	"strings"
	"testing"
)

// FuzzLoad: any input is loaded or refused with an error wrapping ErrInput, never a panic; what
// is loaded has a fingerprint, dumps, and the dump loads back to the same objects.
func FuzzLoad(f *testing.F) {
	f.Add([]byte(sample))
	f.Add([]byte(adminSample))
	f.Add([]byte("routes:\n  - {id: r1, uri: '${X:=/a}', desc: $${Y}}\n#END\n"))
	f.Add([]byte(`{"routes":[{"id":1,"uri":"/j","priority":1e3}]}`))
	f.Add([]byte("${"))
	f.Add([]byte("${A:=${B}}"))
	f.Fuzz(func(t *testing.T, data []byte) {
		name := "f.yaml"
		if len(data) > 0 && data[0] == '{' {
			name = "f.json"
		}
		objs, err := Load([]Input{{Name: name, Data: data}}, nil, nil, nil)
		if err != nil {
			if !strings.Contains(err.Error(), ErrInput.Error()) {
				t.Fatalf("error %v does not wrap ErrInput", err)
			}
			return
		}
		fp := Fingerprint(objs)
		var dump strings.Builder
		if err := WriteDump(&dump, objs, nil); err != nil {
			return // a value the dump cannot show (not an object) is refused, not a crash
		}
		back, err := Load([]Input{{Name: "dump.yaml", Data: []byte(dump.String())}}, nil, nil, nil)
		if err != nil {
			return // e.g. a string that reads as a ${VAR} reference once dumped
		}
		if got := Fingerprint(back); got != fp && !strings.Contains(dump.String(), "${") {
			t.Fatalf("dump round trip changed the fingerprint %s -> %s\n%s", fp, got, dump.String())
		}
	})
}
