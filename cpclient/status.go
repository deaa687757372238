package cpclient

import (
	"time"

	"github.com/zoneproxy/zoneproxy/config/state"
)

// Status is what the Client knows of the control plane, for the status server and metrics.
type Status struct {
	// Current is the endpoint in use ("" when none).
	Current string `json:"current_endpoint"`
	// Revision is the revision the Client's copy reflects.
	Revision int64 `json:"applied_revision"`
	// ClusterID is the cluster the copy came from, in hex ("" when unknown).
	ClusterID string           `json:"cluster_id,omitempty"`
	Endpoints []EndpointStatus `json:"endpoints"`
	// ShrinkHeld is the re-list the shrink guard holds back, if any.
	ShrinkHeld *ShrinkHold `json:"shrink_held,omitempty"`
}

// EndpointStatus is the health of one endpoint.
type EndpointStatus struct {
	URL         string     `json:"url"`
	Healthy     bool       `json:"healthy"`
	State       string     `json:"state"`
	Current     bool       `json:"current"`
	Revision    int64      `json:"revision,omitempty"`
	LastError   string     `json:"last_error,omitempty"`
	LastErrorAt *time.Time `json:"last_error_at,omitempty"`
	LastSuccess *time.Time `json:"last_success,omitempty"`
}

// Status reports the Client's view now. It is safe to call at any time.
func (c *Client) Status() Status {
	cur := int(c.current.Load())
	c.work.mu.Lock()
	s := Status{Revision: c.work.rev}
	if c.work.clusterID != 0 {
		s.ClusterID = formatClusterID(c.work.clusterID)
	}
	c.work.mu.Unlock()
	c.shrinkMu.Lock()
	if c.shrink != nil {
		h := *c.shrink
		s.ShrinkHeld = &h
	}
	c.shrinkMu.Unlock()
	for _, ep := range c.eps {
		ep.mu.Lock()
		es := EndpointStatus{
			URL:       ep.url,
			Healthy:   ep.health == healthUp,
			State:     ep.health.String(),
			Current:   ep.idx == cur,
			Revision:  ep.hdr.Revision,
			LastError: ep.lastErr,
		}
		if !ep.lastErrAt.IsZero() {
			t := ep.lastErrAt
			es.LastErrorAt = &t
		}
		if !ep.lastSuccess.IsZero() {
			t := ep.lastSuccess
			es.LastSuccess = &t
		}
		ep.mu.Unlock()
		if es.Current {
			s.Current = ep.url
		}
		s.Endpoints = append(s.Endpoints, es)
	}
	return s
}

// Connected reports whether an endpoint is in use and healthy.
func (c *Client) Connected() bool {
	cur := int(c.current.Load())
	if cur < 0 {
		return false
	}
	h, _, _ := c.eps[cur].snapshot()
	return h == healthUp
}

func formatClusterID(id uint64) string {
	const hex = "0123456789abcdef"
	var b [16]byte
	for i := 15; i >= 0; i-- {
		b[i] = hex[id&0xf]
		id >>= 4
	}
	return string(b[:])
}

// State returns a copy of the Client's current copy of the configuration, for handing over to a new
// Client (Config.Initial) when the endpoints or their settings change.
func (c *Client) State() *state.State {
	w := &c.work
	w.mu.Lock()
	defer w.mu.Unlock()
	return &state.State{
		Revision: w.rev, ClusterID: w.clusterID, KVs: w.kvs.Freeze(),
		Source: w.source, Endpoint: w.endpoint, Updated: time.Now(),
	}
}
