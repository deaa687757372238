package lifecycle

import (
	"fmt"
	"log/slog"
	"net"
	"strings"

	"github.com/zoneproxy/zoneproxy/config"
	"github.com/zoneproxy/zoneproxy/proxy"
)

// listenAll opens every node_listen address, and [::]:port where APISIX would also listen on
// IPv6 (enable_ipv6). An IPv4 address listens on IPv4 only ("tcp" on 0.0.0.0 would take [::] too,
// which the IPv6 entry listens on). An IPv6 listener that cannot open is a warning, not an error.
// key names the setting in errors.
func listenAll(key string, addrs []config.ListenAddr, log *slog.Logger) ([]net.Listener, error) {
	var lns []net.Listener
	for _, a := range addrs {
		network := "tcp4"
		if strings.Contains(a.IP, ":") {
			network = "tcp6"
		}
		ln, err := proxy.Listen(network, a.String())
		if err != nil {
			closeAll(lns)
			return nil, fmt.Errorf("%s: %w", key, err)
		}
		lns = append(lns, ln)
		if a.IPv6 {
			ln6, err := proxy.Listen("tcp6", net.JoinHostPort("::", fmt.Sprint(a.Port)))
			if err != nil {
				log.Warn("not listening on IPv6", "port", a.Port, "error", err)
				continue
			}
			lns = append(lns, ln6)
		}
	}
	return lns, nil
}

func closeAll(lns []net.Listener) {
	for _, ln := range lns {
		_ = ln.Close()
	}
}
