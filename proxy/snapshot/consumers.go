package snapshot

import (
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strings"

	"github.com/zoneproxy/zoneproxy/proxy/plugin"
)

// Kinds of the consumer objects (apisix/consumer.lua, apisix/consumer_group.lua).
const (
	KindConsumer      = "consumers"
	KindCredential    = "credentials" // <prefix>/consumers/<username>/credentials/<id>
	KindConsumerGroup = "consumer_groups"
	// pluginsKey is the control plane's list of enabled plugins, under the prefix.
	pluginsKey = "/plugins"
)

// consumerDoc is an APISIX consumer (apisix/schema_def.lua, _M.consumer).
type consumerDoc struct {
	ID         json.RawMessage            `json:"id"`
	Username   *string                    `json:"username"`
	Desc       *string                    `json:"desc"`
	Labels     map[string]string          `json:"labels"`
	GroupID    json.RawMessage            `json:"group_id"`
	Plugins    map[string]json.RawMessage `json:"plugins"`
	CreateTime *int64                     `json:"create_time"`
	UpdateTime *int64                     `json:"update_time"`
}

// credentialDoc is a consumer's credential (apisix/schema_def.lua, _M.credential).
type credentialDoc struct {
	ID         json.RawMessage            `json:"id"`
	Name       *string                    `json:"name"`
	Desc       *string                    `json:"desc"`
	Labels     map[string]string          `json:"labels"`
	Plugins    map[string]json.RawMessage `json:"plugins"`
	CreateTime *int64                     `json:"create_time"`
	UpdateTime *int64                     `json:"update_time"`
}

var usernamePattern = regexp.MustCompile(`^[a-zA-Z0-9_\-]+$`)

// consumerObj is a decoded consumer: its non-authentication plugins and its authentication
// plugins' consumer confs.
type consumerObj struct {
	username, groupID, customID string
	set                         *plugin.Set
	creds                       []plugin.Cred

	// What buildConsumers made of it, reused while the consumer and its group's entry stay the
	// same (a changed consumer is a new entry, so a new consumerObj): with 10,000 consumers a
	// change to one then costs map inserts, not 10,000 merges.
	built      *plugin.Consumer
	builtGroup *entry // the group entry built with (nil: none, or missing)
	builtCreds []*plugin.Credential
}

// credentialObj is a decoded credential of the consumer username.
type credentialObj struct {
	username string
	cred     *plugin.Cred // nil when its plugin is disabled or not enabled

	// built is the indexed credential, reused while its consumer's built form is builtFor.
	built    *plugin.Credential
	builtFor *plugin.Consumer
}

func decodeConsumer(data []byte) (*consumerObj, map[string]json.RawMessage, error) {
	var d consumerDoc
	if err := decodeStrict(data, &d); err != nil {
		return nil, nil, err
	}
	if d.Username == nil {
		return nil, nil, fieldError("username", "is required")
	}
	if n := len(*d.Username); n < 1 || n > 100 || !usernamePattern.MatchString(*d.Username) {
		return nil, nil, fieldError("username", "%q must be 1 to 100 characters of a-z A-Z 0-9 _ -", *d.Username)
	}
	if err := checkMeta(nil, d.Desc, d.Labels); err != nil {
		return nil, nil, err
	}
	c := &consumerObj{username: *d.Username, customID: d.Labels["custom_id"]}
	var err error
	if c.groupID, err = idField("group_id", d.GroupID); err != nil {
		return nil, nil, err
	}
	return c, d.Plugins, nil
}

// decodeCredential decodes the credential under <username>/credentials/<id>.
func decodeCredential(data []byte) (map[string]json.RawMessage, error) {
	var d credentialDoc
	if err := decodeStrict(data, &d); err != nil {
		return nil, err
	}
	if err := checkMeta(d.Name, d.Desc, d.Labels); err != nil {
		return nil, err
	}
	if len(d.Plugins) > 1 {
		return nil, fieldError("plugins", "expect object to have at most 1 properties")
	}
	return d.Plugins, nil
}

// credentialUser returns the username of a credential key "<prefix>/consumers/<username>/credentials/<id>".
func (b *Builder) credentialUser(key string) string {
	rest := strings.TrimPrefix(key, b.opts.Prefix+"/"+KindConsumer+"/")
	user, _, _ := strings.Cut(rest, "/")
	return user
}

// splitCredential recognises "<username>/credentials/<id>", the rest of a consumers key.
func splitCredential(rest string) (id string, ok bool) {
	user, tail, found := strings.Cut(rest, "/")
	if !found || user == "" {
		return "", false
	}
	id, found = strings.CutPrefix(tail, KindCredential+"/")
	if !found || id == "" || strings.Contains(id, "/") {
		return "", false
	}
	return id, true
}

// buildConsumers makes the consumer index of the snapshot from the consumers, their credentials
// and the consumer groups. Credentials are loaded after the consumers, each in key order; a key
// used twice goes to the last loaded (APISIX: the last loaded wins), and is logged once.
func (b *Builder) buildConsumers() *plugin.Consumers {
	consumers := sortedEntries(b.byID[KindConsumer])
	cs := plugin.NewConsumersSize(len(consumers))
	groups := b.byID[KindConsumerGroup]
	dups := map[string]bool{}
	add := func(pluginName, key string, cred *plugin.Credential, owner string) {
		if old := cs.AddCredential(pluginName, key, cred); old != nil && old.Consumer != cred.Consumer {
			dups[fmt.Sprintf("%s: consumers %q and %q share a key; %q, loaded last, wins", pluginName,
				old.Consumer.Username, cred.Consumer.Username, owner)] = true
		}
	}
	for _, e := range consumers {
		co := e.obj.(*consumerObj)
		var g *entry
		if co.groupID != "" {
			g = groups[co.groupID]
		}
		if co.built == nil || co.builtGroup != g {
			var gset *plugin.Set
			if g != nil {
				gset = g.obj.(*pluginSet).set
			}
			c := plugin.NewConsumer(co.username, co.groupID, co.customID, plugin.Merge(gset, co.set), co.groupID != "" && g == nil)
			co.built, co.builtGroup, co.builtCreds = c, g, make([]*plugin.Credential, len(co.creds))
			for i, cr := range co.creds {
				co.builtCreds[i] = &plugin.Credential{Consumer: c, Conf: cr.Conf}
			}
		}
		cs.Add(co.built)
		for i, cr := range co.creds {
			add(cr.Plugin, cr.Key, co.builtCreds[i], co.username)
		}
	}
	creds := make([]*entry, 0, len(b.creds))
	for _, e := range b.creds {
		creds = append(creds, e)
	}
	slices.SortFunc(creds, func(x, y *entry) int { return compareKey(x, y.key()) })
	for _, e := range creds {
		co := e.obj.(*credentialObj)
		c := cs.Consumer(co.username)
		if c == nil || co.cred == nil {
			continue // orphan: skipped, as APISIX does
		}
		if co.built == nil || co.builtFor != c {
			co.built, co.builtFor = &plugin.Credential{Consumer: c, ID: e.id(), Conf: co.cred.Conf}, c
		}
		add(co.cred.Plugin, co.cred.Key, co.built, c.Username)
	}
	for d := range dups {
		if !b.dupsLogged[d] {
			b.log.Warn("duplicate consumer key", "detail", d)
		}
	}
	b.dupsLogged = dups
	return cs
}

// buildGlobal merges the global rules, in key order.
func (b *Builder) buildGlobal() *plugin.Chain {
	rules := sortedEntries(b.byID[KindGlobalRule])
	sets := make([]*plugin.Set, len(rules))
	for i, e := range rules {
		sets[i] = e.obj.(*pluginSet).set
	}
	c, dups := plugin.MergeGlobal(sets...)
	for _, d := range dups {
		b.log.Error("plugin configured in more than one global rule: dropped from all of them", "plugin", d)
	}
	return c
}

func sortedEntries(m map[string]*entry) []*entry {
	out := make([]*entry, 0, len(m))
	for _, e := range m {
		out = append(out, e)
	}
	slices.SortFunc(out, func(x, y *entry) int { return compareKey(x, y.key()) })
	return out
}

var errNotAuth = errors.New("a credential holds one authentication plugin")
