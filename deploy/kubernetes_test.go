package deploy

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/zoneproxy/zoneproxy/config"
)

// The parts of the Kubernetes objects that the tests read.
type (
	k8sObject struct {
		APIVersion string `yaml:"apiVersion"`
		Kind       string `yaml:"kind"`
		Metadata   struct {
			Name string `yaml:"name"`
		} `yaml:"metadata"`
		Spec yaml.Node `yaml:"spec"`
	}
	labelSelector struct {
		MatchLabels map[string]string `yaml:"matchLabels"`
	}
	deploymentSpec struct {
		Replicas int           `yaml:"replicas"`
		Selector labelSelector `yaml:"selector"`
		Template struct {
			Metadata struct {
				Labels map[string]string `yaml:"labels"`
			} `yaml:"metadata"`
			Spec podSpec `yaml:"spec"`
		} `yaml:"template"`
	}
	podSpec struct {
		TerminationGracePeriodSeconds *int `yaml:"terminationGracePeriodSeconds"`
		TopologySpreadConstraints     []struct {
			MaxSkew           int           `yaml:"maxSkew"`
			TopologyKey       string        `yaml:"topologyKey"`
			WhenUnsatisfiable string        `yaml:"whenUnsatisfiable"`
			LabelSelector     labelSelector `yaml:"labelSelector"`
		} `yaml:"topologySpreadConstraints"`
		SecurityContext struct {
			RunAsNonRoot *bool `yaml:"runAsNonRoot"`
			RunAsUser    *int  `yaml:"runAsUser"`
		} `yaml:"securityContext"`
		Containers []container `yaml:"containers"`
		Volumes    []volume    `yaml:"volumes"`
	}
	volume struct {
		Name      string `yaml:"name"`
		ConfigMap *struct {
			Name string `yaml:"name"`
		} `yaml:"configMap"`
		Secret *struct {
			SecretName string `yaml:"secretName"`
			Items      []struct {
				Key  string `yaml:"key"`
				Path string `yaml:"path"`
			} `yaml:"items"`
		} `yaml:"secret"`
		EmptyDir *yaml.Node `yaml:"emptyDir"`
	}
	container struct {
		Name  string   `yaml:"name"`
		Image string   `yaml:"image"`
		Args  []string `yaml:"args"`
		Ports []struct {
			Name          string `yaml:"name"`
			ContainerPort int    `yaml:"containerPort"`
		} `yaml:"ports"`
		ReadinessProbe *probe `yaml:"readinessProbe"`
		LivenessProbe  *probe `yaml:"livenessProbe"`
		Lifecycle      struct {
			PreStop *struct {
				Sleep *struct {
					Seconds int `yaml:"seconds"`
				} `yaml:"sleep"`
				Exec *struct {
					Command []string `yaml:"command"`
				} `yaml:"exec"`
			} `yaml:"preStop"`
		} `yaml:"lifecycle"`
		VolumeMounts []struct {
			Name      string `yaml:"name"`
			MountPath string `yaml:"mountPath"`
			SubPath   string `yaml:"subPath"`
		} `yaml:"volumeMounts"`
	}
	probe struct {
		HTTPGet *struct {
			Path string `yaml:"path"`
			Port any    `yaml:"port"` // a number or a port name
		} `yaml:"httpGet"`
	}
	serviceSpec struct {
		Selector map[string]string `yaml:"selector"`
		Ports    []struct {
			TargetPort any `yaml:"targetPort"`
		} `yaml:"ports"`
	}
	pdbSpec struct {
		MaxUnavailable any           `yaml:"maxUnavailable"`
		MinAvailable   any           `yaml:"minAvailable"`
		Selector       labelSelector `yaml:"selector"`
	}
	kustomizationFile struct {
		Resources          []string `yaml:"resources"`
		ConfigMapGenerator []struct {
			Name  string   `yaml:"name"`
			Files []string `yaml:"files"`
		} `yaml:"configMapGenerator"`
		Images []struct {
			Name string `yaml:"name"`
		} `yaml:"images"`
	}
)

// manifests decodes a multi-document stream into objects by kind; a kind must appear once.
func manifests(t *testing.T, docs []*yaml.Node) map[string]k8sObject {
	t.Helper()
	out := map[string]k8sObject{}
	for i, d := range docs {
		var o k8sObject
		if err := d.Decode(&o); err != nil {
			t.Fatalf("document %d: %v", i+1, err)
		}
		if o.APIVersion == "" || o.Kind == "" || o.Metadata.Name == "" {
			t.Fatalf("document %d: apiVersion, kind or metadata.name missing", i+1)
		}
		if _, dup := out[o.Kind]; dup {
			t.Fatalf("two %s objects", o.Kind)
		}
		out[o.Kind] = o
	}
	return out
}

func decodeSpec[T any](t *testing.T, objs map[string]k8sObject, kind, apiVersion string) T {
	t.Helper()
	var spec T
	o, ok := objs[kind]
	if !ok {
		t.Fatalf("no %s", kind)
	}
	if o.APIVersion != apiVersion {
		t.Errorf("%s: apiVersion %s, want %s", kind, o.APIVersion, apiVersion)
	}
	if err := o.Spec.Decode(&spec); err != nil {
		t.Fatalf("%s spec: %v", kind, err)
	}
	return spec
}

// portNumber resolves a probe's or a Service's port (a number or a container port name).
func (c container) portNumber(p any) (int, error) {
	switch v := p.(type) {
	case int:
		return v, nil
	case string:
		for _, cp := range c.Ports {
			if cp.Name == v {
				return cp.ContainerPort, nil
			}
		}
		return 0, fmt.Errorf("no container port named %q", v)
	}
	return 0, fmt.Errorf("port %v is neither a number nor a name", p)
}

func (c container) checkProbe(name string, p *probe, wantPath string, cfg *config.Config) error {
	if p == nil || p.HTTPGet == nil {
		return fmt.Errorf("no HTTP %s", name)
	}
	if p.HTTPGet.Path != wantPath {
		return fmt.Errorf("%s path %s, want %s", name, p.HTTPGet.Path, wantPath)
	}
	port, err := c.portNumber(p.HTTPGet.Port)
	if err != nil {
		return fmt.Errorf("%s: %w", name, err)
	}
	if port != cfg.APISIX.Status.Port {
		return fmt.Errorf("%s port %d, want apisix.status.port %d", name, port, cfg.APISIX.Status.Port)
	}
	return nil
}

// preStopSeconds is how long the preStop hook sleeps: the sleep action, or exec sleep N.
func (c container) preStopSeconds() (int, error) {
	h := c.Lifecycle.PreStop
	switch {
	case h == nil:
		return 0, fmt.Errorf("no preStop hook")
	case h.Sleep != nil:
		return h.Sleep.Seconds, nil
	case h.Exec != nil && len(h.Exec.Command) == 2 && h.Exec.Command[0] == "sleep":
		return strconv.Atoi(h.Exec.Command[1])
	}
	return 0, fmt.Errorf("preStop is neither a sleep action nor exec sleep N")
}

func TestKubernetes(t *testing.T) {
	var kz kustomizationFile
	decodeFile(t, kustomization, &kz)
	if len(kz.ConfigMapGenerator) != 1 || len(kz.ConfigMapGenerator[0].Files) != 1 {
		t.Fatalf("want one configMapGenerator with one file (config.yaml), got %+v", kz.ConfigMapGenerator)
	}
	gen := kz.ConfigMapGenerator[0]
	cfg := loadConfig(t, filepath.Join(filepath.Dir(kustomization), gen.Files[0]), nil)

	objs := manifests(t, readDocs(t, k8sManifest))
	dep := decodeSpec[deploymentSpec](t, objs, "Deployment", "apps/v1")
	svc := decodeSpec[serviceSpec](t, objs, "Service", "v1")
	pdb := decodeSpec[pdbSpec](t, objs, "PodDisruptionBudget", "policy/v1")
	pod := dep.Template.Spec
	labels := dep.Template.Metadata.Labels
	if len(pod.Containers) != 1 {
		t.Fatalf("%d containers, want 1", len(pod.Containers))
	}
	c := pod.Containers[0]
	uid, uidErr := readDockerfile(t).user()
	mountOf := func(vol string) (string, string, bool) {
		for _, m := range c.VolumeMounts {
			if m.Name == vol {
				return m.MountPath, m.SubPath, true
			}
		}
		return "", "", false
	}

	runChecks(t, []check{
		{"kustomization lists the manifest", func() error {
			return hasAll(kz.Resources, filepath.Base(k8sManifest))
		}},
		{"image set by the kustomization", func() error {
			for _, img := range kz.Images {
				if img.Name == c.Image {
					return nil
				}
			}
			return fmt.Errorf("image %q is not in the kustomization's images", c.Image)
		}},
		{"selector matches the pod template", func() error {
			if !subset(dep.Selector.MatchLabels, labels) {
				return fmt.Errorf("selector %v does not select %v", dep.Selector.MatchLabels, labels)
			}
			return nil
		}},
		{"one replica per zone at least", func() error {
			if dep.Replicas < 3 {
				return fmt.Errorf("replicas %d, want at least three (three zones)", dep.Replicas)
			}
			return nil
		}},
		{"readiness on /status/ready", func() error {
			return c.checkProbe("readinessProbe", c.ReadinessProbe, "/status/ready", cfg)
		}},
		{"liveness on /status", func() error {
			return c.checkProbe("livenessProbe", c.LivenessProbe, "/status", cfg)
		}},
		{"status server reachable by the kubelet", func() error {
			if cfg.APISIX.Status.IP != "0.0.0.0" {
				return fmt.Errorf("apisix.status.ip %s: the kubelet probes the pod's IP", cfg.APISIX.Status.IP)
			}
			return nil
		}},
		{"readiness stays up through a control-plane outage", func() error {
			if cfg.Zoneproxy.ReadyRequiresControlPlane {
				return fmt.Errorf("zoneproxy.ready_requires_control_plane is true")
			}
			return nil
		}},
		{"preStop sleep covers drain_delay", func() error {
			s, err := c.preStopSeconds()
			if err != nil {
				return err
			}
			if s < seconds(cfg.Zoneproxy.DrainDelay) {
				return fmt.Errorf("preStop sleeps %d s, less than drain_delay %v", s, cfg.Zoneproxy.DrainDelay)
			}
			return nil
		}},
		{"terminationGracePeriodSeconds covers preStop, drain and shutdown", func() error {
			s, err := c.preStopSeconds()
			if err != nil {
				return err
			}
			if pod.TerminationGracePeriodSeconds == nil {
				return fmt.Errorf("terminationGracePeriodSeconds unset (30 s)")
			}
			need := s + seconds(cfg.Zoneproxy.DrainDelay) + seconds(cfg.Zoneproxy.ShutdownTimeout)
			if g := *pod.TerminationGracePeriodSeconds; g <= need {
				return fmt.Errorf("terminationGracePeriodSeconds %d, want more than preStop %d + drain_delay + shutdown_timeout = %d", g, s, need)
			}
			return nil
		}},
		{"spread across zones", func() error {
			for _, tsc := range pod.TopologySpreadConstraints {
				if tsc.TopologyKey != "topology.kubernetes.io/zone" {
					continue
				}
				if tsc.MaxSkew != 1 || tsc.WhenUnsatisfiable != "DoNotSchedule" {
					return fmt.Errorf("zone spread: maxSkew %d, %s; want 1, DoNotSchedule", tsc.MaxSkew, tsc.WhenUnsatisfiable)
				}
				if !subset(tsc.LabelSelector.MatchLabels, labels) {
					return fmt.Errorf("zone spread selector %v does not select the pods", tsc.LabelSelector.MatchLabels)
				}
				return nil
			}
			return fmt.Errorf("no topologySpreadConstraint on topology.kubernetes.io/zone")
		}},
		{"PodDisruptionBudget", func() error {
			if !subset(pdb.Selector.MatchLabels, labels) {
				return fmt.Errorf("selector %v does not select the pods", pdb.Selector.MatchLabels)
			}
			switch {
			case pdb.MaxUnavailable != nil && pdb.MinAvailable != nil:
				return fmt.Errorf("both maxUnavailable and minAvailable")
			case pdb.MaxUnavailable != nil:
				if n, ok := pdb.MaxUnavailable.(int); ok && (n < 1 || n >= dep.Replicas) {
					return fmt.Errorf("maxUnavailable %d of %d replicas", n, dep.Replicas)
				}
			case pdb.MinAvailable != nil:
				if n, ok := pdb.MinAvailable.(int); ok && (n < 1 || n >= dep.Replicas) {
					return fmt.Errorf("minAvailable %d of %d replicas blocks every eviction or allows all", n, dep.Replicas)
				}
			default:
				return fmt.Errorf("neither maxUnavailable nor minAvailable")
			}
			return nil
		}},
		{"Service sends traffic to the proxy port", func() error {
			if !subset(svc.Selector, labels) {
				return fmt.Errorf("selector %v does not select the pods", svc.Selector)
			}
			if len(svc.Ports) == 0 {
				return fmt.Errorf("no ports")
			}
			for _, p := range svc.Ports {
				port, err := c.portNumber(p.TargetPort)
				if err != nil {
					return err
				}
				if port != cfg.APISIX.NodeListen[0].Port {
					return fmt.Errorf("targetPort %d, want apisix.node_listen %d", port, cfg.APISIX.NodeListen[0].Port)
				}
			}
			return nil
		}},
		{"container ports are config.yaml's", func() error {
			var ports []string
			for _, p := range c.Ports {
				ports = append(ports, strconv.Itoa(p.ContainerPort))
			}
			return hasAll(ports, strconv.Itoa(cfg.APISIX.NodeListen[0].Port), strconv.Itoa(cfg.APISIX.Status.Port),
				strconv.Itoa(cfg.Prometheus.ExportAddr.Port))
		}},
		{"config.yaml from the generated ConfigMap at APISIX's path", func() error {
			if len(c.Args) > 0 && strings.Join(c.Args, " ") != "-c "+configPath {
				return fmt.Errorf("args %v, want -c %s", c.Args, configPath)
			}
			for _, v := range pod.Volumes {
				if v.ConfigMap == nil || v.ConfigMap.Name != gen.Name {
					continue
				}
				mp, sub, ok := mountOf(v.Name)
				if !ok || mp != configPath || sub != gen.Files[0] {
					return fmt.Errorf("ConfigMap %s mounted at %s (subPath %q), want %s (subPath %s)", gen.Name, mp, sub, configPath, gen.Files[0])
				}
				return nil
			}
			return fmt.Errorf("no volume from the ConfigMap %s", gen.Name)
		}},
		{"TLS files from the Secret where config.yaml reads them", func() error {
			for _, v := range pod.Volumes {
				if v.Secret == nil {
					continue
				}
				mp, sub, ok := mountOf(v.Name)
				if !ok || sub != "" {
					return fmt.Errorf("Secret %s: mounted %v, subPath %q (a renewed certificate never reaches a subPath)", v.Secret.SecretName, ok, sub)
				}
				var files []string
				for _, it := range v.Secret.Items {
					files = append(files, path.Join(mp, it.Path))
				}
				return hasAll(files, cfg.APISIX.SSL.TrustedCertificate, cfg.Deployment.Etcd.TLS.Cert, cfg.Deployment.Etcd.TLS.Key)
			}
			return fmt.Errorf("no Secret volume")
		}},
		{"data_dir is a volume", func() error {
			for _, v := range pod.Volumes {
				if mp, _, ok := mountOf(v.Name); ok && mp == cfg.Zoneproxy.DataDir {
					if v.EmptyDir == nil {
						return fmt.Errorf("data_dir volume %s is not an emptyDir", v.Name)
					}
					return nil
				}
			}
			return fmt.Errorf("nothing mounted at data_dir %s", cfg.Zoneproxy.DataDir)
		}},
		{"runs as the image's non-root user", func() error {
			sc := pod.SecurityContext
			if sc.RunAsNonRoot == nil || !*sc.RunAsNonRoot {
				return fmt.Errorf("runAsNonRoot is not true")
			}
			if uidErr != nil {
				return uidErr
			}
			if sc.RunAsUser == nil || *sc.RunAsUser != uid {
				return fmt.Errorf("runAsUser %v, want the Dockerfile's USER %d", sc.RunAsUser, uid)
			}
			return nil
		}},
	})
}

// TestKustomizeBuild renders the kustomization with kubectl, when it is installed, and checks that
// the Deployment refers to the generated ConfigMap by its hashed name.
func TestKustomizeBuild(t *testing.T) {
	kubectl, err := exec.LookPath("kubectl")
	if err != nil {
		t.Skip("kubectl is not installed")
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	var stderr bytes.Buffer
	cmd := exec.CommandContext(ctx, kubectl, "kustomize", filepath.Dir(kustomization))
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("kubectl kustomize: %v\n%s", err, stderr.String())
	}
	path := filepath.Join(t.TempDir(), "rendered.yaml")
	if err := os.WriteFile(path, out, 0o600); err != nil {
		t.Fatal(err)
	}
	objs := manifests(t, readDocs(t, path))
	kinds := make([]string, 0, len(objs))
	for k := range objs {
		kinds = append(kinds, k)
	}
	if err := hasAll(kinds, "ConfigMap", "Deployment", "Service", "PodDisruptionBudget"); err != nil {
		t.Fatal(err)
	}
	cm := objs["ConfigMap"].Metadata.Name
	if !strings.HasPrefix(cm, "zoneproxy-config-") {
		t.Errorf("ConfigMap %s has no content hash", cm)
	}
	dep := decodeSpec[deploymentSpec](t, objs, "Deployment", "apps/v1")
	if !slices.ContainsFunc(dep.Template.Spec.Volumes, func(v volume) bool {
		return v.ConfigMap != nil && v.ConfigMap.Name == cm
	}) {
		t.Errorf("the Deployment does not mount ConfigMap %s", cm)
	}
	if img := dep.Template.Spec.Containers[0].Image; !strings.Contains(img, ":") || strings.HasSuffix(img, ":latest") {
		t.Errorf("rendered image %q is not pinned to a tag", img)
	}
}
