package plugin

// Consumer is an APISIX consumer as the request path sees it (apisix/consumer.lua).
type Consumer struct {
	Username string
	// GroupID is the consumer group it belongs to ("" for none).
	GroupID string
	// CustomID is labels.custom_id, sent upstream as X-Consumer-Custom-ID.
	CustomID string
	// Plugins are its non-authentication plugins merged over its group's (nil for none).
	Plugins *Chain
	// GroupMissing is set when GroupID names no consumer group: a request it authenticates is
	// answered 503, as APISIX does (apisix/init.lua).
	GroupMissing bool

	name any // Username, boxed once for the request's user value
}

// NewConsumer returns a consumer; see the fields.
func NewConsumer(username, groupID, customID string, plugins *Chain, groupMissing bool) *Consumer {
	return &Consumer{Username: username, GroupID: groupID, CustomID: customID, Plugins: plugins,
		GroupMissing: groupMissing, name: username}
}

// Credential is what an authentication plugin finds under a key: the consumer, the credential's
// id ("" when the conf is on the consumer itself) and the plugin's compiled consumer conf.
type Credential struct {
	Consumer *Consumer
	ID       string
	Conf     any
}

// Consumers indexes the consumers of a snapshot: by name (anonymous_consumer,
// consumer-restriction) and, per authentication plugin, by the plugin's key. It is built by the
// snapshot builder and immutable once the snapshot is published.
type Consumers struct {
	byName map[string]*Consumer
	byKey  map[string]map[string]*Credential // plugin -> key -> credential
}

// NewConsumers returns an empty index for the builder to fill.
func NewConsumers() *Consumers { return NewConsumersSize(0) }

// NewConsumersSize returns an empty index sized for n consumers.
func NewConsumersSize(n int) *Consumers {
	return &Consumers{byName: make(map[string]*Consumer, n), byKey: map[string]map[string]*Credential{}}
}

// Add indexes c by name.
func (cs *Consumers) Add(c *Consumer) { cs.byName[c.Username] = c }

// AddCredential indexes cred under key for plugin; it returns the credential it replaced (APISIX:
// the last loaded wins).
func (cs *Consumers) AddCredential(plugin, key string, cred *Credential) (replaced *Credential) {
	m := cs.byKey[plugin]
	if m == nil {
		m = map[string]*Credential{}
		cs.byKey[plugin] = m
	}
	replaced = m[key]
	m[key] = cred
	return replaced
}

// Lookup finds the credential of plugin under key; nil when none. It allocates nothing.
func (cs *Consumers) Lookup(plugin string, key []byte) *Credential {
	if cs == nil {
		return nil
	}
	return cs.byKey[plugin][string(key)]
}

// Consumer finds a consumer by name; nil when none.
func (cs *Consumers) Consumer(name string) *Consumer {
	if cs == nil {
		return nil
	}
	return cs.byName[name]
}

// Len is the number of consumers.
func (cs *Consumers) Len() int {
	if cs == nil {
		return 0
	}
	return len(cs.byName)
}
