package snapshot

import (
	"bytes"
	"testing"
)

// TestConsumerIndexFollowsChanges: the consumer index reuses what it built of an unchanged
// consumer, and builds again what a change reaches: a consumer's own change, its group's, and the
// consumer of a credential.
func TestConsumerIndexFollowsChanges(t *testing.T) {
	var logs bytes.Buffer
	b := newBuilder(t, &logs, false)
	st := stateOf(
		"/apisix/consumer_groups/g", `{"plugins":{"cors":{"allow_origins":"http://a.example"}}}`,
		"/apisix/consumers/jack", `{"username":"jack","group_id":"g","labels":{"custom_id":"one"},"plugins":{"key-auth":{"key":"k-jack"}}}`,
		"/apisix/consumers/rose", `{"username":"rose"}`,
		"/apisix/consumers/rose/credentials/c", `{"plugins":{"key-auth":{"key":"k-rose"}}}`,
	)
	s1 := build(t, b, st)
	jack1, rose1 := s1.Consumers.Consumer("jack"), s1.Consumers.Consumer("rose")
	if jack1 == nil || rose1 == nil || s1.Consumers.Lookup("key-auth", []byte("k-rose")).Consumer != rose1 {
		t.Fatalf("first build: jack %v rose %v", jack1, rose1)
	}

	// An unrelated change keeps both as built.
	st = with(st, "/apisix/routes/1", `{"uri":"/x","upstream":{"nodes":{"127.0.0.1:1":1}}}`)
	s2 := build(t, b, st)
	if s2.Consumers.Consumer("jack") != jack1 || s2.Consumers.Consumer("rose") != rose1 {
		t.Fatal("consumers built again after a change that does not reach them")
	}

	// The group changes: jack is built again, with the group's new conf.
	st = with(st, "/apisix/consumer_groups/g", `{"plugins":{"cors":{"allow_origins":"http://b.example"}}}`)
	s3 := build(t, b, st)
	jack3 := s3.Consumers.Consumer("jack")
	if jack3 == jack1 || jack3.Plugins == nil || jack3.Plugins.Instance("cors") == jack1.Plugins.Instance("cors") {
		t.Fatal("jack kept the plugins of its group's old version")
	}
	if got := s3.Consumers.Lookup("key-auth", []byte("k-jack")); got == nil || got.Consumer != jack3 {
		t.Fatal("jack's key points at an old build of jack")
	}

	// rose changes: her credential points at the new rose.
	st = with(st, "/apisix/consumers/rose", `{"username":"rose","labels":{"custom_id":"two"}}`)
	s4 := build(t, b, st)
	rose4 := s4.Consumers.Consumer("rose")
	if rose4 == rose1 || rose4.CustomID != "two" {
		t.Fatalf("rose not rebuilt: %+v", rose4)
	}
	if got := s4.Consumers.Lookup("key-auth", []byte("k-rose")); got == nil || got.Consumer != rose4 || got.ID != "c" {
		t.Fatalf("rose's credential = %+v, want the new rose", got)
	}
	// The earlier snapshot is untouched.
	if s1.Consumers.Lookup("key-auth", []byte("k-rose")).Consumer != rose1 || rose1.CustomID != "" {
		t.Fatal("a published snapshot's consumers changed")
	}

	// The group goes away: jack is built again, with his group missing.
	st = with(st, "/apisix/consumer_groups/g", "")
	s5 := build(t, b, st)
	if j := s5.Consumers.Consumer("jack"); j == nil || !j.GroupMissing {
		t.Fatalf("jack after his group was deleted: %+v", j)
	}
}
