// Package mototest runs moto_server, a local stand-in for AWS's APIs, for tests.
package mototest

import (
	"context"
	"errors"
	"os"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	awssqs "github.com/aws/aws-sdk-go-v2/service/sqs"

	"github.com/gennaker/gennaker/internal/localaws"
)

// Credentials moto accepts; tests put them in the AWS environment variables.
const (
	AccessKeyID     = localaws.AccessKeyID
	SecretAccessKey = localaws.SecretAccessKey
	Region          = "us-east-1"
	// AccountID is the account moto owns every resource in.
	AccountID = localaws.AccountID
)

// Server is a running moto_server.
type Server struct {
	*localaws.Server
}

// Start runs moto_server on a free loopback port until the test ends. Under -short the test is
// skipped; where moto_server is not installed it is skipped too, saying so, except under CI=true,
// where a missing moto fails the test: CI must run the AWS tests.
func Start(t testing.TB) *Server {
	t.Helper()
	if testing.Short() {
		t.Skip("needs moto_server; skipped with -short")
	}
	srv, err := localaws.Start(context.Background())
	if errors.Is(err, localaws.ErrNotInstalled) {
		if os.Getenv("CI") == "true" {
			t.Fatalf("this AWS test needs moto_server, which CI must have: %v", err)
		}
		t.Skipf("this AWS test is skipped: %v", err)
	}
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(srv.Stop)
	return &Server{srv}
}

// Env sets the AWS environment the SDK's default chain reads, pointing at moto's credentials.
func (s *Server) Env(t testing.TB) {
	t.Helper()
	for k, v := range s.Environ() {
		t.Setenv(k, v)
	}
}

// Environ is the AWS environment for a process the test starts.
func (s *Server) Environ() map[string]string { return localaws.Environ(Region) }

// Config is an SDK configuration for the server in region.
func (s *Server) Config(region string) aws.Config { return localaws.Config(s.URL, region) }

// Seed makes what a first deploy to region needs (localaws.Seed), failing the test if it cannot.
func (s *Server) Seed(t testing.TB, region string) localaws.Fixture {
	t.Helper()
	f, err := localaws.Seed(context.Background(), s.Config(region))
	if err != nil {
		t.Fatalf("seeding moto in %s: %v", region, err)
	}
	return f
}

// Reset empties the server between tests that share it.
func (s *Server) Reset(t testing.TB) {
	t.Helper()
	if err := s.Server.Reset(context.Background()); err != nil {
		t.Fatal(err)
	}
}

// SQS is a client of the server's SQS API with moto's credentials, for a test to create queues
// and send messages as a producer would.
func (s *Server) SQS() *awssqs.Client {
	return awssqs.NewFromConfig(s.Config(Region))
}
