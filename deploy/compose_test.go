package deploy

import (
	"encoding/json"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"
)

// composeService is the part of a compose service the tests read. Environment is a map (the file
// uses the map form).
type composeService struct {
	Image string `yaml:"image"`
	Build *struct {
		Context    string `yaml:"context"`
		Dockerfile string `yaml:"dockerfile"`
	} `yaml:"build"`
	Command     []string          `yaml:"command"`
	Environment map[string]string `yaml:"environment"`
	Volumes     []string          `yaml:"volumes"`
	Ports       []string          `yaml:"ports"`
	DependsOn   map[string]struct {
		Condition string `yaml:"condition"`
	} `yaml:"depends_on"`
	StopGracePeriod string `yaml:"stop_grace_period"`
	Healthcheck     *struct {
		Test []string `yaml:"test"`
	} `yaml:"healthcheck"`
}

type composeProject struct {
	Name     string                    `yaml:"name"`
	Services map[string]composeService `yaml:"services"`
	Volumes  map[string]any            `yaml:"volumes"`
}

func readCompose(t *testing.T) composeProject {
	t.Helper()
	var p composeProject
	decodeFile(t, composeFile, &p)
	if len(p.Services) == 0 {
		t.Fatal("no services")
	}
	return p
}

// mount is one short-syntax volume entry, source:target[:mode].
type mount struct{ source, target, mode string }

func (s composeService) mounts() []mount {
	var out []mount
	for _, v := range s.Volumes {
		f := strings.Split(v, ":")
		m := mount{source: f[0]}
		if len(f) > 1 {
			m.target = f[1]
		}
		if len(f) > 2 {
			m.mode = f[2]
		}
		out = append(out, m)
	}
	return out
}

func (s composeService) mountAt(target string) (mount, bool) {
	for _, m := range s.mounts() {
		if m.target == target {
			return m, true
		}
	}
	return mount{}, false
}

// etcdMembers returns the services that run an etcd image, by name.
func (p composeProject) etcdMembers() map[string]composeService {
	out := map[string]composeService{}
	for name, s := range p.Services {
		if strings.Contains(s.Image, "/etcd:") && slices.Contains(s.Command, "/usr/local/bin/etcd") {
			out[name] = s
		}
	}
	return out
}

// composeZoneproxies returns the services built from the repository's Dockerfile, by name.
func composeZoneproxies(t *testing.T) map[string]composeService {
	t.Helper()
	out := map[string]composeService{}
	for name, s := range readCompose(t).Services {
		if s.Build != nil {
			out[name] = s
		}
	}
	if len(out) == 0 {
		t.Fatal("no service is built from the Dockerfile")
	}
	return out
}

// zone is the service name's last letter: etcd-a and zoneproxy-a are zone a.
func zone(service string) string { return service[strings.LastIndexByte(service, '-')+1:] }

func TestCompose(t *testing.T) {
	p := readCompose(t)
	members := p.etcdMembers()
	proxies := composeZoneproxies(t)
	names := func(m map[string]composeService) []string {
		var out []string
		for n := range m {
			out = append(out, n)
		}
		sort.Strings(out)
		return out
	}
	var memberURLs []string
	for _, n := range names(members) {
		memberURLs = append(memberURLs, members[n].Environment["ETCD_ADVERTISE_CLIENT_URLS"])
	}

	checks := []check{
		{"three zones", func() error {
			if len(members) != 3 || len(proxies) != 3 {
				return fmt.Errorf("etcd members %v, zoneproxies %v: want three of each", names(members), names(proxies))
			}
			for _, n := range names(proxies) {
				if _, ok := members["etcd-"+zone(n)]; !ok {
					return fmt.Errorf("%s has no DP Manager etcd-%s in its zone", n, zone(n))
				}
			}
			return nil
		}},
		{"zoneproxy built from the repository's Dockerfile", func() error {
			for _, n := range names(proxies) {
				b := proxies[n].Build
				df := filepath.Join(filepath.Dir(composeFile), b.Context, b.Dockerfile)
				if filepath.Clean(df) != filepath.Clean(dockerfilePath) {
					return fmt.Errorf("%s: build %s, want the repository's Dockerfile", n, df)
				}
			}
			return nil
		}},
		{"upstream and route", func() error {
			routes, ok := p.Services["routes"]
			if !ok || len(routes.Command) != 4 || routes.Command[0] != "etcdctl" || routes.Command[1] != "put" {
				return fmt.Errorf("no routes service running etcdctl put KEY VALUE")
			}
			if !strings.HasPrefix(routes.Command[2], "/apisix/routes/") {
				return fmt.Errorf("route key %s is not under /apisix/routes/", routes.Command[2])
			}
			var route struct {
				URI      string `json:"uri"`
				Upstream struct {
					Nodes map[string]int `json:"nodes"`
				} `json:"upstream"`
			}
			if err := json.Unmarshal([]byte(routes.Command[3]), &route); err != nil {
				return fmt.Errorf("route: %w", err)
			}
			if route.URI == "" || len(route.Upstream.Nodes) == 0 {
				return fmt.Errorf("route %s has no uri or no upstream nodes", routes.Command[3])
			}
			for node := range route.Upstream.Nodes {
				host := node[:strings.LastIndexByte(node, ':')]
				if _, ok := p.Services[host]; !ok {
					return fmt.Errorf("upstream node %s is not a service of the demo", node)
				}
			}
			if c := routes.DependsOn["etcd-a"].Condition; c != "service_healthy" {
				return fmt.Errorf("routes depends on etcd-a with %q, want service_healthy", c)
			}
			return nil
		}},
		{"certificates made once before anything uses them", func() error {
			certs, ok := p.Services["certs"]
			if !ok || !regexp.MustCompile(`^alpine:\d+\.\d+$`).MatchString(certs.Image) {
				return fmt.Errorf("no certs service on a pinned alpine image")
			}
			script, ok := certs.mountAt("/gen-certs.sh")
			if !ok {
				return fmt.Errorf("gen-certs.sh is not mounted into the certs service")
			}
			if _, err := os.Stat(filepath.Join(filepath.Dir(composeFile), script.source)); err != nil {
				return err
			}
			if !strings.Contains(strings.Join(certs.Command, " "), "openssl") {
				return fmt.Errorf("certs: %v does not install openssl", certs.Command)
			}
			for _, n := range append(names(members), names(proxies)...) {
				if c := p.Services[n].DependsOn["certs"].Condition; c != "service_completed_successfully" {
					return fmt.Errorf("%s depends on certs with %q", n, c)
				}
			}
			return nil
		}},
		{"no host port published twice", func() error {
			seen := map[string]string{}
			for name, s := range p.Services {
				for _, port := range s.Ports {
					host, _, _ := strings.Cut(port, ":")
					if other, ok := seen[host]; ok {
						return fmt.Errorf("host port %s published by %s and %s", host, other, name)
					}
					seen[host] = name
				}
			}
			return nil
		}},
		{"named volumes declared", func() error {
			for name, s := range p.Services {
				for _, m := range s.mounts() {
					if strings.HasPrefix(m.source, ".") || strings.HasPrefix(m.source, "/") {
						continue
					}
					if _, ok := p.Volumes[m.source]; !ok {
						return fmt.Errorf("%s mounts volume %s, which is not declared", name, m.source)
					}
				}
			}
			return nil
		}},
	}

	for _, n := range names(members) {
		s := members[n]
		checks = append(checks, check{"etcd " + n, func() error {
			tag := s.Image[strings.LastIndexByte(s.Image, ':')+1:]
			if !regexp.MustCompile(`^(gcr\.io/etcd-development|quay\.io/coreos)/etcd:`).MatchString(s.Image) ||
				!regexp.MustCompile(`^v3\.[56]\.\d+$`).MatchString(tag) {
				return fmt.Errorf("image %s: want the official image pinned to a v3.5 or v3.6 release", s.Image)
			}
			env := s.Environment
			want := map[string]string{
				"ETCD_NAME":                        n,
				"ETCD_ADVERTISE_CLIENT_URLS":       "https://" + n + ":7943",
				"ETCD_INITIAL_ADVERTISE_PEER_URLS": "https://" + n + ":2380",
				"ETCD_CLIENT_CERT_AUTH":            "true",
				"ETCD_PEER_CLIENT_CERT_AUTH":       "true",
				"ETCD_CERT_FILE":                   "/certs/" + n + ".crt",
				"ETCD_KEY_FILE":                    "/certs/" + n + ".key",
				"ETCD_PEER_CERT_FILE":              "/certs/" + n + ".crt",
				"ETCD_PEER_KEY_FILE":               "/certs/" + n + ".key",
				"ETCD_TRUSTED_CA_FILE":             "/certs/ca.crt",
				"ETCD_PEER_TRUSTED_CA_FILE":        "/certs/ca.crt",
			}
			for k, v := range want {
				if env[k] != v {
					return fmt.Errorf("%s=%q, want %q", k, env[k], v)
				}
			}
			for _, k := range []string{"ETCD_LISTEN_CLIENT_URLS", "ETCD_LISTEN_PEER_URLS"} {
				if !strings.HasPrefix(env[k], "https://0.0.0.0:") {
					return fmt.Errorf("%s=%q: want https on every address", k, env[k])
				}
			}
			for _, m := range names(members) {
				if !strings.Contains(env["ETCD_INITIAL_CLUSTER"], m+"=https://"+m+":2380") {
					return fmt.Errorf("ETCD_INITIAL_CLUSTER %q lacks %s", env["ETCD_INITIAL_CLUSTER"], m)
				}
			}
			if s.Healthcheck == nil || !slices.Contains(s.Healthcheck.Test, "etcdctl") {
				return fmt.Errorf("no etcdctl health check")
			}
			if _, ok := s.mountAt("/certs"); !ok {
				return fmt.Errorf("the certs volume is not at /certs")
			}
			return nil
		}})
	}

	for _, n := range names(proxies) {
		s := proxies[n]
		checks = append(checks, check{"zoneproxy " + n, func() error {
			hosts := s.Environment["APISIX_DEPLOYMENT_ETCD_HOST"]
			var list []string
			if err := json.Unmarshal([]byte(hosts), &list); err != nil {
				return fmt.Errorf("APISIX_DEPLOYMENT_ETCD_HOST: %w", err)
			}
			if len(list) == 0 || list[0] != members["etcd-"+zone(n)].Environment["ETCD_ADVERTISE_CLIENT_URLS"] {
				return fmt.Errorf("APISIX_DEPLOYMENT_ETCD_HOST %s: want etcd-%s, its own zone's, first", hosts, zone(n))
			}
			if got := slices.Sorted(slices.Values(list)); !slices.Equal(got, memberURLs) {
				return fmt.Errorf("APISIX_DEPLOYMENT_ETCD_HOST %s: want every member once, %v", hosts, memberURLs)
			}
			cm, ok := s.mountAt(configPath)
			if !ok || cm.mode != "ro" {
				return fmt.Errorf("config.yaml is not mounted read-only at %s", configPath)
			}
			cfg, err := parseConfig(filepath.Join(filepath.Dir(composeFile), cm.source), s.Environment)
			if err != nil {
				return err
			}
			if !slices.Equal(cfg.Deployment.Etcd.Host, list) {
				return fmt.Errorf("deployment.etcd.host %v, want %v from the environment", cfg.Deployment.Etcd.Host, list)
			}
			for _, f := range []string{cfg.APISIX.SSL.TrustedCertificate, cfg.Deployment.Etcd.TLS.Cert, cfg.Deployment.Etcd.TLS.Key} {
				m, ok := s.mountAt(filepath.Dir(f))
				if !ok || m.source != "certs" {
					return fmt.Errorf("%s is not on the certs volume", f)
				}
			}
			m, ok := s.mountAt(cfg.Zoneproxy.DataDir)
			if _, named := p.Volumes[m.source]; !ok || !named {
				return fmt.Errorf("data_dir %s is not on a named volume", cfg.Zoneproxy.DataDir)
			}
			var published []string
			for _, port := range s.Ports {
				published = append(published, port[strings.LastIndexByte(port, ':')+1:])
			}
			if err := hasAll(published, fmt.Sprint(cfg.APISIX.NodeListen[0].Port), fmt.Sprint(cfg.APISIX.Status.Port),
				fmt.Sprint(cfg.Prometheus.ExportAddr.Port)); err != nil {
				return fmt.Errorf("ports: %w", err)
			}
			grace, err := time.ParseDuration(s.StopGracePeriod)
			if err != nil {
				return fmt.Errorf("stop_grace_period: %w", err)
			}
			if drain := cfg.Zoneproxy.DrainDelay + cfg.Zoneproxy.ShutdownTimeout; grace <= drain {
				return fmt.Errorf("stop_grace_period %v, want more than drain_delay + shutdown_timeout = %v", grace, drain)
			}
			for _, h := range list {
				if u, err := url.Parse(h); err != nil || u.Scheme != "https" {
					return fmt.Errorf("DP Manager %s is not https", h)
				}
			}
			return nil
		}})
	}
	runChecks(t, checks)
}
