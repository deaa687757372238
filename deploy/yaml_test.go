package deploy

import (
	"io/fs"
	"path/filepath"
	"testing"

	"gopkg.in/yaml.v3"
)

// TestYAMLFilesParse parses every YAML file under deploy/, each document of a stream on its own:
// a file that kubectl, compose or zoneproxy would refuse to read fails here first.
func TestYAMLFilesParse(t *testing.T) {
	var files []string
	err := filepath.WalkDir(".", func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && d.Name() == "testdata" {
			return filepath.SkipDir
		}
		if ext := filepath.Ext(path); !d.IsDir() && (ext == ".yaml" || ext == ".yml") {
			files = append(files, path)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	// The files the other tests read in detail must be among them.
	if err := hasAll(files, imageConfig, composeFile, kustomization, k8sManifest, "kubernetes/config.yaml"); err != nil {
		t.Fatal(err)
	}
	for _, path := range files {
		t.Run(path, func(t *testing.T) {
			docs := readDocs(t, path)
			if len(docs) == 0 {
				t.Fatal("no YAML document")
			}
			for i, d := range docs {
				if d.Kind != yaml.DocumentNode || len(d.Content) != 1 || d.Content[0].Kind != yaml.MappingNode {
					t.Errorf("document %d is not a mapping", i+1)
				}
			}
		})
	}
}
