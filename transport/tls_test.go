package transport

import (
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
	"testing"
	"time"

	"github.com/raftchat/raftchat/raft"
)

// writeCert writes a PEM certificate and key signed by parent (self-signed when parent is nil)
// and returns the certificate, key and the file names.
func writeCert(t *testing.T, dir, name string, isCA bool, parent *x509.Certificate, parentKey *ecdsa.PrivateKey) (*x509.Certificate, *ecdsa.PrivateKey, string, string) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(time.Now().UnixNano()),
		Subject:      pkix.Name{CommonName: name},
		NotBefore:    time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		KeyUsage:    x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth},
		IPAddresses: []net.IP{net.ParseIP("127.0.0.1")},
		IsCA:        isCA, BasicConstraintsValid: true,
	}
	signer, signerKey := tmpl, key
	if parent != nil {
		signer, signerKey = parent, parentKey
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, signer, &key.PublicKey, signerKey)
	if err != nil {
		t.Fatal(err)
	}
	cert, _ := x509.ParseCertificate(der)
	keyDER, _ := x509.MarshalECPrivateKey(key)
	certFile, keyFile := filepath.Join(dir, name+".crt"), filepath.Join(dir, name+".key")
	if err := os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: keyDER}), 0o600); err != nil {
		t.Fatal(err)
	}
	return cert, key, certFile, keyFile
}

func TestMutualTLS(t *testing.T) {
	dir := t.TempDir()
	ca, caKey, caFile, _ := writeCert(t, dir, "ca", true, nil, nil)
	var creds []tlsPair
	for _, name := range []string{"n1", "n2"} {
		_, _, certFile, keyFile := writeCert(t, dir, name, false, ca, caKey)
		s, c, err := MutualTLS(certFile, keyFile, caFile)
		if err != nil {
			t.Fatal(err)
		}
		creds = append(creds, tlsPair{s, c})
	}
	nodes := startCluster(t, 2, nil, creds)
	nodes[0].tr.Send([]raft.Message{heartbeat(1, 2, 5)})
	nodes[1].rec.waitFor(t, "message over mutual tls", func(r *recorder) bool { return len(r.msgs) == 1 })

	// A node that trusts the cluster CA but presents a certificate from another CA is refused
	// by the server, so nothing it sends arrives.
	otherDir := t.TempDir()
	oca, ocaKey, _, _ := writeCert(t, otherDir, "oca", true, nil, nil)
	_, _, rogueCert, rogueKey := writeCert(t, otherDir, "rogue", false, oca, ocaKey)
	_, rogueClient, err := MutualTLS(rogueCert, rogueKey, caFile)
	if err != nil {
		t.Fatal(err)
	}
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addrs := map[raft.NodeID]string{1: lis.Addr().String(), 2: nodes[1].lis.Addr().String()}
	rogue := startNode(t, 1, addrs, lis, func(c *Config) { c.ClientCreds = rogueClient }, nil)
	rogue.tr.Send([]raft.Message{heartbeat(1, 2, 6)})
	rogue.rec.waitFor(t, "rogue stream refused", func(r *recorder) bool { return r.unreachable[2] > 0 })
	nodes[1].rec.mu.Lock()
	defer nodes[1].rec.mu.Unlock()
	if len(nodes[1].rec.msgs) != 1 {
		t.Fatalf("rogue message delivered: %+v", nodes[1].rec.msgs)
	}
}

func TestMutualTLSRequiresFiles(t *testing.T) {
	if _, _, err := MutualTLS("", "k", "c"); err == nil {
		t.Fatal("missing cert accepted")
	}
}
