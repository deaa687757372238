package harness

import (
	"context"
	"crypto/tls"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// process is a child process whose output goes to a log file.
type process struct {
	name    string
	cmd     *exec.Cmd
	logPath string
	done    chan struct{} // closed when the process has exited; err is set before
	err     error
}

// startProcess starts argv (already prefixed by taskset, if pinned) with env added to the harness's
// environment, at priority nice (see childAttr). The child gets SIGKILL if the harness dies first.
func startProcess(name, logPath string, nice int, env, argv []string) (*process, error) {
	logf, err := os.Create(logPath)
	if err != nil {
		return nil, fmt.Errorf("%s: log: %w", name, err)
	}
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.Env = append(os.Environ(), env...)
	cmd.SysProcAttr = childAttr(nice)
	if err := cmd.Start(); err != nil {
		logf.Close()
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	setAutogroupNice(cmd.Process.Pid, nice)
	p := &process{name: name, cmd: cmd, logPath: logPath, done: make(chan struct{})}
	go func() {
		p.err = cmd.Wait()
		logf.Close()
		close(p.done)
	}()
	return p, nil
}

func (p *process) pid() int { return p.cmd.Process.Pid }

// stop sends sig, waits up to grace for the exit, then kills.
func (p *process) stop(sig syscall.Signal, grace time.Duration) {
	select {
	case <-p.done:
		return
	default:
	}
	_ = p.cmd.Process.Signal(sig)
	select {
	case <-p.done:
	case <-time.After(grace):
		_ = p.cmd.Process.Kill()
		<-p.done
	}
}

// logTail returns the end of the process's log, for error messages.
func (p *process) logTail() string {
	b, err := os.ReadFile(p.logPath)
	if err != nil {
		return ""
	}
	if len(b) > 2000 {
		b = b[len(b)-2000:]
	}
	return strings.TrimSpace(string(b))
}

// probe is one HTTP check of a server that is starting.
type probe struct {
	url     string
	headers []string // "Name: value"
	status  int
	bodyLen int // -1: any
}

// waitHTTP polls until pr answers as expected, p exits, or timeout passes.
func waitHTTP(ctx context.Context, p *process, pr probe, timeout time.Duration) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	// The TLS scenarios' certificate is self-signed.
	client := &http.Client{Timeout: 2 * time.Second, Transport: &http.Transport{DisableKeepAlives: true,
		TLSClientConfig: &tls.Config{InsecureSkipVerify: true}}}
	var last string
	for {
		err := get(ctx, client, pr)
		if err == nil {
			return nil
		}
		last = err.Error()
		select {
		case <-p.done:
			return fmt.Errorf("%s exited (%v) before %s answered: %s", p.name, p.err, pr.url, p.logTail())
		case <-ctx.Done():
			return fmt.Errorf("%s: %s did not answer as expected within %s: %s", p.name, pr.url, timeout, last)
		case <-time.After(100 * time.Millisecond):
		}
	}
}

func get(ctx context.Context, client *http.Client, pr probe) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, pr.url, nil)
	if err != nil {
		return err
	}
	for _, h := range pr.headers {
		k, v, _ := strings.Cut(h, ":")
		if strings.EqualFold(k, "Connection") {
			continue
		}
		req.Header.Set(strings.TrimSpace(k), strings.TrimSpace(v))
	}
	resp, err := client.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return err
	}
	if resp.StatusCode != pr.status {
		return fmt.Errorf("status %d, want %d", resp.StatusCode, pr.status)
	}
	if pr.bodyLen >= 0 && len(body) != pr.bodyLen {
		return fmt.Errorf("body of %d bytes, want %d", len(body), pr.bodyLen)
	}
	return nil
}

// freePort asks the kernel for a free loopback port. Another process may take it before it is used;
// the caller's readiness check then fails loudly.
func freePort() (int, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port, nil
}

func hostPort(port int) string { return net.JoinHostPort("127.0.0.1", strconv.Itoa(port)) }
