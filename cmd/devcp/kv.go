package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"
)

// kvCommand runs "put KEY VALUE", "get PREFIX" or "del KEY" against the running control plane,
// through its endpoints (DEVCP_ENDPOINTS, default the three local ones) with the files devcp wrote.
func kvCommand(args []string, stdout, stderr io.Writer) int {
	if (args[0] == "put" && len(args) != 3) || (args[0] != "put" && len(args) != 2) {
		fmt.Fprintln(stderr, errUsage)
		return 2
	}
	cli, err := dialDevCP()
	if err != nil {
		fmt.Fprintln(stderr, "devcp:", err)
		return 1
	}
	defer cli.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	switch args[0] {
	case "put":
		_, err = cli.Put(ctx, args[1], args[2])
	case "del":
		_, err = cli.Delete(ctx, args[1])
	case "get":
		var resp *clientv3.GetResponse
		if resp, err = cli.Get(ctx, args[1], clientv3.WithPrefix()); err == nil {
			for _, kv := range resp.Kvs {
				fmt.Fprintf(stdout, "%s (rev %d)\n%s\n", kv.Key, kv.ModRevision, kv.Value)
			}
		}
	}
	if err != nil {
		fmt.Fprintln(stderr, "devcp:", err)
		return 1
	}
	if args[0] != "get" {
		fmt.Fprintln(stdout, "OK")
	}
	return 0
}

func dialDevCP() (*clientv3.Client, error) {
	eps := os.Getenv("DEVCP_ENDPOINTS")
	if eps == "" {
		eps = "https://127.0.0.1:7943,https://127.0.0.1:7944,https://127.0.0.1:7945"
	}
	caFile, certFile, keyFile := filesIn(certDir())
	pem, err := os.ReadFile(caFile)
	if err != nil {
		return nil, fmt.Errorf("%w (is devcp running?)", err)
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(pem)
	cert, err := tls.LoadX509KeyPair(certFile, keyFile)
	if err != nil {
		return nil, err
	}
	return clientv3.New(clientv3.Config{
		Endpoints:   strings.Split(eps, ","),
		DialTimeout: 5 * time.Second,
		TLS:         &tls.Config{RootCAs: pool, Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12},
		Logger:      zap.NewNop(),
	})
}
