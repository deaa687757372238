//go:build !linux

package filesource

func watch(string) (<-chan struct{}, func(), error) { return nil, nil, ErrNoWatch }
