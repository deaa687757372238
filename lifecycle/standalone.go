package lifecycle

import (
	"context"
	"os"

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
func (a *app) startFile(ctx context.Context, cfg *config.Config) {
	format := standalone.YAML
	if cfg.Deployment.Provider() == config.ProviderJSON {
		format = standalone.JSON
	}
	src := filesource.New(filesource.Config{
		Path: cfg.Zoneproxy.StandaloneFile, Format: format, Prefix: cfg.Deployment.Etcd.Prefix,
		LookupEnv: os.LookupEnv, Logger: a.log, NoInotify: cfg.Zoneproxy.StandaloneWatch == config.WatchPoll,
		OnReload: func(ok bool) { a.metrics.Reload("file", ok) },
	}, a.apply)
	_ = src.Load(ctx)
	runCtx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { _ = src.Run(runCtx); close(done) }()
	a.cpMu.Lock()
	a.file, a.fileStop = src, func() { cancel(); <-done }
	a.cpMu.Unlock()
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
