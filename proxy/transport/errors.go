package transport

import (
	"errors"
	"io"
	"net"
	"syscall"

	"github.com/valyala/fasthttp"
)

// Failures of an upstream that are not I/O errors.
var (
	errUnexpectedUpgrade = errors.New("upstream switched protocols on a request that did not ask to")
)

// IsTimeout reports a timeout of any layer: fasthttp's, a dial's, a deadline's. The proxy asks it
// of its client connections' errors too.
func IsTimeout(err error) bool {
	if errors.Is(err, fasthttp.ErrTimeout) || errors.Is(err, fasthttp.ErrDialTimeout) ||
		errors.Is(err, fasthttp.ErrTLSHandshakeTimeout) {
		return true
	}
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

// ioFailure reports an error of the connection (reset, early close) rather than of what the
// upstream sent: nginx retries the former ("error"), not the latter ("invalid_header").
func ioFailure(err error) bool {
	var op *net.OpError
	return errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) || errors.As(err, &op) ||
		errors.Is(err, syscall.ECONNRESET) || errors.Is(err, net.ErrClosed)
}

// nonIdempotent reports the methods nginx never retries once sent.
func nonIdempotent(h *fasthttp.RequestHeader) bool {
	return h.IsPost() || h.IsPatch() || string(h.Method()) == "LOCK"
}
