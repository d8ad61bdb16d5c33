// Command gennaker is the one binary: dev runs everything in one process, worker and api connect
// to any Temporal cluster, version prints the build.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"os/signal"
	"syscall"
	// Execution windows and cron triggers name time zones; embedding the zone data gives every worker
	// the same answer whatever its machine has installed.
	_ "time/tzdata"

	"github.com/gennaker/gennaker/internal/app"
	"github.com/gennaker/gennaker/internal/config"
	"github.com/gennaker/gennaker/internal/localregistry"
)

// version is set at build time with -ldflags "-X main.version=...".
var version = "dev"

const usage = `gennaker: continuous delivery pipelines as durable Temporal workflows

Usage:
  gennaker dev      embedded Temporal (Web UI on :8233), worker and API (:8080) in one process
  gennaker worker   run the worker against a Temporal cluster
  gennaker api      run the HTTP API against a Temporal cluster
  gennaker version  print the version

Run "gennaker <command> -h" for the flags; each flag also reads a GENNAKER_* environment variable.
`

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

func run(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return 2
	}
	var parts app.Parts
	switch args[0] {
	case "dev":
		parts = app.Parts{EmbeddedTemporal: true, Worker: true, API: true}
	case "worker":
		parts = app.Parts{Worker: true}
	case "api":
		parts = app.Parts{API: true}
	case "version", "--version", "-v":
		fmt.Fprintln(stdout, "gennaker", version)
		return 0
	case "help", "-h", "--help":
		fmt.Fprint(stdout, usage)
		return 0
	default:
		fmt.Fprintf(stderr, "gennaker: unknown command %q\n\n%s", args[0], usage)
		return 2
	}

	fs := flag.NewFlagSet("gennaker "+args[0], flag.ContinueOnError)
	fs.SetOutput(stderr)
	cfg, err := config.Load(fs, args[1:])
	if errors.Is(err, flag.ErrHelp) {
		return 0
	}
	if err != nil {
		fmt.Fprintf(stderr, "gennaker: %v\n", err)
		return 2
	}
	logger := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: cfg.Level()}))

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	rt, err := app.Start(ctx, cfg, parts, logger)
	if err != nil {
		logger.Error("gennaker could not start", "error", err)
		return 1
	}
	if parts.API && parts.EmbeddedTemporal {
		fmt.Fprintf(stdout, "gennaker %s is running\n  API:              http://%s/api/v1\n  Temporal Web UI:  %s\n  Temporal gRPC:    %s\n",
			version, displayAddress(rt.APIAddress), rt.Config.Temporal.UIURL, rt.Config.Temporal.Address)
		if rt.LocalAWS != nil {
			fmt.Fprintf(stdout, "  Local AWS (moto): %s, account %s\n", rt.LocalAWS.URL, app.LocalAWSAccount)
		}
		if rt.LocalRegistry != nil {
			fmt.Fprintf(stdout, "  Local registry:   %s (container bakes push here; baseOs %s)\n", rt.LocalRegistry.Host, localregistry.BaseOS)
		}
		fmt.Fprintf(stdout, "Press Ctrl-C to stop; running executions continue when it starts again.\n")
	}
	err = rt.Wait(ctx)
	logger.Info("stopping")
	rt.Stop()
	if err != nil {
		logger.Error("gennaker stopped", "error", err)
		return 1
	}
	return 0
}

// displayAddress turns a listen address such as [::]:8080 into one a person can open.
func displayAddress(addr string) string {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return addr
	}
	if ip := net.ParseIP(host); host == "" || ip != nil && ip.IsUnspecified() {
		host = "localhost"
	}
	return net.JoinHostPort(host, port)
}
