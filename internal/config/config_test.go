package config

import (
	"bytes"
	"errors"
	"flag"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func parse(t *testing.T, env map[string]string, args ...string) *Config {
	t.Helper()
	fs := flag.NewFlagSet("test", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	c := register(fs, func(k string) (string, bool) { v, ok := env[k]; return v, ok })
	if err := fs.Parse(args); err != nil {
		t.Fatalf("parse %v: %v", args, err)
	}
	return c
}

func TestDefaults(t *testing.T) {
	c := parse(t, nil)
	want := Config{
		Temporal: Temporal{
			Address:   "127.0.0.1:7233",
			Namespace: "default",
			UIURL:     "http://localhost:8233",
		},
		TaskQueue:   "gennaker",
		HTTPAddress: ":8080",
		DataDir:     ".gennaker",
		Dev:         Dev{TemporalPort: 7233, UIPort: 8233, LocalKube: true},
		LogLevel:    "info",
	}
	if !equal(*c, want) {
		t.Errorf("defaults:\n got %+v\nwant %+v", *c, want)
	}
	if err := c.Validate(); err != nil {
		t.Errorf("defaults do not validate: %v", err)
	}
	if c.Temporal.TLSEnabled() {
		t.Error("TLS enabled by default")
	}
	if got, want := c.StoreLocation(), filepath.Join(".gennaker", "gennaker.db"); got != want {
		t.Errorf("StoreLocation = %q, want %q", got, want)
	}
	if c.Level() != slog.LevelInfo {
		t.Errorf("Level = %v, want info", c.Level())
	}
}

func TestEnvOverridesDefaults(t *testing.T) {
	env := map[string]string{
		"GENNAKER_TEMPORAL_ADDRESS":         "temporal.example.com:7233",
		"GENNAKER_TEMPORAL_NAMESPACE":       "ci",
		"GENNAKER_TEMPORAL_TLS":             "true",
		"GENNAKER_TEMPORAL_TLS_CERT":        "/c.pem",
		"GENNAKER_TEMPORAL_TLS_KEY":         "/k.pem",
		"GENNAKER_TEMPORAL_TLS_CA":          "/ca.pem",
		"GENNAKER_TEMPORAL_TLS_SERVER_NAME": "temporal.internal",
		"GENNAKER_TEMPORAL_API_KEY":         "secret",
		"GENNAKER_TEMPORAL_UI_URL":          "https://ui.example.com",
		"GENNAKER_TASK_QUEUE":               "tq",
		"GENNAKER_HTTP_ADDRESS":             "127.0.0.1:9090",
		"GENNAKER_DATA_DIR":                 "/var/lib/gennaker",
		"GENNAKER_STORE":                    "sqlite:///tmp/x.db",
		"GENNAKER_DEV_TEMPORAL_PORT":        "17233",
		"GENNAKER_DEV_UI_PORT":              "-1",
		"GENNAKER_DEV_LOCAL_KUBE":           "false",
		"GENNAKER_LOG_LEVEL":                "debug",
	}
	c := parse(t, env)
	want := Config{
		Temporal: Temporal{
			Address:       "temporal.example.com:7233",
			Namespace:     "ci",
			TLS:           true,
			TLSCert:       "/c.pem",
			TLSKey:        "/k.pem",
			TLSCA:         "/ca.pem",
			TLSServerName: "temporal.internal",
			APIKey:        "secret",
			UIURL:         "https://ui.example.com",
		},
		TaskQueue:   "tq",
		HTTPAddress: "127.0.0.1:9090",
		DataDir:     "/var/lib/gennaker",
		Store:       "sqlite:///tmp/x.db",
		Dev:         Dev{TemporalPort: 17233, UIPort: -1, LocalKube: false},
		LogLevel:    "debug",
	}
	if !equal(*c, want) {
		t.Errorf("from env:\n got %+v\nwant %+v", *c, want)
	}
}

func TestEmptyEnvCountsAsUnset(t *testing.T) {
	c := parse(t, map[string]string{"GENNAKER_TEMPORAL_NAMESPACE": "", "GENNAKER_DEV_UI_PORT": ""})
	if c.Temporal.Namespace != DefaultTemporalNamespace || c.Dev.UIPort != DefaultDevUIPort {
		t.Errorf("empty env changed defaults: namespace %q, UI port %d", c.Temporal.Namespace, c.Dev.UIPort)
	}
}

func TestFlagsWinOverEnv(t *testing.T) {
	env := map[string]string{
		"GENNAKER_TEMPORAL_ADDRESS":  "from-env:7233",
		"GENNAKER_TEMPORAL_TLS":      "true",
		"GENNAKER_DEV_TEMPORAL_PORT": "1000",
		"GENNAKER_LOG_LEVEL":         "error",
	}
	c := parse(t, env,
		"--temporal-address", "from-flag:7233",
		"--temporal-tls=false",
		"--dev-temporal-port", "2000",
		"--log-level", "warn",
	)
	if c.Temporal.Address != "from-flag:7233" || c.Temporal.TLS || c.Dev.TemporalPort != 2000 || c.LogLevel != "warn" {
		t.Errorf("flags did not win: %+v", *c)
	}
}

func TestRegisterReadsProcessEnvironment(t *testing.T) {
	t.Setenv("GENNAKER_TASK_QUEUE", "from-process-env")
	fs := flag.NewFlagSet("test", flag.ContinueOnError)
	c := Register(fs)
	if err := fs.Parse(nil); err != nil {
		t.Fatal(err)
	}
	if c.TaskQueue != "from-process-env" {
		t.Errorf("TaskQueue = %q, want it from GENNAKER_TASK_QUEUE", c.TaskQueue)
	}
	var usage bytes.Buffer
	fs.SetOutput(&usage)
	fs.PrintDefaults()
	if !strings.Contains(usage.String(), "GENNAKER_TEMPORAL_API_KEY") {
		t.Errorf("usage does not name the environment variables:\n%s", usage.String())
	}
}

func TestLoad(t *testing.T) {
	fs := flag.NewFlagSet("test", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	c, err := Load(fs, []string{"--task-queue", "q"})
	if err != nil || c.TaskQueue != "q" {
		t.Fatalf("Load = %+v, %v", c, err)
	}

	fs = flag.NewFlagSet("test", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	if _, err := Load(fs, []string{"--log-level", "loud"}); err == nil || !strings.Contains(err.Error(), "--log-level") {
		t.Errorf("Load with a bad level: %v", err)
	}
	fs = flag.NewFlagSet("test", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	if _, err := Load(fs, []string{"--no-such-flag"}); err == nil {
		t.Error("Load accepted an unknown flag")
	}
}

func TestValidateProblems(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "f.pem")
	if err := os.WriteFile(file, []byte("x"), 0o600); err != nil {
		t.Fatal(err)
	}
	missing := filepath.Join(dir, "missing.pem")

	tests := []struct {
		name   string
		env    map[string]string
		args   []string
		wants  []string // substrings, one per expected problem
		passes bool
	}{
		{name: "address without port", args: []string{"--temporal-address", "localhost"}, wants: []string{`--temporal-address "localhost": want host:port`}},
		{name: "address without host", args: []string{"--temporal-address", ":7233"}, wants: []string{"the host is missing"}},
		{name: "address with bad port", args: []string{"--temporal-address", "h:http"}, wants: []string{`port "http" is not a number`}},
		{name: "address with port 0", args: []string{"--temporal-address", "h:0"}, wants: []string{"port 0 cannot be dialled"}},
		{name: "dns scheme address", args: []string{"--temporal-address", "dns:///temporal:7233"}, passes: true},
		{name: "empty namespace", args: []string{"--temporal-namespace", " "}, wants: []string{"--temporal-namespace: must not be empty"}},
		{name: "cert without key", args: []string{"--temporal-tls-cert", file}, wants: []string{"--temporal-tls-cert is set but --temporal-tls-key is not"}},
		{name: "key without cert", args: []string{"--temporal-tls-key", file}, wants: []string{"--temporal-tls-key is set but --temporal-tls-cert is not"}},
		{name: "cert and key", args: []string{"--temporal-tls-cert", file, "--temporal-tls-key", file}, passes: true},
		{name: "unreadable cert", args: []string{"--temporal-tls-cert", missing, "--temporal-tls-key", file}, wants: []string{`--temporal-tls-cert "` + missing + `": cannot read: no such file`}},
		{name: "CA is a directory", args: []string{"--temporal-tls-ca", dir}, wants: []string{"--temporal-tls-ca", "is a directory"}},
		{name: "UI URL without scheme", args: []string{"--temporal-ui-url", "localhost:8233"}, wants: []string{"--temporal-ui-url", "want an http:// or https:// URL"}},
		{name: "UI URL without host", args: []string{"--temporal-ui-url", "http://"}, wants: []string{"the host is missing"}},
		{name: "no UI URL", args: []string{"--temporal-ui-url", ""}, passes: true},
		{name: "empty task queue", args: []string{"--task-queue", ""}, wants: []string{"--task-queue: must not be empty"}},
		{name: "bad HTTP address", args: []string{"--http-address", "8080"}, wants: []string{`--http-address "8080": want host:port`}},
		{name: "HTTP address port out of range", args: []string{"--http-address", ":70000"}, wants: []string{"not a number from 0 to 65535"}},
		{name: "empty data dir", args: []string{"--data-dir", ""}, wants: []string{"--data-dir: must not be empty"}},
		{name: "store file path", args: []string{"--store", "/tmp/pipelines.db"}, passes: true},
		{name: "store sqlite URL", args: []string{"--store", "sqlite:///tmp/pipelines.db"}, passes: true},
		{name: "store relative sqlite URL", args: []string{"--store", "sqlite://pipelines.db"}, wants: []string{"want sqlite:///path/to/file.db"}},
		{name: "store postgres", args: []string{"--store", "postgres://u:pw@db:5432/gennaker"}, wants: []string{"PostgreSQL is not available"}},
		{name: "store unknown scheme", args: []string{"--store", "mysql://db/x"}, wants: []string{"unknown scheme"}},
		{name: "store unknown scheme", args: []string{"--store", "mysql://u:hunter2@db/x"}, wants: []string{`unknown scheme "mysql"`}},
		{name: "dev port out of range", args: []string{"--dev-temporal-port", "-1"}, wants: []string{"--dev-temporal-port -1"}},
		{name: "dev UI port out of range", args: []string{"--dev-ui-port", "-2"}, wants: []string{"--dev-ui-port -2"}},
		{name: "dev ports clash", args: []string{"--dev-temporal-port", "9000", "--dev-ui-port", "9000"}, wants: []string{"both 9000"}},
		{name: "free dev ports", args: []string{"--dev-temporal-port", "0", "--dev-ui-port", "0"}, passes: true},
		{name: "unknown log level", args: []string{"--log-level", "verbose"}, wants: []string{`--log-level "verbose": want debug, info, warn or error`}},
		{name: "log level any case", args: []string{"--log-level", "WARN"}, passes: true},
		{name: "bad bool in env", env: map[string]string{"GENNAKER_TEMPORAL_TLS": "yes please"}, wants: []string{`GENNAKER_TEMPORAL_TLS="yes please": want true or false`}},
		{name: "bad int in env", env: map[string]string{"GENNAKER_DEV_UI_PORT": "eighty"}, wants: []string{`GENNAKER_DEV_UI_PORT="eighty": want a whole number`}},
		{
			name: "every problem at once",
			env:  map[string]string{"GENNAKER_DEV_TEMPORAL_PORT": "x"},
			args: []string{"--temporal-address", "nope", "--temporal-namespace", "", "--temporal-tls-cert", missing, "--log-level", "loud"},
			wants: []string{
				"GENNAKER_DEV_TEMPORAL_PORT",
				"--temporal-address",
				"--temporal-namespace",
				"--temporal-tls-key is not",
				"cannot read",
				"--log-level",
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := parse(t, tt.env, tt.args...).Validate()
			if tt.passes {
				if err != nil {
					t.Fatalf("Validate: %v", err)
				}
				return
			}
			var inv *InvalidError
			if !errors.As(err, &inv) {
				t.Fatalf("Validate = %v, want *InvalidError", err)
			}
			for _, w := range tt.wants {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error does not mention %q:\n%v", w, err)
				}
			}
			if len(tt.wants) > 1 && len(inv.Problems) < len(tt.wants)-1 {
				t.Errorf("got %d problems, want about %d:\n%v", len(inv.Problems), len(tt.wants), err)
			}
			if strings.Contains(err.Error(), "hunter2") {
				t.Errorf("error leaks a password: %v", err)
			}
		})
	}
}

func TestTLSEnabled(t *testing.T) {
	tests := []struct {
		name string
		t    Temporal
		want bool
	}{
		{"nothing", Temporal{}, false},
		{"flag", Temporal{TLS: true}, true},
		{"client cert", Temporal{TLSCert: "c", TLSKey: "k"}, true},
		{"CA only", Temporal{TLSCA: "ca"}, true},
		{"server name only", Temporal{TLSServerName: "n"}, true},
		{"API key", Temporal{APIKey: "k"}, true},
	}
	for _, tt := range tests {
		if got := tt.t.TLSEnabled(); got != tt.want {
			t.Errorf("%s: TLSEnabled = %v, want %v", tt.name, got, tt.want)
		}
	}
}

func TestWorkflowUIURL(t *testing.T) {
	c := parse(t, nil, "--temporal-namespace", "prod", "--temporal-ui-url", "https://ui.example.com/")
	if got, want := c.WorkflowUIURL("", "deploy/shop 1"), "https://ui.example.com/namespaces/prod/workflows/deploy%2Fshop%201"; got != want {
		t.Errorf("WorkflowUIURL = %q, want %q", got, want)
	}
	if got, want := c.WorkflowUIURL("other", "id"), "https://ui.example.com/namespaces/other/workflows/id"; got != want {
		t.Errorf("WorkflowUIURL = %q, want %q", got, want)
	}
	c.Temporal.UIURL = ""
	if got := c.WorkflowUIURL("", "id"); got != "" {
		t.Errorf("WorkflowUIURL without a UI = %q, want empty", got)
	}
}

func TestLogValueHidesSecrets(t *testing.T) {
	c := parse(t, nil, "--temporal-api-key", "sk-live-123", "--store", "postgres://u:hunter2@db/x")
	var out bytes.Buffer
	slog.New(slog.NewTextHandler(&out, nil)).Info("config", "config", c)
	for _, secret := range []string{"sk-live-123", "hunter2"} {
		if strings.Contains(out.String(), secret) {
			t.Errorf("logged config contains %q: %s", secret, out.String())
		}
	}
	if !strings.Contains(out.String(), "taskQueue=gennaker") {
		t.Errorf("logged config lacks fields: %s", out.String())
	}
}

func TestLevel(t *testing.T) {
	for in, want := range map[string]slog.Level{"debug": slog.LevelDebug, "Info": slog.LevelInfo, "warn": slog.LevelWarn, "ERROR": slog.LevelError} {
		c := &Config{LogLevel: in}
		if got := c.Level(); got != want {
			t.Errorf("Level(%q) = %v, want %v", in, got, want)
		}
	}
}

// equal compares the exported fields; envProblems is checked through Validate.
func equal(a, b Config) bool {
	a.envProblems, b.envProblems = nil, nil
	return a.Temporal == b.Temporal && a.TaskQueue == b.TaskQueue && a.HTTPAddress == b.HTTPAddress &&
		a.DataDir == b.DataDir && a.Store == b.Store && a.Dev == b.Dev && a.LogLevel == b.LogLevel
}

func TestAccountsFile(t *testing.T) {
	dir := t.TempDir()
	kubeconfig := filepath.Join(dir, "kubeconfig")
	if err := os.WriteFile(kubeconfig, []byte("apiVersion: v1\nkind: Config\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	write := func(name, body string) string {
		path := filepath.Join(dir, name)
		if err := os.WriteFile(path, []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
		return path
	}
	good := write("good.yaml", "kubernetes:\n  - name: staging\n    kubeconfig: "+kubeconfig+"\n    namespaces: [web, api]\n    defaultNamespace: web\n")
	c, err := Load(flag.NewFlagSet("t", flag.ContinueOnError), []string{"--accounts", good})
	if err != nil {
		t.Fatal(err)
	}
	acct, ok := c.Accounts.KubernetesAccount("staging")
	if !ok || acct.DefaultNamespace != "web" || len(acct.Namespaces) != 2 {
		t.Errorf("account %+v, found %v", acct, ok)
	}

	for _, tt := range []struct{ body, want string }{
		{"kubernetes:\n  - name: a\n  - name: a\n", "named twice"},
		{"kubernetes:\n  - name: b\n    kubeconfig: /nope/kubeconfig\n", "cannot read"},
		{"kubernetes:\n  - name: 'bad name'\n", "bad name"},
		{"kubernetes:\n  - name: c\n    namespaces: [web]\n    defaultNamespace: api\n", "not among"},
		{"kubernetes:\n  - name: d\n    kubeconfg: x\n", "unknown field"},
	} {
		path := write("bad.yaml", tt.body)
		_, err := Load(flag.NewFlagSet("t", flag.ContinueOnError), []string{"--accounts", path})
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("accounts %q: error %v, want %q", tt.body, err, tt.want)
		}
	}
	if _, err := Load(flag.NewFlagSet("t", flag.ContinueOnError), []string{"--accounts", filepath.Join(dir, "missing.yaml")}); err == nil {
		t.Error("a missing accounts file was accepted")
	}
}
