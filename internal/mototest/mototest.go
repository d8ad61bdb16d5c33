// Package mototest runs moto_server, a local stand-in for AWS's APIs (SQS among them), for tests.
package mototest

import (
	"context"
	"net"
	"net/http"
	"os/exec"
	"strconv"
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

// Start runs moto_server on a free loopback port until the test ends. Where moto_server is not
// installed the test is skipped, saying so: only the AWS tests need it.
func Start(t testing.TB) *Server {
	t.Helper()
	bin, err := exec.LookPath("moto_server")
	if err != nil {
		t.Skip("moto_server is not installed, so this AWS test is skipped; install it with: pip install 'moto[server]'")
	}
	// Another process may take the free port between the check and moto binding it: try again.
	var last string
	for range 3 {
		port := freePort(t)
		var out procout.Buffer
		cmd := exec.Command(bin, "-H", "127.0.0.1", "-p", strconv.Itoa(port))
		cmd.Stdout, cmd.Stderr = &out, &out
		if err := cmd.Start(); err != nil {
			t.Fatalf("starting moto_server: %v", err)
		}
		exited := make(chan struct{})
		go func() { _ = cmd.Wait(); close(exited) }()
		url := "http://127.0.0.1:" + strconv.Itoa(port)
		if waitReady(url, exited) {
			t.Cleanup(func() {
				_ = cmd.Process.Kill()
				<-exited
			})
			return &Server{URL: url}
		}
		_ = cmd.Process.Kill()
		<-exited
		last = out.String()
	}
	t.Fatalf("moto_server did not start:\n%s", last)
	return nil
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

func freePort(t testing.TB) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

// SQS is a client of the server's SQS API with moto's credentials, for a test to create queues
// and send messages as a producer would.
func (s *Server) SQS() *awssqs.Client {
	return awssqs.New(awssqs.Options{Region: Region, BaseEndpoint: aws.String(s.URL),
		Credentials: aws.CredentialsProviderFunc(func(context.Context) (aws.Credentials, error) {
			return aws.Credentials{AccessKeyID: AccessKeyID, SecretAccessKey: SecretAccessKey}, nil
		})})
}
