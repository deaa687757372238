package metrics

import (
	"errors"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
)

// TLSHandshakes counts the HTTPS listeners' failed handshakes, and the connections that a client
// broke after its handshake. A nil *TLSHandshakes counts nothing.
type TLSHandshakes struct {
	failures *prometheus.CounterVec
	records  prometheus.Counter
}

// TLSHandshakes returns the counter of failed TLS handshakes, zoneproxy_tls_handshake_failures_total
// {reason}, registering it on the first call; later calls share it.
func (m *Metrics) TLSHandshakes() *TLSHandshakes {
	cv := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "zoneproxy_tls_handshake_failures_total",
		Help: "TLS handshakes that failed, by reason: no_sni (no server name and no fallback_sni), unknown_sni (no certificate for the name), timeout (client_header_timeout), closed (the client left), error (anything else: a protocol, version or cipher the two sides do not share, a malformed hello).",
	}, []string{"reason"})
	if err := m.reg.Register(cv); err != nil {
		var are prometheus.AlreadyRegisteredError
		if !errors.As(err, &are) {
			m.log.Error("registering the TLS handshake counter", "error", err)
			return nil
		}
		cv = are.ExistingCollector.(*prometheus.CounterVec)
	}
	for _, r := range []string{"no_sni", "unknown_sni", "timeout", "closed", "error"} {
		cv.WithLabelValues(r)
	}
	var records prometheus.Counter = prometheus.NewCounter(prometheus.CounterOpts{
		Name: "zoneproxy_tls_record_errors_total",
		Help: "TLS connections ended after their handshake by records that break the protocol: a record that does not decrypt, a renegotiation attempt or another unexpected message, a flood of records that carry nothing.",
	})
	if err := m.reg.Register(records); err != nil {
		var are prometheus.AlreadyRegisteredError
		if !errors.As(err, &are) {
			m.log.Error("registering the TLS record error counter", "error", err)
			return nil
		}
		records = are.ExistingCollector.(prometheus.Counter)
	}
	return &TLSHandshakes{failures: cv, records: records}
}

// RecordError counts one connection ended by a record that breaks the protocol.
func (h *TLSHandshakes) RecordError() {
	if h != nil {
		h.records.Inc()
	}
}

// RecordErrors is the number of connections counted by RecordError.
func (h *TLSHandshakes) RecordErrors() float64 {
	if h == nil {
		return 0
	}
	var m dto.Metric
	if err := h.records.Write(&m); err != nil {
		return 0
	}
	return m.GetCounter().GetValue()
}

// Failed counts one failed handshake.
func (h *TLSHandshakes) Failed(reason string) {
	if h != nil {
		h.failures.WithLabelValues(reason).Inc()
	}
}

// Count is the number of failures counted for reason.
func (h *TLSHandshakes) Count(reason string) float64 {
	if h == nil {
		return 0
	}
	var m dto.Metric
	if err := h.failures.WithLabelValues(reason).Write(&m); err != nil {
		return 0
	}
	return m.GetCounter().GetValue()
}
