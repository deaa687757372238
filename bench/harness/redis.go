package harness

import (
	"bufio"
	"context"
	"fmt"
	"net"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// startRedis starts the redis-server of the scenarios that need one (limit-count policy redis), once
// per harness run, on a free loopback port of the load CPU: no persistence, no protected mode. It
// returns errNoRedis when redis-server is not installed.
func (h *harness) startRedis(ctx context.Context) (int, error) {
	if h.redis != nil {
		return h.redisPort, nil
	}
	bin, err := exec.LookPath("redis-server")
	if err != nil {
		return 0, errNoRedis
	}
	port, err := freePort()
	if err != nil {
		return 0, err
	}
	argv := append(h.tools.pin(h.o.LoadCPU), bin, "--bind", "127.0.0.1", "--port", strconv.Itoa(port),
		"--save", "", "--appendonly", "no", "--daemonize", "no", "--dir", h.tmp)
	p, err := startProcess("redis-server", filepath.Join(h.tmp, "redis.log"), h.nice(), nil, argv)
	if err != nil {
		return 0, err
	}
	if err := waitRedis(ctx, p, hostPort(port), 30*time.Second); err != nil {
		p.stop(syscall.SIGTERM, 5*time.Second)
		return 0, err
	}
	h.redis, h.redisPort = p, port
	h.log.Info("redis-server", "port", port, "cpu", h.o.LoadCPU)
	return port, nil
}

// errNoRedis: the limitredis scenario is skipped with a note.
var errNoRedis = fmt.Errorf("redis-server is not installed (bench/run.sh installs Debian's redis-server with apt-get)")

// waitRedis polls addr with PING until it answers +PONG, p exits, or timeout passes.
func waitRedis(ctx context.Context, p *process, addr string, timeout time.Duration) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	var last error
	for {
		if last = pingRedis(ctx, addr); last == nil {
			return nil
		}
		select {
		case <-p.done:
			return fmt.Errorf("%s exited (%v) before %s answered: %s", p.name, p.err, addr, p.logTail())
		case <-ctx.Done():
			return fmt.Errorf("%s: %s did not answer PING within %s: %v", p.name, addr, timeout, last)
		case <-time.After(100 * time.Millisecond):
		}
	}
}

func pingRedis(ctx context.Context, addr string) error {
	var d net.Dialer
	c, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return err
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(2 * time.Second))
	if _, err := c.Write([]byte("PING\r\n")); err != nil {
		return err
	}
	line, err := bufio.NewReader(c).ReadString('\n')
	if err != nil {
		return err
	}
	if strings.TrimSpace(line) != "+PONG" {
		return fmt.Errorf("PING answered %q", strings.TrimSpace(line))
	}
	return nil
}
