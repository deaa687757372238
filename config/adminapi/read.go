package adminapi

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"regexp"
	"sort"
	"strconv"
	"strings"

	"go.etcd.io/etcd/api/v3/mvccpb"
	clientv3 "go.etcd.io/etcd/client/v3"
)

// node is APISIX's envelope of one stored object.
func (h *Handler) node(t target, kv *mvccpb.KeyValue, v any) map[string]any {
	return map[string]any{
		"key":           string(kv.Key),
		"value":         h.present(t, v),
		"createdIndex":  kv.CreateRevision,
		"modifiedIndex": kv.ModRevision,
	}
}

// present returns v as the Admin API shows it: an SSL object without its private keys, a
// consumer's or credential's plugin fields decrypted (APISIX's get decrypts them too).
func (h *Handler) present(t target, v any) any {
	m, ok := v.(map[string]any)
	if !ok {
		return v
	}
	switch t.res.dir {
	case "ssls":
		out := make(map[string]any, len(m))
		for k, x := range m {
			if k != "key" && k != "keys" {
				out[k] = x
			}
		}
		return out
	case "consumers":
		return h.cryptFields(m, false)
	}
	return m
}

func (h *Handler) getOne(ctx context.Context, t target) (int, any, error) {
	resp, err := h.o.KV.Get(ctx, t.key)
	if err != nil {
		return 0, nil, err
	}
	if len(resp.Kvs) == 0 {
		return 0, nil, errNotFound
	}
	kv := resp.Kvs[0]
	v, _ := decodeStored(kv.Value)
	return http.StatusOK, h.node(t, kv, v), nil
}

// decodeStored decodes a stored value; a value that is not JSON (a directory placeholder such as
// "init_dir") is returned as a string, with ok false.
func decodeStored(b []byte) (any, bool) {
	v, err := decodeJSON(b)
	if err != nil {
		return string(b), false
	}
	return v, true
}

// listFilter is the list's query: APISIX's v3 filters, ANDed.
type listFilter struct {
	name, uri               *regexp.Regexp
	label                   string
	serviceID, upstreamID   string
	hasService, hasUpstream bool
	page, pageSize          int
}

func parseFilter(t target, q url.Values) (listFilter, error) {
	var f listFilter
	var err error
	if s := q.Get("name"); s != "" {
		if f.name, err = regexp.Compile(s); err != nil {
			return f, errorf(http.StatusBadRequest, "invalid name filter: %v", err)
		}
	}
	if s := q.Get("uri"); s != "" {
		if f.uri, err = regexp.Compile(s); err != nil {
			return f, errorf(http.StatusBadRequest, "invalid uri filter: %v", err)
		}
	}
	f.label = q.Get("label")
	if s := q.Get("filter"); s != "" && (t.res.dir == "routes" || t.res.dir == "stream_routes") {
		fq, err := url.ParseQuery(s)
		if err != nil {
			return f, errorf(http.StatusBadRequest, "invalid filter: %v", err)
		}
		f.serviceID, f.hasService = fq.Get("service_id"), fq.Has("service_id")
		f.upstreamID, f.hasUpstream = fq.Get("upstream_id"), fq.Has("upstream_id")
	}
	if q.Get("page") != "" && q.Get("page_size") != "" {
		f.page, _ = strconv.Atoi(q.Get("page"))
		f.pageSize, _ = strconv.Atoi(q.Get("page_size"))
		if f.pageSize < 10 || f.pageSize > 500 {
			return f, errorf(http.StatusBadRequest, "page_size must be between 10 and 500")
		}
		f.page = max(f.page, 1)
	}
	return f, nil
}

func (f *listFilter) match(v any) bool {
	m, ok := v.(map[string]any)
	if !ok {
		return f.name == nil && f.uri == nil && f.label == "" && !f.hasService && !f.hasUpstream
	}
	if f.name != nil {
		s, _ := m["name"].(string)
		if !f.name.MatchString(s) {
			return false
		}
	}
	if f.label != "" {
		labels, _ := m["labels"].(map[string]any)
		if _, ok := labels[f.label]; !ok {
			return false
		}
	}
	if f.uri != nil {
		hit := false
		if s, ok := m["uri"].(string); ok && f.uri.MatchString(s) {
			hit = true
		}
		uris, _ := m["uris"].([]any)
		for _, u := range uris {
			if s, ok := u.(string); ok && f.uri.MatchString(s) {
				hit = true
			}
		}
		if !hit {
			return false
		}
	}
	if f.hasService && idString(m["service_id"]) != f.serviceID {
		return false
	}
	if f.hasUpstream && idString(m["upstream_id"]) != f.upstreamID {
		return false
	}
	return true
}

// idString is an id as APISIX compares it: a JSON string or number, as text; "" for none.
func idString(v any) string {
	switch x := v.(type) {
	case string:
		return x
	case fmt.Stringer: // json.Number
		return x.String()
	case float64:
		return strconv.FormatFloat(x, 'f', -1, 64)
	}
	return ""
}

// children returns the objects directly under t.dir, in creation order: not the directory's
// own placeholder key, and for consumers not their credentials.
func (h *Handler) children(ctx context.Context, t target) ([]*mvccpb.KeyValue, error) {
	resp, err := h.o.KV.Get(ctx, t.dir, clientv3.WithPrefix())
	if err != nil {
		return nil, err
	}
	var kvs []*mvccpb.KeyValue
	for _, kv := range resp.Kvs {
		id := strings.TrimPrefix(string(kv.Key), t.dir)
		if id == "" || (t.res.dir != "secrets" && strings.Contains(id, "/")) {
			continue
		}
		kvs = append(kvs, kv)
	}
	sort.SliceStable(kvs, func(i, j int) bool { return kvs[i].CreateRevision < kvs[j].CreateRevision })
	return kvs, nil
}

func (h *Handler) list(ctx context.Context, t target, r *http.Request) (int, any, error) {
	f, err := parseFilter(t, r.URL.Query())
	if err != nil {
		return 0, nil, err
	}
	kvs, err := h.children(ctx, t)
	if err != nil {
		return 0, nil, err
	}
	items := []any{}
	for _, kv := range kvs {
		v, _ := decodeStored(kv.Value)
		if f.match(v) {
			items = append(items, h.node(t, kv, v))
		}
	}
	total := len(items)
	if f.pageSize > 0 {
		from := (f.page - 1) * f.pageSize
		items = items[min(from, total):min(from+f.pageSize, total)]
	}
	return http.StatusOK, map[string]any{"total": total, "list": items}, nil
}
