package localkube

import (
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
)

// The admin identity every component and client uses: a static bearer token whose user is in
// system:masters, so RBAC lets it do everything.
const (
	adminUser  = "gennaker-admin"
	adminGroup = "system:masters"
	// contextName names the cluster, user and context in the written kubeconfig.
	contextName = "gennaker-local"
)

// Files kept under Options.DataDir.
const (
	tokenFile      = "tokens.csv"
	serviceKeyFile = "service-account.key"
	kubeconfigFile = "kubeconfig"
	certDir        = "certs"
	// apiserverCert is the serving certificate chain the API server writes into its --cert-dir
	// on first start (and reuses afterwards); the chain ends in its self-signed CA.
	apiserverCert = "apiserver.crt"
)

// ensureToken returns the admin token from DataDir's token file, creating the file on first start
// so that a restarted cluster accepts kubeconfigs written before.
func ensureToken(dataDir string) (string, error) {
	path := filepath.Join(dataDir, tokenFile)
	if data, err := os.ReadFile(path); err == nil {
		token, _, ok := strings.Cut(strings.TrimSpace(string(data)), ",")
		if ok && token != "" {
			return token, nil
		}
		return "", fmt.Errorf("localkube: token file %s is malformed; delete it to start afresh", path)
	} else if !errors.Is(err, os.ErrNotExist) {
		return "", fmt.Errorf("localkube: read token file: %w", err)
	}
	raw := make([]byte, 24)
	if _, err := rand.Read(raw); err != nil {
		return "", fmt.Errorf("localkube: generate token: %w", err)
	}
	token := hex.EncodeToString(raw)
	// token,user,uid,"group,..." as kube-apiserver's --token-auth-file reads it.
	line := fmt.Sprintf("%s,%s,%s,%q\n", token, adminUser, adminUser, adminGroup)
	if err := os.WriteFile(path, []byte(line), 0o600); err != nil {
		return "", fmt.Errorf("localkube: write token file: %w", err)
	}
	return token, nil
}

// ensureServiceAccountKey creates the RSA key the API server signs service account tokens with
// (and verifies them by), once per DataDir: a new key on every start would invalidate tokens
// already stored in the cluster.
func ensureServiceAccountKey(dataDir string) (string, error) {
	path := filepath.Join(dataDir, serviceKeyFile)
	if _, err := os.Stat(path); err == nil {
		return path, nil
	}
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		return "", fmt.Errorf("localkube: generate service account key: %w", err)
	}
	block := &pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(key)}
	if err := os.WriteFile(path, pem.EncodeToMemory(block), 0o600); err != nil {
		return "", fmt.Errorf("localkube: write service account key: %w", err)
	}
	return path, nil
}

// writeKubeconfig writes a kubeconfig for server with the admin token, trusting caFile. It is
// rewritten on every start because the API server's port changes.
func writeKubeconfig(path, server, caFile, token string) error {
	ca, err := os.ReadFile(caFile)
	if err != nil {
		return fmt.Errorf("localkube: read API server certificate: %w", err)
	}
	cfg := clientcmdapi.NewConfig()
	cfg.Clusters[contextName] = &clientcmdapi.Cluster{Server: server, CertificateAuthorityData: ca}
	cfg.AuthInfos[contextName] = &clientcmdapi.AuthInfo{Token: token}
	cfg.Contexts[contextName] = &clientcmdapi.Context{Cluster: contextName, AuthInfo: contextName, Namespace: "default"}
	cfg.CurrentContext = contextName
	// Written aside and renamed, so a reader never sees half a file.
	tmp := path + ".tmp"
	if err := clientcmd.WriteToFile(*cfg, tmp); err != nil {
		return fmt.Errorf("localkube: write kubeconfig: %w", err)
	}
	if err := os.Rename(tmp, path); err != nil {
		return fmt.Errorf("localkube: write kubeconfig: %w", err)
	}
	return nil
}
