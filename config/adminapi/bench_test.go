package adminapi_test

import (
	"fmt"
	"net/http"
	"strings"
	"testing"
)

// BenchmarkPutRoute: one validated, stamped route PUT over HTTP into a real (single-member)
// etcd, the data plane's check included.
func BenchmarkPutRoute(b *testing.B) {
	s := startTB(b)
	s.doB(b, "PUT", "/apisix/admin/upstreams/1", upstream, 201)
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; b.Loop(); i++ {
		s.doB(b, "PUT", fmt.Sprintf("/apisix/admin/routes/%d", i%1000),
			fmt.Sprintf(`{"uri":"/r%d","methods":["GET"],"upstream_id":"1","plugins":{"key-auth":{}}}`, i), 0)
	}
}

// BenchmarkListRoutes: a page of 100 out of 1,000 routes, filtered by a uri regex.
func BenchmarkListRoutes(b *testing.B) {
	s := startTB(b)
	s.doB(b, "PUT", "/apisix/admin/upstreams/1", upstream, 201)
	for i := range 1000 {
		s.doB(b, "PUT", fmt.Sprintf("/apisix/admin/routes/%d", i), fmt.Sprintf(`{"uri":"/r%d","upstream_id":"1"}`, i), 201)
	}
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		s.doB(b, "GET", "/apisix/admin/routes?page=2&page_size=100&uri=^/r", "", 200)
	}
}

func (s *server) doB(b *testing.B, method, path, body string, want int) {
	req, _ := http.NewRequest(method, s.url+path, strings.NewReader(body))
	req.Header.Set("X-API-KEY", testKey)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		b.Fatal(err)
	}
	resp.Body.Close()
	if want != 0 && resp.StatusCode != want {
		b.Fatalf("%s %s = %d, want %d", method, path, resp.StatusCode, want)
	}
	if resp.StatusCode >= 300 {
		b.Fatalf("%s %s = %d", method, path, resp.StatusCode)
	}
}
