package main

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/zoneproxy/zoneproxy/config/keyring"
	"github.com/zoneproxy/zoneproxy/config/statefile"
	"github.com/zoneproxy/zoneproxy/internal/testutil"
)

// httpsGet asks addr (host:port) for url's path with SNI and Host from url, trusting any
// certificate; it returns the status, the body and the certificate's common name.
func httpsGet(addr, url string) (int, string, string) {
	tr := &http.Transport{
		DialContext: func(ctx context.Context, network, _ string) (net.Conn, error) {
			var d net.Dialer
			return d.DialContext(ctx, network, addr)
		},
		TLSClientConfig:   &tls.Config{InsecureSkipVerify: true},
		DisableKeepAlives: true,
	}
	defer tr.CloseIdleConnections()
	resp, err := (&http.Client{Transport: tr, Timeout: 5 * time.Second}).Get(url)
	if err != nil {
		return 0, err.Error(), ""
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b), resp.TLS.PeerCertificates[0].Subject.CommonName
}

// TestHTTPSFromStateFile: an SSL object put into etcd (its key encrypted as a stock APISIX Admin
// API stores it) is served on the HTTPS listener; after a restart with every endpoint down, the
// state file alone serves HTTPS.
func TestHTTPSFromStateFile(t *testing.T) {
	cluster, files := startCluster(t)
	a := backend(t, "a")
	dataDir := filepath.Join(t.TempDir(), "data")
	cert, key := testutil.Cert(t, testutil.ECDSA, "api.example.com")
	def, err := keyring.New(keyring.Default)
	if err != nil {
		t.Fatal(err)
	}
	ssl, _ := json.Marshal(map[string]any{"cert": cert, "key": def.Encrypt(key), "snis": []string{"api.example.com"}})
	putKV(t, cluster, "/apisix/ssls/1", string(ssl))
	putKV(t, cluster, "/apisix/routes/1", fmt.Sprintf(`{"uri":"/r1","upstream":{"nodes":{%q:1}}}`, a))
	zp := startZoneproxy(t, instanceOpts{endpoints: cluster.Endpoints(), files: files, dataDir: dataDir})
	served := func(zp *instance) func() bool {
		return func() bool {
			code, body, cn := httpsGet(zp.https, "https://api.example.com/r1")
			return code == 200 && strings.HasPrefix(body, "a GET /r1") && cn == "api.example.com"
		}
	}
	testutil.WaitFor(t, "HTTPS from the control plane", 10*time.Second, served(zp))
	if code, body, _ := httpsGet(zp.https, "https://other.example.com/r1"); code != 0 {
		t.Errorf("an unknown SNI got %d %q, want a failed handshake", code, body)
	}
	snapFile := filepath.Join(dataDir, statefile.FileName)
	testutil.WaitFor(t, "the state file", 10*time.Second, func() bool {
		st, err := statefile.Read(snapFile, "/apisix")
		return err == nil && st.KVs.Has("/apisix/ssls/1") && st.KVs.Has("/apisix/routes/1")
	})
	if code := zp.stop(); code != 0 {
		t.Fatalf("exit %d", code)
	}

	for i := range cluster.Endpoints() {
		cluster.Endpoint(i).Stop()
	}
	zp2 := startZoneproxy(t, instanceOpts{endpoints: cluster.Endpoints(), files: files, dataDir: dataDir})
	testutil.WaitFor(t, "HTTPS from the state file", 10*time.Second, served(zp2))
	if v := controlPlaneView(t, zp2); v["config_source"] != "state_file" {
		t.Errorf("source %v, want state_file", v["config_source"])
	}
}
