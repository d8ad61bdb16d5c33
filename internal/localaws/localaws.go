// Package localaws runs moto_server, a local stand-in for AWS's APIs, for `gennaker dev` and for
// tests, and seeds it with what a first deploy needs: a VPC with subnets of subnet type
// "internal", a security group, a load balancer with a target group "web", and base images.
package localaws

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"os/exec"
	"regexp"
	"time"

	awssdk "github.com/aws/aws-sdk-go-v2/aws"

	"github.com/gennaker/gennaker/internal/childproc"
	"github.com/gennaker/gennaker/internal/procout"
)

// Credentials moto accepts; it checks none.
const (
	AccessKeyID     = "testing"
	SecretAccessKey = "testing"
	// AccountID is the account moto owns every resource in.
	AccountID = "123456789012"
)

// ErrNotInstalled means moto_server is not on the PATH.
var ErrNotInstalled = errors.New("moto_server is not installed (pip install 'moto[server]')")

// Server is a running moto_server.
type Server struct {
	// URL is its endpoint, http://127.0.0.1:port, for every AWS service.
	URL    string
	cmd    *exec.Cmd
	exited chan struct{}
	out    *procout.Buffer
}

// Start runs moto_server on a free loopback port. moto binds port 0 itself and names the port it
// got, so no port is chosen here for another process to take before moto binds it.
func Start(ctx context.Context) (*Server, error) {
	bin, err := exec.LookPath("moto_server")
	if err != nil {
		return nil, ErrNotInstalled
	}
	out := &procout.Buffer{}
	cmd := exec.Command(bin, "-H", "127.0.0.1", "-p", "0")
	cmd.Stdout, cmd.Stderr = out, out
	// moto dies with its parent: a gennaker dev or a test killed leaves none behind.
	cmd.SysProcAttr = childproc.SysProcAttr()
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("starting moto_server: %w", err)
	}
	s := &Server{cmd: cmd, exited: make(chan struct{}), out: out}
	go func() { _ = cmd.Wait(); close(s.exited) }()
	s.URL = s.boundURL(ctx)
	if s.URL == "" || !s.waitReady(ctx) {
		s.Stop()
		return nil, fmt.Errorf("moto_server did not start:\n%s", out.String())
	}
	return s, nil
}

// Stop ends the server.
func (s *Server) Stop() {
	_ = s.cmd.Process.Kill()
	<-s.exited
}

// Output is what the server printed, for failure messages.
func (s *Server) Output() string { return s.out.String() }

// running is the line moto's web server (werkzeug) prints once it listens, naming the port it
// bound: " * Running on http://127.0.0.1:34163" (older versions add a slash and more words).
var running = regexp.MustCompile(`Running on (http://127\.0\.0\.1:[0-9]+)`)

// boundURL waits for moto to say where it listens, and returns "" if it exits or stays silent.
func (s *Server) boundURL(ctx context.Context) string {
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		if m := running.FindStringSubmatch(s.out.String()); m != nil {
			return m[1]
		}
		select {
		case <-s.exited:
			return ""
		case <-ctx.Done():
			return ""
		case <-time.After(50 * time.Millisecond):
		}
	}
	return ""
}

func (s *Server) waitReady(ctx context.Context) bool {
	client := &http.Client{Timeout: time.Second}
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		select {
		case <-s.exited:
			return false
		case <-ctx.Done():
			return false
		default:
		}
		if resp, err := client.Get(s.URL + "/moto-api/"); err == nil {
			_ = resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return true
			}
		}
		time.Sleep(100 * time.Millisecond)
	}
	return false
}

// Reset empties the server: every resource of every service is gone (moto's own images stay).
func (s *Server) Reset(ctx context.Context) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, s.URL+"/moto-api/reset", nil)
	if err != nil {
		return err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	_ = resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("resetting moto: %s", resp.Status)
	}
	return nil
}

// Config is an SDK configuration for endpoint (moto, or a proxy in front of it) in region, with
// moto's credentials.
func Config(endpoint, region string) awssdk.Config {
	return awssdk.Config{
		Region:       region,
		BaseEndpoint: awssdk.String(endpoint),
		Credentials: awssdk.CredentialsProviderFunc(func(context.Context) (awssdk.Credentials, error) {
			return awssdk.Credentials{AccessKeyID: AccessKeyID, SecretAccessKey: SecretAccessKey}, nil
		}),
	}
}

// Environ is the AWS environment for a process that uses moto through the SDK's default chain.
func Environ(region string) map[string]string {
	return map[string]string{
		"AWS_ACCESS_KEY_ID":     AccessKeyID,
		"AWS_SECRET_ACCESS_KEY": SecretAccessKey,
		"AWS_REGION":            region,
		// Keep the SDK away from the machine's own files and the instance metadata service.
		"AWS_CONFIG_FILE":             "/dev/null",
		"AWS_SHARED_CREDENTIALS_FILE": "/dev/null",
		"AWS_EC2_METADATA_DISABLED":   "true",
	}
}
