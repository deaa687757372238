package lifecycle

import (
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"slices"
	"time"

	"github.com/zoneproxy/zoneproxy/config"
	"github.com/zoneproxy/zoneproxy/config/adminauth"
	"github.com/zoneproxy/zoneproxy/config/standalone/adminapi"
	"github.com/zoneproxy/zoneproxy/proxy/plugin"
	"github.com/zoneproxy/zoneproxy/proxy/plugin/builtin"
	"github.com/zoneproxy/zoneproxy/proxy/snapshot"
)

// startAdmin opens deployment.admin.admin_listen and serves the API-driven standalone mode's
// configs paths behind APISIX's Admin API checks. It returns what stops it.
func (a *app) startAdmin(cfg *config.Config) (func(), error) {
	checker, err := adminauth.New(cfg.Deployment.Admin)
	if err != nil {
		return nil, fmt.Errorf("deployment.admin: %w", err)
	}
	for _, k := range checker.Keys() {
		if k.Key != "" && !containsKey(cfg.Deployment.Admin.Keys, k.Key) {
			a.log.Warn("deployment.admin.admin_key: an empty key was replaced by a generated one", "name", k.Name, "key", k.Key)
		}
	}
	opts, err := a.checkOptions(cfg)
	if err != nil {
		return nil, err
	}
	store := adminapi.New(adminapi.Options{
		Prefix: cfg.Deployment.Etcd.Prefix,
		Check: func(key string, value []byte) error {
			if err := unknownPlugin(cfg, value); err != nil {
				return err
			}
			if err := snapshot.Check(opts, key, value); err != nil && !errors.Is(err, snapshot.ErrNotDecoded) {
				return err
			}
			return nil
		},
		Apply:  a.apply,
		Logger: a.log,
		OnPush: func(ok bool) { a.metrics.Reload("admin_api", ok) },
	})
	ln, err := net.Listen("tcp", cfg.Deployment.Admin.Listen.String())
	if err != nil {
		return nil, fmt.Errorf("deployment.admin.admin_listen: %w", err)
	}
	a.cpMu.Lock()
	a.admin = store
	a.cpMu.Unlock()
	srv := &http.Server{Handler: checker.Wrap(store.Handler()), ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = srv.Serve(ln) }()
	a.log.Info("API-driven standalone mode: waiting for PUT /apisix/admin/configs", "admin_listen", ln.Addr().String())
	return func() { _ = srv.Close() }, nil
}

// unknownPlugin refuses an object naming a plugin that is neither an APISIX plugin zoneproxy
// knows of, nor implemented, nor in config.yaml's list, as APISIX's Admin API refuses a plugin
// it does not have ("unknown plugin [name]"); the builder alone would serve the object without it.
func unknownPlugin(cfg *config.Config, value []byte) error {
	var obj struct {
		Plugins map[string]json.RawMessage `json:"plugins"`
	}
	if json.Unmarshal(value, &obj) != nil {
		return nil // the builder's check says what is wrong
	}
	known := plugin.EnabledSet(nil)
	reg := builtin.Registry()
	for name := range obj.Plugins {
		if _, ok := reg.Lookup(name); ok || known[name] || slices.Contains(cfg.Plugins, name) {
			continue
		}
		return fmt.Errorf("unknown plugin [%s]", name)
	}
	return nil
}

func containsKey(keys []config.AdminKey, key string) bool {
	for _, k := range keys {
		if k.Key == key {
			return true
		}
	}
	return false
}

// checkOptions are the snapshot options objects pushed to the Admin API are checked with: those
// of the builder, so that an object accepted is one the data plane serves.
func (a *app) checkOptions(cfg *config.Config) (snapshot.Options, error) {
	b, err := a.builderOptions(cfg)
	if err != nil {
		return snapshot.Options{}, err
	}
	b.Registry, b.Metrics, b.OnReject, b.Logger = nil, nil, nil, nil
	return b, nil
}

// sourceName names the configuration source in the start line.
func (a *app) sourceName(cfg *config.Config) any {
	switch cfg.Deployment.Standalone() {
	case config.StandaloneFile:
		return "file " + cfg.Zoneproxy.StandaloneFile
	case config.StandaloneAPI:
		return "admin api " + cfg.Deployment.Admin.Listen.String()
	}
	return cfg.Deployment.Etcd.Host
}
