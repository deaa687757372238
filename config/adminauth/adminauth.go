// Package adminauth lets Admin API requests in the way APISIX does (apisix/admin/init.lua): the
// client address must be in deployment.admin.allow_admin, and the request must carry one of
// deployment.admin.admin_key's keys, in the api_key query argument, the X-API-KEY header or the
// x_api_key cookie; a viewer key may only read. It serves zoneproxy's own admin listener (API-
// driven standalone mode) and devcp's Admin API alike.
package adminauth

import (
	"crypto/rand"
	"crypto/subtle"
	"fmt"
	"net"
	"net/http"
	"net/netip"

	"github.com/zoneproxy/zoneproxy/config"
	"github.com/zoneproxy/zoneproxy/internal/ipset"
)

// Version is what the Server header names (tools such as ADC read it to pick their dialect).
const Version = "APISIX/3.13.0"

// Checker checks Admin API requests. It is immutable.
type Checker struct {
	keys     []config.AdminKey
	required bool
	allow    *ipset.Set // nil: every client
}

// New returns the Checker of a, which it copies. A key left empty is given a random 32-letter
// one, as APISIX does at start: Keys returns them, for the caller to print.
func New(a config.Admin) (*Checker, error) {
	c := &Checker{required: a.KeyRequired}
	if len(a.Allow) > 0 {
		s, err := ipset.Parse(a.Allow, ipset.Options{})
		if err != nil {
			return nil, fmt.Errorf("deployment.admin.allow_admin: %w", err)
		}
		c.allow = s
	}
	for _, k := range a.Keys {
		if k.Key == "" {
			k.Key = randomKey()
		}
		if k.Role == "" {
			k.Role = config.AdminRoleAdmin
		}
		c.keys = append(c.keys, k)
	}
	return c, nil
}

// Keys returns the keys in force, generated ones included.
func (c *Checker) Keys() []config.AdminKey { return append([]config.AdminKey(nil), c.keys...) }

// AdminKey returns the first key of the admin role, or "" when there is none.
func (c *Checker) AdminKey() string {
	for _, k := range c.keys {
		if k.Role == config.AdminRoleAdmin {
			return k.Key
		}
	}
	return ""
}

const letters = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"

func randomKey() string {
	b := make([]byte, 32)
	_, _ = rand.Read(b) // never fails (crypto/rand)
	for i := range b {
		b[i] = letters[int(b[i])%len(letters)]
	}
	return string(b)
}

// Wrap returns h behind the checks: a client outside allow_admin gets nginx's 403 page; a request
// without a valid key APISIX's 401; HEAD /apisix/admin is answered 200 without a key. Every answer
// carries APISIX's Server and X-API-VERSION headers.
func (c *Checker) Wrap(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Server", Version)
		w.Header().Set("X-API-VERSION", "v3")
		if !c.allowed(r.RemoteAddr) {
			w.Header().Set("Content-Type", "text/html")
			w.WriteHeader(http.StatusForbidden)
			_, _ = w.Write([]byte(forbiddenPage))
			return
		}
		if r.Method == http.MethodHead && (r.URL.Path == "/apisix/admin" || r.URL.Path == "/apisix/admin/") {
			w.WriteHeader(http.StatusOK)
			return
		}
		if why := c.check(r); why != "" {
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusUnauthorized)
			fmt.Fprintf(w, `{"error_msg":"failed to check token","description":%q}`+"\n", why)
			return
		}
		h.ServeHTTP(w, r)
	})
}

const forbiddenPage = "<html>\r\n<head><title>403 Forbidden</title></head>\r\n<body>\r\n<center><h1>403 Forbidden</h1></center>\r\n<hr><center>openresty</center>\r\n</body>\r\n</html>\r\n"

func (c *Checker) allowed(remote string) bool {
	if c.allow == nil {
		return true
	}
	host, _, err := net.SplitHostPort(remote)
	if err != nil {
		host = remote
	}
	a, err := netip.ParseAddr(host)
	return err == nil && c.allow.Contains(a.Unmap())
}

// check returns why r may not go on ("missing apikey", "wrong apikey", "invalid method for role
// viewer"), or "".
func (c *Checker) check(r *http.Request) string {
	if !c.required {
		return ""
	}
	token := r.URL.Query().Get("api_key")
	if token == "" {
		token = r.Header.Get("X-API-KEY")
	}
	if token == "" {
		if ck, err := r.Cookie("x_api_key"); err == nil {
			token = ck.Value
		}
	}
	if token == "" {
		return "missing apikey"
	}
	for _, k := range c.keys {
		if subtle.ConstantTimeCompare([]byte(k.Key), []byte(token)) != 1 {
			continue
		}
		if k.Role == config.AdminRoleViewer && r.Method != http.MethodGet {
			return "invalid method for role viewer"
		}
		return ""
	}
	return "wrong apikey"
}
