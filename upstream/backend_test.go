package upstream

import (
	"errors"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/valyala/fasthttp"

	"github.com/zoneproxy/zoneproxy/internal/testutil"
)

// backend is a real HTTP upstream on 127.0.0.1 that answers with its name and a status that the
// test can change.
type backend struct {
	name   string
	addr   string
	status atomic.Int32
	hits   atomic.Int64
	hold   chan struct{} // when non-nil, requests wait for it to be closed
	delay  time.Duration // simulated service time
}

func startBackend(t *testing.T, name string, configure ...func(*backend)) *backend {
	t.Helper()
	b := &backend{name: name}
	b.status.Store(200)
	for _, c := range configure {
		c(b)
	}
	ln := testutil.Listen(t)
	b.addr = ln.Addr().String()
	srv := &fasthttp.Server{Handler: func(ctx *fasthttp.RequestCtx) {
		b.hits.Add(1)
		if b.hold != nil {
			<-b.hold
		}
		if b.delay > 0 {
			time.Sleep(b.delay) // simulated latency, not synchronisation
		}
		ctx.SetStatusCode(int(b.status.Load()))
		ctx.SetBodyString(b.name)
	}}
	done := make(chan struct{})
	go func() { defer close(done); _ = srv.Serve(ln) }()
	t.Cleanup(func() {
		if b.hold != nil {
			select {
			case <-b.hold:
			default:
				close(b.hold)
			}
		}
		_ = srv.Shutdown()
		<-done
	})
	return b
}

// send makes one try through the pool like the proxy does: Pick, forward, Done. It returns the
// backend's name ("" when nothing was picked).
func send(t *testing.T, p *Pool, ctx *fasthttp.RequestCtx, tried *Tried) (string, *Node) {
	t.Helper()
	n := p.Pick(ctx, tried)
	if n == nil {
		return "", nil
	}
	req, resp := fasthttp.AcquireRequest(), fasthttp.AcquireResponse()
	defer fasthttp.ReleaseRequest(req)
	defer fasthttp.ReleaseResponse(resp)
	req.SetRequestURI("http://" + n.Addr + "/")
	start := time.Now()
	err := n.Client().DoTimeout(req, resp, 5*time.Second)
	n.Done(resp.StatusCode(), err, time.Since(start))
	if err != nil {
		return "error", n
	}
	return string(resp.Body()), n
}

// nodesOf renders backends as a map-form node list with the given weights.
func nodesOf(bs []*backend, weights ...int) string {
	parts := make([]string, len(bs))
	for i, b := range bs {
		w := 1
		if i < len(weights) {
			w = weights[i]
		}
		parts[i] = `"` + b.addr + `":` + strconv.Itoa(w)
	}
	return "{" + strings.Join(parts, ",") + "}"
}

// waitTimeout bounds every wait for something another goroutine does.
const waitTimeout = 10 * time.Second

var errRefused = errors.New("connection refused")

// deadAddr is a loopback address where nothing listens (a port that was free a moment ago).
func deadAddr(t *testing.T) string {
	t.Helper()
	return "127.0.0.1:" + strconv.Itoa(testutil.FreePorts(t, 1)[0])
}
