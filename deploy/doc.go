// Package deploy holds zoneproxy's deployment files and the tests that keep them honest; it has no
// code of its own.
//
//   - config.yaml: the container's config.yaml, copied into the image by the repository's Dockerfile
//     (at /usr/local/apisix/conf/config.yaml, the path of APISIX's images) and mounted by the demo.
//   - compose/: a three-zone demo for Docker Compose: three etcd members as DP Managers with mutual
//     TLS (certificates made once by gen-certs.sh), three zoneproxies, an upstream.
//   - kubernetes/: a kustomization with a Deployment spread over the zones, its Service and
//     PodDisruptionBudget, and the ConfigMap's config.yaml.
//   - README.md: how to use them, and the load balancers' health-check settings.
//
// No Docker engine or cluster runs in the tests. They parse every YAML file (multi-document streams
// included), check the fields that matter against zoneproxy's own config.yaml parser (probe ports and
// paths, drain timing, topology spread, the disruption budget, each zone's DP Manager first), read
// the Dockerfile instruction by instruction, build ./cmd/zoneproxy with CGO_ENABLED=0, check that the
// binary is static and run its -t on the shipped config.yaml files. Where sh and openssl are
// installed they run gen-certs.sh and complete a mutual TLS handshake with its certificates, and where
// kubectl is, they render the kustomization.
//
// Concurrency: the tests work in their own temporary directories; the one thing they share is the
// static binary, built once per test process (sync.Once) and removed by TestMain.
package deploy
