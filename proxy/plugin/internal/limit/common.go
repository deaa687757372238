package limit

import (
	"encoding/json"
	"errors"
	"fmt"

	"github.com/zoneproxy/zoneproxy/proxy/plugin"
)

// Common is the conf limit-req and limit-conn share (apisix/plugins/limit-req.lua and
// limit-conn.lua): the key, the policy (with its Redis fields when not local), the rejection
// and allow_degradation.
type Common struct {
	Key, KeyType     string
	Policy           string
	Redis            RedisConf // policy redis or redis-cluster
	RejectedCode     int
	RejectedMsg      string
	AllowDegradation bool

	// CompiledKey is Key compiled; Rejected the rejection's body ({"error_msg":…}), nil for
	// none.
	CompiledKey Key
	Rejected    []byte
}

// CompileCommon reads the common fields from c, with APISIX's defaults and error texts; name is
// the plugin's, for the error of a policy zoneproxy does not run; redisOK allows the redis and
// redis-cluster policies (their fields read into Redis).
func CompileCommon(c plugin.Conf, name string, redisOK bool) (Common, error) {
	var cm Common
	var err error
	if cm.Key, err = c.String("key", ""); err != nil {
		return cm, err
	}
	if cm.KeyType, err = c.String("key_type", TypeVar); err != nil {
		return cm, err
	}
	if err := plugin.Enum("key_type", cm.KeyType, TypeVar, TypeVarCombination); err != nil {
		return cm, err
	}
	if cm.CompiledKey, err = CompileKey(cm.Key, cm.KeyType); err != nil {
		return cm, err
	}
	policy, err := c.String("policy", "local")
	if err != nil {
		return cm, err
	}
	if err := plugin.Enum("policy", policy, "local", "redis", "redis-cluster"); err != nil {
		return cm, err
	}
	cm.Policy = policy
	if policy != "local" {
		if !redisOK {
			return cm, errors.New(`property "policy" validation failed: ` + policy + ` is not supported by zoneproxy for ` + name + ` yet`)
		}
		if cm.Redis, err = CompileRedis(c, policy); err != nil {
			return cm, err
		}
	}
	if cm.RejectedCode, err = c.Int("rejected_code", 503); err != nil {
		return cm, err
	}
	if cm.RejectedCode < 200 || cm.RejectedCode > 599 {
		return cm, fmt.Errorf(`property "rejected_code" validation failed: expected %d to be at least 200 and at most 599`, cm.RejectedCode)
	}
	if cm.RejectedMsg, err = c.StringLen("rejected_msg", "", 1, -1); err != nil {
		return cm, err
	}
	if cm.AllowDegradation, err = c.Bool("allow_degradation", false); err != nil {
		return cm, err
	}
	if cm.RejectedMsg != "" {
		b, _ := json.Marshal(struct {
			ErrorMsg string `json:"error_msg"`
		}{cm.RejectedMsg})
		cm.Rejected = append(b, '\n')
	}
	return cm, nil
}
