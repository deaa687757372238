// Package cptest runs a real control plane on loopback for tests and for
// cmd/devcp: one etcd cluster (embedded go.etcd.io/etcd/server/v3) whose
// members are reached through TCP forwarders that play the part of the
// per-availability-zone "DP Manager" endpoints: in a multi-AZ API7
// deployment each zone's DP Manager serves the etcd v3 API (gRPC and its
// HTTP/JSON gateway) over TLS on port 7943, in front of one shared store.
//
// Every endpoint is https://127.0.0.1:<port>. The forwarder copies bytes and
// nothing else: etcd terminates TLS itself and requires a client certificate
// signed by the cluster's CA (mutual TLS), and the same port carries the etcd
// gRPC API and its v3 HTTP/JSON gateway. Each endpoint is a fault switch
// (Stop, Blackhole, Reset, Slow, Restore) that breaks connections the way
// production does: refused, hung, reset or slow. Cluster.Client is an admin
// client that bypasses the forwarders, so a test can write configuration while
// it breaks the path its code under test uses.
//
// Start(ctx, Options{Members: 1}) is the quick form most tests want: three
// endpoints in front of a single member. Members == Endpoints gives one member
// per endpoint, for StopMember/RestartMember and for per-member settings such
// as Options.UntrustedClientCA.
//
// # Ports
//
// Everything binds to 127.0.0.1. On Linux every port the cluster uses
// (endpoints, etcd client and peer ports) is held for the cluster's lifetime
// by a bound socket that does not listen: connections to a stopped endpoint
// are still refused, but the kernel never hands the port to a socket asking
// for a free one, so Endpoint.Restore and Cluster.RestartMember get the same
// port back. Elsewhere ports are picked by listening on port 0 and closing,
// which leaves a small window for a clash.
//
// # Concurrency
//
// Cluster and Endpoint methods are safe for concurrent use. StopMember,
// RestartMember and Close are serialised on the cluster. An Endpoint owns the
// goroutines that serve its connections; Cluster.Close stops them all, closes
// the admin client and the members, releases every port and, when the
// cluster created its data directory, removes it. CA is immutable.
package cptest
