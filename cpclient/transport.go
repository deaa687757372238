package cpclient

import (
	"context"
	"errors"

	"github.com/zoneproxy/zoneproxy/config/state"
)

// conn is one endpoint as a transport speaks to it. The Client talks to the control plane only through
// it, so that the gRPC API and the HTTP/JSON gateway can both serve every behaviour above it.
type conn interface {
	// Probe makes one cheap linearizable read of key and reports the store's header.
	Probe(ctx context.Context, key string) (header, error)
	// Range reads at most limit keys in [key, end) at revision rev (0 = the latest).
	Range(ctx context.Context, key, end string, rev, limit int64) (page, error)
	// Watch streams every change under prefix from revision rev on. The stream ends (its channel is
	// closed) after a response with Err set, or when ctx is done.
	Watch(ctx context.Context, prefix string, rev int64) watchStream
	// Close releases the connection.
	Close() error
}

// page is one Range answer.
type page struct {
	Header header
	KVs    []state.KV
	More   bool
}

// watchResponse is one message of a watch stream.
type watchResponse struct {
	Header header
	Events []event
	// Progress is set on a progress notification: every change up to Header.Revision was delivered.
	Progress bool
	// Err ends the stream; errCompacted when the start revision was compacted.
	Err error
}

// watchStream is a running watch.
type watchStream interface {
	// C delivers the stream's responses, in order, and is closed when the stream ends.
	C() <-chan watchResponse
	// RequestProgress asks the endpoint for a progress notification on this stream.
	// Transports that cannot ask return errProgressUnsupported; before the endpoint confirmed the
	// watch it returns errNotEstablished.
	RequestProgress(ctx context.Context) error
}

var (
	// errCompacted: the revision asked for is compacted away; the caller must list again.
	errCompacted = errors.New("revision compacted")
	// errProgressUnsupported: the transport cannot request watch progress.
	errProgressUnsupported = errors.New("watch progress requests unsupported")
	// errNotEstablished: the watch is not confirmed by the endpoint yet.
	errNotEstablished = errors.New("watch not established")
)
