package status

import (
	"encoding/json"
	"net"
	"net/http"
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
	if ok, why := s.Ready(); !ok {
		writeJSON(w, r, http.StatusServiceUnavailable, map[string]string{"status": "error", "error": why})
		return
	}
	writeJSON(w, r, http.StatusOK, map[string]string{"status": "ok"})
}

type controlPlaneView struct {
	Ready        bool    `json:"ready"`
	Connected    bool    `json:"connected"`
	Source       string  `json:"config_source,omitempty"`
	Revision     int64   `json:"config_revision,omitempty"`
	AgeSeconds   float64 `json:"config_age_seconds,omitempty"`
	ControlPlane any     `json:"control_plane"`
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
