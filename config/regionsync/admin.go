package regionsync

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/zoneproxy/zoneproxy/config/standalone"
)

// AdminOptions are the settings of Admin API targets.
type AdminOptions struct {
	// Key is the admin key, sent as X-API-KEY ("" sends none).
	Key string
	// TLS is used for https targets (nil: system roots).
	TLS *tls.Config
	// Secrets opens what is sent (APISIX's Admin API encrypts on write) and seals what is read
	// (it decrypts plugin fields on read), so values compare with the sealed file.
	Secrets *Secrets
	// Timeout bounds each call (default 30s).
	Timeout time.Duration
}

// Admin is a target that is an APISIX Admin API (http(s)://host:port). Its Apply makes one call
// per change, in the plan's order, and undoes the calls made when one fails (created objects
// deleted, updated and deleted ones put back as they were read). SSL private keys are never
// returned by an Admin API: an SSL object is compared without them, and an SSL update cannot be
// undone (said so in the error).
type Admin struct {
	name, base string
	o          AdminOptions
	hc         *http.Client
}

// ErrRolledBack is wrapped by the error of an Admin API target whose failed apply was undone.
var ErrRolledBack = errors.New("rolled back")

// NewAdmin returns the Admin API target at base ("http://127.0.0.1:9180").
func NewAdmin(name, base string, o AdminOptions) (*Admin, error) {
	u, err := url.Parse(base)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("target %s: %q is not http(s)://host:port", name, base)
	}
	if o.Timeout <= 0 {
		o.Timeout = 30 * time.Second
	}
	tr := &http.Transport{TLSClientConfig: o.TLS, MaxIdleConnsPerHost: 4}
	return &Admin{name: name, base: strings.TrimSuffix(base, "/"), o: o, hc: &http.Client{Transport: tr, Timeout: o.Timeout}}, nil
}

// Name is the target's name.
func (a *Admin) Name() string { return a.name }

// String is the target's URL.
func (a *Admin) String() string { return a.base }

// Close closes idle connections.
func (a *Admin) Close() error { a.hc.CloseIdleConnections(); return nil }

// call makes one Admin API call and returns the status and body; a status >= 400 is an error
// carrying APISIX's message.
func (a *Admin) call(ctx context.Context, method, path string, body []byte) (int, []byte, error) {
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, a.base+"/apisix/admin/"+path, rd)
	if err != nil {
		return 0, nil, err
	}
	if a.o.Key != "" {
		req.Header.Set("X-API-KEY", a.o.Key)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := a.hc.Do(req)
	if err != nil {
		return 0, nil, fmt.Errorf("%s %s: %w", method, path, err)
	}
	defer resp.Body.Close()
	out, err := io.ReadAll(io.LimitReader(resp.Body, 256<<20))
	if err != nil {
		return resp.StatusCode, nil, fmt.Errorf("%s %s: %w", method, path, err)
	}
	if resp.StatusCode >= 400 {
		return resp.StatusCode, out, fmt.Errorf("%s %s: %d %s", method, path, resp.StatusCode, bytes.TrimSpace(out))
	}
	return resp.StatusCode, out, nil
}

type adminNode struct {
	Key           string          `json:"key"`
	Value         json.RawMessage `json:"value"`
	ModifiedIndex int64           `json:"modifiedIndex"`
}

func (a *Admin) list(ctx context.Context, path string) ([]adminNode, error) {
	status, body, err := a.call(ctx, http.MethodGet, path, nil)
	if status == http.StatusNotFound {
		return nil, nil // a kind this Admin API does not serve: it holds none
	}
	if err != nil {
		return nil, err
	}
	var l struct {
		List []adminNode `json:"list"`
	}
	if err := json.Unmarshal(body, &l); err != nil {
		return nil, fmt.Errorf("GET %s: %w", path, err)
	}
	return l.List, nil
}

// Read lists every kind, and every consumer's credentials.
func (a *Admin) Read(ctx context.Context) (*Remote, error) {
	r := &Remote{Objects: Objects{}, Revs: map[string]int64{}, HidesSSLKeys: true}
	add := func(n adminNode, dir string) error {
		i := strings.Index(n.Key, "/"+dir+"/")
		if i < 0 {
			return fmt.Errorf("unexpected key %q in the %s list", n.Key, dir)
		}
		rel := n.Key[i+1:]
		v, err := a.o.Secrets.Seal(rel, n.Value)
		if err != nil {
			return fmt.Errorf("%s: %w", rel, err)
		}
		r.Objects[rel], r.Revs[rel] = v, n.ModifiedIndex
		return nil
	}
	for _, typ := range standalone.Types {
		nodes, err := a.list(ctx, typ)
		if err != nil {
			return nil, err
		}
		for _, n := range nodes {
			if err := add(n, typ); err != nil {
				return nil, err
			}
			if typ != "consumers" {
				continue
			}
			_, user, _ := strings.Cut(n.Key[strings.Index(n.Key, "/consumers/")+1:], "/")
			creds, err := a.list(ctx, "consumers/"+url.PathEscape(user)+"/credentials")
			if err != nil {
				return nil, err
			}
			for _, c := range creds {
				if err := add(c, "consumers"); err != nil {
					return nil, err
				}
			}
		}
	}
	return r, nil
}

// body is value as an Admin API takes it: secrets opened, id and the times left out (the path
// carries the id; APISIX refuses create_time and update_time in a body).
func (a *Admin) body(rel string, value []byte) ([]byte, error) {
	v, err := a.o.Secrets.Open(rel, value)
	if err != nil {
		return nil, err
	}
	m, ok := rawObject(v)
	if !ok {
		return nil, fmt.Errorf("%s: not a JSON object", rel)
	}
	delete(m, "id")
	delete(m, "create_time")
	delete(m, "update_time")
	return marshal(m)
}

// path is the Admin API path of rel; a consumer is put to /consumers with its username.
func adminPath(rel string, put bool) string {
	kind, id, _ := strings.Cut(rel, "/")
	if kind == "consumers" && put && !strings.Contains(id, "/") {
		return "consumers"
	}
	return rel
}

// Apply makes one call per change, in order; when one fails, the calls made are undone in
// reverse order. done is the number of calls that stay applied.
func (a *Admin) Apply(ctx context.Context, plan *Plan) (done, total int, err error) {
	total = len(plan.Changes)
	var made []Change
	for _, c := range plan.Changes {
		if err = a.do(ctx, c); err != nil {
			err = fmt.Errorf("call %d of %d (%s %s): %w", len(made)+1, total, c.Op, c.Key, err)
			break
		}
		made = append(made, c)
	}
	if err == nil {
		return total, total, nil
	}
	var undoErrs []string
	for i := len(made) - 1; i >= 0; i-- {
		c := made[i]
		undo := Change{Key: c.Key, New: c.Old}
		switch c.Op {
		case Create:
			undo.Op = Delete
		case Update:
			undo.Op = Update
		case Delete:
			undo.Op = Create
		}
		if strings.HasPrefix(c.Key, "ssls/") && c.Op != Create {
			undoErrs = append(undoErrs, c.Key+": its private key cannot be read back to restore it")
			continue
		}
		if uerr := a.do(ctx, undo); uerr != nil {
			undoErrs = append(undoErrs, uerr.Error())
		}
	}
	if len(undoErrs) > 0 {
		return len(made), total, fmt.Errorf("%w; rollback incomplete: %s", err, strings.Join(undoErrs, "; "))
	}
	return 0, total, fmt.Errorf("%w; the %d calls made before it were %w", err, len(made), ErrRolledBack)
}

func (a *Admin) do(ctx context.Context, c Change) error {
	if c.Op == Delete {
		_, _, err := a.call(ctx, http.MethodDelete, c.Key, nil)
		return err
	}
	b, err := a.body(c.Key, c.New)
	if err != nil {
		return err
	}
	_, _, err = a.call(ctx, http.MethodPut, adminPath(c.Key, true), b)
	return err
}
