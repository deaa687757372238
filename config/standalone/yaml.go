package standalone

import (
	"encoding/json"
	"fmt"
	"strconv"
	"strings"

	"gopkg.in/yaml.v3"
)

// maxDepth bounds the nesting of a YAML document (aliases included).
const maxDepth = 200

// parseYAML decodes the first document of data into maps, lists and scalars. Aliases are
// expanded, within a budget: the nodes produced may not exceed aliasFactor times the nodes
// written plus aliasSlack, which a billion-laughs document exceeds by orders of magnitude while
// anchors used for sharing (an upstream reused by many routes) stay well within.
func parseYAML(data []byte) (root any, err error) { return parseYAMLDepth(data, 0) }

// parseYAMLDepth is parseYAML for a document that sits depth levels deep in a bigger one: a
// list entry cut from a file (depth 1) nests as deep as it does in the whole file.
func parseYAMLDepth(data []byte, depth int) (root any, err error) {
	defer func() {
		if r := recover(); r != nil {
			root, err = nil, fmt.Errorf("invalid YAML: %v", r)
		}
	}()
	var doc yaml.Node
	if err := yaml.Unmarshal(data, &doc); err != nil {
		return nil, fmt.Errorf("invalid YAML: %s", strings.TrimPrefix(err.Error(), "yaml: "))
	}
	if doc.Kind != yaml.DocumentNode || len(doc.Content) == 0 {
		return nil, nil
	}
	c := &converter{}
	c.budget = aliasFactor*countNodes(doc.Content[0], depth) + aliasSlack
	return c.convert(doc.Content[0], depth)
}

const (
	aliasFactor = 4
	aliasSlack  = 100_000
)

// countNodes counts the nodes as written (an alias is one node).
func countNodes(n *yaml.Node, depth int) int {
	if depth > maxDepth {
		return 1
	}
	total := 1
	if n.Kind != yaml.AliasNode {
		for _, c := range n.Content {
			total += countNodes(c, depth+1)
		}
	}
	return total
}

type converter struct{ budget int }

func (c *converter) convert(n *yaml.Node, depth int) (any, error) {
	if c.budget--; c.budget < 0 {
		return nil, ErrAliases
	}
	if depth > maxDepth {
		return nil, fmt.Errorf("invalid YAML: line %d: nested deeper than %d levels", n.Line, maxDepth)
	}
	switch n.Kind {
	case yaml.AliasNode:
		return c.convert(n.Alias, depth+1)
	case yaml.DocumentNode:
		if len(n.Content) == 0 {
			return nil, nil
		}
		return c.convert(n.Content[0], depth+1)
	case yaml.SequenceNode:
		out := make([]any, 0, len(n.Content))
		for _, e := range n.Content {
			v, err := c.convert(e, depth+1)
			if err != nil {
				return nil, err
			}
			out = append(out, v)
		}
		return out, nil
	case yaml.MappingNode:
		out := make(map[string]any, len(n.Content)/2)
		var merges []*yaml.Node
		for i := 0; i+1 < len(n.Content); i += 2 {
			k, v := n.Content[i], n.Content[i+1]
			if k.Kind == yaml.ScalarNode && k.Tag == "!!merge" {
				merges = append(merges, v)
				continue
			}
			key, err := c.key(k, depth)
			if err != nil {
				return nil, err
			}
			if out[key], err = c.convert(v, depth+1); err != nil {
				return nil, err
			}
		}
		// "<<: *anchor" (or a list of them) fills in the keys not set explicitly; the first
		// merged mapping wins over later ones.
		for _, m := range merges {
			srcs := []*yaml.Node{m}
			if m.Kind == yaml.SequenceNode {
				srcs = m.Content
			}
			for _, s := range srcs {
				v, err := c.convert(s, depth+1)
				if err != nil {
					return nil, err
				}
				mm, ok := v.(map[string]any)
				if !ok {
					return nil, fmt.Errorf("invalid YAML: line %d: a merge (<<) needs a mapping", m.Line)
				}
				for k, e := range mm {
					if _, set := out[k]; !set {
						out[k] = e
					}
				}
			}
		}
		return out, nil
	case yaml.ScalarNode:
		return scalar(n)
	}
	return nil, fmt.Errorf("invalid YAML: line %d: unexpected node", n.Line)
}

// key returns a mapping key as a string, as JSON needs (a number or boolean key becomes its text).
func (c *converter) key(k *yaml.Node, depth int) (string, error) {
	for k.Kind == yaml.AliasNode && k.Alias != nil {
		k = k.Alias
	}
	if k.Kind != yaml.ScalarNode {
		return "", fmt.Errorf("invalid YAML: line %d: a mapping key must be a scalar", k.Line)
	}
	if k.ShortTag() == "!!null" {
		return "null", nil
	}
	return k.Value, nil
}

func scalar(n *yaml.Node) (any, error) {
	switch n.ShortTag() {
	case "!!str", "!!binary", "!!timestamp":
		return n.Value, nil
	case "!!null":
		return nil, nil
	case "!!bool":
		var b bool
		if err := n.Decode(&b); err != nil {
			return nil, fmt.Errorf("invalid YAML: line %d: %v", n.Line, err)
		}
		return b, nil
	case "!!int":
		var i int64
		if err := n.Decode(&i); err == nil {
			return json.Number(strconv.FormatInt(i, 10)), nil
		}
		var u uint64
		if err := n.Decode(&u); err == nil {
			return json.Number(strconv.FormatUint(u, 10)), nil
		}
		return nil, fmt.Errorf("invalid YAML: line %d: integer %q out of range", n.Line, n.Value)
	case "!!float":
		var f float64
		if err := n.Decode(&f); err != nil {
			return nil, fmt.Errorf("invalid YAML: line %d: %v", n.Line, err)
		}
		s := strconv.FormatFloat(f, 'g', -1, 64)
		if _, err := strconv.ParseFloat(s, 64); err != nil || strings.ContainsAny(s, "IN") {
			return nil, fmt.Errorf("invalid YAML: line %d: %q is not a finite number", n.Line, n.Value)
		}
		return json.Number(s), nil
	}
	return n.Value, nil // an unknown tag: its text
}
