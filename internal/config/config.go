// Package config holds the gennaker binary's whole configuration: one typed
// struct filled once from flags and GENNAKER_* environment variables (flags
// win over the environment, the environment over defaults), then validated.
package config

import (
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"sigs.k8s.io/yaml"

	"github.com/gennaker/gennaker/access"
	"github.com/gennaker/gennaker/bake"
	"github.com/gennaker/gennaker/cloud/aws"
	"github.com/gennaker/gennaker/cloud/kubernetes"
)

// EnvPrefix starts the environment variable of every flag: --task-queue is GENNAKER_TASK_QUEUE.
const EnvPrefix = "GENNAKER_"

// Defaults for the flags.
const (
	DefaultTemporalAddress   = "127.0.0.1:7233"
	DefaultTemporalNamespace = "default"
	DefaultTaskQueue         = "gennaker"
	DefaultHTTPAddress       = ":8080"
	DefaultDataDir           = ".gennaker"
	DefaultTemporalUIURL     = "http://localhost:8233"
	DefaultDevTemporalPort   = 7233
	DefaultDevUIPort         = 8233
	DefaultLogLevel          = "info"
)

// storeFile is the SQLite file under the data dir used when --store is empty.
const storeFile = "gennaker.db"

// Config is everything the binary's subcommands are configured with.
type Config struct {
	Temporal Temporal
	// TaskQueue is the queue workers poll and the API starts workflows on.
	TaskQueue string
	// HTTPAddress is where the API listens, host:port (host may be empty).
	HTTPAddress string
	// DataDir holds local state: the dev server's database and the default store.
	DataDir string
	// Store is where pipeline configs are kept: "" (SQLite in DataDir), a
	// file path or sqlite:///path/file.db.
	Store string
	Dev   Dev
	// LogLevel is debug, info, warn or error.
	LogLevel string
	// AccountsFile is a YAML or JSON file naming the cloud accounts pipelines may deploy to.
	AccountsFile string
	// Accounts are the accounts read from AccountsFile.
	Accounts Accounts
	// Slack is the Slack app gennaker posts as.
	Slack Slack
	// PublicURL is the API's address as people reach it, for links in notifications.
	PublicURL string
	// NotificationsFile is a YAML or JSON file of application notification defaults and event endpoints.
	NotificationsFile string
	// Notifications are read from NotificationsFile.
	Notifications Notifications
	// UsersFile is a YAML or JSON file of users: their Slack IDs and roles.
	UsersFile string
	// Users are read from UsersFile.
	Users []access.User
	// PubsubFileName is a YAML or JSON file of the pubsub subscriptions workers poll.
	PubsubFileName string
	// Pubsub is read from PubsubFileName.
	Pubsub PubsubFile
	// PrometheusURL is the Prometheus server canary analyses read metrics from (the metrics
	// account "prometheus"); empty: canary stages are refused.
	PrometheusURL string

	// envProblems are environment values that could not be parsed; Validate reports them.
	envProblems []string
}

// Temporal says how to reach the Temporal cluster.
type Temporal struct {
	// Address of the frontend, host:port.
	Address   string
	Namespace string
	// TLS turns TLS on with the system roots even without any file below.
	TLS bool
	// TLSCert and TLSKey are a PEM client certificate and key for mTLS.
	TLSCert string
	TLSKey  string
	// TLSCA is a PEM bundle trusted instead of the system roots.
	TLSCA         string
	TLSServerName string
	// APIKey authenticates to Temporal Cloud; it implies TLS.
	APIKey string
	// UIURL is the base URL of the Temporal Web UI, for links to executions; "" for none.
	UIURL string
}

// Accounts are the cloud accounts pipelines may name. Credentials stay here, never in pipelines.
type Accounts struct {
	Kubernetes []kubernetes.Account `json:"kubernetes"`
	AWS        []aws.Account        `json:"aws"`
	// Bakery configures bakes: bakery.docker is the container bakery.
	Bakery Bakery `json:"bakery"`
}

// Bakery configures the bake stages.
type Bakery struct {
	Docker *bake.ContainerBakery `json:"docker,omitempty"`
}

// AWSRegions maps each AWS account to its regions, for validation.
func (a Accounts) AWSRegions() map[string][]string {
	out := map[string][]string{}
	for _, acct := range a.AWS {
		out[acct.Name] = acct.RegionNames()
	}
	return out
}

// KubernetesAccount finds a Kubernetes account by name.
func (a Accounts) KubernetesAccount(name string) (kubernetes.Account, bool) {
	for _, acct := range a.Kubernetes {
		if acct.Name == name {
			return acct, true
		}
	}
	return kubernetes.Account{}, false
}

// loadAccounts reads AccountsFile; problems are kept for Validate to report with the rest.
func (c *Config) loadAccounts() {
	if c.AccountsFile == "" {
		return
	}
	data, err := os.ReadFile(c.AccountsFile)
	if err != nil {
		c.envProblems = append(c.envProblems, fmt.Sprintf("--accounts %q: cannot read: %v", c.AccountsFile, err))
		return
	}
	var accts Accounts
	if err := yaml.UnmarshalStrict(data, &accts); err != nil {
		c.envProblems = append(c.envProblems, fmt.Sprintf("--accounts %q: %v", c.AccountsFile, err))
		return
	}
	c.Accounts = accts
}

// validateAccounts checks every account and that names are unique.
func (c *Config) validateAccounts(add func(string, ...any)) {
	seen := map[string]bool{}
	for _, a := range c.Accounts.Kubernetes {
		if err := a.Validate(); err != nil {
			add("--accounts: %v", err)
		}
		if seen[a.Name] {
			add("--accounts: kubernetes account %q is named twice", a.Name)
		}
		seen[a.Name] = true
		if a.Kubeconfig != "" {
			if err := checkReadable(a.Kubeconfig); err != nil {
				add("--accounts: kubernetes account %q: kubeconfig %q: cannot read: %v", a.Name, a.Kubeconfig, err)
			}
		}
	}
	// Pipelines name accounts without their provider, so a name means one account of any kind.
	for _, a := range c.Accounts.AWS {
		if err := a.Validate(); err != nil {
			add("--accounts: %v", err)
		}
		if seen[a.Name] {
			add("--accounts: account %q is named twice", a.Name)
		}
		seen[a.Name] = true
	}
	if b := c.Accounts.Bakery.Docker; b != nil {
		if err := b.Validate(); err != nil {
			add("--accounts: %v", err)
		}
	}
}

// Dev configures the Temporal server `gennaker dev` runs in-process.
type Dev struct {
	// TemporalPort is the frontend gRPC port; 0 picks a free one.
	TemporalPort int
	// UIPort is the Web UI port; 0 picks a free one, -1 turns the UI off.
	UIPort int
	// LocalKube starts a local Kubernetes cluster when no Kubernetes account is configured.
	LocalKube bool
}

// TLSEnabled reports whether the connection to Temporal uses TLS: asked for
// explicitly, implied by any TLS setting, or required by an API key.
func (t Temporal) TLSEnabled() bool {
	return t.TLS || t.TLSCert != "" || t.TLSKey != "" || t.TLSCA != "" || t.TLSServerName != "" || t.APIKey != ""
}

// Register binds every setting to a flag on fs, each defaulting to its
// GENNAKER_* environment variable when set. Parse fs, then call Validate.
func Register(fs *flag.FlagSet) *Config {
	return register(fs, os.LookupEnv)
}

// Load registers the flags on fs, parses args and validates the result.
func Load(fs *flag.FlagSet, args []string) (*Config, error) {
	c := Register(fs)
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	c.loadAccounts()
	c.loadNotifications()
	c.loadPubsub()
	if err := c.Validate(); err != nil {
		return nil, err
	}
	return c, nil
}

func register(fs *flag.FlagSet, lookup func(string) (string, bool)) *Config {
	c := &Config{}
	b := binder{fs: fs, lookup: lookup, c: c}

	b.str(&c.Temporal.Address, "temporal-address", DefaultTemporalAddress, "Temporal frontend `host:port`")
	b.str(&c.Temporal.Namespace, "temporal-namespace", DefaultTemporalNamespace, "Temporal namespace")
	b.boolean(&c.Temporal.TLS, "temporal-tls", false, "connect to Temporal over TLS, trusting the system roots unless --temporal-tls-ca is set")
	b.str(&c.Temporal.TLSCert, "temporal-tls-cert", "", "PEM client certificate `file` for mTLS to Temporal")
	b.str(&c.Temporal.TLSKey, "temporal-tls-key", "", "PEM client key `file` for mTLS to Temporal")
	b.str(&c.Temporal.TLSCA, "temporal-tls-ca", "", "PEM CA bundle `file` trusted for Temporal's server certificate")
	b.str(&c.Temporal.TLSServerName, "temporal-tls-server-name", "", "server `name` expected in Temporal's certificate")
	b.str(&c.Temporal.APIKey, "temporal-api-key", "", "Temporal Cloud API `key` (implies TLS)")
	b.str(&c.Temporal.UIURL, "temporal-ui-url", DefaultTemporalUIURL, "Temporal Web UI base `URL`, for links to executions")
	b.str(&c.TaskQueue, "task-queue", DefaultTaskQueue, "Temporal task `queue` of gennaker's workers")
	b.str(&c.HTTPAddress, "http-address", DefaultHTTPAddress, "API listen `address`")
	b.str(&c.DataDir, "data-dir", DefaultDataDir, "`directory` for local state (dev server database, default store)")
	b.str(&c.Store, "store", "", "pipeline store: file path or sqlite:///path/file.db (default <data-dir>/"+storeFile+")")
	b.integer(&c.Dev.TemporalPort, "dev-temporal-port", DefaultDevTemporalPort, "`port` of the Temporal frontend run by `gennaker dev` (0 = any free port)")
	b.integer(&c.Dev.UIPort, "dev-ui-port", DefaultDevUIPort, "`port` of the Temporal Web UI run by `gennaker dev` (0 = any free port, -1 = no UI)")
	b.boolean(&c.Dev.LocalKube, "dev-local-kube", true, "start a local Kubernetes cluster as account \"local\" in `gennaker dev` when no Kubernetes account is configured (false: none, for AWS-only use)")
	b.str(&c.AccountsFile, "accounts", "", "YAML or JSON `file` of the Kubernetes and AWS accounts pipelines may deploy to (dev: a local cluster as account \"local\" and, with moto_server installed, a local AWS as account \"aws-local\", when none)")
	b.str(&c.Slack.BotToken, "slack-bot-token", "", "Slack bot `token` (xoxb-…) notifications and judgment messages are posted with")
	b.str(&c.Slack.SigningSecret, "slack-signing-secret", "", "Slack app signing `secret` that verifies clicks sent to /slack/interactions")
	b.str(&c.Slack.APIURL, "slack-api-url", "", "Slack Web API base `URL` (default Slack's own)")
	b.str(&c.PublicURL, "public-url", "", "the API's `URL` as people reach it, for links in notifications (default from --http-address)")
	b.str(&c.NotificationsFile, "notifications", "", "YAML or JSON `file` of application notification defaults and event stream endpoints")
	b.str(&c.UsersFile, "users", "", "YAML or JSON `file` of users: Slack user IDs and roles for manual judgments")
	b.str(&c.PrometheusURL, "prometheus-url", "", "Prometheus `URL` canary analyses read metrics from (metrics account \"prometheus\"; user:password@ for basic auth)")
	b.str(&c.PubsubFileName, "pubsub", "", "YAML or JSON `file` of the pubsub subscriptions (SQS queues) workers poll for pubsub triggers")
	b.str(&c.LogLevel, "log-level", DefaultLogLevel, "log `level`: debug, info, warn or error")
	return c
}

// EnvName is the environment variable that sets the flag called name.
func EnvName(flagName string) string {
	return EnvPrefix + strings.ToUpper(strings.ReplaceAll(flagName, "-", "_"))
}

// binder declares flags whose defaults come from the environment. An empty
// variable counts as unset, so a blank line in an env file changes nothing.
type binder struct {
	fs     *flag.FlagSet
	lookup func(string) (string, bool)
	c      *Config
}

func (b binder) env(name string) (string, string, bool) {
	key := EnvName(name)
	v, ok := b.lookup(key)
	return key, v, ok && v != ""
}

func (b binder) str(p *string, name, def, usage string) {
	if _, v, ok := b.env(name); ok {
		def = v
	}
	b.fs.StringVar(p, name, def, usage+" (env "+EnvName(name)+")")
}

func (b binder) boolean(p *bool, name string, def bool, usage string) {
	if key, v, ok := b.env(name); ok {
		parsed, err := strconv.ParseBool(v)
		if err != nil {
			b.c.envProblems = append(b.c.envProblems, fmt.Sprintf("%s=%q: want true or false", key, v))
		} else {
			def = parsed
		}
	}
	b.fs.BoolVar(p, name, def, usage+" (env "+EnvName(name)+")")
}

func (b binder) integer(p *int, name string, def int, usage string) {
	if key, v, ok := b.env(name); ok {
		parsed, err := strconv.Atoi(v)
		if err != nil {
			b.c.envProblems = append(b.c.envProblems, fmt.Sprintf("%s=%q: want a whole number", key, v))
		} else {
			def = parsed
		}
	}
	b.fs.IntVar(p, name, def, usage+" (env "+EnvName(name)+")")
}

// InvalidError lists every problem Validate found, one per line.
type InvalidError struct {
	Problems []string
}

func (e *InvalidError) Error() string {
	return "invalid configuration:\n  - " + strings.Join(e.Problems, "\n  - ")
}

// Validate checks the whole configuration and returns an *InvalidError
// naming every problem, or nil.
func (c *Config) Validate() error {
	p := append([]string(nil), c.envProblems...)
	add := func(format string, args ...any) { p = append(p, fmt.Sprintf(format, args...)) }

	t := c.Temporal
	if err := checkHostPort(strings.TrimPrefix(t.Address, "dns:///"), true); err != nil {
		add("--temporal-address %q: %v", t.Address, err)
	}
	if strings.TrimSpace(t.Namespace) == "" {
		add("--temporal-namespace: must not be empty")
	}
	switch {
	case t.TLSCert != "" && t.TLSKey == "":
		add("--temporal-tls-cert is set but --temporal-tls-key is not: mTLS needs both")
	case t.TLSKey != "" && t.TLSCert == "":
		add("--temporal-tls-key is set but --temporal-tls-cert is not: mTLS needs both")
	}
	for _, f := range []struct{ flag, path string }{
		{"--temporal-tls-cert", t.TLSCert},
		{"--temporal-tls-key", t.TLSKey},
		{"--temporal-tls-ca", t.TLSCA},
	} {
		if f.path == "" {
			continue
		}
		if err := checkReadable(f.path); err != nil {
			add("%s %q: cannot read: %v", f.flag, f.path, err)
		}
	}
	if t.UIURL != "" {
		if err := checkHTTPURL(t.UIURL); err != nil {
			add("--temporal-ui-url %q: %v", t.UIURL, err)
		}
	}

	if strings.TrimSpace(c.TaskQueue) == "" {
		add("--task-queue: must not be empty")
	}
	if err := checkHostPort(c.HTTPAddress, false); err != nil {
		add("--http-address %q: %v", c.HTTPAddress, err)
	}
	if strings.TrimSpace(c.DataDir) == "" {
		add("--data-dir: must not be empty")
	}
	if err := checkStore(c.Store); err != nil {
		add("--store %q: %v", redactURL(c.Store), err)
	}

	if c.Dev.TemporalPort < 0 || c.Dev.TemporalPort > 65535 {
		add("--dev-temporal-port %d: want 0 to 65535", c.Dev.TemporalPort)
	}
	if c.Dev.UIPort < -1 || c.Dev.UIPort > 65535 {
		add("--dev-ui-port %d: want -1 (no UI), or 0 to 65535", c.Dev.UIPort)
	}
	if c.Dev.TemporalPort > 0 && c.Dev.TemporalPort == c.Dev.UIPort {
		add("--dev-temporal-port and --dev-ui-port are both %d", c.Dev.TemporalPort)
	}

	c.validateAccounts(add)
	c.validateNotifications(add)
	c.validatePubsub(add)
	if c.PrometheusURL != "" {
		if err := checkHTTPURL(c.PrometheusURL); err != nil {
			add("--prometheus-url %q: %v", redactURL(c.PrometheusURL), err)
		}
	}

	if _, ok := levels[strings.ToLower(c.LogLevel)]; !ok {
		add("--log-level %q: want debug, info, warn or error", c.LogLevel)
	}

	if len(p) > 0 {
		return &InvalidError{Problems: p}
	}
	return nil
}

var levels = map[string]slog.Level{
	"debug": slog.LevelDebug,
	"info":  slog.LevelInfo,
	"warn":  slog.LevelWarn,
	"error": slog.LevelError,
}

// Level is LogLevel as a slog level; info when it is not one Validate accepts.
func (c *Config) Level() slog.Level {
	if l, ok := levels[strings.ToLower(c.LogLevel)]; ok {
		return l
	}
	return slog.LevelInfo
}

// StoreLocation is where the pipeline store lives: --store as given, or the
// SQLite file <data-dir>/gennaker.db when it is empty.
func (c *Config) StoreLocation() string {
	if c.Store != "" {
		return c.Store
	}
	return filepath.Join(c.DataDir, storeFile)
}

// SQLitePath is the file of the SQLite store named by StoreLocation.
func (c *Config) SQLitePath() string {
	return strings.TrimPrefix(c.StoreLocation(), "sqlite://")
}

// WorkflowUIURL links to one workflow in the Temporal Web UI:
// <ui>/namespaces/<namespace>/workflows/<id>. An empty namespace means the
// configured one; the result is "" when no UI URL is configured.
func (c *Config) WorkflowUIURL(namespace, workflowID string) string {
	if c.Temporal.UIURL == "" {
		return ""
	}
	if namespace == "" {
		namespace = c.Temporal.Namespace
	}
	return strings.TrimRight(c.Temporal.UIURL, "/") +
		"/namespaces/" + url.PathEscape(namespace) +
		"/workflows/" + url.PathEscape(workflowID)
}

// LogValue lets the configuration be logged without its secret.
func (c *Config) LogValue() slog.Value {
	apiKey := ""
	if c.Temporal.APIKey != "" {
		apiKey = "[redacted]"
	}
	return slog.GroupValue(
		slog.String("temporalAddress", c.Temporal.Address),
		slog.String("temporalNamespace", c.Temporal.Namespace),
		slog.Bool("temporalTLS", c.Temporal.TLSEnabled()),
		slog.String("temporalTLSCert", c.Temporal.TLSCert),
		slog.String("temporalTLSCA", c.Temporal.TLSCA),
		slog.String("temporalTLSServerName", c.Temporal.TLSServerName),
		slog.String("temporalAPIKey", apiKey),
		slog.String("temporalUIURL", c.Temporal.UIURL),
		slog.String("taskQueue", c.TaskQueue),
		slog.String("httpAddress", c.HTTPAddress),
		slog.String("dataDir", c.DataDir),
		slog.String("store", redactURL(c.StoreLocation())),
		slog.Int("devTemporalPort", c.Dev.TemporalPort),
		slog.Int("devUIPort", c.Dev.UIPort),
		slog.Bool("devLocalKube", c.Dev.LocalKube),
		slog.String("logLevel", c.LogLevel),
		slog.Bool("slackBotToken", c.Slack.BotToken != ""),
		slog.Bool("slackSigningSecret", c.Slack.SigningSecret != ""),
		slog.String("publicURL", c.PublicURL),
		slog.String("notifications", c.NotificationsFile),
		slog.String("users", c.UsersFile),
		slog.String("pubsub", c.PubsubFileName),
		slog.String("prometheusURL", redactURL(c.PrometheusURL)),
	)
}

// checkHostPort accepts host:port with a numeric port; the host may be empty
// (listen on every interface) only when requireHost is false.
func checkHostPort(addr string, requireHost bool) error {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return errors.New("want host:port")
	}
	if requireHost && host == "" {
		return errors.New("want host:port, the host is missing")
	}
	n, err := strconv.Atoi(port)
	if err != nil || n < 0 || n > 65535 {
		return fmt.Errorf("port %q is not a number from 0 to 65535", port)
	}
	if requireHost && n == 0 {
		return errors.New("port 0 cannot be dialled")
	}
	return nil
}

func checkReadable(path string) error {
	f, err := os.Open(path)
	if err != nil {
		var pe *os.PathError
		if errors.As(err, &pe) {
			return pe.Err // the caller already names the path
		}
		return err
	}
	defer f.Close()
	info, err := f.Stat()
	if err != nil {
		return err
	}
	if info.IsDir() {
		return errors.New("is a directory")
	}
	return nil
}

func checkHTTPURL(raw string) error {
	u, err := url.Parse(raw)
	if err != nil {
		return errors.New("not a URL")
	}
	if u.Scheme != "http" && u.Scheme != "https" {
		return errors.New("want an http:// or https:// URL")
	}
	if u.Host == "" {
		return errors.New("the host is missing")
	}
	return nil
}

// checkStore accepts what the store factory understands: a file path, or a
// sqlite or postgres URL. An unknown scheme is an error rather than a file
// named after it.
func checkStore(store string) error {
	if store == "" {
		return nil
	}
	scheme, rest, ok := strings.Cut(store, "://")
	if !ok {
		return nil // a plain file path
	}
	switch strings.ToLower(scheme) {
	case "sqlite":
		// sqlite:///abs/file.db has an empty host and an absolute path.
		if !strings.HasPrefix(rest, "/") || len(rest) < 2 {
			return errors.New("want sqlite:///path/to/file.db")
		}
		return nil
	case "postgres", "postgresql":
		return errors.New("PostgreSQL is not available as a store in this release: use a SQLite file path or sqlite:///path/to/file.db")
	default:
		return fmt.Errorf("unknown scheme %q: want a file path or sqlite:///path/to/file.db", scheme)
	}
}

// redactURL hides a password in a database URL.
func redactURL(s string) string {
	if !strings.Contains(s, "://") {
		return s
	}
	u, err := url.Parse(s)
	if err != nil {
		return "[unparsable URL]"
	}
	return u.Redacted()
}

// MetricsAccountNames lists the metrics accounts canary stages may name, the default first.
func (c *Config) MetricsAccountNames() []string {
	if c.PrometheusURL == "" {
		return []string{}
	}
	return []string{"prometheus"}
}
