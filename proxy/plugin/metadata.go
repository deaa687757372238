package plugin

// MetadataCompiler is implemented by a plugin that reads plugin_metadata
// (<prefix>/plugin_metadata/<plugin name>, APISIX's metadata_schema): limit-count's header
// names, cors's origins by name.
type MetadataCompiler interface {
	Plugin
	// CompileMetadata validates the metadata object (its "id" field removed) against the
	// plugin's metadata schema, fills in the defaults and returns what the plugin's instances
	// read at request time (Request.Metadata). The error is APISIX's schema error text.
	CompileMetadata(conf []byte) (any, error)
}

// Metadata is the compiled plugin_metadata of a snapshot, by plugin name. It is immutable once
// made and safe for concurrent use; the nil *Metadata has none.
type Metadata struct {
	byName map[string]any
}

// NewMetadata returns the metadata set of byName (plugin name -> compiled value); it keeps the map.
func NewMetadata(byName map[string]any) *Metadata {
	if len(byName) == 0 {
		return nil
	}
	return &Metadata{byName: byName}
}

// Get returns the compiled metadata of the plugin name, nil when it has none.
func (m *Metadata) Get(name string) any {
	if m == nil {
		return nil
	}
	return m.byName[name]
}

// Len is the number of plugins with metadata.
func (m *Metadata) Len() int {
	if m == nil {
		return 0
	}
	return len(m.byName)
}
