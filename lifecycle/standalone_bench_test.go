package lifecycle

import (
	"context"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/zoneproxy/zoneproxy/config/standalone"
	"github.com/zoneproxy/zoneproxy/config/standalone/filesource"
)

// standaloneYAML is an apisix.yaml of n routes on one upstream; route 0 serves /changed/<v>
// when v >= 0 (what bench/cmd/standalonebench writes).
func standaloneYAML(n, v int) []byte {
	var b strings.Builder
	b.WriteString("upstreams:\n  - id: u1\n    type: roundrobin\n    nodes:\n      \"127.0.0.1:9\": 1\nroutes:\n")
	for i := range n {
		uri := fmt.Sprintf("/api/v1/r%d/*", i)
		if i == 0 && v >= 0 {
			uri = fmt.Sprintf("/changed/%d", v)
		}
		fmt.Fprintf(&b, "  - id: \"%05d\"\n    uri: %s\n    methods: [GET]\n    upstream_id: u1\n", i, uri)
	}
	b.WriteString("#END\n")
	return []byte(b.String())
}

var reloadLog = flag.Bool("reloadlog", false, "BenchmarkFileReloadOneChange: print each reload's log line, with its steps' times")

// BenchmarkFileReloadOneChange measures a reload of the standalone file after one route of
// 10,000 changed, from the file renamed into place to the new Snapshot swapped in: stat, read,
// decode, the next State, build, swap (what apply does). Writing the new version is not timed;
// the inotify wake-up and the request that sees the route are not part of it
// (bench/cmd/standalonebench measures the whole).
//
//	go test -run x -bench FileReloadOneChange -benchmem ./lifecycle/ [-args -reloadlog]
func BenchmarkFileReloadOneChange(b *testing.B) {
	const n = 10_000
	a := benchApp(b)
	dir := b.TempDir()
	path := filepath.Join(dir, "apisix.yaml")
	if err := os.WriteFile(path, standaloneYAML(n, -1), 0o644); err != nil {
		b.Fatal(err)
	}
	logger := slog.New(slog.DiscardHandler)
	if *reloadLog {
		logger = slog.New(slog.NewTextHandler(os.Stderr, nil))
	}
	src := filesource.New(filesource.Config{Path: path, Format: standalone.YAML, NoInotify: true, Logger: logger}, a.apply)
	ctx := context.Background()
	if err := src.Load(ctx); err != nil {
		b.Fatal(err)
	}
	// Two versions, in turn: generating one per change would cost more than the reload.
	versions := [][]byte{standaloneYAML(n, 0), standaloneYAML(n, 1)}
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		b.StopTimer()
		tmp := path + ".tmp"
		if err := os.WriteFile(tmp, versions[i%2], 0o644); err != nil {
			b.Fatal(err)
		}
		b.StartTimer()
		if err := os.Rename(tmp, path); err != nil {
			b.Fatal(err)
		}
		if err := src.Load(ctx); err != nil {
			b.Fatal(err)
		}
		if s := a.px.Snapshot(); s.Revision != int64(i+2) || s.Counts.Routes != n {
			b.Fatalf("revision %d, %d routes after change %d", s.Revision, s.Counts.Routes, i)
		}
	}
}
