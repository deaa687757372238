package respheader

import "testing"

func TestValidName(t *testing.T) {
	for name, want := range map[string]bool{"X-A": true, "": false, "X:A": false, "X A": false, "X\r\nY": false, "X\x7f": false} {
		if got := ValidName(name); got != want {
			t.Errorf("ValidName(%q) = %v, want %v", name, got, want)
		}
	}
}

func TestScalar(t *testing.T) {
	for _, tt := range []struct {
		raw, want string
		ok        bool
	}{
		{`"a\r\nb"`, "a\r\nb", true},
		{` 12 `, "12", true},
		{`-1.5`, "-1.5", true},
		{`true`, "", false},
		{`{}`, "", false},
		{`null`, "", false},
		{``, "", false},
	} {
		if got, ok := Scalar([]byte(tt.raw)); got != tt.want || ok != tt.ok {
			t.Errorf("Scalar(%q) = %q, %v; want %q, %v", tt.raw, got, ok, tt.want, tt.ok)
		}
	}
}
