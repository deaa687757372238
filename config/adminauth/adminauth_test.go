package adminauth

import (
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/zoneproxy/zoneproxy/config"
)

func TestWrap(t *testing.T) {
	c, err := New(config.Admin{KeyRequired: true, Allow: []string{"127.0.0.0/8"}, Keys: []config.AdminKey{
		{Name: "admin", Key: "adm", Role: config.AdminRoleAdmin},
		{Name: "viewer", Key: "view", Role: config.AdminRoleViewer},
	}})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(c.Wrap(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.WriteString(w, "through")
	})))
	defer srv.Close()

	tests := []struct {
		name, method, path string
		header, cookie     string
		wantCode           int
		wantBody           string
	}{
		{"no key", "GET", "/apisix/admin/routes", "", "", 401, `"description":"missing apikey"`},
		{"wrong key", "GET", "/apisix/admin/routes", "nope", "", 401, `"description":"wrong apikey"`},
		{"header key", "PUT", "/apisix/admin/routes/1", "adm", "", 200, "through"},
		{"query key", "GET", "/apisix/admin/routes?api_key=adm", "", "", 200, "through"},
		{"cookie key", "DELETE", "/apisix/admin/routes/1", "", "adm", 200, "through"},
		{"viewer reads", "GET", "/apisix/admin/routes", "view", "", 200, "through"},
		{"viewer writes", "PUT", "/apisix/admin/routes/1", "view", "", 401, `"description":"invalid method for role viewer"`},
		{"head without a key", "HEAD", "/apisix/admin", "", "", 200, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req, _ := http.NewRequest(tt.method, srv.URL+tt.path, nil)
			if tt.header != "" {
				req.Header.Set("X-API-KEY", tt.header)
			}
			if tt.cookie != "" {
				req.AddCookie(&http.Cookie{Name: "x_api_key", Value: tt.cookie})
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != tt.wantCode || !strings.Contains(string(body), tt.wantBody) {
				t.Fatalf("%s %s = %d %s, want %d with %s", tt.method, tt.path, resp.StatusCode, body, tt.wantCode, tt.wantBody)
			}
			if got := resp.Header.Get("Server"); !strings.HasPrefix(got, "APISIX/") {
				t.Errorf("Server = %q, want APISIX/<version>", got)
			}
		})
	}
}

func TestDeniedOutsideAllowAdmin(t *testing.T) {
	c, err := New(config.Admin{KeyRequired: false, Allow: []string{"10.0.0.0/8"}})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(c.Wrap(http.NotFoundHandler()))
	defer srv.Close()
	resp, err := http.Get(srv.URL + "/apisix/admin/routes")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusForbidden {
		t.Fatalf("status = %d from 127.0.0.1 outside allow_admin 10.0.0.0/8, want 403", resp.StatusCode)
	}
}

func TestEmptyKeyIsGenerated(t *testing.T) {
	c, err := New(config.Default().Deployment.Admin)
	if err != nil {
		t.Fatal(err)
	}
	k := c.AdminKey()
	if len(k) != 32 || strings.Trim(k, letters) != "" {
		t.Fatalf("generated key %q, want 32 letters", k)
	}
	d, _ := New(config.Default().Deployment.Admin)
	if d.AdminKey() == k {
		t.Fatal("two starts generated the same key")
	}
}
