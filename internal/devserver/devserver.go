// Package devserver runs Temporal's development server (the one behind
// `temporal server start-dev`) inside the gennaker process: frontend, history,
// matching and worker services on SQLite, plus the Temporal Web UI, with
// nothing downloaded at run time.
package devserver

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/google/uuid"
	temporaldev "github.com/temporalio/cli/temporalcli/devserver"
	uiserver "github.com/temporalio/ui-server/v2/server"
	uiconfig "github.com/temporalio/ui-server/v2/server/config"
	uioptions "github.com/temporalio/ui-server/v2/server/server_options"
	"go.temporal.io/api/enums/v1"
	"go.temporal.io/api/operatorservice/v1"
	"go.temporal.io/sdk/client"
	sdklog "go.temporal.io/sdk/log"

	"github.com/gennaker/gennaker/internal/logx"
)

// Well-known defaults, the same as `temporal server start-dev`.
const (
	DefaultIP        = "127.0.0.1"
	DefaultPort      = 7233
	DefaultUIPort    = 8233
	DefaultNamespace = "default"
	// DatabaseFile is the SQLite file kept under Options.DataDir.
	DatabaseFile = "temporal.db"
	// UIDisabled as Options.UIPort runs the server without the Web UI.
	UIDisabled = -1
)

// Cluster identity of the single-node cluster; the CLI uses the same values,
// so a database written by `temporal server start-dev` opens here too.
const (
	clusterName            = "active"
	initialFailoverVersion = 1
)

// dynamicConfig mirrors the CLI's dev-server defaults. Refreshing the search
// attribute cache on every read makes attributes usable the moment they are
// registered; the raised persistence QPS makes up for the extra reads.
var dynamicConfig = map[string]any{
	"system.forceSearchAttributesCacheRefreshOnRead": true,
	"frontend.persistenceMaxQPS":                     10000,
	"history.persistenceMaxQPS":                      45000,
	// On its one history shard the server reads its transfer queue at most 20 times a second by
	// default, so every workflow and activity task waited up to 50ms to be dispatched (about 100ms
	// per stage of a serial pipeline).
	"history.transferProcessorMaxPollRPS": 10000,
	// With the default four task queue partitions for a handful of pollers, a task that lands on a
	// partition nobody polls now and then waits seconds to be forwarded.
	"matching.numTaskqueueReadPartitions":  1,
	"matching.numTaskqueueWritePartitions": 1,
}

// StockDispatch restores the stock dev server's dispatch settings, for measuring against them.
var StockDispatch = map[string]any{
	"history.transferProcessorMaxPollRPS":  20,
	"matching.numTaskqueueReadPartitions":  4,
	"matching.numTaskqueueWritePartitions": 4,
}

// sqlitePragmas apply to the file store: WAL keeps readers off the writer's
// back and survives a process crash; busy_timeout rides out short lock waits.
var sqlitePragmas = map[string]string{
	"journal_mode": "wal",
	"synchronous":  "normal",
	"busy_timeout": "5000",
}

// startupTimeout bounds the wait for the frontend and the UI to answer.
const startupTimeout = 30 * time.Second

// Options configures the embedded server. The zero value runs an in-memory
// server on free ports with the UI on another free port.
type Options struct {
	// DataDir holds the SQLite file DataDir/temporal.db; "" keeps everything in memory.
	DataDir string
	// IP the frontend and UI listen on; default 127.0.0.1.
	IP string
	// Port of the frontend gRPC API; 0 picks a free port (pass DefaultPort for 7233).
	Port int
	// UIPort of the Web UI; 0 picks a free port (pass DefaultUIPort for 8233), UIDisabled runs without it.
	UIPort int
	// Namespace is registered alongside "default"; default "default".
	Namespace string
	// SearchAttributes are registered in every namespace the server creates.
	SearchAttributes map[string]enums.IndexedValueType
	// DynamicConfig holds Temporal dynamic config values laid over the defaults, keyed by setting
	// name such as "history.transferProcessorMaxPollRPS"; for benchmarks and tests that tune the server.
	DynamicConfig map[string]any
	// Logger receives the server's warnings and errors (and its info messages
	// when the logger is enabled for debug); default: warnings to stderr.
	Logger *slog.Logger
}

// Server is a running embedded Temporal server.
type Server struct {
	server     *temporaldev.Server
	uiServer   *uiserver.Server
	stopping   *atomic.Bool
	stopOnce   sync.Once
	frontend   string
	ui         string
	uiHostPort string
	namespace  string
}

// Start runs the server and returns once its frontend answers and the
// namespaces carry every requested search attribute. Starting again on a
// DataDir used before reopens its namespaces, attributes and executions.
func Start(opts Options) (*Server, error) {
	opts = withDefaults(opts)
	// The services' pollers and internal clients keep complaining for a
	// moment after Stop about the connections Stop just closed; nothing
	// below an error is worth showing once shutdown has begun.
	stopping := new(atomic.Bool)
	opts.Logger = slog.New(untilStopped{opts.Logger.Handler(), stopping})
	if ip := net.ParseIP(opts.IP); ip == nil {
		return nil, fmt.Errorf("devserver: IP %q is not an IP address", opts.IP)
	}

	start := temporaldev.StartOptions{
		FrontendIP:             opts.IP,
		Namespaces:             namespaces(opts.Namespace),
		ClusterID:              uuid.NewString(), // kept only on first start; later starts use the stored one
		MasterClusterName:      clusterName,
		CurrentClusterName:     clusterName,
		InitialFailoverVersion: initialFailoverVersion,
		Logger:                 opts.Logger,
		LogLevel:               serverLogLevel(opts.Logger),
		DynamicConfigValues:    dynamicConfigWith(opts.DynamicConfig),
		SearchAttributes:       opts.SearchAttributes,
	}

	var err error
	if start.FrontendPort, err = port(opts.IP, opts.Port, "frontend"); err != nil {
		return nil, err
	}
	// The UI is started here once the frontend serves, not by the CLI's
	// package alongside it: a UI started first keeps a refused gRPC
	// connection in backoff and answers 503 for its first seconds. Its
	// server exits the process when the port is taken, so the port is
	// checked before anything starts.
	uiPort := 0
	if opts.UIPort != UIDisabled {
		if uiPort, err = port(opts.IP, opts.UIPort, "UI"); err != nil {
			return nil, err
		}
	}
	if opts.DataDir != "" {
		if err := os.MkdirAll(opts.DataDir, 0o755); err != nil {
			return nil, fmt.Errorf("devserver: create data dir: %w", err)
		}
		start.DatabaseFile = filepath.Join(opts.DataDir, DatabaseFile)
		start.SqlitePragmas = maps.Clone(sqlitePragmas)
	}

	srv, err := temporaldev.Start(start)
	if err != nil {
		return nil, fmt.Errorf("devserver: start Temporal: %w", err)
	}
	s := &Server{
		server:    srv,
		stopping:  stopping,
		frontend:  hostPort(opts.IP, start.FrontendPort),
		namespace: opts.Namespace,
	}

	ctx, cancel := context.WithTimeout(context.Background(), startupTimeout)
	defer cancel()
	if err := s.ready(ctx, start.Namespaces, opts.SearchAttributes, opts.Logger); err != nil {
		s.Stop()
		return nil, err
	}
	if uiPort != 0 {
		if err := s.startUI(ctx, opts.IP, uiPort); err != nil {
			s.Stop()
			return nil, err
		}
	}
	return s, nil
}

// FrontendAddress is the host:port of the frontend gRPC API, for SDK clients.
func (s *Server) FrontendAddress() string { return s.frontend }

// UIAddress is the Web UI's base URL such as http://127.0.0.1:8233, or "" when the UI is disabled.
func (s *Server) UIAddress() string { return s.ui }

// Namespace is the namespace the server was started for.
func (s *Server) Namespace() string { return s.namespace }

// Stop shuts the UI and every Temporal service down; calling it again does
// nothing. Executions in a DataDir are kept; an in-memory server's are gone.
func (s *Server) Stop() {
	s.stopOnce.Do(func() {
		s.stopping.Store(true)
		if s.uiServer != nil {
			s.uiServer.Stop()
		}
		s.server.Stop()
	})
}

// ready waits for the frontend to answer, then registers any search
// attribute a namespace lacks. Pre-registration only covers namespaces
// created by this start, so a database from an earlier start with fewer
// attributes is brought up to date here.
func (s *Server) ready(ctx context.Context, nss []string, attrs map[string]enums.IndexedValueType, logger *slog.Logger) error {
	c, err := s.dial(ctx, logger)
	if err != nil {
		return err
	}
	defer c.Close()
	for _, ns := range nss {
		if err := ensureSearchAttributes(ctx, c.OperatorService(), ns, attrs); err != nil {
			return err
		}
	}
	return nil
}

// startUI serves the Web UI with its embedded assets, configured as the
// CLI's dev server configures it, and waits until it listens.
func (s *Server) startUI(ctx context.Context, ip string, port int) error {
	s.uiHostPort = hostPort(ip, port)
	s.ui = "http://" + s.uiHostPort
	s.uiServer = uiserver.NewServer(uioptions.WithConfigProvider(&uiconfig.Config{
		Host:                temporaldev.MaybeEscapeIPv6(ip),
		Port:                port,
		TemporalGRPCAddress: s.frontend,
		EnableUI:            true,
		CORS:                uiconfig.CORS{CookieInsecure: true},
		HideLogs:            true,
	}))
	go func() {
		// Start blocks until Stop; a failure to listen ends the process
		// inside the UI server, which the port check above guards against.
		_ = s.uiServer.Start()
	}()
	if err := waitListening(ctx, s.uiHostPort); err != nil {
		return fmt.Errorf("devserver: Web UI at %s did not start: %w", s.ui, err)
	}
	return nil
}

func (s *Server) dial(ctx context.Context, logger *slog.Logger) (client.Client, error) {
	var lastErr error
	for {
		c, err := client.DialContext(ctx, client.Options{
			HostPort:  s.frontend,
			Namespace: s.namespace,
			Logger:    sdklog.NewStructuredLogger(logx.SDK(logger)),
		})
		if err == nil {
			return c, nil
		}
		lastErr = err
		select {
		case <-ctx.Done():
			return nil, fmt.Errorf("devserver: frontend at %s did not answer: %w", s.frontend, lastErr)
		case <-time.After(100 * time.Millisecond):
		}
	}
}

func ensureSearchAttributes(ctx context.Context, ops operatorservice.OperatorServiceClient, ns string, want map[string]enums.IndexedValueType) error {
	if len(want) == 0 {
		return nil
	}
	resp, err := ops.ListSearchAttributes(ctx, &operatorservice.ListSearchAttributesRequest{Namespace: ns})
	if err != nil {
		return fmt.Errorf("devserver: list search attributes of %q: %w", ns, err)
	}
	missing := map[string]enums.IndexedValueType{}
	var errs []error
	for name, typ := range want {
		have, ok := resp.GetCustomAttributes()[name]
		if !ok {
			have, ok = resp.GetSystemAttributes()[name]
		}
		switch {
		case !ok:
			missing[name] = typ
		case have != typ:
			errs = append(errs, fmt.Errorf("devserver: search attribute %s in namespace %q is %s, want %s", name, ns, have, typ))
		}
	}
	if len(errs) > 0 {
		return errors.Join(errs...)
	}
	if len(missing) == 0 {
		return nil
	}
	if _, err := ops.AddSearchAttributes(ctx, &operatorservice.AddSearchAttributesRequest{
		Namespace:        ns,
		SearchAttributes: missing,
	}); err != nil {
		return fmt.Errorf("devserver: add search attributes to %q: %w", ns, err)
	}
	return nil
}

// dynamicConfigWith is the default dynamic config with the caller's values laid over it.
func dynamicConfigWith(extra map[string]any) map[string]any {
	values := maps.Clone(dynamicConfig)
	maps.Copy(values, extra)
	return values
}

func withDefaults(opts Options) Options {
	if opts.IP == "" || opts.IP == "localhost" {
		// The server binds to an IP, never a name.
		opts.IP = DefaultIP
	}
	if opts.Namespace == "" {
		opts.Namespace = DefaultNamespace
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	}
	return opts
}

// namespaces always includes "default", as the CLI does, so tools that assume it work.
func namespaces(ns string) []string {
	if ns == DefaultNamespace {
		return []string{DefaultNamespace}
	}
	return []string{DefaultNamespace, ns}
}

// serverLogLevel keeps the server's chatty info messages out unless the
// caller's logger asks for debug output.
func serverLogLevel(logger *slog.Logger) slog.Level {
	if logger.Enabled(context.Background(), slog.LevelDebug) {
		return slog.LevelInfo
	}
	return slog.LevelWarn
}

// untilStopped passes every record until shutdown begins, then only errors.
type untilStopped struct {
	slog.Handler
	stopping *atomic.Bool
}

func (h untilStopped) Enabled(ctx context.Context, l slog.Level) bool {
	if l < slog.LevelError && h.stopping.Load() {
		return false
	}
	return h.Handler.Enabled(ctx, l)
}

func (h untilStopped) WithAttrs(attrs []slog.Attr) slog.Handler {
	return untilStopped{h.Handler.WithAttrs(attrs), h.stopping}
}

func (h untilStopped) WithGroup(name string) slog.Handler {
	return untilStopped{h.Handler.WithGroup(name), h.stopping}
}

// port returns p if it is free, or a free port when p is 0.
func port(ip string, p int, what string) (int, error) {
	if p < 0 || p > 65535 {
		return 0, fmt.Errorf("devserver: %s port %d out of range", what, p)
	}
	if p == 0 {
		free, err := temporaldev.GetFreePort(ip)
		if err != nil {
			return 0, fmt.Errorf("devserver: %s port: %w", what, err)
		}
		return free, nil
	}
	if err := temporaldev.CheckPortFree(ip, p); err != nil {
		return 0, fmt.Errorf("devserver: %s port %d is not free: %w", what, p, err)
	}
	return p, nil
}

func hostPort(ip string, p int) string {
	return net.JoinHostPort(ip, strconv.Itoa(p))
}

func waitListening(ctx context.Context, addr string) error {
	var d net.Dialer
	for {
		conn, err := d.DialContext(ctx, "tcp", addr)
		if err == nil {
			return conn.Close()
		}
		select {
		case <-ctx.Done():
			return err
		case <-time.After(50 * time.Millisecond):
		}
	}
}
