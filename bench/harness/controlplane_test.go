package harness

import (
	"context"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/zoneproxy/zoneproxy/cpclient/cptest"
)

// TestControlPlanePutAndChurn writes the 10,000-route scenario to a real control plane in transactions
// and runs the churn briefly.
func TestControlPlanePutAndChurn(t *testing.T) {
	cp := &controlPlane{cluster: cptest.StartT(t, cptest.Options{Endpoints: 1, Members: 1})}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	s, _ := scenarioByName("churn10k")
	routes := s.Routes()
	const prefix = "/zpbench-test"
	if err := cp.put(ctx, prefix, "127.0.0.1:9", routes, s.Objects()); err != nil {
		t.Fatal(err)
	}
	count := func(key string, opts ...clientv3.OpOption) int64 {
		resp, err := cp.cluster.Client().Get(ctx, key, append(opts, clientv3.WithCountOnly())...)
		if err != nil {
			t.Fatal(err)
		}
		return resp.Count
	}
	t.Run("routes", func(t *testing.T) {
		// The routes plus the "init_dir" placeholder of the directory.
		if n := count(prefix+"/routes/", clientv3.WithPrefix()); n != int64(len(routes))+1 {
			t.Fatalf("%d keys under routes/, want %d", n, len(routes)+1)
		}
		if n := count(prefix + "/upstreams/1"); n != 1 {
			t.Fatalf("upstream 1: %d keys", n)
		}
	})
	t.Run("churn", func(t *testing.T) {
		before, err := cp.cluster.Client().Get(ctx, prefix+"/routes/"+churnID(0))
		if err != nil {
			t.Fatal(err)
		}
		cctx, stop := context.WithCancel(ctx)
		done := make(chan ChurnStats, 1)
		go func() { done <- cp.churn(cctx, prefix, 200) }()
		// Stop once route churn-000 has been rewritten, or at the deadline.
		deadline := time.Now().Add(30 * time.Second)
		for time.Now().Before(deadline) {
			after, err := cp.cluster.Client().Get(ctx, prefix+"/routes/"+churnID(0))
			if err == nil && after.Kvs[0].ModRevision > before.Kvs[0].ModRevision {
				break
			}
			select {
			case <-ctx.Done():
				t.Fatal(ctx.Err())
			case <-time.After(10 * time.Millisecond):
			}
		}
		stop()
		st := <-done
		if st.Puts == 0 || st.Errors != 0 || st.LastRevision <= before.Header.Revision || st.Rate <= 0 {
			t.Fatalf("churn stats %+v", st)
		}
	})
}
