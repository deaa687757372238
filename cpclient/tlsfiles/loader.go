package tlsfiles

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"os"
	"sync"
	"time"
)

// Files names the files of the TLS settings for the control-plane endpoints.
type Files struct {
	CA   string // CA bundle that signs the endpoints' certificates ("" = the system roots)
	Cert string // client certificate for mutual TLS ("" = none)
	Key  string // its private key
	// Verify checks the endpoints' certificates (APISIX's etcd.tls.verify, default true).
	Verify bool
	// SNI is the server name sent and verified ("" = the endpoint URL's host).
	SNI string
}

// Loader builds the TLS configuration of every new connection from Files, re-reading a file
// when it changes on disk. A file that is missing or broken after a change keeps the previous
// contents in use, with a log line saying why. It is safe for concurrent use.
type Loader struct {
	files Files
	log   *slog.Logger

	recheck time.Duration // how often the files are stat'ed

	mu        sync.Mutex
	checked   time.Time
	caStamp   fileStamp
	certStamp fileStamp
	keyStamp  fileStamp
	roots     *x509.CertPool
	cert      *tls.Certificate
}

type fileStamp struct {
	mod  time.Time
	size int64
}

// recheckEvery bounds how often the files are stat'ed (once per handshake at most).
const recheckEvery = time.Second

// New reads the files once; an error here (unlike after a change) is returned.
func New(files Files, log *slog.Logger) (*Loader, error) {
	if (files.Cert == "") != (files.Key == "") {
		return nil, errors.New("tls: a client certificate needs both cert and key")
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	l := &Loader{files: files, log: log.With("component", "cpclient"), recheck: recheckEvery}
	if err := l.reload(true); err != nil {
		return nil, err
	}
	return l, nil
}

// Config returns the TLS configuration for a connection to endpoint.
func (l *Loader) Config(endpoint string) (*tls.Config, error) {
	serverName := l.files.SNI
	if serverName == "" {
		u, err := url.Parse(endpoint)
		if err != nil {
			return nil, err
		}
		serverName = u.Hostname()
	}
	cfg := &tls.Config{
		MinVersion: tls.VersionTLS12,
		ServerName: serverName,
		// Verification is done in VerifyConnection against the CA in use at handshake time, so that
		// a rotated CA file applies to connections made after the rotation.
		InsecureSkipVerify: true,
		VerifyConnection: func(cs tls.ConnectionState) error {
			if !l.files.Verify {
				return nil
			}
			return l.verify(cs, serverName)
		},
	}
	if l.files.Cert != "" {
		cfg.GetClientCertificate = func(*tls.CertificateRequestInfo) (*tls.Certificate, error) {
			l.maybeReload()
			l.mu.Lock()
			defer l.mu.Unlock()
			return l.cert, nil
		}
	}
	return cfg, nil
}

func (l *Loader) verify(cs tls.ConnectionState, serverName string) error {
	l.maybeReload()
	l.mu.Lock()
	roots := l.roots
	l.mu.Unlock()
	if len(cs.PeerCertificates) == 0 {
		return errors.New("tls: endpoint sent no certificate")
	}
	opts := x509.VerifyOptions{Roots: roots, Intermediates: x509.NewCertPool(), DNSName: serverName}
	for _, c := range cs.PeerCertificates[1:] {
		opts.Intermediates.AddCert(c)
	}
	_, err := cs.PeerCertificates[0].Verify(opts)
	return err
}

func (l *Loader) maybeReload() {
	l.mu.Lock()
	due := time.Since(l.checked) >= l.recheck
	l.mu.Unlock()
	if due {
		if err := l.reload(false); err != nil {
			l.log.Warn("keeping the previous TLS files", "error", err)
		}
	}
}

// reload re-reads the files whose stamp changed. With first set, every file is read.
func (l *Loader) reload(first bool) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.checked = time.Now()
	var errs []error
	if f := l.files.CA; f != "" {
		if st, changed := stampChanged(f, l.caStamp); first || changed {
			pool, err := readCA(f)
			if err != nil {
				errs = append(errs, err)
			} else {
				l.roots, l.caStamp = pool, st
				if !first {
					l.log.Info("reloaded the control-plane CA", "file", f)
				}
			}
		}
	} else if first {
		pool, err := x509.SystemCertPool()
		if err != nil {
			pool = x509.NewCertPool()
		}
		l.roots = pool
	}
	if l.files.Cert != "" {
		cst, cchanged := stampChanged(l.files.Cert, l.certStamp)
		kst, kchanged := stampChanged(l.files.Key, l.keyStamp)
		if first || cchanged || kchanged {
			cert, err := tls.LoadX509KeyPair(l.files.Cert, l.files.Key)
			if err != nil {
				errs = append(errs, fmt.Errorf("tls: client certificate %s / key %s: %w", l.files.Cert, l.files.Key, err))
			} else {
				l.cert, l.certStamp, l.keyStamp = &cert, cst, kst
				if !first {
					l.log.Info("reloaded the control-plane client certificate", "file", l.files.Cert)
				}
			}
		}
	}
	return errors.Join(errs...)
}

func stampChanged(path string, old fileStamp) (fileStamp, bool) {
	fi, err := os.Stat(path)
	if err != nil {
		return old, true // make the read fail and say why
	}
	st := fileStamp{mod: fi.ModTime(), size: fi.Size()}
	return st, st != old
}

func readCA(path string) (*x509.CertPool, error) {
	pem, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("tls: CA file: %w", err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pem) {
		return nil, fmt.Errorf("tls: CA file %s: no PEM certificate in it", path)
	}
	return pool, nil
}

// Reload re-reads the files that changed on disk now (a SIGHUP), rather than at the next handshake.
// A missing or broken file keeps the previous contents; the error says why.
func (l *Loader) Reload() error { return l.reload(false) }
