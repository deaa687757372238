package proxy

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"io"
	"log/slog"
	"net"
	"strings"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/zoneproxy/zoneproxy/proxy/h2"
	"github.com/zoneproxy/zoneproxy/proxy/metrics"
	"github.com/zoneproxy/zoneproxy/proxy/ssl"
	"github.com/zoneproxy/zoneproxy/proxy/tlssession"
)

// TLSOptions are the HTTPS listeners' settings (apisix.ssl). SetTLS applies them to the handshakes
// that start afterwards.
type TLSOptions struct {
	// MinVersion and MaxVersion bound the protocol versions (ssl_protocols; default TLS 1.2 to
	// 1.3). An SSL object's own ssl_protocols replace them for its names.
	MinVersion, MaxVersion uint16
	// CipherSuites are the TLS 1.0–1.2 suites (ssl_ciphers; nil: Go's defaults). Go does not let
	// TLS 1.3's be chosen.
	CipherSuites []uint16
	// SessionTickets makes session tickets stateless, crypto/tls's own (ssl_session_tickets: on).
	// Off (the default), sessions stay in the Proxy's session cache and a ticket is an id into
	// it, as OpenSSL's stateful tickets (package tlssession). Either way they resume for
	// SessionTimeout, under the same SSL object's certificates and SNI only.
	SessionTickets bool
	// SessionTimeout is how long a session resumes (ssl_session_timeout; 0: 10 minutes).
	SessionTimeout time.Duration
	// FallbackSNI is the name looked up for a client that sends no SNI (fallback_sni). Empty:
	// such a handshake fails, as APISIX's does.
	FallbackSNI string
	// DisableHTTP2 makes ALPN offer http/1.1 alone (apisix.enable_http2: false). By default
	// ALPN offers h2, then http/1.1, and h2 connections are served by package h2.
	DisableHTTP2 bool
}

// tlsSettings are the TLSOptions in force: base is the tls.Config every certificate's is derived
// from (ssl.Cert.Config caches one per base).
type tlsSettings struct {
	base     *tls.Config
	sessions tlssession.Store
	fallback string
}

// The reasons a handshake finds no certificate.
var (
	errNoSNI      = errors.New("the client sent no SNI and apisix.ssl.fallback_sni is not set")
	errUnknownSNI = errors.New("no SSL object matches the SNI")
)

// SetTLS applies o to the handshakes that start afterwards; connections already open keep theirs.
func (p *Proxy) SetTLS(o TLSOptions) {
	if o.MinVersion == 0 {
		o.MinVersion = tls.VersionTLS12
	}
	if o.MaxVersion == 0 {
		o.MaxVersion = tls.VersionTLS13
	}
	protos := []string{"h2", "http/1.1"}
	if o.DisableHTTP2 {
		protos = protos[1:]
	}
	var sessions tlssession.Store = p.sessions
	if o.SessionTickets {
		sessions = &tlssession.Tickets{Keys: p.tlsServer, TTL: o.SessionTimeout}
	} else if o.SessionTimeout > 0 && o.SessionTimeout != p.sessions.Timeout() {
		p.sessions = tlssession.NewCache(0, o.SessionTimeout, nil)
		sessions = p.sessions
	}
	p.tls.Store(&tlsSettings{
		base: &tls.Config{
			MinVersion: o.MinVersion, MaxVersion: o.MaxVersion, CipherSuites: o.CipherSuites,
			NextProtos: protos,
		},
		sessions: sessions,
		fallback: strings.ToLower(o.FallbackSNI),
	})
}

// initTLS prepares the TLS side of a new Proxy: the server config whose GetConfigForClient picks
// the certificate of each handshake from the current snapshot, and the default settings.
func (p *Proxy) initTLS() {
	p.tlsServer = &tls.Config{GetConfigForClient: p.configForClient}
	p.sessions = tlssession.NewCache(0, 0, nil)
	if p.opts.Metrics != nil {
		p.tlsFailures = p.opts.Metrics.TLSHandshakes()
		p.h2Errors = p.opts.Metrics.HTTP2Errors()
	}
	p.SetTLS(TLSOptions{})
}

// configForClient picks the certificate of a handshake from the snapshot current at its
// ClientHello, without a lock: the settings and the SNI index are immutable, loaded atomically.
func (p *Proxy) configForClient(hello *tls.ClientHelloInfo) (*tls.Config, error) {
	st := p.tls.Load()
	name := hello.ServerName
	if name == "" {
		if st.fallback == "" {
			return nil, errNoSNI
		}
		name = st.fallback
	}
	if s := p.snap.Load(); s != nil {
		if c := s.SSL.Lookup(name); c != nil {
			return c.Config(st.base, st.sessions), nil
		}
	}
	return nil, errUnknownSNI
}

// ServeTLS is Serve for an HTTPS listener: each accepted connection is a TLS server connection whose
// certificate is picked by SNI from the current snapshot's SSL objects. Requests then take the
// same path as on a plain listener ($scheme https, X-Forwarded-Proto: https).
func (p *Proxy) ServeTLS(ln net.Listener) error { return p.serve(ln, true) }

// tlsListener makes the connections of a listener TLS server connections.
type tlsListener struct {
	net.Listener
	p *Proxy
}

func (l *tlsListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	return &tlsConn{Conn: tls.Server(c, l.p.tlsServer), p: l.p}, nil
}

// tlsConn is a TLS server connection whose handshake runs at its first Read, on the goroutine that
// serves it (never in Accept): within the read deadline fasthttp sets for a new connection's first
// byte, client_header_timeout, and a write deadline as long. A failed handshake is counted.
// fasthttp sees a *tls.Conn (ctx.IsTLS), the connection metrics the TCP connection under it
// (NetConn).
//
// On an SSL object whose client certificate is optional (skip_mtls_uri_regex), crypto/tls only
// asks for the certificate; the handshake then verifies it (verifyOptional) and ConnectionState
// reports the chains as crypto/tls would have, or none and ClientVerifyFailed the reason.
type tlsConn struct {
	*tls.Conn
	p    *Proxy
	done bool // the handshake ran; only the reading goroutine touches it
	bad  bool // a record error was counted; the reading goroutine's too
	// Set by the handshake, before any request is read, then read only.
	chains [][]*x509.Certificate // an optional client certificate's verified chains
	failed string                // "FAILED:<reason>" when it did not verify
}

// ConnectionState is crypto/tls's, with the verified chains of an optional client certificate.
func (c *tlsConn) ConnectionState() tls.ConnectionState {
	cs := c.Conn.ConnectionState()
	if c.chains != nil {
		cs.VerifiedChains = c.chains
	}
	return cs
}

// ClientVerifyFailed is $ssl_client_verify for a client certificate that failed to verify
// ("FAILED:<reason>", as nginx), else "".
func (c *tlsConn) ClientVerifyFailed() string { return c.failed }

// verifyOptional verifies the certificate a client sent to an object that asks for one without
// requiring it, as the handshake of an object that requires it would have, and keeps the
// result: the object of the SNI in the current snapshot decides (the one the handshake used,
// unless it changed in between; a request is then held to the new one's rules).
func (c *tlsConn) verifyOptional() {
	cs := c.Conn.ConnectionState()
	if len(cs.PeerCertificates) == 0 || len(cs.VerifiedChains) > 0 {
		return
	}
	name := cs.ServerName
	if name == "" {
		name = c.p.tls.Load().fallback
	}
	s := c.p.snap.Load()
	if s == nil {
		return
	}
	cert := s.SSL.Lookup(name)
	if cert == nil || cert.Client == nil || len(cert.Client.Skip) == 0 {
		return
	}
	chains, err := cert.Client.Verify(cs.PeerCertificates, time.Now())
	if err != nil {
		c.failed = "FAILED:" + ssl.VerifyReason(err)
		if c.p.log.Enabled(context.Background(), slog.LevelDebug) {
			c.p.log.LogAttrs(context.Background(), slog.LevelDebug, "optional client certificate did not verify",
				slog.String("sni", cs.ServerName), slog.String("client", c.RemoteAddr().String()),
				slog.String("error", err.Error()))
		}
		return
	}
	c.chains = chains
}

// Close closes the connection (with crypto/tls's close_notify), unless the connection under it is
// being parked (ParkOnClose): then it stays open as it is, to be served again.
func (c *tlsConn) Close() error {
	if lc := lazyOf(c.NetConn()); lc != nil && lc.ParkOnClose(c) {
		return nil
	}
	return c.Conn.Close()
}

func (c *tlsConn) Read(b []byte) (int, error) {
	if !c.done {
		c.done = true
		if err := c.handshake(); err != nil {
			return 0, err
		}
	}
	n, err := c.Conn.Read(b)
	if err != nil && !c.bad && isRecordError(err) {
		c.bad = true
		c.p.tlsFailures.RecordError()
	}
	return n, err
}

// isRecordError tells a read error of an established TLS connection that the client's records
// caused (crypto/tls then sends an alert and fails every later read) from the connection simply
// ending: end of stream, a timeout, a reset, the server closing it.
func isRecordError(err error) bool {
	var ne net.Error
	switch {
	case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF), errors.Is(err, net.ErrClosed),
		errors.Is(err, syscall.ECONNRESET), errors.Is(err, syscall.EPIPE), errors.As(err, &ne) && ne.Timeout():
		return false
	}
	return true
}

func (c *tlsConn) handshake() error {
	raw := c.NetConn()
	_ = raw.SetWriteDeadline(time.Now().Add(c.p.gen.Load().header))
	err := c.Conn.Handshake()
	_ = raw.SetWriteDeadline(time.Time{})
	if err != nil {
		c.p.handshakeFailed(c, err)
		return err
	}
	c.verifyOptional()
	return nil
}

// handshakeFailed counts a failed handshake and logs it at Debug: failures come from every
// scanner on the internet, so the counter is what to watch.
func (p *Proxy) handshakeFailed(c *tlsConn, err error) {
	reason := "error"
	var ne net.Error
	switch {
	case errors.Is(err, errNoSNI):
		reason = "no_sni"
	case errors.Is(err, errUnknownSNI):
		reason = "unknown_sni"
	case errors.As(err, &ne) && ne.Timeout():
		reason = "timeout"
	case errors.Is(err, io.EOF), errors.Is(err, net.ErrClosed), errors.Is(err, io.ErrUnexpectedEOF):
		reason = "closed"
	}
	p.tlsFailures.Failed(reason)
	if p.log.Enabled(context.Background(), slog.LevelDebug) {
		p.log.LogAttrs(context.Background(), slog.LevelDebug, "TLS handshake failed", slog.String("reason", reason),
			slog.String("sni", c.ConnectionState().ServerName), slog.String("client", c.RemoteAddr().String()),
			slog.String("error", err.Error()))
	}
}

// tlsState is what Proxy keeps for its HTTPS listeners.
type tlsState struct {
	tls         atomic.Pointer[tlsSettings]
	tlsServer   *tls.Config
	sessions    *tlssession.Cache // shared by every SSL object's config; kept across SetTLS
	tlsFailures *metrics.TLSHandshakes
	h2Errors    *metrics.HTTP2Errors
}

// newH2 is the HTTP/2 server of a generation: its streams run Handle, as HTTP/1.1 requests do,
// under the generation's idle and send timeouts.
func (p *Proxy) newH2(idle, send time.Duration) *h2.Server {
	o := h2.Options{
		MaxHeaderBytes: p.opts.MaxHeaderBytes,
		IdleTimeout:    idle,
		SendTimeout:    send,
		ServerName:     p.opts.ServerName,
		Logger:         p.log,
	}
	if p.conns != nil {
		o.OnStream = p.conns.Stream
	}
	if p.opts.Metrics != nil {
		o.CountError = p.opts.Metrics.HTTP2Errors().Count
	}
	return h2.New(p.Handle, o)
}
