package transport

import (
	"math/bits"
	"sync"

	"github.com/valyala/fasthttp"
)

// Response bodies read whole go into buffers shared by every client connection.
//
// fasthttp's server keeps a connection's response body buffer from one request to the next, so
// with 64 busy connections 64 buffers of 64 KiB took turns: 4 MiB, more than a core's L2 cache,
// and the kernel's copy of each body into its buffer ran at the speed of the next cache level.
// nginx, in one process, takes its proxy buffers from a pool and gives them back once the
// response is sent, so the few buffers in use stay in the cache. Here too: a body of at least
// minPooledBody is read into a buffer of the pool (bodyPool.get), and the proxy gives the buffer
// back (ReleaseBody) once the response is written and the client connection is idle. Between two
// requests a connection then holds no large buffer at all.

// minPooledBody is the smallest body read into a pooled buffer: a page, nginx's
// proxy_buffer_size. Smaller bodies stay in the connection's own buffer.
const minPooledBody = 4 << 10

// bodyPool holds body buffers in power-of-two classes, from minPooledBody up to the class that
// holds Options.ResponseBufferSize. A buffer's capacity is exactly its class's size.
type bodyPool struct {
	classes []bodyClassPool
	// holders are the empty *[]byte that carry a buffer in and out of a class's overflow, so
	// that neither get nor put allocates one.
	holders sync.Pool
}

// bodyClassPool is one class: the last buffers given back, on a stack every goroutine shares,
// then the overflow. The stack is what a busy process lives on, a few buffers in turn, and
// the next get takes the buffer last put, the likeliest to be in a cache. A sync.Pool alone
// would miss whenever the goroutine that gives a buffer back and the one that takes the next
// run on different Ps (a sync.Pool's last Put on a P is that P's alone), and allocate. The
// overflow keeps what a burst of large responses put beyond the stack, until the next
// collections.
type bodyClassPool struct {
	mu       sync.Mutex
	stack    [][]byte // at most stackBodies, the last put on top
	overflow sync.Pool
}

// stackBodies is how many buffers of a class the stack keeps: more than one core's requests
// have in flight at once, small enough that what it keeps after a burst (at most twice the
// largest class's size times stackBodies, 1 MiB for 64 KiB) does not matter.
const stackBodies = 8

func newBodyPool(maxBody int) *bodyPool {
	n := 1
	if maxBody > minPooledBody {
		n = bodyClass(maxBody) + 1
	}
	p := &bodyPool{classes: make([]bodyClassPool, n)}
	for i := range p.classes {
		p.classes[i].stack = make([][]byte, 0, stackBodies)
	}
	return p
}

// bodyClass is the class whose buffers hold n bytes (n > 0).
func bodyClass(n int) int {
	if n <= minPooledBody {
		return 0
	}
	return bits.Len(uint((n - 1) / minPooledBody)) // #nosec G115 -- n > 0
}

// get returns an empty buffer that holds n bytes, n at most the largest class's size.
func (p *bodyPool) get(n int) []byte {
	i := bodyClass(n)
	c := &p.classes[i]
	c.mu.Lock()
	if k := len(c.stack) - 1; k >= 0 {
		b := c.stack[k]
		c.stack[k] = nil
		c.stack = c.stack[:k]
		c.mu.Unlock()
		return b
	}
	c.mu.Unlock()
	if h, ok := c.overflow.Get().(*[]byte); ok {
		b := *h
		*h = nil
		p.holders.Put(h)
		return b
	}
	return make([]byte, 0, minPooledBody<<i)
}

// put keeps b for a later get when its capacity is one of the classes' sizes, and reports
// whether it did. Nothing may use a buffer put afterwards.
func (p *bodyPool) put(b []byte) bool {
	n := cap(b)
	if n < minPooledBody {
		return false
	}
	i := bodyClass(n)
	if i >= len(p.classes) || minPooledBody<<i != n {
		return false
	}
	c := &p.classes[i]
	c.mu.Lock()
	if len(c.stack) < stackBodies {
		c.stack = append(c.stack, b[:0])
		c.mu.Unlock()
		return true
	}
	c.mu.Unlock()
	h, ok := p.holders.Get().(*[]byte)
	if !ok {
		h = new([]byte)
	}
	*h = b[:0]
	c.overflow.Put(h)
	return true
}

// takeBody gives resp an empty pooled body buffer that holds n bytes, unless its own already
// does; a pooled buffer it held before goes back.
func (p *bodyPool) takeBody(resp *fasthttp.Response, n int) {
	if n < minPooledBody || cap(resp.Body()) >= n {
		return
	}
	p.put(resp.SwapBody(p.get(n)))
}

// ReleaseBody gives the pool the body buffer of resp, when it is of one of the pool's sizes (one
// Try read a body into, or any other of such a size); resp's body is then empty. Call it once
// resp has been written to the client and nothing refers to its body any more: the buffer is
// the next large response's. A response with a body stream, or whose buffer the pool does not
// keep, is left as it is.
func (t *Transport) ReleaseBody(resp *fasthttp.Response) {
	if resp.IsBodyStream() {
		return
	}
	if b := resp.SwapBody(nil); !t.bodies.put(b) {
		resp.SwapBody(b)
	}
}
