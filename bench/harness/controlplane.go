package harness

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"sync"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/zoneproxy/zoneproxy/cpclient/cptest"
)

// controlPlane is a one-member cptest cluster behind one TLS endpoint, running in the harness process.
type controlPlane struct {
	cluster *cptest.Cluster
	files   cptest.Files
}

func startControlPlane(ctx context.Context, dir string, log *slog.Logger) (*controlPlane, error) {
	certs := filepath.Join(dir, "certs")
	if err := os.MkdirAll(certs, 0o750); err != nil {
		return nil, err
	}
	c, err := cptest.Start(ctx, cptest.Options{
		Endpoints: 1, Members: 1, Dir: filepath.Join(dir, "etcd"), Logger: log,
	})
	if err != nil {
		return nil, fmt.Errorf("control plane: %w", err)
	}
	files, err := c.WriteFiles(certs)
	if err != nil {
		_ = c.Close()
		return nil, fmt.Errorf("control plane certificates: %w", err)
	}
	return &controlPlane{cluster: c, files: files}, nil
}

func (cp *controlPlane) endpoint() string { return cp.cluster.Endpoints()[0] }

func (cp *controlPlane) close() { _ = cp.cluster.Close() }

// txnOps is the number of puts per etcd transaction (etcd's default limit is 128).
const txnOps = 100

// put writes the scenario's upstream and routes under prefix, txnOps puts per transaction.
func (cp *controlPlane) put(ctx context.Context, prefix, upstreamAddr string, routes []Route, objects map[string]string) error {
	ops := []clientv3.Op{
		clientv3.OpPut(prefix+"/routes/", "init_dir"),
		clientv3.OpPut(prefix+"/upstreams/", "init_dir"),
		clientv3.OpPut(prefix+"/upstreams/1", string(UpstreamJSON(upstreamAddr))),
	}
	for k, v := range objects {
		ops = append(ops, clientv3.OpPut(prefix+k, v))
	}
	for _, r := range routes {
		ops = append(ops, clientv3.OpPut(prefix+"/routes/"+r.ID, string(r.JSON(""))))
	}
	for len(ops) > 0 {
		n := min(len(ops), txnOps)
		cctx, cancel := context.WithTimeout(ctx, 30*time.Second)
		_, err := cp.cluster.Client().Txn(cctx).Then(ops[:n]...).Commit()
		cancel()
		if err != nil {
			return fmt.Errorf("put routes under %s: %w", prefix, err)
		}
		ops = ops[n:]
	}
	return nil
}

// ChurnStats describe the route updates of one churn run.
type ChurnStats struct {
	Puts         int64   `json:"puts"`
	Errors       int64   `json:"errors"`
	Dropped      int64   `json:"dropped"` // updates not sent because a second's worth were still queued
	Rate         float64 `json:"rate_per_s"`
	LastRevision int64   `json:"last_revision"`
	// CatchUpMS is how long after the last update zoneproxy reported that revision applied
	// (-1: not within the deadline).
	CatchUpMS float64 `json:"catch_up_ms"`
}

// churnWorkers put concurrently, so that one slow put (an fsync) does not lower the rate.
const churnWorkers = 8

// churn updates the churn routes under prefix, rate times a second on average, round robin, until ctx
// is done; updates still in flight then complete.
func (cp *controlPlane) churn(ctx context.Context, prefix string, rate int) ChurnStats {
	set := churnSet()
	jobs := make(chan int, rate)
	var (
		mu sync.Mutex
		st ChurnStats
		wg sync.WaitGroup
	)
	for w := 0; w < churnWorkers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range jobs {
				if ctx.Err() != nil {
					continue // the run is over: drain the queue without sending
				}
				r := set[i%len(set)]
				pctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
				resp, err := cp.cluster.Client().Put(pctx, prefix+"/routes/"+r.ID, string(r.JSON(fmt.Sprintf("update %d", i))))
				cancel()
				mu.Lock()
				if err != nil {
					st.Errors++
				} else {
					st.Puts++
					st.LastRevision = max(st.LastRevision, resp.Header.Revision)
				}
				mu.Unlock()
			}
		}()
	}
	tick := time.NewTicker(time.Second / time.Duration(rate))
	defer tick.Stop()
	start := time.Now()
	sent := 0
	for ctx.Err() == nil {
		select {
		case <-ctx.Done():
		case <-tick.C:
		}
		// Catch up on ticks the ticker dropped, so that the average rate holds.
		for due := int(time.Since(start).Seconds() * float64(rate)); sent < due && ctx.Err() == nil; sent++ {
			select {
			case jobs <- sent:
			default:
				mu.Lock()
				st.Dropped++
				mu.Unlock()
			}
		}
	}
	elapsed := time.Since(start).Seconds()
	close(jobs)
	wg.Wait()
	if elapsed > 0 {
		st.Rate = float64(st.Puts) / elapsed
	}
	return st
}

// appliedRevision reads zoneproxy's /status/control-plane.
func appliedRevision(ctx context.Context, statusURL string) (int64, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, statusURL+"/status/control-plane", nil)
	if err != nil {
		return 0, err
	}
	resp, err := (&http.Client{Timeout: 2 * time.Second}).Do(req)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	var v struct {
		Revision int64 `json:"config_revision"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&v); err != nil {
		return 0, fmt.Errorf("status/control-plane: %w", err)
	}
	return v.Revision, nil
}

// waitApplied polls zoneproxy until it reports rev applied and returns how long that took.
func waitApplied(ctx context.Context, statusURL string, rev int64, timeout time.Duration) time.Duration {
	start := time.Now()
	deadline := start.Add(timeout)
	for time.Now().Before(deadline) {
		if got, err := appliedRevision(ctx, statusURL); err == nil && got >= rev {
			return time.Since(start)
		}
		select {
		case <-ctx.Done():
			return -1
		case <-time.After(10 * time.Millisecond):
		}
	}
	return -1
}
