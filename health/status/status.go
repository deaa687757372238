package status

import (
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync/atomic"
	"time"
)

// Config is what the Server's answers are computed from.
type Config struct {
	// Loaded reports whether a configuration is loaded, and where it came from ("control_plane" or
	// "state_file"), its revision and when it was built.
	Loaded func() (ok bool, source string, revision int64, built time.Time)
	// ControlPlane reports whether a control-plane endpoint is in use, and a JSON-encodable view of
	// the control-plane client for /status/control-plane.
	ControlPlane func() (connected bool, view any)
	// RequireControlPlane makes readiness need a control-plane endpoint in use
	// (zoneproxy.ready_requires_control_plane).
	RequireControlPlane bool
	// Fingerprint returns the fingerprint of the configuration served (config/fingerprint), ""
	// when none is loaded. nil: no fingerprint is reported and ?fingerprint= never matches.
	Fingerprint func() string
	// Confirmed returns when the control plane last confirmed the configuration served: the zero
	// time when it never did (a configuration from the state file only). nil: never.
	Confirmed func() time.Time
}

// Checks are the optional conditions of a region-level (GSLB) readiness probe, taken from the
// query of /status/ready.
type Checks struct {
	// MaxConfigAge fails readiness when the configuration was last confirmed by the control plane
	// longer ago than this (?max_config_age=30s; a plain number is seconds). 0: not checked.
	MaxConfigAge time.Duration
	// Fingerprint fails readiness when the configuration served has another fingerprint
	// (?fingerprint=<hex>, case-insensitive). "": not checked.
	Fingerprint string
}

// ParseChecks reads Checks from the query of a /status/ready request; an unknown parameter or a
// malformed value is an error, so that a typo in a health check's URL does not pass silently.
func ParseChecks(q url.Values) (Checks, error) {
	var c Checks
	for k, vs := range q {
		v := vs[len(vs)-1]
		switch k {
		case "max_config_age":
			d, err := time.ParseDuration(v)
			if err != nil {
				n, nerr := strconv.ParseFloat(v, 64)
				if nerr != nil {
					return c, fmt.Errorf("max_config_age %q: a duration (30s, 2m) or a number of seconds", v)
				}
				d = time.Duration(n * float64(time.Second))
			}
			if d <= 0 {
				return c, fmt.Errorf("max_config_age %q: must be positive", v)
			}
			c.MaxConfigAge = d
		case "fingerprint":
			v = strings.ToLower(v)
			if v == "" || strings.Trim(v, "0123456789abcdef") != "" {
				return c, fmt.Errorf("fingerprint %q: hex digits expected", v)
			}
			c.Fingerprint = v
		default:
			return c, fmt.Errorf("unknown parameter %q (known: max_config_age, fingerprint)", k)
		}
	}
	return c, nil
}

// Server answers the status endpoints.
type Server struct {
	cfg       Config
	listening atomic.Bool
	draining  atomic.Bool
	requireCP atomic.Bool
	mux       *http.ServeMux
}

// New returns a Server; it is not ready until SetListening(true).
func New(cfg Config) *Server {
	s := &Server{cfg: cfg, mux: http.NewServeMux()}
	s.requireCP.Store(cfg.RequireControlPlane)
	s.mux.HandleFunc("/status", s.live)
	s.mux.HandleFunc("/status/ready", s.ready)
	s.mux.HandleFunc("/status/control-plane", s.controlPlane)
	return s
}

// SetListening records whether the proxy listens.
func (s *Server) SetListening(v bool) { s.listening.Store(v) }

// SetRequireControlPlane changes Config.RequireControlPlane (on a configuration reload).
func (s *Server) SetRequireControlPlane(v bool) { s.requireCP.Store(v) }

// SetDraining makes readiness fail at once, for a graceful shutdown.
func (s *Server) SetDraining() { s.draining.Store(true) }

// Handler serves the endpoints.
func (s *Server) Handler() http.Handler { return s.mux }

// Serve serves on ln until srv is shut down; it returns the http.Server so the caller owns it.
func (s *Server) Serve(ln net.Listener) *http.Server {
	srv := &http.Server{Handler: s.mux, ReadHeaderTimeout: 5 * time.Second}
	go func() { _ = srv.Serve(ln) }()
	return srv
}

// Ready reports readiness and, when not ready, why.
func (s *Server) Ready() (bool, string) {
	switch {
	case s.draining.Load():
		return false, "shutting down"
	case !s.listening.Load():
		return false, "the proxy is not listening yet"
	}
	if ok, _, _, _ := s.cfg.Loaded(); !ok {
		return false, "no configuration loaded yet"
	}
	if s.requireCP.Load() {
		if connected, _ := s.cfg.ControlPlane(); !connected {
			return false, "no control-plane endpoint is reachable"
		}
	}
	return true, ""
}

// ReadyFor is Ready with the region-level checks c.
func (s *Server) ReadyFor(c Checks) (bool, string) {
	if ok, why := s.Ready(); !ok {
		return ok, why
	}
	if c.Fingerprint != "" {
		fp := s.fingerprint()
		if fp != c.Fingerprint {
			return false, fmt.Sprintf("config_fingerprint %s is not the expected %s", cmpOr(fp, "(none)"), c.Fingerprint)
		}
	}
	if c.MaxConfigAge > 0 {
		at := s.confirmed()
		if at.IsZero() {
			return false, "the configuration was never confirmed by a control plane"
		}
		if age := time.Since(at); age > c.MaxConfigAge {
			return false, fmt.Sprintf("the configuration was last confirmed by a control plane %s ago (max_config_age %s)",
				age.Round(time.Millisecond), c.MaxConfigAge)
		}
	}
	return true, ""
}

func (s *Server) fingerprint() string {
	if s.cfg.Fingerprint == nil {
		return ""
	}
	return s.cfg.Fingerprint()
}

func (s *Server) confirmed() time.Time {
	if s.cfg.Confirmed == nil {
		return time.Time{}
	}
	return s.cfg.Confirmed()
}

func cmpOr(a, b string) string {
	if a == "" {
		return b
	}
	return a
}

func (s *Server) live(w http.ResponseWriter, r *http.Request) {
	if !allowed(w, r) {
		return
	}
	writeJSON(w, r, http.StatusOK, map[string]string{"status": "ok"})
}

func (s *Server) ready(w http.ResponseWriter, r *http.Request) {
	if !allowed(w, r) {
		return
	}
	checks, err := ParseChecks(r.URL.Query())
	if err != nil {
		writeJSON(w, r, http.StatusBadRequest, map[string]string{"status": "error", "error": err.Error()})
		return
	}
	if ok, why := s.ReadyFor(checks); !ok {
		writeJSON(w, r, http.StatusServiceUnavailable, map[string]string{"status": "error", "error": why})
		return
	}
	writeJSON(w, r, http.StatusOK, map[string]string{"status": "ok"})
}

type controlPlaneView struct {
	Ready       bool    `json:"ready"`
	Connected   bool    `json:"connected"`
	Source      string  `json:"config_source,omitempty"`
	Revision    int64   `json:"config_revision,omitempty"`
	AgeSeconds  float64 `json:"config_age_seconds,omitempty"`
	Fingerprint string  `json:"config_fingerprint,omitempty"`
	// ConfirmedAt and ConfirmedAge: when the control plane last confirmed the configuration.
	ConfirmedAt  *time.Time `json:"config_confirmed_at,omitempty"`
	ConfirmedAge *float64   `json:"config_confirmed_age_seconds,omitempty"`
	ControlPlane any        `json:"control_plane"`
}

func (s *Server) controlPlane(w http.ResponseWriter, r *http.Request) {
	if !allowed(w, r) {
		return
	}
	v := controlPlaneView{}
	v.Ready, _ = s.Ready()
	v.Connected, v.ControlPlane = s.cfg.ControlPlane()
	if ok, source, rev, built := s.cfg.Loaded(); ok {
		v.Source, v.Revision = source, rev
		v.AgeSeconds = time.Since(built).Round(time.Millisecond).Seconds()
		v.Fingerprint = s.fingerprint()
	}
	if at := s.confirmed(); !at.IsZero() {
		age := time.Since(at).Round(time.Millisecond).Seconds()
		v.ConfirmedAt, v.ConfirmedAge = &at, &age
	}
	writeJSON(w, r, http.StatusOK, v)
}

// allowed lets GET and HEAD through and answers 405 to anything else.
func allowed(w http.ResponseWriter, r *http.Request) bool {
	if r.Method == http.MethodGet || r.Method == http.MethodHead {
		return true
	}
	w.Header().Set("Allow", "GET, HEAD")
	writeJSON(w, r, http.StatusMethodNotAllowed, map[string]string{"status": "error", "error": "method not allowed"})
	return false
}

func writeJSON(w http.ResponseWriter, r *http.Request, code int, v any) {
	body, _ := json.Marshal(v)
	body = append(body, '\n')
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(code)
	if r.Method != http.MethodHead {
		_, _ = w.Write(body)
	}
}
