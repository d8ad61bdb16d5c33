// Package mototest runs moto_server, a local stand-in for AWS's APIs (SQS among them), for tests.
package mototest

import (
	"context"
	"net/http"
	"os/exec"
	"regexp"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awssqs "github.com/aws/aws-sdk-go-v2/service/sqs"

	"github.com/gennaker/gennaker/internal/procout"
)

// Credentials moto accepts; tests put them in the AWS environment variables.
const (
	AccessKeyID     = "testing"
	SecretAccessKey = "testing"
	Region          = "us-east-1"
	// AccountID is the account moto owns every resource in.
	AccountID = "123456789012"
)

// Server is a running moto_server.
type Server struct {
	// URL is its endpoint, http://127.0.0.1:port, for every AWS service.
	URL string
}

// Start runs moto_server on a free loopback port until the test ends. Under -short, or where
// moto_server is not installed, the test is skipped, saying so: only the AWS tests need it.
func Start(t testing.TB) *Server {
	t.Helper()
	if testing.Short() {
		t.Skip("needs moto_server; skipped with -short")
	}
	bin, err := exec.LookPath("moto_server")
	if err != nil {
		t.Skip("moto_server is not installed, so this AWS test is skipped; install it with: pip install 'moto[server]'")
	}
	// moto binds port 0 itself and names the port it got, so no port is chosen here for another
	// process to take before moto binds it.
	var out procout.Buffer
	cmd := exec.Command(bin, "-H", "127.0.0.1", "-p", "0")
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatalf("starting moto_server: %v", err)
	}
	exited := make(chan struct{})
	go func() { _ = cmd.Wait(); close(exited) }()
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		<-exited
	})
	url := boundURL(&out, exited)
	if url == "" || !waitReady(url, exited) {
		t.Fatalf("moto_server did not start:\n%s", out.String())
	}
	return &Server{URL: url}
}

// running is the line moto's web server (werkzeug) prints once it listens, naming the port it
// bound: " * Running on http://127.0.0.1:34163" (older versions add a slash and more words).
var running = regexp.MustCompile(`Running on (http://127\.0\.0\.1:[0-9]+)`)

// boundURL waits for moto to say where it listens, and returns "" if it exits or stays silent.
func boundURL(out *procout.Buffer, exited <-chan struct{}) string {
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		if m := running.FindStringSubmatch(out.String()); m != nil {
			return m[1]
		}
		select {
		case <-exited:
			return ""
		case <-time.After(50 * time.Millisecond):
		}
	}
	return ""
}

// Env sets the AWS environment the SDK's default chain reads, pointing at moto's credentials.
func (s *Server) Env(t testing.TB) {
	t.Helper()
	for k, v := range s.Environ() {
		t.Setenv(k, v)
	}
}

// Environ is the AWS environment for a process the test starts.
func (s *Server) Environ() map[string]string {
	return map[string]string{
		"AWS_ACCESS_KEY_ID":     AccessKeyID,
		"AWS_SECRET_ACCESS_KEY": SecretAccessKey,
		"AWS_REGION":            Region,
		// Keep the SDK away from the machine's own files and the instance metadata service.
		"AWS_CONFIG_FILE":             "/dev/null",
		"AWS_SHARED_CREDENTIALS_FILE": "/dev/null",
		"AWS_EC2_METADATA_DISABLED":   "true",
	}
}

func waitReady(url string, exited <-chan struct{}) bool {
	client := &http.Client{Timeout: time.Second}
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		select {
		case <-exited:
			return false
		default:
		}
		if resp, err := client.Get(url + "/moto-api/"); err == nil {
			_ = resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return true
			}
		}
		time.Sleep(100 * time.Millisecond)
	}
	return false
}

// SQS is a client of the server's SQS API with moto's credentials, for a test to create queues
// and send messages as a producer would.
func (s *Server) SQS() *awssqs.Client {
	return awssqs.New(awssqs.Options{Region: Region, BaseEndpoint: aws.String(s.URL),
		Credentials: aws.CredentialsProviderFunc(func(context.Context) (aws.Credentials, error) {
			return aws.Credentials{AccessKeyID: AccessKeyID, SecretAccessKey: SecretAccessKey}, nil
		})})
}
