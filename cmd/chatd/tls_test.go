package main

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
)

// issue writes a PEM certificate (signed by ca, or self-signed when ca is nil) and its key
// into dir, valid for 127.0.0.1.
func issue(t *testing.T, dir, name string, ca *x509.Certificate, caKey *ecdsa.PrivateKey) (*x509.Certificate, *ecdsa.PrivateKey) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(time.Now().UnixNano()), Subject: pkix.Name{CommonName: name},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		KeyUsage:    x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth},
		IPAddresses: []net.IP{net.ParseIP("127.0.0.1")}, IsCA: ca == nil, BasicConstraintsValid: true,
	}
	parent, parentKey := tmpl, key
	if ca != nil {
		parent, parentKey = ca, caKey
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, parent, &key.PublicKey, parentKey)
	if err != nil {
		t.Fatal(err)
	}
	keyDER, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	write := func(file, typ string, b []byte) {
		if err := os.WriteFile(filepath.Join(dir, file), pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: b}), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	write(name+".crt", "CERTIFICATE", der)
	write(name+".key", "EC PRIVATE KEY", keyDER)
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return cert, key
}

func freeAddrs(t *testing.T, n int) []string {
	t.Helper()
	var addrs []string
	for range n {
		lis, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		addrs = append(addrs, lis.Addr().String())
		_ = lis.Close()
	}
	return addrs
}

// TestRunClusterWithMutualTLS starts three nodes with the TLS flags and checks they elect one
// leader, which they can only do by talking to each other over mutual TLS.
func TestRunClusterWithMutualTLS(t *testing.T) {
	dir := t.TempDir()
	ca, caKey := issue(t, dir, "ca", nil, nil)
	peers := freeAddrs(t, 3)
	var cluster []string
	for i, a := range peers {
		cluster = append(cluster, fmt.Sprintf("%d=%s", i+1, a))
		issue(t, dir, fmt.Sprintf("node%d", i+1), ca, caKey)
	}
	var metrics []string
	for i := range 3 {
		name := fmt.Sprintf("node%d", i+1)
		out, _ := startChatd(t, "metrics: ", "run", "--id", fmt.Sprint(i+1),
			"--data-dir", filepath.Join(dir, name), "--client-addr", "127.0.0.1:0",
			"--cluster", strings.Join(cluster, ","), "--metrics-addr", "127.0.0.1:0",
			"--tls-cert", filepath.Join(dir, name+".crt"), "--tls-key", filepath.Join(dir, name+".key"),
			"--tls-ca", filepath.Join(dir, "ca.crt"),
			"--admin-password", "correct-horse", "--log-level", "error")
		metrics = append(metrics, regexp.MustCompile(`metrics: (\S+)`).FindStringSubmatch(out.String())[1])
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		leaders, followersWithLeader := 0, 0
		for _, m := range metrics {
			body := scrape(t, m)
			if regexp.MustCompile(`raftchat_is_leader\{node="\d"\} 1`).MatchString(body) {
				leaders++
			} else if regexp.MustCompile(`raftchat_commit_index\{node="\d"\} [1-9]`).MatchString(body) {
				followersWithLeader++
			}
		}
		if leaders == 1 && followersWithLeader == 2 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("no replicating leader over mutual TLS: %d leaders, %d followers with commits", leaders, followersWithLeader)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
