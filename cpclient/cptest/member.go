package cptest

import (
	"context"
	"fmt"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"go.etcd.io/etcd/client/pkg/v3/transport"
	"go.etcd.io/etcd/server/v3/embed"
	"go.uber.org/zap"
)

// etcd settings for a loopback test cluster.
const (
	tickMs     = 25  // heartbeat
	electionMs = 500 // leaves room for a starved process under -race on 2 cores
	// A lone member cannot lose an election, so it may campaign at once:
	// its first election comes 1 to 6 ticks after start instead of up to
	// half a second.
	soloTickMs     = 10
	soloElectionMs = 5 * soloTickMs
	snapshotCount  = 1000
	catchUp        = 500
	quotaBytes     = 128 << 20
	bcryptCost     = 4 // bcrypt.MinCost: authentication must not dominate test time
)

// member is one embedded etcd server and its files.
type member struct {
	index   int
	name    string
	dir     string // member root: data/ and tls/ below
	client  *reservation
	peer    *reservation
	target  *target
	tls     transport.TLSInfo
	foreign bool // trusts the foreign client CA

	etcd *embed.Etcd // nil while stopped; guarded by Cluster.mu
}

func (m *member) clientURL() url.URL {
	return url.URL{Scheme: "https", Host: net.JoinHostPort(loopback, strconv.Itoa(m.client.port))}
}

func (m *member) peerURL() url.URL {
	return url.URL{Scheme: "http", Host: net.JoinHostPort(loopback, strconv.Itoa(m.peer.port))}
}

// writeTLS writes the member's server certificate and trust files. A member
// that trusts the foreign CA also gets a client certificate from it, which
// its HTTP gateway presents when dialling its own gRPC port.
func (m *member) writeTLS(ca, foreign *CA) error {
	dir := filepath.Join(m.dir, "tls")
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("cptest: member %s: %w", m.name, err)
	}
	server, err := ca.issuePair("", serverHosts, false)
	if err != nil {
		return err
	}
	files := map[string][]byte{"server.crt": server.certPEM, "server.key": server.keyPEM}
	m.tls = transport.TLSInfo{
		CertFile:       filepath.Join(dir, "server.crt"),
		KeyFile:        filepath.Join(dir, "server.key"),
		TrustedCAFile:  filepath.Join(dir, "client-ca.crt"),
		ClientCertAuth: true,
	}
	if m.foreign {
		self, err := foreign.issuePair("", nil, true)
		if err != nil {
			return err
		}
		files["client-ca.crt"] = foreign.certPEM
		files["gateway.crt"], files["gateway.key"] = self.certPEM, self.keyPEM
		m.tls.ClientCertFile = filepath.Join(dir, "gateway.crt")
		m.tls.ClientKeyFile = filepath.Join(dir, "gateway.key")
	} else {
		files["client-ca.crt"] = ca.certPEM
	}
	for name, data := range files {
		if err := os.WriteFile(filepath.Join(dir, name), data, 0o600); err != nil {
			return fmt.Errorf("cptest: member %s: %w", m.name, err)
		}
	}
	return nil
}

// config builds the member's etcd configuration. A fresh one is needed for
// every start: embed keeps state in it.
func (c *Cluster) memberConfig(m *member) *embed.Config {
	cfg := embed.NewConfig()
	cfg.Name = m.name
	cfg.Dir = filepath.Join(m.dir, "data")
	cfg.Logger = "zap"
	cfg.LogLevel = "error"
	cfg.ZapLoggerBuilder = embed.NewZapLoggerBuilder(c.zlog.With(zap.String("member", m.name)))

	cu, pu := m.clientURL(), m.peerURL()
	cfg.ListenClientUrls, cfg.AdvertiseClientUrls = []url.URL{cu}, []url.URL{cu}
	cfg.ListenPeerUrls, cfg.AdvertisePeerUrls = []url.URL{pu}, []url.URL{pu}
	peers := make([]string, len(c.members))
	for i, o := range c.members {
		u := o.peerURL()
		peers[i] = o.name + "=" + u.String()
	}
	cfg.InitialCluster = strings.Join(peers, ",")
	cfg.InitialClusterToken = c.token
	cfg.ClusterState = embed.ClusterStateFlagNew
	cfg.ClientTLSInfo = m.tls

	cfg.TickMs, cfg.ElectionMs = tickMs, electionMs
	if len(c.members) == 1 {
		cfg.TickMs, cfg.ElectionMs = soloTickMs, soloElectionMs
	}
	cfg.SnapshotCount, cfg.SnapshotCatchUpEntries = snapshotCount, catchUp
	cfg.QuotaBackendBytes = quotaBytes
	cfg.UnsafeNoFsync = true // a test cluster never survives a machine crash
	cfg.BcryptCost = bcryptCost
	if c.opts.ProgressNotifyInterval > 0 {
		cfg.WatchProgressNotifyInterval = c.opts.ProgressNotifyInterval
	}
	if c.opts.KeepAliveMinTime > 0 {
		cfg.GRPCKeepAliveMinTime = c.opts.KeepAliveMinTime
	}
	return cfg
}

// launchMember starts m's etcd server without waiting for it to be ready.
// Members of a new cluster must be launched one after the other: a member
// bootstrapping asks its peers whether it already joined, and a peer port
// that accepts but does not answer yet costs a second each.
func (c *Cluster) launchMember(m *member) error {
	e, err := embed.StartEtcd(c.memberConfig(m))
	if err != nil {
		return fmt.Errorf("cptest: start member %s: %w", m.name, err)
	}
	m.etcd = e
	return nil
}

// waitMember waits until m is ready; on failure it stops m.
func (c *Cluster) waitMember(ctx context.Context, m *member) error {
	e := m.etcd
	var err error
	select {
	case <-e.Server.ReadyNotify():
		m.target.down.Store(false)
		return nil
	case e, ok := <-e.Err():
		err = fmt.Errorf("cptest: member %s stopped before it was ready", m.name)
		if ok {
			err = fmt.Errorf("cptest: member %s: %w", m.name, e)
		}
	case <-e.Server.StopNotify():
		err = fmt.Errorf("cptest: member %s stopped before it was ready", m.name)
	case <-ctx.Done():
		err = fmt.Errorf("cptest: member %s not ready: %w", m.name, ctx.Err())
	}
	e.Server.HardStop()
	e.Close()
	m.etcd = nil
	return err
}

// stopMember stops m: forwarded connections to it are reset first, as if
// its process died, so that open streams do not hold etcd's graceful
// shutdown. The caller holds c.mu.
func (c *Cluster) stopMember(m *member) {
	m.target.down.Store(true)
	for _, ep := range c.endpoints {
		if ep.target == m.target {
			ep.Reset()
		}
	}
	m.etcd.Close()
	m.etcd = nil
}
