package metrics

import (
	"errors"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
)

// HTTP2Errors counts the protocol errors HTTP/2 clients made. A nil *HTTP2Errors counts nothing.
type HTTP2Errors struct{ errs *prometheus.CounterVec }

// HTTP2Errors returns the counter zoneproxy_http2_errors_total{type}, registering it on the first
// call; later calls share it. The types are package h2's names (Options.CountError),
// golang.org/x/net/http2's where it has one: a small fixed set of ASCII words.
func (m *Metrics) HTTP2Errors() *HTTP2Errors {
	cv := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "zoneproxy_http2_errors_total",
		Help: "HTTP/2 protocol errors answered with RST_STREAM or GOAWAY, by type (e.g. rapid_reset, too_many_early_resets, headers_too_long, flow_on_data_length, frame_too_large).",
	}, []string{"type"})
	if err := m.reg.Register(cv); err != nil {
		var are prometheus.AlreadyRegisteredError
		if !errors.As(err, &are) {
			m.log.Error("registering the HTTP/2 error counter", "error", err)
			return nil
		}
		cv = are.ExistingCollector.(*prometheus.CounterVec)
	}
	return &HTTP2Errors{errs: cv}
}

// Count counts one error of type errType. It suits h2.Options.CountError.
func (h *HTTP2Errors) Count(errType string) {
	if h != nil {
		h.errs.WithLabelValues(errType).Inc()
	}
}

// Total is the number of errors counted, all types together.
func (h *HTTP2Errors) Total() float64 {
	if h == nil {
		return 0
	}
	ch := make(chan prometheus.Metric, 64)
	go func() { h.errs.Collect(ch); close(ch) }()
	var n float64
	for m := range ch {
		var d dto.Metric
		if m.Write(&d) == nil {
			n += d.GetCounter().GetValue()
		}
	}
	return n
}
