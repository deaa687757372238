package cpclient

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/zoneproxy/zoneproxy/config/state"
)

// httpConn speaks etcd's v3 HTTP/JSON gateway (/v3/kv/range, /v3/watch, /v3/auth/authenticate) to
// one endpoint, over HTTP/1.1 as APISIX does: what API7's DP Managers document and serve.
type httpConn struct {
	base     string
	client   *http.Client
	user     string
	password string

	mu    sync.Mutex
	token string
}

type httpOptions struct {
	TLS         func() (*tls.Config, error) // called for every new connection; nil for http://
	Username    string
	Password    string
	DialTimeout time.Duration
}

func dialHTTP(ctx context.Context, endpoint string, o httpOptions) (*httpConn, error) {
	dialer := &net.Dialer{Timeout: o.DialTimeout, KeepAlive: 15 * time.Second}
	tr := &http.Transport{
		DialContext:           dialer.DialContext,
		MaxIdleConnsPerHost:   4,
		IdleConnTimeout:       90 * time.Second,
		ResponseHeaderTimeout: 0, // bounded by each request's context; the watch streams for ever
		ForceAttemptHTTP2:     false,
		TLSNextProto:          map[string]func(string, *tls.Conn) http.RoundTripper{}, // HTTP/1.1 only
	}
	if o.TLS != nil {
		tr.DialTLSContext = func(ctx context.Context, network, addr string) (net.Conn, error) {
			cfg, err := o.TLS()
			if err != nil {
				return nil, err
			}
			cfg = cfg.Clone()
			cfg.NextProtos = []string{"http/1.1"}
			raw, err := dialer.DialContext(ctx, network, addr)
			if err != nil {
				return nil, err
			}
			c := tls.Client(raw, cfg)
			hctx, cancel := context.WithTimeout(ctx, o.DialTimeout)
			defer cancel()
			if err := c.HandshakeContext(hctx); err != nil {
				raw.Close()
				return nil, err
			}
			return c, nil
		}
	}
	h := &httpConn{base: strings.TrimRight(endpoint, "/"), client: &http.Client{Transport: tr},
		user: o.Username, password: o.Password}
	if h.user != "" {
		actx, cancel := context.WithTimeout(ctx, o.DialTimeout)
		defer cancel()
		if err := h.authenticate(actx); err != nil {
			tr.CloseIdleConnections()
			return nil, err
		}
	}
	return h, nil
}

// gatewayError is an error answer of the gateway: a gRPC status code and message.
type gatewayError struct {
	HTTPStatus int
	Code       int    `json:"code"`
	Message    string `json:"message"`
	Text       string `json:"error"`
}

func (e *gatewayError) Error() string {
	msg := e.Message
	if msg == "" {
		msg = e.Text
	}
	return fmt.Sprintf("gateway: HTTP %d: %s (code %d)", e.HTTPStatus, msg, e.Code)
}

func (e *gatewayError) compacted() bool { return strings.Contains(e.Message, "compacted") }

// tokenExpired: etcd answers an unknown or expired simple token with code 16 (Unauthenticated)
// "etcdserver: invalid auth token".
func (e *gatewayError) tokenExpired() bool {
	return e.Code == 16 || strings.Contains(e.Message, "invalid auth token")
}

func (h *httpConn) authenticate(ctx context.Context) error {
	var resp struct {
		Token string `json:"token"`
	}
	if err := h.post(ctx, "/v3/auth/authenticate", map[string]string{"name": h.user, "password": h.password}, &resp, false); err != nil {
		return fmt.Errorf("authenticate: %w", err)
	}
	h.mu.Lock()
	h.token = resp.Token
	h.mu.Unlock()
	return nil
}

// do sends one POST and returns the response when its status is 200. With auth set, the token is
// sent and renewed once if etcd says it expired.
func (h *httpConn) do(ctx context.Context, path string, body any, auth bool) (*http.Response, error) {
	payload, err := json.Marshal(body)
	if err != nil {
		return nil, err
	}
	for attempt := 0; ; attempt++ {
		req, err := http.NewRequestWithContext(ctx, http.MethodPost, h.base+path, bytes.NewReader(payload))
		if err != nil {
			return nil, err
		}
		req.Header.Set("Content-Type", "application/json")
		if auth {
			h.mu.Lock()
			if h.token != "" {
				req.Header.Set("Authorization", h.token)
			}
			h.mu.Unlock()
		}
		resp, err := h.client.Do(req)
		if err != nil {
			return nil, err
		}
		if resp.StatusCode == http.StatusOK {
			return resp, nil
		}
		gerr := &gatewayError{HTTPStatus: resp.StatusCode}
		b, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
		resp.Body.Close()
		if json.Unmarshal(b, gerr) != nil || (gerr.Message == "" && gerr.Text == "") {
			gerr.Message = strings.TrimSpace(string(b))
			if len(gerr.Message) > 200 {
				gerr.Message = gerr.Message[:200]
			}
		}
		if auth && h.user != "" && attempt == 0 && gerr.tokenExpired() {
			if err := h.authenticate(ctx); err != nil {
				return nil, err
			}
			continue
		}
		return nil, gerr
	}
}

func (h *httpConn) post(ctx context.Context, path string, body, out any, auth bool) error {
	resp, err := h.do(ctx, path, body, auth)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if err := json.NewDecoder(resp.Body).Decode(out); err != nil {
		return fmt.Errorf("gateway: %s: %w", path, err)
	}
	return nil
}

// int64s are strings in the gateway's JSON (proto3 JSON mapping); numbers are accepted too.
type jsonInt int64

func (i *jsonInt) UnmarshalJSON(b []byte) error {
	s := strings.Trim(string(b), `"`)
	if s == "" || s == "null" {
		*i = 0
		return nil
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil {
		u, uerr := strconv.ParseUint(s, 10, 64)
		if uerr != nil {
			return err
		}
		n = int64(u)
	}
	*i = jsonInt(n)
	return nil
}

type jsonUint uint64

func (u *jsonUint) UnmarshalJSON(b []byte) error {
	s := strings.Trim(string(b), `"`)
	if s == "" || s == "null" {
		*u = 0
		return nil
	}
	n, err := strconv.ParseUint(s, 10, 64)
	*u = jsonUint(n)
	return err
}

type gwHeader struct {
	ClusterID jsonUint `json:"cluster_id"`
	Revision  jsonInt  `json:"revision"`
}

func (g gwHeader) header() header {
	return header{ClusterID: uint64(g.ClusterID), Revision: int64(g.Revision)}
}

type gwKV struct {
	Key         []byte  `json:"key"`
	Value       []byte  `json:"value"`
	ModRevision jsonInt `json:"mod_revision"`
}

type gwRange struct {
	Header gwHeader `json:"header"`
	KVs    []gwKV   `json:"kvs"`
	More   bool     `json:"more"`
}

func b64(s string) string { return base64.StdEncoding.EncodeToString([]byte(s)) }

func (h *httpConn) Probe(ctx context.Context, key string) (header, error) {
	var r gwRange
	if err := h.post(ctx, "/v3/kv/range", map[string]any{"key": b64(key), "count_only": true}, &r, true); err != nil {
		return header{}, err
	}
	return r.Header.header(), nil
}

func (h *httpConn) Range(ctx context.Context, key, end string, rev, limit int64) (page, error) {
	req := map[string]any{"key": b64(key), "range_end": b64(end), "limit": limit}
	if rev > 0 {
		req["revision"] = rev
	}
	var r gwRange
	if err := h.post(ctx, "/v3/kv/range", req, &r, true); err != nil {
		var gerr *gatewayError
		if errors.As(err, &gerr) && gerr.compacted() {
			return page{}, fmt.Errorf("%w: %v", errCompacted, err)
		}
		return page{}, err
	}
	p := page{Header: r.Header.header(), More: r.More, KVs: make([]state.KV, 0, len(r.KVs))}
	for _, kv := range r.KVs {
		p.KVs = append(p.KVs, state.KV{Key: string(kv.Key), Value: kv.Value, ModRevision: int64(kv.ModRevision)})
	}
	return p, nil
}

func (h *httpConn) Close() error {
	h.client.CloseIdleConnections()
	return nil
}

type gwWatchMessage struct {
	Result *struct {
		Header          gwHeader `json:"header"`
		Created         bool     `json:"created"`
		Canceled        bool     `json:"canceled"`
		CancelReason    string   `json:"cancel_reason"`
		CompactRevision jsonInt  `json:"compact_revision"`
		Events          []struct {
			Type string `json:"type"` // "PUT" is the default and may be omitted
			KV   gwKV   `json:"kv"`
		} `json:"events"`
	} `json:"result"`
	Error *gatewayError `json:"error"`
}

// Watch opens the long-lived chunked /v3/watch stream. The gateway cannot take more requests on it,
// so RequestProgress is unsupported: a hung stream is noticed by the probes on other connections.
func (h *httpConn) Watch(ctx context.Context, prefix string, rev int64) watchStream {
	s := &httpWatch{c: make(chan watchResponse)}
	go s.run(ctx, h, prefix, rev)
	return s
}

type httpWatch struct {
	c       chan watchResponse
	created atomic.Bool
}

func (s *httpWatch) C() <-chan watchResponse { return s.c }

func (s *httpWatch) RequestProgress(context.Context) error { return errProgressUnsupported }

func (s *httpWatch) run(ctx context.Context, h *httpConn, prefix string, rev int64) {
	defer close(s.c)
	resp, err := h.do(ctx, "/v3/watch", map[string]any{"create_request": map[string]any{
		"key": b64(prefix), "range_end": b64(clientv3.GetPrefixRangeEnd(prefix)),
		"start_revision": rev, "progress_notify": true,
	}}, true)
	if err != nil {
		s.send(ctx, watchResponse{Err: err})
		return
	}
	defer resp.Body.Close()
	// Closing the body is what ends a blocked Decode when ctx is cancelled.
	stop := context.AfterFunc(ctx, func() { resp.Body.Close() })
	defer stop()
	dec := json.NewDecoder(resp.Body)
	for {
		var msg gwWatchMessage
		if err := dec.Decode(&msg); err != nil {
			s.send(ctx, watchResponse{Err: fmt.Errorf("watch stream: %w", err)})
			return
		}
		if msg.Error != nil {
			s.send(ctx, watchResponse{Err: msg.Error})
			return
		}
		r := msg.Result
		if r == nil {
			continue
		}
		s.created.Store(true)
		out := watchResponse{Header: r.Header.header()}
		switch {
		case r.CompactRevision > 0:
			out.Err = fmt.Errorf("%w: compacted at %d", errCompacted, r.CompactRevision)
		case r.Canceled:
			out.Err = fmt.Errorf("watch canceled: %s", r.CancelReason)
		}
		if out.Err != nil {
			s.send(ctx, out)
			return
		}
		if r.Created {
			continue
		}
		out.Progress = len(r.Events) == 0
		for _, ev := range r.Events {
			e := event{KV: state.KV{Key: string(ev.KV.Key), Value: ev.KV.Value, ModRevision: int64(ev.KV.ModRevision)}}
			if ev.Type == "DELETE" {
				e.Type, e.KV.Value = eventDelete, nil
			}
			out.Events = append(out.Events, e)
		}
		if !s.send(ctx, out) {
			return
		}
	}
}

func (s *httpWatch) send(ctx context.Context, r watchResponse) bool {
	select {
	case s.c <- r:
		return true
	case <-ctx.Done():
		return false
	}
}
