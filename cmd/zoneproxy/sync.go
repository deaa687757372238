package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/zoneproxy/zoneproxy/config"
	"github.com/zoneproxy/zoneproxy/config/keyring"
	"github.com/zoneproxy/zoneproxy/config/regionsync"
	"github.com/zoneproxy/zoneproxy/lifecycle"
	"github.com/zoneproxy/zoneproxy/proxy/plugin"
	"github.com/zoneproxy/zoneproxy/proxy/plugin/builtin"
	"github.com/zoneproxy/zoneproxy/proxy/snapshot"
)

const syncUsage = `usage:
  zoneproxy sync dump  --target URL [--prefix /apisix]                 > file.yaml
  zoneproxy sync diff  -f file.yaml [-f more.yaml] --target NAME=URL [--target NAME=URL ...]
  zoneproxy sync apply -f file.yaml [...] --target NAME=URL [...] [--dry-run] [--label-selector k=v]
URL: etcd+http://host:port[,host:port] or etcd+https://..., or an APISIX Admin API http(s)://host:port
(--admin-key or ZONEPROXY_ADMIN_KEY). Exit codes: 0 in sync / applied, 1 differs / a target failed, 2 error.
`

// list is a repeatable flag.
type list []string

func (l *list) String() string     { return strings.Join(*l, ",") }
func (l *list) Set(v string) error { *l = append(*l, v); return nil }

// runSync is `zoneproxy sync`: it parses the flags and hands over to config/regionsync.
func runSync(ctx context.Context, args []string, env func(string) (string, bool), stdout, stderr io.Writer) int {
	if len(args) == 0 || (args[0] != "dump" && args[0] != "diff" && args[0] != "apply") {
		fmt.Fprint(stderr, syncUsage)
		return regionsync.ExitError
	}
	cmd := args[0]
	fs := flag.NewFlagSet("zoneproxy sync "+cmd, flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() { fmt.Fprint(stderr, syncUsage); fs.PrintDefaults() }
	var files, targetSpecs, selectors list
	fs.Var(&files, "f", "configuration file, apisix.yaml or .json (repeatable; merged)")
	fs.Var(&targetSpecs, "target", "NAME=URL of a control plane (repeatable)")
	fs.Var(&selectors, "label-selector", "k=v[,k=v]: manage only objects carrying these labels (repeatable, AND)")
	prefix := fs.String("prefix", "/apisix", "etcd key prefix")
	dryRun := fs.Bool("dry-run", false, "apply: show what would be written, write nothing")
	var cacert, cert, key list
	fs.Var(&cacert, "cacert", "etcd+https: CA bundle (default: system roots); NAME=path for one target only")
	fs.Var(&cert, "cert", "etcd+https: client certificate; NAME=path for one target only")
	fs.Var(&key, "key", "etcd+https: client key; NAME=path for one target only")
	user := fs.String("user", "", "etcd user (password in ZONEPROXY_ETCD_PASSWORD or --password)")
	password := fs.String("password", "", "etcd password")
	maxTxnOps := fs.Int("max-txn-ops", 128, "operations per etcd transaction (etcd's --max-txn-ops)")
	timeout := fs.Duration("timeout", 30*time.Second, "bound of each request to a control plane")
	adminKey := fs.String("admin-key", "", "Admin API key (default: ZONEPROXY_ADMIN_KEY)")
	cfgPath := fs.String("c", "", "config.yaml to take the keyring and plugins from (default: APISIX's defaults)")
	if err := fs.Parse(args[1:]); err != nil {
		return regionsync.ExitError
	}
	fail := func(err error) int {
		fmt.Fprintf(stderr, "zoneproxy sync %s: %v\n", cmd, err)
		return regionsync.ExitError
	}
	if fs.NArg() > 0 {
		return fail(fmt.Errorf("unexpected argument %q", fs.Arg(0)))
	}
	if *adminKey == "" {
		*adminKey, _ = env("ZONEPROXY_ADMIN_KEY")
	}
	if *password == "" {
		*password, _ = env("ZONEPROXY_ETCD_PASSWORD")
	}
	cfg := config.Default()
	if *cfgPath != "" {
		c, _, err := lifecycle.LoadConfig(*cfgPath)
		if err != nil {
			return fail(fmt.Errorf("%s: %w", *cfgPath, err))
		}
		cfg = c
	}
	kr, err := keyring.New(cfg.KeyringEntries())
	if err != nil {
		return fail(fmt.Errorf("keyring: %w", err))
	}
	secrets := &regionsync.Secrets{Keyring: kr}
	if cfg.APISIX.DataEncryption.EnableEncryptFields {
		secrets.PluginFields = encryptFields(builtin.Registry())
	}
	eo := regionsync.EtcdOptions{Prefix: *prefix, Username: *user, Password: *password, MaxTxnOps: *maxTxnOps, Timeout: *timeout}
	if len(targetSpecs) == 0 {
		return fail(errors.New("no --target"))
	}
	var targets []regionsync.Target
	defer func() {
		for _, t := range targets {
			_ = t.Close()
		}
	}()
	for _, spec := range targetSpecs {
		name, url := targetName(spec)
		tlsCfg, err := clientTLS(forTarget(name, cacert), forTarget(name, cert), forTarget(name, key))
		if err != nil {
			return fail(fmt.Errorf("target %s: %w", name, err))
		}
		if strings.HasPrefix(url, "http://") || strings.HasPrefix(url, "https://") {
			t, err := regionsync.NewAdmin(name, url, regionsync.AdminOptions{Key: *adminKey, TLS: tlsCfg, Secrets: secrets, Timeout: *timeout})
			if err != nil {
				return fail(err)
			}
			targets = append(targets, t)
			continue
		}
		o := eo
		o.TLS = tlsCfg
		t, err := regionsync.NewEtcd(name, url, o)
		if err != nil {
			return fail(err)
		}
		targets = append(targets, t)
	}

	if cmd == "dump" {
		if len(targets) != 1 || len(files) > 0 {
			return fail(errors.New("dump takes one --target and no -f"))
		}
		remote, err := targets[0].Read(ctx)
		if err != nil {
			return fail(fmt.Errorf("%s: %w", targets[0].Name(), err))
		}
		if err := regionsync.WriteDump(stdout, remote.Objects, secrets); err != nil {
			return fail(err)
		}
		fmt.Fprintf(stderr, "%s: dumped %d objects fingerprint=%s\n", targets[0].Name(), len(remote.Objects), regionsync.Fingerprint(remote.Objects))
		return regionsync.ExitOK
	}

	if len(files) == 0 {
		return fail(errors.New("no -f file"))
	}
	sel, err := regionsync.ParseSelector(selectors)
	if err != nil {
		return fail(err)
	}
	var inputs []regionsync.Input
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			return fail(err)
		}
		inputs = append(inputs, regionsync.Input{Name: f, Data: data})
	}
	check := checker(cfg, kr)
	desired, err := regionsync.Load(inputs, env, check, secrets)
	if err != nil {
		return fail(err)
	}
	if len(sel) == 0 {
		fmt.Fprintf(stdout, "file: %d objects fingerprint=%s\n", len(desired), regionsync.Fingerprint(desired))
	} else {
		fmt.Fprintf(stdout, "file: %d objects, managing those with labels %s\n", len(desired), sel)
	}
	o := regionsync.Options{Selector: sel, DryRun: *dryRun}
	if cmd == "diff" {
		return regionsync.WriteDiff(stdout, regionsync.Diff(ctx, desired, targets, o))
	}
	return regionsync.WriteApply(stdout, regionsync.Apply(ctx, desired, targets, o), *dryRun)
}

// forTarget returns the value of a per-target flag for target name: its NAME=value entry, else
// the last entry without a name.
func forTarget(name string, values list) string {
	all := ""
	for _, v := range values {
		if n, path, ok := strings.Cut(v, "="); ok {
			if n == name {
				return path
			}
			continue
		}
		all = v
	}
	return all
}

// targetName splits NAME=URL; a bare URL is its own name.
func targetName(spec string) (name, url string) {
	if i, j := strings.Index(spec, "="), strings.Index(spec, "://"); i > 0 && (j < 0 || i < j) {
		return spec[:i], spec[i+1:]
	}
	return spec, spec
}

// checker validates one object as the data plane would decode it (snapshot.Check), with the
// plugins and keyring of cfg.
func checker(cfg *config.Config, kr *keyring.Keyring) func(rel string, value []byte) error {
	opts := snapshot.Options{
		Prefix: "/apisix", Enabled: cfg.Plugins, Keyring: kr,
		IgnoreUnknownPlugins: cfg.Zoneproxy.UnknownPlugins == config.UnknownPluginsIgnore,
		PlainFields:          !cfg.APISIX.DataEncryption.EnableEncryptFields,
	}
	return func(rel string, value []byte) error {
		err := snapshot.Check(opts, "/apisix/"+rel, value)
		if errors.Is(err, snapshot.ErrNotDecoded) {
			return nil
		}
		return err
	}
}

// encryptFields returns the fields each plugin stores encrypted (the auth plugins' consumer
// confs), from reg.
func encryptFields(reg *plugin.Registry) func(string) []string {
	return func(name string) []string {
		p, ok := reg.Lookup(name)
		if !ok {
			return nil
		}
		if a, ok := p.(plugin.Auth); ok {
			return a.EncryptFields()
		}
		return nil
	}
}

func clientTLS(ca, cert, key string) (*tls.Config, error) {
	c := &tls.Config{MinVersion: tls.VersionTLS12}
	if ca != "" {
		pem, err := os.ReadFile(ca)
		if err != nil {
			return nil, fmt.Errorf("--cacert: %w", err)
		}
		c.RootCAs = x509.NewCertPool()
		if !c.RootCAs.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("--cacert %s: no certificate found", ca)
		}
	}
	if (cert == "") != (key == "") {
		return nil, errors.New("--cert and --key go together")
	}
	if cert != "" {
		pair, err := tls.LoadX509KeyPair(cert, key)
		if err != nil {
			return nil, fmt.Errorf("--cert/--key: %w", err)
		}
		c.Certificates = []tls.Certificate{pair}
	}
	return c, nil
}
