package lifecycle

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/zoneproxy/zoneproxy/config"
	"github.com/zoneproxy/zoneproxy/config/standalone"
	"github.com/zoneproxy/zoneproxy/config/standalone/filesource"
	"github.com/zoneproxy/zoneproxy/config/state"
)

// The standalone sources: the file of the file-driven mode (data_plane + yaml|json) here, the
// Admin API of the API-driven mode in adminapi.go. Both hand their States to apply, as the
// control-plane client does.

// startFile starts reading the standalone file of cfg. The first read happens before it
// returns, so that a valid file serves from the first request.
//
// A file that exists but cannot be loaded at start (bad syntax, an unset variable, too large,
// too many aliases) is an error, and zoneproxy exits, as APISIX's CLI aborts with "invalid
// apisix.yaml file": in this mode the file is the state, so there is no last good configuration
// to serve instead, and an exit is the signal an orchestrator shows. A file that does not exist
// yet, or has no #END yet (a writer mid-write), is waited for, not ready.
func (a *app) startFile(ctx context.Context, cfg *config.Config) error {
	format := standalone.YAML
	if cfg.Deployment.Provider() == config.ProviderJSON {
		format = standalone.JSON
	}
	src := filesource.New(filesource.Config{
		Path: cfg.Zoneproxy.StandaloneFile, Format: format, Prefix: cfg.Deployment.Etcd.Prefix,
		LookupEnv: os.LookupEnv, Logger: a.log, NoInotify: cfg.Zoneproxy.StandaloneWatch == config.WatchPoll,
		OnReload: func(ok bool) { a.metrics.Reload("file", ok) },
	}, a.apply)
	if err := src.Load(ctx); err != nil && !errors.Is(err, fs.ErrNotExist) && !errors.Is(err, standalone.ErrMissingEnd) {
		return fmt.Errorf("invalid %s file: %w", filepath.Base(cfg.Zoneproxy.StandaloneFile), err)
	}
	runCtx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { _ = src.Run(runCtx); close(done) }()
	a.cpMu.Lock()
	a.file, a.fileStop = src, func() { cancel(); <-done }
	a.cpMu.Unlock()
	return nil
}

// stopFile stops reading the standalone file, and waits for it.
func (a *app) stopFile() {
	a.cpMu.Lock()
	stop := a.fileStop
	a.fileStop = nil
	a.cpMu.Unlock()
	if stop != nil {
		stop()
	}
}

// currentState is the last State of the source in use (nil before the first).
func (a *app) currentState() *state.State {
	a.cpMu.Lock()
	file, admin := a.file, a.admin
	a.cpMu.Unlock()
	switch {
	case file != nil:
		return file.State()
	case admin != nil:
		return admin.State()
	}
	if cp := a.client(); cp != nil {
		if st := cp.State(); st.Revision > 0 {
			return st
		}
	}
	return nil
}

// sourceStatus is what /status/control-plane shows of the source in use: whether it is
// "connected" (a file or a push is loaded), and its view.
func (a *app) sourceStatus() (bool, any) {
	a.cpMu.Lock()
	file, admin := a.file, a.admin
	a.cpMu.Unlock()
	switch {
	case file != nil:
		s := file.Status()
		return s.Loaded, s
	case admin != nil:
		s := admin.Status()
		return s.Loaded, s
	}
	cp := a.client()
	return cp.Connected(), cp.Status()
}
