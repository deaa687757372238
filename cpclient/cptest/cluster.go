package cptest

import (
	"context"
	"crypto/rand"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"
	"golang.org/x/sync/errgroup"
)

const rootUser = "root"

// Cluster is a running control plane: etcd members behind endpoints. It is
// safe for concurrent use.
type Cluster struct {
	opts Options
	log  *slog.Logger
	zlog *zap.Logger // etcd's logs

	dir    string
	ownDir bool
	token  string

	ca, foreign *CA
	clientPair  pemPair
	adminCerts  []tls.Certificate // the client certificate of each CA

	members     []*member
	endpoints   []*Endpoint
	epPorts     []*reservation
	client      *clientv3.Client
	startedTook time.Duration

	mu     sync.Mutex // serialises member changes and Close
	closed bool
}

// Start starts a cluster and returns once every member is ready, auth is set
// up and every endpoint listens. ctx bounds the start (at most a minute);
// on error everything started is stopped again.
func Start(ctx context.Context, opts Options) (*Cluster, error) {
	began := time.Now()
	opts, err := opts.normalize()
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(ctx, startTimeout)
	defer cancel()

	c := &Cluster{
		opts:  opts,
		log:   opts.Logger.With("component", "cptest"),
		zlog:  newZapLogger(opts.Logger.With("component", "etcd")),
		token: "cptest-" + rand.Text(),
	}
	if err := c.start(ctx); err != nil {
		c.mu.Lock()
		if cerr := c.shutdownLocked(); cerr != nil {
			c.log.Warn("cleanup after a failed start", "error", cerr)
		}
		c.mu.Unlock()
		return nil, err
	}
	c.startedTook = time.Since(began)
	c.log.Info("control plane started",
		"endpoints", c.Endpoints(), "members", len(c.members), "dir", c.dir, "took", c.startedTook)
	return c, nil
}

// StartT starts a cluster for a test, fails the test if it cannot, and
// closes the cluster when the test ends. With no Options.Dir the data lives
// in t.TempDir().
func StartT(t testing.TB, opts Options) *Cluster {
	t.Helper()
	if opts.Dir == "" {
		opts.Dir = t.TempDir()
	}
	c, err := Start(t.Context(), opts)
	if err != nil {
		t.Fatalf("cptest.Start: %v", err)
	}
	t.Cleanup(func() {
		if err := c.Close(); err != nil {
			t.Errorf("cptest: Close: %v", err)
		}
	})
	return c
}

func (c *Cluster) start(ctx context.Context) error {
	if err := c.makeDir(); err != nil {
		return err
	}
	if err := c.makeCerts(); err != nil {
		return err
	}
	if err := c.reservePorts(); err != nil {
		return err
	}
	for _, m := range c.members {
		if err := m.writeTLS(c.ca, c.foreign); err != nil {
			return err
		}
	}
	for _, m := range c.members {
		if err := c.launchMember(m); err != nil {
			return err
		}
	}
	g, gctx := errgroup.WithContext(ctx)
	for _, m := range c.members {
		g.Go(func() error { return c.waitMember(gctx, m) })
	}
	if err := g.Wait(); err != nil {
		return err
	}
	if c.opts.Auth != nil {
		if err := c.enableAuth(ctx); err != nil {
			return err
		}
	}
	cli, err := c.newAdminClient()
	if err != nil {
		return err
	}
	c.client = cli
	for _, ep := range c.endpoints {
		if err := ep.start(); err != nil {
			return err
		}
	}
	return nil
}

func (c *Cluster) makeDir() error {
	if c.opts.Dir == "" {
		dir, err := os.MkdirTemp("", "cptest-")
		if err != nil {
			return fmt.Errorf("cptest: data dir: %w", err)
		}
		c.dir, c.ownDir = dir, true
		return nil
	}
	entries, err := os.ReadDir(c.opts.Dir)
	switch {
	case errors.Is(err, os.ErrNotExist):
		if err := os.MkdirAll(c.opts.Dir, 0o700); err != nil {
			return fmt.Errorf("cptest: Options.Dir: %w", err)
		}
	case err != nil:
		return fmt.Errorf("cptest: Options.Dir: %w", err)
	case len(entries) > 0:
		return fmt.Errorf("%w: Dir %q is not empty", ErrInvalidOptions, c.opts.Dir)
	}
	c.dir = c.opts.Dir
	return nil
}

func (c *Cluster) makeCerts() error {
	var err error
	c.ca = c.opts.CA
	if c.ca == nil {
		if c.ca, err = NewCA(); err != nil {
			return err
		}
	}
	if c.clientPair, err = c.ca.issuePair("", nil, true); err != nil {
		return err
	}
	c.adminCerts = []tls.Certificate{c.clientPair.tls}
	if len(c.opts.UntrustedClientCA) > 0 {
		if c.foreign, err = NewCA(); err != nil {
			return err
		}
		pair, err := c.foreign.issuePair("", nil, true)
		if err != nil {
			return err
		}
		c.adminCerts = append(c.adminCerts, pair.tls)
	}
	return nil
}

// reservePorts holds every port the cluster needs and lays out members and
// endpoints.
func (c *Cluster) reservePorts() error {
	for i := range c.opts.Members {
		m := &member{
			index:   i,
			name:    fmt.Sprintf("m%d", i),
			dir:     filepath.Join(c.dir, fmt.Sprintf("member-%d", i)),
			foreign: c.opts.untrusted(i),
		}
		c.members = append(c.members, m) // before reserving, so Close releases
		var err error
		if m.client, err = reservePort(0); err != nil {
			return err
		}
		if m.peer, err = reservePort(0); err != nil {
			return err
		}
		m.target = &target{addr: m.clientURL().Host}
	}
	for i := range c.opts.Endpoints {
		port := 0
		if len(c.opts.Ports) > 0 {
			port = c.opts.Ports[i]
		}
		r, err := reservePort(port)
		if err != nil {
			return fmt.Errorf("cptest: endpoint %d: %w", i, err)
		}
		c.epPorts = append(c.epPorts, r)
		m := c.members[0]
		if len(c.members) > 1 {
			m = c.members[i]
		}
		c.endpoints = append(c.endpoints, newEndpoint(i, r.port, m.target, c.log))
	}
	return nil
}

// enableAuth creates the users and turns authentication on, through a
// short-lived client that predates it.
func (c *Cluster) enableAuth(ctx context.Context) error {
	cli, err := c.rawClient(nil)
	if err != nil {
		return err
	}
	defer cli.Close()
	a := c.opts.Auth
	rootPassword := a.Password
	if a.User != rootUser {
		rootPassword = rand.Text() // etcd needs a root user; nobody logs in as it
	}
	type step struct {
		what string
		do   func() error
	}
	steps := []step{
		{"add user root", func() error { _, err := cli.UserAdd(ctx, rootUser, rootPassword); return err }},
		{"grant root to root", func() error { _, err := cli.UserGrantRole(ctx, rootUser, "root"); return err }},
	}
	if a.User != rootUser {
		steps = append(steps,
			step{"add user " + a.User, func() error { _, err := cli.UserAdd(ctx, a.User, a.Password); return err }},
			step{"grant root to " + a.User, func() error { _, err := cli.UserGrantRole(ctx, a.User, "root"); return err }},
		)
	}
	steps = append(steps, step{"enable auth", func() error { _, err := cli.AuthEnable(ctx); return err }})
	for _, s := range steps {
		if err := s.do(); err != nil {
			return fmt.Errorf("cptest: Auth: %s: %w", s.what, err)
		}
	}
	return nil
}

// newAdminClient connects to every member directly, as the Auth user when
// auth is on.
func (c *Cluster) newAdminClient() (*clientv3.Client, error) {
	return c.rawClient(c.opts.Auth)
}

func (c *Cluster) rawClient(auth *Auth) (*clientv3.Client, error) {
	eps := make([]string, len(c.members))
	for i, m := range c.members {
		u := m.clientURL()
		eps[i] = u.String()
	}
	certs := c.adminCerts
	cfg := clientv3.Config{
		Endpoints:   eps,
		DialTimeout: 5 * time.Second,
		Logger:      newZapLogger(c.opts.Logger.With("component", "etcd-client")),
		TLS: &tls.Config{
			MinVersion: tls.VersionTLS12,
			RootCAs:    c.ca.CertPool(),
			// A member that trusts the foreign CA names it in its
			// certificate request; answer with the matching certificate.
			GetClientCertificate: func(cri *tls.CertificateRequestInfo) (*tls.Certificate, error) {
				for i := range certs {
					if cri.SupportsCertificate(&certs[i]) == nil {
						return &certs[i], nil
					}
				}
				return &certs[0], nil
			},
		},
	}
	if auth != nil {
		cfg.Username, cfg.Password = auth.User, auth.Password
	}
	cli, err := clientv3.New(cfg)
	if err != nil {
		return nil, fmt.Errorf("cptest: admin client: %w", err)
	}
	return cli, nil
}

// Endpoints returns the URL of every endpoint, in order.
func (c *Cluster) Endpoints() []string {
	urls := make([]string, len(c.endpoints))
	for i, ep := range c.endpoints {
		urls[i] = ep.URL()
	}
	return urls
}

// Endpoint returns endpoint i, or nil if there is no such endpoint.
func (c *Cluster) Endpoint(i int) *Endpoint {
	if i < 0 || i >= len(c.endpoints) {
		return nil
	}
	return c.endpoints[i]
}

// Client returns the admin client. It talks to the members directly, not
// through the endpoints, so endpoint faults do not affect it; with
// Options.Auth it is authenticated as Auth.User. It is closed by Close. A
// watch left open on it delays StopMember of the member serving it by
// etcd's request timeout (about 6 s).
func (c *Cluster) Client() *clientv3.Client { return c.client }

// CA returns the CA that issued the cluster's server and client
// certificates.
func (c *Cluster) CA() *CA { return c.ca }

// ClientCert returns a client certificate the cluster trusts (except on
// Options.UntrustedClientCA endpoints). Its common name is empty.
func (c *Cluster) ClientCert() tls.Certificate { return c.clientPair.tls }

// TLSConfig returns a new client TLS configuration for the endpoints: the
// cluster's CA as root and ClientCert.
func (c *Cluster) TLSConfig() *tls.Config {
	return &tls.Config{
		MinVersion:   tls.VersionTLS12,
		RootCAs:      c.ca.CertPool(),
		Certificates: []tls.Certificate{c.clientPair.tls},
	}
}

// StartupTime returns how long Start took.
func (c *Cluster) StartupTime() time.Duration { return c.startedTook }

// WriteFiles writes ca.crt, client.crt and client.key (mode 0600) into dir,
// which must exist, and returns their paths.
func (c *Cluster) WriteFiles(dir string) (Files, error) {
	f := Files{
		CA:   filepath.Join(dir, "ca.crt"),
		Cert: filepath.Join(dir, "client.crt"),
		Key:  filepath.Join(dir, "client.key"),
	}
	for _, w := range []struct {
		path string
		data []byte
		mode os.FileMode
	}{
		{f.CA, c.ca.certPEM, 0o644},
		{f.Cert, c.clientPair.certPEM, 0o644},
		{f.Key, c.clientPair.keyPEM, 0o600},
	} {
		if err := os.WriteFile(w.path, w.data, w.mode); err != nil {
			return Files{}, fmt.Errorf("cptest: WriteFiles: %w", err)
		}
		if err := os.Chmod(w.path, w.mode); err != nil {
			return Files{}, fmt.Errorf("cptest: WriteFiles: %w", err)
		}
	}
	return f, nil
}

// StopMember stops etcd member i, keeping its data. Connections forwarded to
// it are reset and endpoints in front of it reset new ones until
// RestartMember. With one member the whole control plane is down.
func (c *Cluster) StopMember(i int) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	m, err := c.memberLocked(i)
	if err != nil {
		return err
	}
	if m.etcd == nil {
		return fmt.Errorf("cptest: StopMember(%d): already stopped", i)
	}
	c.stopMember(m)
	c.log.Info("member stopped", "member", m.name)
	return nil
}

// RestartMember starts stopped member i again on the same ports and data
// and waits until it is ready (at most a minute).
func (c *Cluster) RestartMember(i int) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	m, err := c.memberLocked(i)
	if err != nil {
		return err
	}
	if m.etcd != nil {
		return fmt.Errorf("cptest: RestartMember(%d): already running", i)
	}
	ctx, cancel := context.WithTimeout(context.Background(), startTimeout)
	defer cancel()
	if err := c.launchMember(m); err != nil {
		return err
	}
	if err := c.waitMember(ctx, m); err != nil {
		return err
	}
	c.log.Info("member restarted", "member", m.name)
	return nil
}

func (c *Cluster) memberLocked(i int) (*member, error) {
	if c.closed {
		return nil, ErrClosed
	}
	if i < 0 || i >= len(c.members) {
		return nil, fmt.Errorf("cptest: member %d: out of range 0-%d", i, len(c.members)-1)
	}
	return c.members[i], nil
}

// Close stops everything and releases every port; it removes the data
// directory if Start created it. Calling it again does nothing.
func (c *Cluster) Close() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return nil
	}
	err := c.shutdownLocked()
	c.log.Info("control plane closed")
	return err
}

// shutdownLocked tears down whatever start built, in an order that keeps
// etcd's graceful shutdown from waiting on open streams.
func (c *Cluster) shutdownLocked() error {
	c.closed = true
	var errs []error
	for _, ep := range c.endpoints {
		ep.close()
	}
	if c.client != nil {
		if err := c.client.Close(); err != nil && !errors.Is(err, context.Canceled) {
			errs = append(errs, fmt.Errorf("cptest: close admin client: %w", err))
		}
	}
	// Stop every raft node first: a graceful stop of a leader whose
	// followers are stopping too would wait seconds for a leadership
	// transfer, and peers would hold each other's HTTP shutdown.
	var wg sync.WaitGroup
	for _, m := range c.members {
		if m.etcd != nil {
			m.target.down.Store(true)
			wg.Go(m.etcd.Server.HardStop)
		}
	}
	wg.Wait()
	for _, m := range c.members {
		if m.etcd != nil {
			wg.Go(m.etcd.Close)
		}
	}
	wg.Wait()
	for _, m := range c.members {
		m.etcd = nil
	}
	for _, r := range c.epPorts {
		errs = append(errs, r.Close())
	}
	for _, m := range c.members {
		for _, r := range []*reservation{m.client, m.peer} {
			if r != nil {
				errs = append(errs, r.Close())
			}
		}
	}
	if c.ownDir {
		if err := os.RemoveAll(c.dir); err != nil {
			errs = append(errs, fmt.Errorf("cptest: remove data dir: %w", err))
		}
	}
	return errors.Join(errs...)
}
