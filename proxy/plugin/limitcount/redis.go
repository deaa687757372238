package limitcount

import (
	"errors"

	"github.com/zoneproxy/zoneproxy/proxy/plugin"
)

// RedisConf is the conf of the redis and redis-cluster policies.
type RedisConf struct{}

func (c *Conf) compilePolicy(conf plugin.Conf) error {
	if c.Policy != "local" {
		return errors.New(`property "policy" validation failed: ` + c.Policy + ` is not supported by zoneproxy yet`)
	}
	return nil
}

func (c *Conf) newRedisBackend(*plugin.Store, string) (backend, error) {
	return nil, errors.New("not reached")
}
