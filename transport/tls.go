package transport

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"os"

	"google.golang.org/grpc/credentials"
)

// MutualTLS loads a node certificate and key and the cluster CA from PEM files and returns
// credentials for both ends of peer connections: the server demands a client certificate
// signed by the CA, and the client checks the server's certificate against the same CA.
func MutualTLS(certFile, keyFile, caFile string) (server, client credentials.TransportCredentials, err error) {
	if certFile == "" || keyFile == "" || caFile == "" {
		return nil, nil, errors.New("mutual tls: cert, key and ca files are all required")
	}
	cert, err := tls.LoadX509KeyPair(certFile, keyFile)
	if err != nil {
		return nil, nil, fmt.Errorf("mutual tls: load key pair: %w", err)
	}
	caPEM, err := os.ReadFile(caFile)
	if err != nil {
		return nil, nil, fmt.Errorf("mutual tls: read ca: %w", err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(caPEM) {
		return nil, nil, fmt.Errorf("mutual tls: no certificate in %s", caFile)
	}
	server = credentials.NewTLS(&tls.Config{
		Certificates: []tls.Certificate{cert},
		ClientCAs:    pool,
		ClientAuth:   tls.RequireAndVerifyClientCert,
		MinVersion:   tls.VersionTLS13,
	})
	client = credentials.NewTLS(&tls.Config{
		Certificates: []tls.Certificate{cert},
		RootCAs:      pool,
		MinVersion:   tls.VersionTLS13,
	})
	return server, client, nil
}
