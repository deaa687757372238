package cpclient

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"sync/atomic"
	"time"

	pb "go.etcd.io/etcd/api/v3/etcdserverpb"
	"go.etcd.io/etcd/api/v3/mvccpb"
	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"

	"github.com/zoneproxy/zoneproxy/config/state"
)

// grpcConn speaks the etcd v3 gRPC API to a single endpoint. The etcd client balances over every
// endpoint it is given; it is given exactly one, so that the choice of endpoint stays ours.
type grpcConn struct {
	cli *clientv3.Client
	// kv makes unary calls without the etcd client's default WaitForReady(true), so that a call
	// on a connection that cannot be established fails at once (refused, TLS) instead of waiting
	// for its deadline: that is what makes a refusing endpoint fail over in well under a second.
	kv clientv3.KV
}

type grpcOptions struct {
	TLS         *tls.Config
	Username    string
	Password    string
	DialTimeout time.Duration
	// KeepAliveTimeout is how long a gRPC keepalive ping may go unanswered before the connection
	// is closed. Pings are sent every 10 s (gRPC's floor; etcd refuses pings more often than every
	// 5 s by default): fast detection of a hung endpoint comes from probes and watch progress
	// requests, keepalive only cleans up.
	KeepAliveTimeout time.Duration
}

func dialGRPC(ctx context.Context, endpoint string, o grpcOptions) (*grpcConn, error) {
	cli, err := clientv3.New(clientv3.Config{
		Endpoints:            []string{endpoint},
		TLS:                  o.TLS,
		Username:             o.Username,
		Password:             o.Password,
		DialTimeout:          o.DialTimeout,
		DialKeepAliveTime:    10 * time.Second,
		DialKeepAliveTimeout: o.KeepAliveTimeout,
		PermitWithoutStream:  true,
		// One retry only: a failing endpoint must fail fast, the Client chooses another one.
		MaxUnaryRetries:    1,
		BackoffWaitBetween: 20 * time.Millisecond,
		Context:            ctx,
		Logger:             zap.NewNop(),
		AutoSyncInterval:   0,
		RejectOldCluster:   false,
	})
	if err != nil {
		return nil, err
	}
	return &grpcConn{cli: cli, kv: clientv3.NewKVFromKVClient(pb.NewKVClient(cli.ActiveConnection()), nil)}, nil
}

func (g *grpcConn) Probe(ctx context.Context, key string) (header, error) {
	resp, err := g.kv.Get(ctx, key, clientv3.WithCountOnly())
	if err != nil {
		return header{}, err
	}
	return grpcHeader(resp.Header.GetClusterId(), resp.Header.GetRevision()), nil
}

func (g *grpcConn) Range(ctx context.Context, key, end string, rev, limit int64) (page, error) {
	opts := []clientv3.OpOption{clientv3.WithRange(end), clientv3.WithLimit(limit)}
	if rev > 0 {
		opts = append(opts, clientv3.WithRev(rev))
	}
	resp, err := g.kv.Get(ctx, key, opts...)
	if err != nil {
		if errors.Is(err, rpctypes.ErrCompacted) {
			return page{}, fmt.Errorf("%w: %v", errCompacted, err)
		}
		return page{}, err
	}
	p := page{
		Header: grpcHeader(resp.Header.GetClusterId(), resp.Header.GetRevision()),
		KVs:    make([]state.KV, 0, len(resp.Kvs)),
		More:   resp.More,
	}
	for _, kv := range resp.Kvs {
		p.KVs = append(p.KVs, state.KV{Key: string(kv.Key), Value: kv.Value, ModRevision: kv.ModRevision})
	}
	return p, nil
}

func (g *grpcConn) Watch(ctx context.Context, prefix string, rev int64) watchStream {
	// WithRequireLeader: a member cut off from its cluster's leader cancels the watch instead of
	// serving a stale stream forever.
	wctx := clientv3.WithRequireLeader(ctx)
	s := &grpcWatch{cli: g.cli, wctx: wctx, c: make(chan watchResponse)}
	// The etcd client's Watch blocks until the stream is set up, which never happens on a hung
	// endpoint: start it in the stream's goroutine so that the caller keeps watching the health.
	go s.run(ctx, func() clientv3.WatchChan {
		return g.cli.Watch(wctx, prefix, clientv3.WithPrefix(), clientv3.WithRev(rev),
			clientv3.WithProgressNotify(), clientv3.WithCreatedNotify())
	})
	return s
}

func (g *grpcConn) Close() error { return g.cli.Close() }

type grpcWatch struct {
	cli     *clientv3.Client
	wctx    context.Context
	c       chan watchResponse
	created atomic.Bool // the server confirmed the watch
}

func (s *grpcWatch) C() <-chan watchResponse { return s.c }

// RequestProgress must use a context derived from the watch's own: the etcd client finds the
// stream by the context's metadata. ctx only bounds the wait. Before the server confirmed the watch
// there is no stream to ask on.
func (s *grpcWatch) RequestProgress(ctx context.Context) error {
	if !s.created.Load() {
		return errNotEstablished
	}
	rctx, cancel := context.WithCancel(s.wctx)
	defer cancel()
	stop := context.AfterFunc(ctx, cancel)
	defer stop()
	return s.cli.RequestProgress(rctx)
}

func (s *grpcWatch) run(ctx context.Context, start func() clientv3.WatchChan) {
	defer close(s.c)
	wch := start()
	for {
		var (
			wr clientv3.WatchResponse
			ok bool
		)
		select {
		case wr, ok = <-wch:
		case <-ctx.Done():
			return
		}
		if !ok {
			s.send(ctx, watchResponse{Err: errors.New("watch stream closed")})
			return
		}
		s.created.Store(true) // any answer means the server holds the watch
		out := watchResponse{Header: grpcHeader(wr.Header.GetClusterId(), wr.Header.GetRevision())}
		if err := wr.Err(); err != nil {
			if wr.CompactRevision != 0 {
				err = fmt.Errorf("%w: compacted at %d", errCompacted, wr.CompactRevision)
			}
			out.Err = err
			s.send(ctx, out)
			return
		}
		if wr.Created {
			continue
		}
		if wr.IsProgressNotify() {
			out.Progress = true
		}
		for _, ev := range wr.Events {
			e := event{KV: state.KV{Key: string(ev.Kv.Key), Value: ev.Kv.Value, ModRevision: ev.Kv.ModRevision}}
			if ev.Type == mvccpb.DELETE {
				e.Type = eventDelete
				e.KV.Value = nil
			}
			out.Events = append(out.Events, e)
		}
		if !s.send(ctx, out) {
			return
		}
	}
}

func (s *grpcWatch) send(ctx context.Context, r watchResponse) bool {
	select {
	case s.c <- r:
		return true
	case <-ctx.Done():
		return false
	}
}

func grpcHeader(cluster uint64, rev int64) header { return header{ClusterID: cluster, Revision: rev} }
