package snapshot

import (
	"encoding/json"
	"fmt"

	"github.com/zoneproxy/zoneproxy/proxy/plugin"
)

// KindPluginMetadata is APISIX's plugin_metadata: <prefix>/plugin_metadata/<plugin name>, one
// object per plugin, read by every instance of the plugin (limit-count's header names, cors's
// origins by name).
const KindPluginMetadata = "plugin_metadata"

// metadataObj is a decoded plugin_metadata object: the plugin's compiled metadata, nil for a
// plugin that is not enabled or reads none.
type metadataObj struct {
	compiled any
}

// decodeMetadata validates a plugin_metadata object with its plugin's metadata schema, as
// APISIX's check_plugin_metadata does: a plugin outside the enabled set is skipped with a
// warning (the object is kept, unused), an invalid object is rejected and its last good version
// stays.
func (b *Builder) decodeMetadata(e *entry) (*metadataObj, error) {
	name := e.id()
	var fields map[string]json.RawMessage
	if err := json.Unmarshal(e.kv.Value, &fields); err != nil {
		return nil, fmt.Errorf("invalid JSON: %v", err)
	}
	if !b.policy.Enabled[name] {
		b.warnPlugins(e, []string{fmt.Sprintf("skipping check schema for disabled or unknown plugin [%s]", name)})
		return &metadataObj{}, nil
	}
	p, ok := b.opts.Plugins.Lookup(name)
	if !ok {
		b.warnPlugins(e, []string{fmt.Sprintf("plugin [%s] is not implemented by zoneproxy: its metadata is not used", name)})
		return &metadataObj{}, nil
	}
	mc, ok := p.(plugin.MetadataCompiler)
	if !ok {
		return &metadataObj{}, nil
	}
	delete(fields, "id")
	conf, _ := json.Marshal(fields)
	v, err := mc.CompileMetadata(conf)
	if err != nil {
		return nil, fmt.Errorf("failed to check the configuration of plugin %s err: %w", name, err)
	}
	return &metadataObj{compiled: v}, nil
}

// buildMetadata collects the compiled plugin_metadata objects.
func (b *Builder) buildMetadata() *plugin.Metadata {
	m := map[string]any{}
	for name, e := range b.byID[KindPluginMetadata] {
		if o, ok := e.obj.(*metadataObj); ok && o.compiled != nil {
			m[name] = o.compiled
		}
	}
	return plugin.NewMetadata(m)
}
