package accesslog

import "testing"

func BenchmarkFormat(b *testing.B) {
	r := fullRecord()
	l := &Logger{}
	if err := l.setFields(nil); err != nil {
		b.Fatal(err)
	}
	buf := make([]byte, 0, 1024)
	b.Run("combined", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			buf = appendCombined(buf[:0], &r, r.Time)
		}
	})
	b.Run("json", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			buf = appendJSON(buf[:0], &r, r.Time, l.fields, l.keys)
		}
	})
}
