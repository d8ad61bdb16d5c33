// Package temporalclient turns gennaker's configuration into a connected
// Temporal SDK client: address, namespace, TLS or mTLS, API key, logging.
package temporalclient

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"strings"
	"time"

	"go.temporal.io/api/serviceerror"
	"go.temporal.io/api/workflowservice/v1"
	"go.temporal.io/sdk/client"
	sdklog "go.temporal.io/sdk/log"
	"google.golang.org/grpc/codes"

	"github.com/gennaker/gennaker/internal/config"
	"github.com/gennaker/gennaker/internal/logx"
)

// DialTimeout bounds Dial when its context has no deadline of its own.
const DialTimeout = 30 * time.Second

// Retry delays between dial attempts: doubling from the first to the last.
const (
	firstRetryDelay = 250 * time.Millisecond
	maxRetryDelay   = 3 * time.Second
)

// Options builds SDK client options from c. The SDK logs through logger
// (slog.Default() when nil) at warn and above, or everything when logger is
// enabled for debug.
func Options(c *config.Config, logger *slog.Logger) (client.Options, error) {
	if logger == nil {
		logger = slog.Default()
	}
	t := c.Temporal
	opts := client.Options{
		HostPort:  t.Address,
		Namespace: t.Namespace,
		Logger:    sdklog.NewStructuredLogger(logx.SDK(logger)),
	}
	if t.TLSEnabled() {
		tlsConf, err := tlsConfig(t)
		if err != nil {
			return client.Options{}, err
		}
		opts.ConnectionOptions.TLS = tlsConf
	}
	if t.APIKey != "" {
		opts.Credentials = client.NewAPIKeyStaticCredentials(t.APIKey)
	}
	return opts, nil
}

// tlsConfig trusts TLSCA instead of the system roots when set and presents
// the client certificate when one is configured.
func tlsConfig(t config.Temporal) (*tls.Config, error) {
	conf := &tls.Config{
		MinVersion: tls.VersionTLS12,
		ServerName: t.TLSServerName,
	}
	switch {
	case t.TLSCert != "" && t.TLSKey != "":
		pair, err := tls.LoadX509KeyPair(t.TLSCert, t.TLSKey)
		if err != nil {
			return nil, fmt.Errorf("load Temporal client certificate %s and key %s: %w", t.TLSCert, t.TLSKey, err)
		}
		conf.Certificates = []tls.Certificate{pair}
	case t.TLSCert != "" || t.TLSKey != "":
		return nil, errors.New("a Temporal client certificate needs both --temporal-tls-cert and --temporal-tls-key")
	}
	if t.TLSCA != "" {
		pem, err := os.ReadFile(t.TLSCA)
		if err != nil {
			return nil, fmt.Errorf("read Temporal CA: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("read Temporal CA %s: no PEM certificate in it", t.TLSCA)
		}
		conf.RootCAs = pool
	}
	return conf, nil
}

// Dial connects to Temporal and checks that the namespace exists. It retries
// while the server is unreachable (a cluster still starting) until ctx ends,
// or for DialTimeout when ctx has no deadline, and fails at once on errors
// waiting cannot fix: bad TLS files, a TLS mismatch, rejected credentials, a
// missing namespace. Errors read "cannot reach Temporal at host:port: ...".
func Dial(ctx context.Context, c *config.Config, logger *slog.Logger) (client.Client, error) {
	if logger == nil {
		logger = slog.Default()
	}
	opts, err := Options(c, logger)
	if err != nil {
		return nil, err
	}
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, DialTimeout)
		defer cancel()
	}

	delay := firstRetryDelay
	for attempt := 1; ; attempt++ {
		cl, err := connect(ctx, opts)
		if err == nil {
			return cl, nil
		}
		if !retryable(err) {
			if isHandshakeFailure(err) {
				return nil, fmt.Errorf("cannot reach Temporal at %s: %w (TLS on one side only, or a certificate the other side does not trust?)", opts.HostPort, err)
			}
			return nil, fmt.Errorf("cannot reach Temporal at %s: %w", opts.HostPort, err)
		}
		if attempt == 1 {
			logger.Warn("Temporal is not reachable yet, retrying", "address", opts.HostPort, "error", err)
		}
		select {
		case <-ctx.Done():
			return nil, fmt.Errorf("cannot reach Temporal at %s: %w", opts.HostPort, err)
		case <-time.After(delay):
		}
		delay = min(2*delay, maxRetryDelay)
	}
}

// errNamespaceNotFound marks a namespace the server does not have.
var errNamespaceNotFound = errors.New("namespace not found")

func connect(ctx context.Context, opts client.Options) (client.Client, error) {
	cl, err := client.DialContext(ctx, opts)
	if err != nil {
		return nil, err
	}
	_, err = cl.WorkflowService().DescribeNamespace(ctx, &workflowservice.DescribeNamespaceRequest{Namespace: opts.Namespace})
	var notFound *serviceerror.NamespaceNotFound
	if errors.As(err, &notFound) {
		err = fmt.Errorf("%w: %q", errNamespaceNotFound, opts.Namespace)
	}
	if err != nil {
		cl.Close()
		return nil, err
	}
	return cl, nil
}

// retryable reports whether waiting may help: the server is down, starting,
// or slow. Everything else (credentials, TLS setup, missing namespace) is not.
func retryable(err error) bool {
	if errors.Is(err, errNamespaceNotFound) || isHandshakeFailure(err) {
		return false
	}
	switch serviceerror.ToStatus(err).Code() {
	case codes.Unavailable, codes.DeadlineExceeded, codes.ResourceExhausted, codes.Aborted:
		return true
	}
	return false
}

// isHandshakeFailure spots a TLS mismatch, which gRPC reports only as
// Unavailable text; retrying it cannot help.
func isHandshakeFailure(err error) bool {
	return strings.Contains(err.Error(), "authentication handshake failed")
}
