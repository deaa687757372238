package harness

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
)

// WriteResults writes the report as <dir>/<started>.json and the table as <dir>/<started>.txt, each
// through a .tmp file renamed into place, and returns the JSON file's path.
func WriteResults(dir string, r *Report) (string, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", fmt.Errorf("results directory: %w", err)
	}
	stamp := r.Started.UTC().Format("20060102T150405Z")
	js, err := json.MarshalIndent(r, "", "  ")
	if err != nil {
		return "", fmt.Errorf("results: %w", err)
	}
	var table bytes.Buffer
	if err := WriteTable(&table, r); err != nil {
		return "", err
	}
	jsonPath := filepath.Join(dir, stamp+".json")
	for path, b := range map[string][]byte{jsonPath: append(js, '\n'), filepath.Join(dir, stamp+".txt"): table.Bytes()} {
		if err := writeAtomic(path, b); err != nil {
			return "", err
		}
	}
	return jsonPath, nil
}

func writeAtomic(path string, b []byte) error {
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, b, 0o644); err != nil {
		return fmt.Errorf("results: %w", err)
	}
	if err := os.Rename(tmp, path); err != nil {
		_ = os.Remove(tmp)
		return fmt.Errorf("results: %w", err)
	}
	return nil
}
