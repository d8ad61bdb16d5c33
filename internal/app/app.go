// Package app composes gennaker's pieces into the processes the binary runs: the all-in-one
// development process, a worker, and the API server.
package app

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"path/filepath"
	"strings"
	"time"

	"go.temporal.io/api/enums/v1"
	"go.temporal.io/sdk/client"
	sdkworker "go.temporal.io/sdk/worker"

	"github.com/gennaker/gennaker/access"
	"github.com/gennaker/gennaker/activities"
	"github.com/gennaker/gennaker/api"
	"github.com/gennaker/gennaker/bake"
	"github.com/gennaker/gennaker/canary/metrics/prometheus"
	"github.com/gennaker/gennaker/canary/sources"
	"github.com/gennaker/gennaker/cloud/aws"
	"github.com/gennaker/gennaker/cloud/kubernetes"
	"github.com/gennaker/gennaker/internal/config"
	"github.com/gennaker/gennaker/internal/devserver"
	"github.com/gennaker/gennaker/internal/localaws"
	"github.com/gennaker/gennaker/internal/localkube"
	"github.com/gennaker/gennaker/internal/localregistry"
	"github.com/gennaker/gennaker/internal/temporalclient"
	"github.com/gennaker/gennaker/launch"
	"github.com/gennaker/gennaker/notify"
	"github.com/gennaker/gennaker/pipeline"
	"github.com/gennaker/gennaker/pubsub/sqs"
	"github.com/gennaker/gennaker/store"
	"github.com/gennaker/gennaker/worker"
	"github.com/gennaker/gennaker/workflows"
)

// Parts says which pieces a process runs.
type Parts struct {
	// EmbeddedTemporal runs Temporal's dev server in the process, with its Web UI.
	EmbeddedTemporal bool
	Worker           bool
	API              bool
}

// Runtime is a running gennaker process; Stop shuts it down in reverse order of start.
type Runtime struct {
	Config   *config.Config
	Temporal *devserver.Server // nil unless EmbeddedTemporal
	// Kube is the local Kubernetes cluster `gennaker dev` runs when no account is configured.
	Kube *localkube.Cluster
	// LocalAWS is the local AWS (moto) `gennaker dev` runs when no AWS account is configured
	// and moto_server is installed.
	LocalAWS *localaws.Server
	// LocalRegistry is the container registry dev started for bakes; nil when a bakery is
	// configured.
	LocalRegistry *localregistry.Registry
	Client        client.Client
	Store         store.Store
	// APIAddress is where the API listens, with the real port when :0 was asked for.
	APIAddress string

	worker  sdkworker.Worker
	httpSrv *http.Server
	served  chan error
	logger  *slog.Logger
	undo    []func()
}

// Start brings up the requested parts. On error everything already started is stopped.
func Start(ctx context.Context, cfg *config.Config, parts Parts, logger *slog.Logger) (rt *Runtime, err error) {
	rt = &Runtime{Config: cfg, logger: logger}
	// Every error return sets rt to nil; what was started is stopped through this copy.
	started := rt
	defer func() {
		if err != nil {
			started.Stop()
		}
	}()

	if parts.EmbeddedTemporal {
		srv, err := devserver.Start(devserver.Options{
			DataDir:          cfg.DataDir,
			Port:             cfg.Dev.TemporalPort,
			UIPort:           cfg.Dev.UIPort,
			Namespace:        cfg.Temporal.Namespace,
			SearchAttributes: workflows.SearchAttributes(),
		})
		if err != nil {
			return nil, fmt.Errorf("starting the embedded Temporal server: %w", err)
		}
		rt.Temporal = srv
		rt.undo = append(rt.undo, srv.Stop)
		cfg.Temporal.Address = srv.FrontendAddress()
		if ui := srv.UIAddress(); ui != "" && cfg.Temporal.UIURL == config.DefaultTemporalUIURL {
			cfg.Temporal.UIURL = ui
		}
		logger.Info("embedded Temporal server started", "frontend", srv.FrontendAddress(), "ui", srv.UIAddress(), "data", cfg.DataDir)
	}

	if parts.EmbeddedTemporal && cfg.Dev.LocalKube && len(cfg.Accounts.Kubernetes) == 0 {
		if err := rt.startLocalKube(ctx); err != nil {
			return nil, err
		}
	}
	if parts.EmbeddedTemporal && len(cfg.Accounts.AWS) == 0 {
		if err := rt.startLocalAWS(ctx); err != nil {
			return nil, err
		}
	}
	if parts.EmbeddedTemporal && cfg.Accounts.Bakery.Docker == nil {
		if err := rt.startLocalRegistry(ctx); err != nil {
			return nil, err
		}
	}
	providers := kubernetes.NewProviders(cfg.Accounts.Kubernetes)
	awsProviders := aws.NewProviders(cfg.Accounts.AWS)

	c, err := temporalclient.Dial(ctx, cfg, logger)
	if err != nil {
		return nil, err
	}
	rt.Client = c
	rt.undo = append(rt.undo, c.Close)

	st, err := store.OpenSQLite(cfg.SQLitePath())
	if err != nil {
		return nil, fmt.Errorf("opening the pipeline store %s: %w", cfg.SQLitePath(), err)
	}
	rt.Store = st
	rt.undo = append(rt.undo, func() { _ = st.Close() })

	launcher := &launch.Launcher{Client: c, Source: st, TaskQueue: cfg.TaskQueue}

	// The API listens before the worker starts, so links in notifications carry its real address.
	var ln net.Listener
	if parts.API {
		ln, err = net.Listen("tcp", cfg.HTTPAddress)
		if err != nil {
			return nil, fmt.Errorf("listening for the API on %s: %w", cfg.HTTPAddress, err)
		}
		rt.APIAddress = ln.Addr().String()
		rt.undo = append(rt.undo, func() { _ = ln.Close() })
	}
	var slackClient *notify.Slack
	if cfg.Slack.BotToken != "" {
		var opts []notify.SlackOption
		if cfg.Slack.APIURL != "" {
			opts = append(opts, notify.WithAPIURL(cfg.Slack.APIURL))
		}
		slackClient = notify.NewSlack(cfg.Slack.BotToken, opts...)
	}
	users, err := access.NewDirectory(cfg.Users)
	if err != nil {
		return nil, fmt.Errorf("reading the users: %w", err)
	}

	if parts.Worker {
		apiBase := cfg.APIBaseURL(rt.APIAddress)
		notifications := &activities.Notifications{
			Publisher:           &notify.Publisher{},
			Endpoints:           cfg.Notifications.EventEndpoints,
			Applications:        cfg.Notifications.Applications,
			DefaultSlackChannel: cfg.Notifications.DefaultSlackChannel,
			ExecutionURL:        func(id string) string { return apiBase + "/api/v1/executions/" + url.PathEscape(id) },
		}
		if slackClient != nil {
			notifications.Slack = slackClient
		}
		if cfg.Temporal.UIURL != "" {
			notifications.TemporalURL = func(id string) string { return cfg.WorkflowUIURL("", id) }
		}
		canaryActs, err := canaryActivities(cfg, st)
		if err != nil {
			return nil, err
		}
		queues := sqs.NewQueues(cfg.Pubsub.Subscriptions)
		w := worker.New(c, cfg.TaskQueue, worker.Dependencies{
			Pipelines:       st,
			Starter:         launcher,
			Downstream:      st,
			Kubernetes:      providers,
			AWS:             awsProviders,
			Notifications:   notifications,
			ContainerBakery: cfg.Accounts.Bakery.Docker,
			Pubsub: &activities.Pubsub{
				Queue: func(ctx context.Context, name string) (activities.MessageQueue, error) {
					q, err := queues.Open(ctx, name)
					if err != nil {
						return nil, err
					}
					return q, nil
				},
				Pipelines: st,
				Starter:   launcher,
			},
			Canary: canaryActs,
		})
		if err := w.Start(); err != nil {
			return nil, fmt.Errorf("starting the worker: %w", err)
		}
		rt.worker = w
		rt.undo = append(rt.undo, w.Stop)
		logger.Info("worker started", "taskQueue", cfg.TaskQueue)
		if err := startPollers(ctx, c, cfg); err != nil {
			return nil, err
		}
	}

	if parts.API {
		srv := &api.Server{
			Store:     st,
			Temporal:  c,
			Namespace: cfg.Temporal.Namespace,
			Launcher:  launcher,
			Schedules: &launch.Schedules{Client: c, TaskQueue: cfg.TaskQueue},
			Logger:    logger,

			KubernetesAccounts: providers.Names(),
			Kubernetes:         providers,
			AWSAccounts:        cfg.Accounts.AWSRegions(),
			AWS:                awsProviders,
			NotificationTypes:  cfg.NotificationTypes(),
			Subscriptions:      cfg.SubscriptionNames(),
			CanarySourceTypes:  sources.Types(),
			MetricsAccounts:    cfg.MetricsAccountNames(),
			Users:              users,
			ContainerBakery:    containerBakeryOptions(cfg.Accounts.Bakery.Docker),
			AWSBakeries:        awsBakeries(cfg.Accounts.AWS),
		}
		if cfg.Slack.SigningSecret != "" {
			srv.Slack = &api.SlackSettings{SigningSecret: cfg.Slack.SigningSecret}
			if slackClient != nil {
				srv.Slack.Users = slackClient
			}
		}
		if cfg.Temporal.UIURL != "" {
			srv.WorkflowURL = func(id string) string { return cfg.WorkflowUIURL("", id) }
		}
		rt.httpSrv = &http.Server{Handler: srv.Handler(), ReadHeaderTimeout: 10 * time.Second}
		rt.served = make(chan error, 1)
		go func() { rt.served <- rt.httpSrv.Serve(ln) }()
		rt.undo = append(rt.undo, func() {
			shutdownCtx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			_ = rt.httpSrv.Shutdown(shutdownCtx)
			// Clicks already answered are still being delivered to their executions.
			srv.Drain()
		})
		logger.Info("API listening", "address", rt.APIAddress)
	}
	return rt, nil
}

// canaryActivities builds the canary analysis activities with the configured metrics accounts.
func canaryActivities(cfg *config.Config, st store.Store) (*activities.Canary, error) {
	acts := &activities.Canary{Configs: st}
	if cfg.PrometheusURL == "" {
		return acts, nil
	}
	promCfg := prometheus.Config{URL: cfg.PrometheusURL}
	if u, err := url.Parse(cfg.PrometheusURL); err == nil && u.User != nil {
		promCfg.Username = u.User.Username()
		promCfg.Password, _ = u.User.Password()
		u.User = nil
		promCfg.URL = u.String()
	}
	src, err := sources.New(sources.TypePrometheus, sources.Config{Prometheus: promCfg})
	if err != nil {
		return nil, fmt.Errorf("the canary's metrics source: %w", err)
	}
	acts.Accounts = []activities.MetricsAccount{{Name: "prometheus", Type: sources.TypePrometheus, Source: src}}
	return acts, nil
}

// startPollers makes sure each configured pubsub subscription has its polling workflow: one per
// subscription, whichever worker starts first, and the running one when it already runs.
func startPollers(ctx context.Context, c client.Client, cfg *config.Config) error {
	for _, sub := range cfg.Pubsub.Subscriptions {
		_, err := c.ExecuteWorkflow(ctx, client.StartWorkflowOptions{
			ID:                       workflows.PubsubSubscriptionID(sub.Name),
			TaskQueue:                cfg.TaskQueue,
			WorkflowIDConflictPolicy: enums.WORKFLOW_ID_CONFLICT_POLICY_USE_EXISTING,
			WorkflowIDReusePolicy:    enums.WORKFLOW_ID_REUSE_POLICY_ALLOW_DUPLICATE,
			StaticSummary:            "polls pubsub subscription " + sub.Name,
		}, workflows.PubsubSubscription, workflows.PubsubSubscriptionInput{Subscription: sub.Name})
		if err != nil {
			return fmt.Errorf("starting the poller of pubsub subscription %q: %w", sub.Name, err)
		}
	}
	return nil
}

// LocalKubeAccount is the account name of the local cluster `gennaker dev` starts.
const LocalKubeAccount = "local"

// startLocalKube starts a local Kubernetes control plane and registers it as account "local". Without
// its binaries gennaker still runs, with no Kubernetes account; `make dev` builds them.
func (rt *Runtime) startLocalKube(ctx context.Context) error {
	dir := filepath.Join(rt.Config.DataDir, "kube")
	if err := localkube.FindBinaries(localkube.DefaultBinDir()); err != nil {
		rt.logger.Warn("no local Kubernetes cluster: its binaries are missing (make kube-tools builds them)", "error", err)
		return nil
	}
	cluster, err := localkube.Start(ctx, localkube.Options{DataDir: dir, Logger: rt.logger})
	if err != nil {
		return fmt.Errorf("starting the local Kubernetes cluster: %w", err)
	}
	rt.Kube = cluster
	rt.undo = append(rt.undo, cluster.Stop)
	rt.Config.Accounts.Kubernetes = append(rt.Config.Accounts.Kubernetes, kubernetes.Account{
		Name:       LocalKubeAccount,
		Kubeconfig: cluster.Kubeconfig(),
	})
	rt.logger.Info("local Kubernetes cluster started", "account", LocalKubeAccount, "kubeconfig", cluster.Kubeconfig())
	return nil
}

// LocalAWSAccount is the account name of the local AWS (moto) `gennaker dev` starts, and
// LocalAWSRegions its regions.
const LocalAWSAccount = "aws-local"

// LocalAWSRegions are the regions of the local AWS, each seeded for a first deploy.
var LocalAWSRegions = []string{"us-east-1", "us-west-2"}

// startLocalAWS starts moto_server, seeds each of LocalAWSRegions with what a first deploy needs
// (localaws.Seed) and registers it as account "aws-local". Without moto_server gennaker still
// runs, with no AWS account, and says how to get it.
func (rt *Runtime) startLocalAWS(ctx context.Context) error {
	srv, err := localaws.Start(ctx)
	if errors.Is(err, localaws.ErrNotInstalled) {
		rt.logger.Warn("no local AWS: moto_server is missing; install it with: pip install 'moto[server]'")
		return nil
	}
	if err != nil {
		return fmt.Errorf("starting the local AWS: %w", err)
	}
	rt.undo = append(rt.undo, srv.Stop)
	acct := aws.Account{Name: LocalAWSAccount, AccountID: localaws.AccountID, Endpoint: srv.URL,
		StaticCredentials: &aws.StaticCredentials{AccessKeyID: localaws.AccessKeyID, SecretAccessKey: localaws.SecretAccessKey},
		// moto runs no script: a bake there makes its image of the base image.
		Bakery: &aws.Bakery{InstanceType: "t3.micro", SubnetType: localaws.SubnetType, BaseImages: []aws.BakeBaseImage{{BaseOS: "debian",
			BaseLabel: "release", Regions: map[string]string{}}}}}
	for _, region := range LocalAWSRegions {
		acct.Bakery.BaseImages[0].Regions[region] = localaws.BakeBaseImage
	}
	for _, region := range LocalAWSRegions {
		if _, err := localaws.Seed(ctx, localaws.Config(srv.URL, region)); err != nil {
			return fmt.Errorf("seeding the local AWS: %w", err)
		}
		acct.Regions = append(acct.Regions, aws.Region{Name: region})
	}
	rt.Config.Accounts.AWS = append(rt.Config.Accounts.AWS, acct)
	rt.LocalAWS = srv
	rt.logger.Info("local AWS (moto) started", "account", LocalAWSAccount, "endpoint", srv.URL, "regions", strings.Join(LocalAWSRegions, ", "))
	return nil
}

// startLocalRegistry serves a local container registry and makes it the container bakery.
func (rt *Runtime) startLocalRegistry(ctx context.Context) error {
	reg, err := localregistry.Start(ctx, filepath.Join(rt.Config.DataDir, "registry"))
	if err != nil {
		return fmt.Errorf("starting the local registry: %w", err)
	}
	rt.undo = append(rt.undo, reg.Stop)
	rt.Config.Accounts.Bakery.Docker = reg.Bakery()
	rt.LocalRegistry = reg
	rt.logger.Info("local registry started", "registry", reg.Host, "baseImage", reg.BaseImage())
	return nil
}

// Wait blocks until ctx ends or the API server fails.
func (rt *Runtime) Wait(ctx context.Context) error {
	select {
	case <-ctx.Done():
		return nil
	case err := <-rt.served:
		if errors.Is(err, http.ErrServerClosed) {
			return nil
		}
		return fmt.Errorf("the API server stopped: %w", err)
	}
}

// Stop shuts everything down, newest first, and can be called more than once.
func (rt *Runtime) Stop() {
	for i := len(rt.undo) - 1; i >= 0; i-- {
		rt.undo[i]()
	}
	rt.undo = nil
}

// containerBakeryOptions describes the container bakery to pipeline validation.
func containerBakeryOptions(b *bake.ContainerBakery) *pipeline.ContainerBakeryOptions {
	if b == nil {
		return &pipeline.ContainerBakeryOptions{}
	}
	return &pipeline.ContainerBakeryOptions{Configured: true, BaseImages: b.Labels()}
}

// awsBakeries describes the AWS accounts' bakeries to pipeline validation.
func awsBakeries(accounts []aws.Account) map[string]pipeline.AWSBakeryOptions {
	out := map[string]pipeline.AWSBakeryOptions{}
	for _, a := range accounts {
		if a.Bakery == nil {
			continue
		}
		o := pipeline.AWSBakeryOptions{BaseImages: map[string][]string{}, Templates: a.Bakery.TemplateNames()}
		for _, b := range a.Bakery.BaseImages {
			o.BaseImages[b.BaseOS] = append(o.BaseImages[b.BaseOS], b.BaseLabel)
		}
		out[a.Name] = o
	}
	return out
}
