package testutil

import (
	"bufio"
	"context"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// Redis is a redis-server the test started on loopback.
type Redis struct {
	Addr string // 127.0.0.1:port
	cmd  *exec.Cmd
	done chan struct{}
}

// redisServerPath finds redis-server (Debian's package installs it in /usr/bin), or skips the
// test: .ci/run installs it.
func redisServerPath(t testing.TB) string {
	t.Helper()
	if p, err := exec.LookPath("redis-server"); err == nil {
		return p
	}
	for _, p := range []string{"/usr/bin/redis-server", "/usr/sbin/redis-server", "/usr/local/bin/redis-server"} {
		if _, err := os.Stat(p); err == nil {
			return p
		}
	}
	t.Skip("redis-server not found: install Debian's redis-server package (.ci/run does)")
	return ""
}

// StartRedis starts a redis-server on a free loopback port, without persistence, with args
// added to its command line, and waits until it answers PING. It is stopped when the test ends.
func StartRedis(t testing.TB, args ...string) *Redis {
	t.Helper()
	bin := redisServerPath(t)
	return startRedisRetrying(t, func() int { return FreePorts(t, 1)[0] }, bin, args...)
}

// bindAttempts is how many times a server whose port another process took between the choice
// and the start (tests of other packages pick ports at the same time) is started again on
// another port.
const bindAttempts = 5

// startRedisRetrying starts a redis-server on a port from pick, and on another one when its
// ports were taken.
func startRedisRetrying(t testing.TB, pick func() int, bin string, args ...string) *Redis {
	t.Helper()
	for range bindAttempts {
		if r := startRedisOn(t, bin, pick(), args...); r != nil {
			return r
		}
	}
	t.Fatalf("redis-server found its ports taken %d times", bindAttempts)
	return nil
}

// freePortBeside returns a free port whose port+offset is free too (a cluster node's bus port is
// its port + 10000).
func freePortBeside(t testing.TB, offset int) int {
	t.Helper()
	for {
		if p := FreePorts(t, 1)[0]; p+offset <= 65535 && portFree(p+offset) {
			return p
		}
	}
}

// startRedisOn starts a redis-server on port and waits until it answers. It returns nil when
// the server could not bind its ports (its log says "Address already in use"); it fails the
// test when the server ends for another reason.
func startRedisOn(t testing.TB, bin string, port int, args ...string) *Redis {
	t.Helper()
	dir := t.TempDir()
	argv := append([]string{"--bind", "127.0.0.1", "--port", strconv.Itoa(port), "--save", "",
		"--appendonly", "no", "--dir", dir, "--protected-mode", "no"}, args...)
	cmd := exec.Command(bin, argv...)
	log, err := os.Create(filepath.Join(dir, "redis.log"))
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stdout, cmd.Stderr = log, log
	if err := cmd.Start(); err != nil {
		t.Fatalf("start redis-server: %v", err)
	}
	r := &Redis{Addr: net.JoinHostPort("127.0.0.1", strconv.Itoa(port)), cmd: cmd, done: make(chan struct{})}
	go func() { _ = cmd.Wait(); close(r.done) }()
	t.Cleanup(r.Stop)
	busy := false
	WaitForState(t, "redis-server to answer PING on "+r.Addr, 10*time.Second, func() (bool, string) {
		select {
		case <-r.done:
			b, _ := os.ReadFile(log.Name())
			if busy = strings.Contains(string(b), "Address already in use"); busy {
				t.Logf("redis-server on port %d: a port was taken, trying others", port)
				return true, ""
			}
			t.Fatalf("redis-server exited: %s", b)
		default:
		}
		// A short wait: the port may be another process's, which never answers.
		reply, err := r.do(500*time.Millisecond, "PING")
		return err == nil && reply == "+PONG", reply
	})
	if busy {
		return nil
	}
	return r
}

// Do sends one command and returns the first line of the reply ("+PONG", "-ERR ...").
func (r *Redis) Do(args ...string) (string, error) {
	return r.do(5*time.Second, args...)
}

func (r *Redis) do(wait time.Duration, args ...string) (string, error) {
	c, err := net.DialTimeout("tcp", r.Addr, time.Second)
	if err != nil {
		return "", err
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(wait))
	var b strings.Builder
	b.WriteString("*" + strconv.Itoa(len(args)) + "\r\n")
	for _, a := range args {
		b.WriteString("$" + strconv.Itoa(len(a)) + "\r\n" + a + "\r\n")
	}
	if _, err := c.Write([]byte(b.String())); err != nil {
		return "", err
	}
	line, err := bufio.NewReader(c).ReadString('\n')
	return strings.TrimRight(line, "\r\n"), err
}

// Stop kills the server and waits for it to be gone (its port closed).
func (r *Redis) Stop() {
	_ = r.cmd.Process.Kill()
	<-r.done
}

// RedisCluster is three redis-server masters forming one cluster, on loopback.
type RedisCluster struct {
	Nodes []*Redis
}

// StartRedisCluster starts three masters with cluster mode on (each with its bus port, its
// port + 10000, free as well), assigns the 16384 slots among them and waits until the cluster
// state is ok on each. It skips like StartRedis.
func StartRedisCluster(t testing.TB) *RedisCluster {
	t.Helper()
	bin := redisServerPath(t)
	pick := func() int { return freePortBeside(t, 10000) }
	c := &RedisCluster{}
	for i := range 3 {
		// The node's config file is named after the node, not its port, which a retry changes.
		c.Nodes = append(c.Nodes, startRedisRetrying(t, pick, bin, "--cluster-enabled", "yes",
			"--cluster-config-file", "nodes-"+strconv.Itoa(i)+".conf", "--cluster-node-timeout", "2000"))
	}
	_, firstPort, _ := net.SplitHostPort(c.Nodes[0].Addr)
	// Slots in three ranges, then every node meets the first.
	ranges := [][2]int{{0, 5460}, {5461, 10922}, {10923, 16383}}
	for i, n := range c.Nodes {
		args := []string{"CLUSTER", "ADDSLOTSRANGE", strconv.Itoa(ranges[i][0]), strconv.Itoa(ranges[i][1])}
		if reply, err := n.Do(args...); err != nil || reply != "+OK" {
			t.Fatalf("%s %v: %q %v", n.Addr, args, reply, err)
		}
		if i > 0 {
			if reply, err := n.Do("CLUSTER", "MEET", "127.0.0.1", firstPort); err != nil || reply != "+OK" {
				t.Fatalf("%s CLUSTER MEET: %q %v", n.Addr, reply, err)
			}
		}
	}
	for _, n := range c.Nodes {
		WaitForState(t, "cluster_state:ok on "+n.Addr, 20*time.Second, func() (bool, string) {
			info, err := n.info()
			return err == nil && strings.Contains(info, "cluster_state:ok") && strings.Contains(info, "cluster_known_nodes:3"), info
		})
	}
	return c
}

// info returns CLUSTER INFO's text.
func (r *Redis) info() (string, error) {
	d := net.Dialer{Timeout: time.Second}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	c, err := d.DialContext(ctx, "tcp", r.Addr)
	if err != nil {
		return "", err
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(5 * time.Second))
	if _, err := c.Write([]byte("*2\r\n$7\r\nCLUSTER\r\n$4\r\nINFO\r\n")); err != nil {
		return "", err
	}
	br := bufio.NewReader(c)
	head, err := br.ReadString('\n')
	if err != nil || !strings.HasPrefix(head, "$") {
		return head, err
	}
	n, _ := strconv.Atoi(strings.TrimSpace(head[1:]))
	buf := make([]byte, n)
	_, err = io.ReadFull(br, buf)
	return string(buf), err
}

func portFree(p int) bool {
	ln, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(p)))
	if err != nil {
		return false
	}
	_ = ln.Close()
	return true
}
