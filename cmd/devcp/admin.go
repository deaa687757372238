package main

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/zoneproxy/zoneproxy/config"
	"github.com/zoneproxy/zoneproxy/config/adminapi"
	"github.com/zoneproxy/zoneproxy/config/adminauth"
	"github.com/zoneproxy/zoneproxy/config/keyring"
	"github.com/zoneproxy/zoneproxy/proxy/plugin"
	"github.com/zoneproxy/zoneproxy/proxy/plugin/builtin"
	"github.com/zoneproxy/zoneproxy/proxy/snapshot"
)

// adminKeyFile is where devcp leaves the Admin API key, for `devcp fault` and the demo's curls.
const adminKeyFile = "admin.key"

// startAdmin serves APISIX's Admin API over the control plane's etcd on addr, and devcp's own
// /devcp/fault/<zone>/<mode>, both behind key (generated when empty). It returns the key in force.
func startAdmin(cp *controlPlane, addr, key, dir string, log *slog.Logger) (*http.Server, string, error) {
	reg := builtin.Registry()
	kr, err := keyring.New(keyring.Default)
	if err != nil {
		return nil, "", err
	}
	checkOpts := snapshot.Options{Prefix: "/apisix", Plugins: reg, Keyring: kr, Logger: log}
	api, err := adminapi.New(adminapi.Options{
		KV:     cp.cluster.Client(),
		Prefix: "/apisix",
		// The data plane's own check: an object the Admin API accepts is one zoneproxy serves.
		Validate: func(key string, value []byte) error {
			if err := snapshot.Check(checkOpts, key, value); err != nil && !errors.Is(err, snapshot.ErrNotDecoded) {
				return err
			}
			return nil
		},
		Plugins:       enabledPlugins(reg),
		EncryptFields: encryptFields(reg),
		Keyring:       kr,
		PluginSchema: func(name string, consumer bool) (any, bool) {
			if p, ok := reg.Lookup(name); ok {
				return plugin.Describe(p, consumer)
			}
			return nil, false
		},
		ObjectSchema: func(dir string) (any, bool) { return snapshot.Schema(dir) },
		KnownPlugin: func(name string) bool {
			_, ok := reg.Lookup(name)
			return ok || slices.Contains(plugin.DefaultEnabled, name)
		},
		Logger: log,
	})
	if err != nil {
		return nil, "", err
	}
	auth, err := adminauth.New(config.Admin{KeyRequired: true, Keys: []config.AdminKey{{Name: "admin", Key: key, Role: config.AdminRoleAdmin}}})
	if err != nil {
		return nil, "", err
	}
	key = auth.AdminKey()
	if err := os.WriteFile(filepath.Join(dir, adminKeyFile), []byte(key+"\n"), 0o600); err != nil {
		return nil, "", err
	}
	mux := http.NewServeMux()
	mux.Handle("/apisix/admin/", api)
	mux.Handle("/devcp/fault/", faultHandler(cp))
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, "", fmt.Errorf("admin listener: %w", err)
	}
	srv := &http.Server{Handler: auth.Wrap(mux), ReadHeaderTimeout: 10 * time.Second, ReadTimeout: time.Minute}
	go func() { _ = srv.Serve(ln) }()
	return srv, key, nil
}

// enabledPlugins are the plugins zoneproxy implements among APISIX's default list, highest
// priority first, as /apisix/admin/plugins/list shows them.
func enabledPlugins(reg *plugin.Registry) []string {
	enabled := plugin.EnabledSet(nil)
	var ps []plugin.Plugin
	for _, n := range reg.Names() {
		if p, ok := reg.Lookup(n); ok && enabled[n] {
			ps = append(ps, p)
		}
	}
	slices.SortFunc(ps, func(a, b plugin.Plugin) int {
		return cmp.Or(cmp.Compare(b.Priority(), a.Priority()), strings.Compare(a.Name(), b.Name()))
	})
	names := make([]string, len(ps))
	for i, p := range ps {
		names[i] = p.Name()
	}
	return names
}

func encryptFields(reg *plugin.Registry) func(string) []string {
	return func(name string) []string {
		if p, ok := reg.Lookup(name); ok {
			if a, ok := p.(plugin.Auth); ok {
				return a.EncryptFields()
			}
		}
		return nil
	}
}

// zoneIndex resolves a zone: "az2", "2" or the endpoint's port name endpoint 2 (of n).
func zoneIndex(zone string, ports []int) (int, error) {
	if n, err := strconv.Atoi(strings.TrimPrefix(zone, "az")); err == nil {
		if n >= 1 && n <= len(ports) {
			return n - 1, nil
		}
		if i := slices.Index(ports, n); i >= 0 && !strings.HasPrefix(zone, "az") {
			return i, nil
		}
	}
	return 0, fmt.Errorf("unknown zone %q: want az1..az%d (or an endpoint's port)", zone, len(ports))
}

// faultHandler breaks or heals one pretend zone's endpoint: POST /devcp/fault/<zone>/<mode>,
// mode refuse (connections refused, open ones reset), blackhole (accepted, never answered) or
// heal.
func faultHandler(cp *controlPlane) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		reply := func(status int, v any) {
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(status)
			_ = json.NewEncoder(w).Encode(v)
		}
		if r.Method != http.MethodPost {
			reply(http.StatusMethodNotAllowed, map[string]string{"error_msg": "use POST /devcp/fault/<zone>/refuse|blackhole|heal"})
			return
		}
		zone, mode, _ := strings.Cut(strings.TrimPrefix(r.URL.Path, "/devcp/fault/"), "/")
		i, err := zoneIndex(zone, cp.ports)
		if err != nil {
			reply(http.StatusNotFound, map[string]string{"error_msg": err.Error()})
			return
		}
		ep := cp.cluster.Endpoint(i)
		switch mode {
		case "refuse":
			ep.Stop()
		case "blackhole":
			err = ep.Blackhole()
		case "heal":
			err = ep.Restore()
		default:
			reply(http.StatusBadRequest, map[string]string{"error_msg": fmt.Sprintf("unknown fault %q: want refuse, blackhole or heal", mode)})
			return
		}
		if err != nil {
			reply(http.StatusInternalServerError, map[string]string{"error_msg": err.Error()})
			return
		}
		reply(http.StatusOK, map[string]string{"zone": fmt.Sprintf("az%d", i+1), "endpoint": ep.URL(), "fault": mode})
	})
}

// faultCommand runs "fault ZONE MODE" against the running devcp's admin listener (DEVCP_ADMIN,
// default 127.0.0.1:9180), with the key of DEVCP_ADMIN_KEY or the file devcp wrote.
func faultCommand(args []string, stdout, stderr io.Writer) int {
	if len(args) != 3 {
		fmt.Fprintln(stderr, "usage: devcp fault <zone> refuse|blackhole|heal   (zone: az1, az2, az3)")
		return 2
	}
	addr := cmp.Or(os.Getenv("DEVCP_ADMIN"), "127.0.0.1:9180")
	key := os.Getenv("DEVCP_ADMIN_KEY")
	if key == "" {
		b, err := os.ReadFile(filepath.Join(certDir(), adminKeyFile))
		if err != nil {
			fmt.Fprintf(stderr, "devcp: %v (is devcp running?)\n", err)
			return 1
		}
		key = strings.TrimSpace(string(b))
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodPost, "http://"+addr+"/devcp/fault/"+args[1]+"/"+args[2], nil)
	req.Header.Set("X-API-KEY", key)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		fmt.Fprintln(stderr, "devcp:", err)
		return 1
	}
	defer resp.Body.Close()
	var body map[string]string
	_ = json.NewDecoder(resp.Body).Decode(&body)
	if resp.StatusCode != http.StatusOK {
		fmt.Fprintf(stderr, "devcp: %s: %s\n", resp.Status, body["error_msg"])
		return 1
	}
	fmt.Fprintf(stdout, "%s (%s): %s\n", body["zone"], body["endpoint"], body["fault"])
	return 0
}
