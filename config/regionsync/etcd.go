package regionsync

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"strings"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"

	"github.com/zoneproxy/zoneproxy/config/fingerprint"
)

// ErrConflict is returned by an etcd target's Apply when a key it writes or deletes changed
// since it was read: the transaction did nothing.
var ErrConflict = errors.New("a concurrent edit changed objects since they were read; nothing of this transaction was applied")

// EtcdOptions are the settings of etcd targets.
type EtcdOptions struct {
	// Prefix is the APISIX prefix (default /apisix).
	Prefix string
	// TLS is used for etcd+https endpoints (nil: system roots, no client certificate).
	TLS                *tls.Config
	Username, Password string
	// MaxTxnOps is the most operations one transaction carries: etcd's --max-txn-ops (default
	// 128). A plan with more is applied in several transactions.
	MaxTxnOps int
	// Timeout bounds each request (default 30s).
	Timeout time.Duration
}

// Etcd is a target that is an etcd v3 cluster (an APISIX control plane).
type Etcd struct {
	name, url string
	o         EtcdOptions
	cfg       clientv3.Config
	cli       *clientv3.Client // made by the first Read: a bad password fails this target alone
	now       func() time.Time
}

// NewEtcd returns the etcd target url: "etcd+http://host:port[,host:port...]" or etcd+https.
// It does not connect until used.
func NewEtcd(name, url string, o EtcdOptions) (*Etcd, error) {
	if o.Prefix == "" {
		o.Prefix = "/apisix"
	}
	o.Prefix = "/" + strings.Trim(o.Prefix, "/")
	if o.MaxTxnOps <= 1 {
		o.MaxTxnOps = 128
	}
	if o.Timeout <= 0 {
		o.Timeout = 30 * time.Second
	}
	scheme, rest, ok := strings.Cut(url, "://")
	if !ok || (scheme != "etcd+http" && scheme != "etcd+https") || rest == "" {
		return nil, fmt.Errorf("target %s: %q is not etcd+http://host:port or etcd+https://host:port", name, url)
	}
	var eps []string
	for _, ep := range strings.Split(rest, ",") {
		ep = strings.TrimSuffix(strings.TrimPrefix(strings.TrimPrefix(ep, scheme+"://"), "//"), "/")
		if ep == "" || strings.Contains(ep, "/") {
			return nil, fmt.Errorf("target %s: bad endpoint %q in %q", name, ep, url)
		}
		eps = append(eps, strings.TrimPrefix(scheme, "etcd+")+"://"+ep)
	}
	cfg := clientv3.Config{
		Endpoints: eps, DialTimeout: 5 * time.Second, Username: o.Username, Password: o.Password,
		DialKeepAliveTime: 10 * time.Second, DialKeepAliveTimeout: 5 * time.Second,
		MaxCallRecvMsgSize: 1 << 30,
		Logger:             zap.NewNop(), // errors are returned; the client's retries would only be noise
	}
	if scheme == "etcd+https" {
		cfg.TLS = o.TLS
		if cfg.TLS == nil {
			cfg.TLS = &tls.Config{MinVersion: tls.VersionTLS12}
		}
	}
	return &Etcd{name: name, url: url, o: o, cfg: cfg, now: time.Now}, nil
}

// Name is the target's name.
func (e *Etcd) Name() string { return e.name }

// String is the target's URL and prefix.
func (e *Etcd) String() string { return e.url + e.o.Prefix }

// Close closes the client.
func (e *Etcd) Close() error {
	if e.cli == nil {
		return nil
	}
	return e.cli.Close()
}

// Read returns the objects under the prefix.
func (e *Etcd) Read(ctx context.Context) (*Remote, error) {
	ctx, cancel := context.WithTimeout(ctx, e.o.Timeout)
	defer cancel()
	if e.cli == nil {
		cli, err := clientv3.New(e.cfg) // bounded by its DialTimeout
		if err != nil {
			return nil, fmt.Errorf("connect: %w", err)
		}
		e.cli = cli
	}
	resp, err := e.cli.Get(ctx, e.o.Prefix+"/", clientv3.WithPrefix())
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", e.o.Prefix, err)
	}
	r := &Remote{Objects: Objects{}, Revs: map[string]int64{}, Revision: resp.Header.Revision}
	for _, kv := range resp.Kvs {
		rel, ok := fingerprint.RelKey(e.o.Prefix, string(kv.Key))
		if !ok {
			continue
		}
		r.Objects[rel] = kv.Value
		r.Revs[rel] = kv.ModRevision
	}
	return r, nil
}

// Apply writes plan: one transaction when it has at most MaxTxnOps changes, else several in
// order. Each is guarded by the mod revisions read. It returns how many transactions succeeded
// out of how many.
func (e *Etcd) Apply(ctx context.Context, plan *Plan) (done, total int, err error) {
	n := e.o.MaxTxnOps
	total = (len(plan.Changes) + n - 1) / n
	now := e.now().Unix()
	for i := 0; i < len(plan.Changes); i += n {
		batch := plan.Changes[i:min(i+n, len(plan.Changes))]
		cmps := make([]clientv3.Cmp, 0, len(batch))
		ops := make([]clientv3.Op, 0, len(batch))
		for _, c := range batch {
			key := e.o.Prefix + "/" + c.Key
			cmps = append(cmps, clientv3.Compare(clientv3.ModRevision(key), "=", c.ModRevision))
			if c.Op == Delete {
				ops = append(ops, clientv3.OpDelete(key))
				continue
			}
			ops = append(ops, clientv3.OpPut(key, string(stamp(c.New, c.Old, now))))
		}
		tctx, cancel := context.WithTimeout(ctx, e.o.Timeout)
		resp, err := e.cli.Txn(tctx).If(cmps...).Then(ops...).Commit()
		cancel()
		if err == nil && !resp.Succeeded {
			err = ErrConflict
		}
		if err != nil {
			return done, total, fmt.Errorf("transaction %d of %d: %w", done+1, total, err)
		}
		done++
	}
	return done, total, nil
}

// stamp sets create_time (kept from old when it has one) and update_time to now, in seconds, as
// APISIX's Admin API does. A value that does not decode is returned as it is.
func stamp(value, old []byte, now int64) []byte {
	m, ok := rawObject(value)
	if !ok {
		return value
	}
	created := any(now)
	if o, ok := rawObject(old); ok && o["create_time"] != nil {
		created = o["create_time"]
	}
	m["create_time"], m["update_time"] = created, now
	b, err := marshal(m)
	if err != nil {
		return value
	}
	return b
}

// rawObject decodes v with every field (decodeObject drops the times and the id): a new map.
func rawObject(v []byte) (map[string]any, bool) {
	if v == nil {
		return nil, false
	}
	m, ok := decodeJSON(v).(map[string]any)
	return m, ok
}
