package adminapi

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"math"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/zoneproxy/zoneproxy/config/standalone"
	"github.com/zoneproxy/zoneproxy/config/state"
)

// MaxBody is the largest body the Admin API reads (APISIX's 1.5 MiB client_max_body_size).
const MaxBody = 1572864

// Paths served.
const (
	ConfigsPath  = "/apisix/admin/configs"
	ValidatePath = "/apisix/admin/configs/validate"
)

// Options configure a Store.
type Options struct {
	// Prefix is the key prefix of the States (default /apisix).
	Prefix string
	// Check validates one object as the data plane decodes it (key under Prefix, JSON value).
	// nil accepts every object.
	Check func(key string, value []byte) error
	// Apply receives each accepted configuration.
	Apply func(context.Context, *state.State)
	// Logger receives a line per push (default: discarded).
	Logger *slog.Logger
	// OnPush, when set, is called after each PUT that carried a configuration: ok when applied.
	OnPush func(ok bool)
	// Now is the clock (default time.Now).
	Now func() time.Time
}

// kinds are the conf_version kinds: the object lists and the plugins list.
var kinds = append(append([]string(nil), standalone.Types...), standalone.PluginsKey)

// Store holds the configuration pushed last and serves the Admin API's configs paths.
type Store struct {
	opts Options
	log  *slog.Logger

	pushMu sync.Mutex // serialises PUTs

	mu           sync.Mutex
	versions     map[string]int64               // kind -> conf_version
	objects      map[string][]standalone.Object // type -> objects, in list order
	plugins      []any                          // the plugins list, when hasPlugins
	hasPlugins   bool
	digest       string
	lastModified int64 // unix seconds of the last accepted push; 0 before
	st           *state.State
	status       Status
}

// Status is what /status/control-plane shows of the API-driven mode.
type Status struct {
	Source       string           `json:"source"` // "admin_api"
	Loaded       bool             `json:"loaded"` // a push was applied
	Digest       string           `json:"digest,omitempty"`
	LastModified int64            `json:"last_modified,omitempty"`
	Revision     int64            `json:"revision"`
	Objects      int              `json:"objects"`
	ConfVersions map[string]int64 `json:"conf_versions"`
	Pushes       int64            `json:"pushes"`
	Rejected     int64            `json:"rejected"`
	LastError    string           `json:"last_error,omitempty"`
	LastErrorAt  time.Time        `json:"last_error_at,omitzero"`
}

// New returns an empty Store.
func New(opts Options) *Store {
	if opts.Prefix == "" {
		opts.Prefix = "/apisix"
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.Apply == nil {
		opts.Apply = func(context.Context, *state.State) {}
	}
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	s := &Store{opts: opts, log: log.With("component", "standalone_admin"), versions: map[string]int64{},
		objects: map[string][]standalone.Object{}}
	for _, k := range kinds {
		s.versions[k] = 0
	}
	s.status.Source = string(state.SourceAdmin)
	return s
}

// State returns the last State applied (nil before the first push).
func (s *Store) State() *state.State {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.st
}

// Status returns a copy of the store's status.
func (s *Store) Status() Status {
	s.mu.Lock()
	defer s.mu.Unlock()
	st := s.status
	st.ConfVersions = make(map[string]int64, len(s.versions))
	for k, v := range s.versions {
		st.ConfVersions[k] = v
	}
	return st
}

// Handler serves the configs paths, and 404 for the other /apisix/admin paths.
func (s *Store) Handler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch {
		case r.URL.Path == ConfigsPath && (r.Method == http.MethodGet || r.Method == http.MethodHead):
			s.get(w, r)
		case r.URL.Path == ConfigsPath && r.Method == http.MethodPut:
			s.put(w, r)
		case r.URL.Path == ValidatePath && r.Method == http.MethodPost:
			s.validate(w, r)
		default:
			writeJSON(w, http.StatusNotFound, map[string]any{"error_msg": "404 Route Not Found"})
		}
	})
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	body, err := json.Marshal(v)
	if err != nil {
		code, body = http.StatusInternalServerError, []byte(`{"error_msg":"internal error"}`)
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	_, _ = w.Write(append(body, '\n'))
}

func errorMsg(w http.ResponseWriter, code int, msg string) {
	writeJSON(w, code, map[string]any{"error_msg": msg})
}

// readBody reads the request body within MaxBody; a problem is answered and returns ok false.
func readBody(w http.ResponseWriter, r *http.Request) ([]byte, bool) {
	if r.ContentLength > MaxBody {
		errorMsg(w, http.StatusBadRequest, fmt.Sprintf("invalid request body: request size %d is greater than the maximum size %d allowed", r.ContentLength, MaxBody))
		return nil, false
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, MaxBody+1))
	if err != nil {
		errorMsg(w, http.StatusBadRequest, "invalid request body: "+err.Error())
		return nil, false
	}
	if len(body) > MaxBody {
		errorMsg(w, http.StatusBadRequest, fmt.Sprintf("invalid request body: request size is greater than the maximum size %d allowed", MaxBody))
		return nil, false
	}
	if len(strings.TrimSpace(string(body))) == 0 {
		errorMsg(w, http.StatusBadRequest, "invalid request body: empty request body")
		return nil, false
	}
	return body, true
}

func formatOf(r *http.Request) standalone.Format {
	if strings.HasPrefix(r.Header.Get("Content-Type"), "application/yaml") {
		return standalone.YAML
	}
	return standalone.JSON
}

// parse decodes a body; no environment variables are substituted in a pushed configuration.
func parse(body []byte, f standalone.Format) (*standalone.Document, error) {
	noEnv := func(string) (string, bool) { return "", false }
	doc, err := standalone.Parse(body, f, noEnv, false)
	if err != nil {
		return nil, fmt.Errorf("invalid request body: %w", err)
	}
	return doc, nil
}

func (s *Store) get(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	digest, lm := s.digest, s.lastModified
	var body map[string]any
	if r.Method == http.MethodGet {
		body = s.dumpLocked()
	}
	s.mu.Unlock()
	if lm != 0 {
		w.Header().Set("X-Last-Modified", strconv.FormatInt(lm, 10))
		w.Header().Set("X-Digest", digest)
	}
	if r.Method == http.MethodHead {
		w.WriteHeader(http.StatusOK)
		return
	}
	if strings.HasPrefix(r.Header.Get("Accept"), "application/yaml") {
		out, err := yaml.Marshal(body)
		if err != nil {
			errorMsg(w, http.StatusInternalServerError, err.Error())
			return
		}
		w.Header().Set("Content-Type", "application/yaml")
		w.WriteHeader(http.StatusOK)
		_, _ = w.Write(out)
		return
	}
	writeJSON(w, http.StatusOK, body)
}

// dumpLocked is the stored configuration as GET returns it.
func (s *Store) dumpLocked() map[string]any {
	out := map[string]any{}
	for _, k := range kinds {
		out[k+"_conf_version"] = s.versions[k]
	}
	for typ, objs := range s.objects {
		list := make([]any, 0, len(objs))
		for _, o := range objs {
			var v any
			if json.Unmarshal(o.Value, &v) == nil {
				if m, ok := v.(map[string]any); ok && o.HasModifiedIndex {
					m["modifiedIndex"] = o.ModifiedIndex
				}
				list = append(list, v)
			}
		}
		out[typ] = list
	}
	if s.hasPlugins {
		out[standalone.PluginsKey] = s.plugins
	}
	if s.lastModified != 0 {
		out["X-Last-Modified"] = s.lastModified
		out["X-Digest"] = s.digest
	}
	return out
}

// objectError is one invalid object, as /configs/validate lists them.
type objectError struct {
	ResourceType string `json:"resource_type"`
	ResourceID   string `json:"resource_id,omitempty"`
	Index        int    `json:"index"`
	Error        string `json:"error"`
}

// check validates every object of doc; with all it collects every error, otherwise it stops at
// the first.
func (s *Store) check(doc *standalone.Document, all bool) []objectError {
	objs, warns := doc.Objects()
	var errs []objectError
	for _, w := range warns {
		if w.Type == "" {
			continue // an unknown top-level key
		}
		errs = append(errs, objectError{ResourceType: w.Type, ResourceID: w.ID, Index: w.Index, Error: "invalid configuration: " + w.Msg})
		if !all {
			return errs
		}
	}
	seen := map[string]bool{}
	for _, o := range objs {
		if seen[o.Key] {
			errs = append(errs, objectError{ResourceType: o.Type, ResourceID: o.ID, Index: o.Index, Error: duplicate(doc, o)})
		} else if s.opts.Check != nil {
			if err := s.opts.Check(s.opts.Prefix+o.Key, o.Value); err != nil {
				errs = append(errs, objectError{ResourceType: o.Type, ResourceID: o.ID, Index: o.Index, Error: "invalid configuration: " + err.Error()})
			}
		}
		seen[o.Key] = true
		if len(errs) > 0 && !all {
			return errs
		}
	}
	for i, p := range doc.Plugins {
		m, ok := p.(map[string]any)
		if name, isStr := m["name"].(string); !ok || !isStr || name == "" {
			errs = append(errs, objectError{ResourceType: standalone.PluginsKey, Index: i, Error: "invalid configuration: a plugin entry needs a name"})
			if !all {
				return errs
			}
		}
	}
	return errs
}

// duplicate is APISIX's message for a second object with o's id.
func duplicate(doc *standalone.Document, o standalone.Object) string {
	switch {
	case o.Credential:
		return fmt.Sprintf("found duplicate credential id %s in consumers", o.ID)
	case o.Type == "consumers":
		if m, ok := doc.Lists[o.Type][o.Index].(map[string]any); ok && m["id"] == nil {
			return fmt.Sprintf("found duplicate username %s in consumers", o.ID)
		}
	}
	return fmt.Sprintf("found duplicate id %s in %s", o.ID, o.Type)
}

func (s *Store) validate(w http.ResponseWriter, r *http.Request) {
	body, ok := readBody(w, r)
	if !ok {
		return
	}
	doc, err := parse(body, formatOf(r))
	if err != nil {
		errorMsg(w, http.StatusBadRequest, err.Error())
		return
	}
	if errs := s.check(doc, true); len(errs) > 0 {
		writeJSON(w, http.StatusBadRequest, map[string]any{"error_msg": "Configuration validation failed", "errors": errs})
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{})
}

// confVersion reads a <kind>_conf_version value.
func confVersion(v any) (int64, bool) {
	n, ok := v.(json.Number)
	if !ok {
		return 0, false
	}
	f, err := n.Float64()
	if err != nil || math.IsInf(f, 0) || math.IsNaN(f) {
		return 0, false
	}
	return int64(f), true
}

func (s *Store) put(w http.ResponseWriter, r *http.Request) {
	digest := r.Header.Get("X-Digest")
	if digest == "" {
		errorMsg(w, http.StatusBadRequest, "missing digest header")
		return
	}
	body, ok := readBody(w, r)
	if !ok {
		return
	}
	s.pushMu.Lock()
	defer s.pushMu.Unlock()
	s.mu.Lock()
	same := s.lastModified != 0 && s.digest == digest
	s.mu.Unlock()
	if same {
		w.WriteHeader(http.StatusNoContent)
		return
	}
	doc, err := parse(body, formatOf(r))
	if err != nil {
		s.reject(w, err.Error())
		return
	}
	// The YAML decoder gives conf versions as json.Number too; check them all first.
	s.mu.Lock()
	stored := make(map[string]int64, len(s.versions))
	for k, v := range s.versions {
		stored[k] = v
	}
	s.mu.Unlock()
	next := make(map[string]int64, len(kinds))
	keep := map[string]bool{} // kinds whose stored objects stay
	for _, k := range kinds {
		raw, given := doc.ConfVersions[k]
		if !given {
			next[k] = stored[k] + 1
			continue
		}
		v, ok := confVersion(raw)
		if !ok {
			s.reject(w, k+"_conf_version must be a number")
			return
		}
		if v < stored[k] {
			s.reject(w, fmt.Sprintf("%s_conf_version must be greater than or equal to (%d)", k, stored[k]))
			return
		}
		next[k], keep[k] = v, v == stored[k]
	}
	if errs := s.check(doc, false); len(errs) > 0 {
		s.reject(w, errs[0].Error)
		return
	}
	objs, _ := doc.Objects()
	s.mu.Lock()
	byType := map[string][]standalone.Object{}
	for _, o := range objs {
		byType[o.Type] = append(byType[o.Type], o)
	}
	newObjects := map[string][]standalone.Object{}
	for _, typ := range standalone.Types {
		if keep[typ] {
			if old := s.objects[typ]; len(old) > 0 {
				newObjects[typ] = old
			}
			continue
		}
		if list := byType[typ]; len(list) > 0 {
			newObjects[typ] = s.sameModifiedIndex(typ, list)
		}
	}
	plugins, hasPlugins := doc.Plugins, doc.HasPlugins
	if keep[standalone.PluginsKey] {
		plugins, hasPlugins = s.plugins, s.hasPlugins
	}
	kvs := map[string][]byte{}
	n := 0
	for _, list := range newObjects {
		for _, o := range list {
			kvs[s.opts.Prefix+o.Key] = o.Value
			n++
		}
	}
	if hasPlugins {
		list := plugins
		if list == nil {
			list = []any{}
		}
		if data, err := json.Marshal(list); err == nil {
			kvs[s.opts.Prefix+"/"+standalone.PluginsKey] = data
		}
	}
	now := s.opts.Now()
	st := standalone.NextState(s.st, kvs, state.SourceAdmin, ConfigsPath, now)
	s.objects, s.plugins, s.hasPlugins, s.versions = newObjects, plugins, hasPlugins, next
	s.digest, s.lastModified, s.st = digest, now.Unix(), st
	s.status.Loaded, s.status.Digest, s.status.LastModified = true, digest, now.Unix()
	s.status.Revision, s.status.Objects = st.Revision, n
	s.status.Pushes++
	s.status.LastError, s.status.LastErrorAt = "", time.Time{}
	lm := s.lastModified
	s.mu.Unlock()
	// Applied before the answer, so that a client that reads 202 finds the configuration served.
	s.opts.Apply(r.Context(), st)
	if s.opts.OnPush != nil {
		s.opts.OnPush(true)
	}
	s.log.Info("configuration pushed", "revision", st.Revision, "objects", n, "digest", digest, "changed", len(st.Changed))
	w.Header().Set("X-Last-Modified", strconv.FormatInt(lm, 10))
	w.Header().Set("X-Digest", digest)
	w.WriteHeader(http.StatusAccepted)
}

// sameModifiedIndex keeps the stored version of an object pushed again with the modifiedIndex
// it was stored with, whatever its body (APISIX does not update it). Called under s.mu.
func (s *Store) sameModifiedIndex(typ string, list []standalone.Object) []standalone.Object {
	old := map[string]standalone.Object{}
	for _, o := range s.objects[typ] {
		if o.HasModifiedIndex {
			old[o.Key] = o
		}
	}
	if len(old) == 0 {
		return list
	}
	out := make([]standalone.Object, len(list))
	for i, o := range list {
		if prev, ok := old[o.Key]; ok && o.HasModifiedIndex && o.ModifiedIndex == prev.ModifiedIndex {
			prev.Index = o.Index
			o = prev
		}
		out[i] = o
	}
	return out
}

// reject answers 400 to a push that is not applied.
func (s *Store) reject(w http.ResponseWriter, msg string) {
	s.mu.Lock()
	s.status.Rejected++
	s.status.LastError, s.status.LastErrorAt = msg, s.opts.Now()
	s.mu.Unlock()
	s.log.Warn("configuration push rejected; the current one stays", "error", msg)
	if s.opts.OnPush != nil {
		s.opts.OnPush(false)
	}
	errorMsg(w, http.StatusBadRequest, msg)
}
