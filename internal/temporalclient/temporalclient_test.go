package temporalclient_test

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"log/slog"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"go.temporal.io/sdk/client"

	"github.com/gennaker/gennaker/internal/config"
	"github.com/gennaker/gennaker/internal/devserver"
	"github.com/gennaker/gennaker/internal/freeport"
	"github.com/gennaker/gennaker/internal/temporalclient"
)

// pki is a throwaway CA with a server and a client certificate, written as PEM files.
type pki struct {
	caFile, serverCert, serverKey, clientCert, clientKey string
	ca                                                   *x509.Certificate
}

func newPKI(t *testing.T) pki {
	t.Helper()
	dir := t.TempDir()
	caKey := newKey(t)
	caTmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "gennaker test CA"},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(time.Hour),
		IsCA:                  true,
		KeyUsage:              x509.KeyUsageCertSign,
		BasicConstraintsValid: true,
	}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	ca, err := x509.ParseCertificate(caDER)
	if err != nil {
		t.Fatal(err)
	}
	p := pki{caFile: filepath.Join(dir, "ca.pem"), ca: ca}
	writePEM(t, p.caFile, "CERTIFICATE", caDER)

	issue := func(serial int64, name string, usage x509.ExtKeyUsage, dnsNames ...string) (certFile, keyFile string) {
		key := newKey(t)
		tmpl := &x509.Certificate{
			SerialNumber: big.NewInt(serial),
			Subject:      pkix.Name{CommonName: name},
			NotBefore:    time.Now().Add(-time.Hour),
			NotAfter:     time.Now().Add(time.Hour),
			KeyUsage:     x509.KeyUsageDigitalSignature,
			ExtKeyUsage:  []x509.ExtKeyUsage{usage},
			DNSNames:     dnsNames,
		}
		der, err := x509.CreateCertificate(rand.Reader, tmpl, ca, &key.PublicKey, caKey)
		if err != nil {
			t.Fatal(err)
		}
		keyDER, err := x509.MarshalECPrivateKey(key)
		if err != nil {
			t.Fatal(err)
		}
		certFile, keyFile = filepath.Join(dir, name+".pem"), filepath.Join(dir, name+"-key.pem")
		writePEM(t, certFile, "CERTIFICATE", der)
		writePEM(t, keyFile, "EC PRIVATE KEY", keyDER)
		return certFile, keyFile
	}
	p.serverCert, p.serverKey = issue(2, "temporal", x509.ExtKeyUsageServerAuth, "temporal.test")
	p.clientCert, p.clientKey = issue(3, "gennaker-worker", x509.ExtKeyUsageClientAuth)
	return p
}

func newKey(t *testing.T) *ecdsa.PrivateKey {
	t.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func writePEM(t *testing.T, path, typ string, der []byte) {
	t.Helper()
	if err := os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
}

func cfg(t config.Temporal) *config.Config {
	if t.Address == "" {
		t.Address = "127.0.0.1:7233"
	}
	if t.Namespace == "" {
		t.Namespace = "default"
	}
	return &config.Config{Temporal: t}
}

func TestOptionsPlaintext(t *testing.T) {
	opts, err := temporalclient.Options(cfg(config.Temporal{Address: "temporal:7233", Namespace: "ci"}), nil)
	if err != nil {
		t.Fatal(err)
	}
	if opts.HostPort != "temporal:7233" || opts.Namespace != "ci" {
		t.Errorf("HostPort, Namespace = %q, %q", opts.HostPort, opts.Namespace)
	}
	if opts.ConnectionOptions.TLS != nil || opts.Credentials != nil {
		t.Errorf("plaintext options carry TLS %v or credentials %v", opts.ConnectionOptions.TLS, opts.Credentials)
	}
	if opts.Logger == nil {
		t.Error("no logger")
	}
}

func TestOptionsTLS(t *testing.T) {
	p := newPKI(t)
	notPEM := filepath.Join(t.TempDir(), "not.pem")
	if err := os.WriteFile(notPEM, []byte("hello"), 0o600); err != nil {
		t.Fatal(err)
	}

	tests := []struct {
		name        string
		temporal    config.Temporal
		wantCerts   int
		wantRoots   bool
		wantCreds   bool
		wantErr     string
		wantNoTLS   bool
		wantSrvName string
	}{
		{name: "off", temporal: config.Temporal{}, wantNoTLS: true},
		{name: "system roots", temporal: config.Temporal{TLS: true}},
		{name: "private CA and server name", temporal: config.Temporal{TLSCA: p.caFile, TLSServerName: "temporal.test"}, wantRoots: true, wantSrvName: "temporal.test"},
		{name: "mTLS", temporal: config.Temporal{TLSCert: p.clientCert, TLSKey: p.clientKey, TLSCA: p.caFile}, wantCerts: 1, wantRoots: true},
		{name: "API key alone implies TLS", temporal: config.Temporal{APIKey: "key"}, wantCreds: true},
		{name: "API key and mTLS", temporal: config.Temporal{APIKey: "key", TLSCert: p.clientCert, TLSKey: p.clientKey}, wantCerts: 1, wantCreds: true},
		{name: "cert without key", temporal: config.Temporal{TLSCert: p.clientCert}, wantErr: "needs both"},
		{name: "key of another cert", temporal: config.Temporal{TLSCert: p.clientCert, TLSKey: p.serverKey}, wantErr: "load Temporal client certificate"},
		{name: "missing CA", temporal: config.Temporal{TLSCA: notPEM + ".missing"}, wantErr: "read Temporal CA"},
		{name: "CA without PEM", temporal: config.Temporal{TLSCA: notPEM}, wantErr: "no PEM certificate"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			opts, err := temporalclient.Options(cfg(tt.temporal), nil)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("Options error = %v, want one containing %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			tlsConf := opts.ConnectionOptions.TLS
			if tt.wantNoTLS {
				if tlsConf != nil {
					t.Fatal("TLS configured though nothing asked for it")
				}
				return
			}
			if tlsConf == nil {
				t.Fatal("TLS not configured")
			}
			if got := len(tlsConf.Certificates); got != tt.wantCerts {
				t.Errorf("%d client certificates, want %d", got, tt.wantCerts)
			}
			if got := tlsConf.RootCAs != nil; got != tt.wantRoots {
				t.Errorf("custom roots = %v, want %v", got, tt.wantRoots)
			}
			if tlsConf.ServerName != tt.wantSrvName {
				t.Errorf("ServerName = %q, want %q", tlsConf.ServerName, tt.wantSrvName)
			}
			if got := opts.Credentials != nil; got != tt.wantCreds {
				t.Errorf("credentials = %v, want %v", got, tt.wantCreds)
			}
		})
	}
}

// TestTLSHandshake checks the built TLS config against a real TLS server that
// demands a client certificate from the same CA.
func TestTLSHandshake(t *testing.T) {
	p := newPKI(t)
	serverPair, err := tls.LoadX509KeyPair(p.serverCert, p.serverKey)
	if err != nil {
		t.Fatal(err)
	}
	clientCAs := x509.NewCertPool()
	clientCAs.AddCert(p.ca)
	l, err := tls.Listen("tcp", "127.0.0.1:0", &tls.Config{
		Certificates: []tls.Certificate{serverPair},
		ClientAuth:   tls.RequireAndVerifyClientCert,
		ClientCAs:    clientCAs,
	})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	peers := make(chan string, 4)
	go func() {
		for {
			conn, err := l.Accept()
			if err != nil {
				return
			}
			tc := conn.(*tls.Conn)
			if tc.Handshake() == nil {
				peers <- tc.ConnectionState().PeerCertificates[0].Subject.CommonName
			}
			conn.Close()
		}
	}()

	handshake := func(temporal config.Temporal) error {
		opts, err := temporalclient.Options(cfg(temporal), nil)
		if err != nil {
			t.Fatal(err)
		}
		conn, err := tls.DialWithDialer(&net.Dialer{Timeout: 5 * time.Second}, "tcp", l.Addr().String(), opts.ConnectionOptions.TLS)
		if err != nil {
			return err
		}
		defer conn.Close()
		return conn.Handshake()
	}

	if err := handshake(config.Temporal{TLSCert: p.clientCert, TLSKey: p.clientKey, TLSCA: p.caFile, TLSServerName: "temporal.test"}); err != nil {
		t.Fatalf("mTLS handshake: %v", err)
	}
	select {
	case cn := <-peers:
		if cn != "gennaker-worker" {
			t.Errorf("server saw client %q, want gennaker-worker", cn)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("server never completed the handshake")
	}

	if err := handshake(config.Temporal{TLSCert: p.clientCert, TLSKey: p.clientKey, TLSServerName: "temporal.test"}); err == nil {
		t.Error("handshake trusting only the system roots succeeded against a private CA")
	}
	if err := handshake(config.Temporal{TLSCert: p.clientCert, TLSKey: p.clientKey, TLSCA: p.caFile, TLSServerName: "other.test"}); err == nil {
		t.Error("handshake succeeded with the wrong server name")
	}
}

func TestSDKLoggerLevel(t *testing.T) {
	for _, tt := range []struct {
		level    slog.Level
		wantInfo bool
	}{{slog.LevelInfo, false}, {slog.LevelDebug, true}} {
		var buf bytes.Buffer
		logger := slog.New(slog.NewTextHandler(&buf, &slog.HandlerOptions{Level: tt.level}))
		opts, err := temporalclient.Options(cfg(config.Temporal{}), logger)
		if err != nil {
			t.Fatal(err)
		}
		opts.Logger.Info("sdk-info")
		opts.Logger.Warn("sdk-warn")
		if got := strings.Contains(buf.String(), "sdk-info"); got != tt.wantInfo {
			t.Errorf("logger at %v: SDK info logged = %v, want %v", tt.level, got, tt.wantInfo)
		}
		if !strings.Contains(buf.String(), "sdk-warn") {
			t.Errorf("logger at %v: SDK warning not logged", tt.level)
		}
	}
}

func TestDial(t *testing.T) {
	if testing.Short() {
		t.Skip("needs the embedded Temporal server; skipped with -short")
	}
	srv, err := devserver.Start(devserver.Options{UIPort: devserver.UIDisabled})
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Stop()
	quiet := slog.New(slog.DiscardHandler)

	t.Run("reachable", func(t *testing.T) {
		cl, err := temporalclient.Dial(t.Context(), cfg(config.Temporal{Address: srv.FrontendAddress()}), quiet)
		if err != nil {
			t.Fatalf("Dial: %v", err)
		}
		defer cl.Close()
		if _, err := cl.CheckHealth(t.Context(), &client.CheckHealthRequest{}); err != nil {
			t.Errorf("CheckHealth: %v", err)
		}
	})

	t.Run("missing namespace fails at once", func(t *testing.T) {
		start := time.Now()
		_, err := temporalclient.Dial(t.Context(), cfg(config.Temporal{Address: srv.FrontendAddress(), Namespace: "nope"}), quiet)
		if err == nil || !strings.Contains(err.Error(), `namespace not found: "nope"`) {
			t.Fatalf("Dial error = %v, want namespace not found", err)
		}
		if d := time.Since(start); d > 5*time.Second {
			t.Errorf("Dial took %v to report a missing namespace", d)
		}
	})

	t.Run("TLS against a plaintext server fails at once", func(t *testing.T) {
		start := time.Now()
		_, err := temporalclient.Dial(t.Context(), cfg(config.Temporal{Address: srv.FrontendAddress(), TLS: true}), quiet)
		if err == nil || !strings.Contains(err.Error(), "TLS on one side only") {
			t.Fatalf("Dial error = %v, want a TLS mismatch", err)
		}
		if d := time.Since(start); d > 5*time.Second {
			t.Errorf("Dial took %v to report a TLS mismatch", d)
		}
	})
}

// TestDialUnreachable needs no server, so it runs under -short too.
func TestDialUnreachable(t *testing.T) {
	// Reserved, the port has nothing behind it until the test ends (see freeport).
	port, err := freeport.Reserve()
	if err != nil {
		t.Fatal(err)
	}
	defer port.Release()
	addr := port.Addr()
	ctx, cancel := context.WithTimeout(t.Context(), 1500*time.Millisecond)
	defer cancel()
	start := time.Now()
	_, err = temporalclient.Dial(ctx, cfg(config.Temporal{Address: addr}), slog.New(slog.DiscardHandler))
	if err == nil || !strings.HasPrefix(err.Error(), "cannot reach Temporal at "+addr+": ") {
		t.Fatalf("Dial error = %v, want cannot reach Temporal at %s", err, addr)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("Dial ran %v past a 1.5s deadline", d)
	}
}
