package main

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/cloudnat/cloudnat/agent/internal/config"
	"github.com/cloudnat/cloudnat/agent/internal/fakedp"
	"github.com/cloudnat/cloudnat/agent/internal/reconcile"
	"github.com/cloudnat/cloudnat/agent/internal/server"
	"github.com/cloudnat/cloudnat/agent/internal/store"
)

// writeCert writes a certificate (and key) signed by parent (self-signed
// when parent is nil) and returns it with its key.
func writeCert(t *testing.T, dir, name string, isCA bool, parent *x509.Certificate, parentKey *ecdsa.PrivateKey) (*x509.Certificate, *ecdsa.PrivateKey) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(time.Now().UnixNano()),
		Subject:      pkix.Name{CommonName: name},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(time.Hour),
		DNSNames:     []string{"localhost"},
		IPAddresses:  []net.IP{net.ParseIP("127.0.0.1")},
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth},
		KeyUsage:     x509.KeyUsageDigitalSignature,
	}
	if isCA {
		tmpl.IsCA, tmpl.BasicConstraintsValid = true, true
		tmpl.KeyUsage |= x509.KeyUsageCertSign
	}
	if parent == nil {
		parent, parentKey = tmpl, key
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, parent, &key.PublicKey, parentKey)
	if err != nil {
		t.Fatal(err)
	}
	cert, _ := x509.ParseCertificate(der)
	os.WriteFile(filepath.Join(dir, name+".pem"), pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600)
	kb, _ := x509.MarshalECPrivateKey(key)
	os.WriteFile(filepath.Join(dir, name+".key"), pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kb}), 0o600)
	return cert, key
}

func TestMutualTLS(t *testing.T) {
	dir := t.TempDir()
	ca, caKey := writeCert(t, dir, "ca", true, nil, nil)
	writeCert(t, dir, "agent", false, ca, caKey)
	writeCert(t, dir, "client", false, ca, caKey)
	f := func(n string) string { return filepath.Join(dir, n) }

	cfg := config.Config{TLSCert: f("agent.pem"), TLSKey: f("agent.key"), TLSClientCA: f("ca.pem")}
	tc, err := cfg.TLSConfig()
	if err != nil {
		t.Fatal(err)
	}
	dp := fakedp.New()
	st, _ := store.Open(f("state.json"))
	rec := reconcile.New(dp, st, reconcile.Options{})
	rec.SyncAll(context.Background())
	g, _ := server.NewGRPC(server.New(server.Config{Store: st, Reconciler: rec, Dataplane: dp, DataplaneKind: "fake"}), server.GRPCOptions{TLS: tc})
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go g.Serve(lis)
	t.Cleanup(g.Stop)

	run := func(args ...string) (int, string) {
		var out, errb bytes.Buffer
		a := &app{stdout: &out, stderr: &errb}
		code := a.run(append([]string{"--addr", lis.Addr().String(), "--timeout", "5s"}, args...))
		return code, out.String() + errb.String()
	}
	code, out := run("--tls-ca", f("ca.pem"), "--tls-cert", f("client.pem"), "--tls-key", f("client.key"), "status")
	if code != 0 || !strings.Contains(out, "fake") {
		t.Fatalf("mTLS status: exit %d: %s", code, out)
	}
	// Without a client certificate the agent refuses.
	if code, out := run("--tls-ca", f("ca.pem"), "status"); code != 1 {
		t.Fatalf("no client cert: exit %d: %s", code, out)
	}
	// Without TLS the handshake fails.
	if code, out := run("status"); code != 1 {
		t.Fatalf("plaintext: exit %d: %s", code, out)
	}
	if code, out := run("--tls-cert", f("client.pem"), "status"); code != 2 || !strings.Contains(out, "--tls-cert and --tls-key go together") {
		t.Fatalf("half client pair: exit %d: %s", code, out)
	}
}
