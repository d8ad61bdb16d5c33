// Package localkube runs a real Kubernetes control plane on this machine for `gennaker dev` and the
// tests: etcd, kube-apiserver, kube-controller-manager and kube-scheduler as child processes on
// loopback ports, and kwok playing the kubelet for fake nodes, so that pods get scheduled, become
// Running and Ready, Deployments roll out and Jobs complete, with no container ever run. The
// programs are built from pinned Go modules by `make kube-tools` into bin/.
//
// Start brings the cluster up in DataDir (etcd data, certificates, keys, logs/ and the admin
// kubeconfig) and returns once its nodes are Ready. Starting again on the same DataDir keeps every
// object; only the ports change, and the kubeconfig is rewritten.
//
// # Failure injection
//
// A pod misbehaves on purpose when it carries the label gennaker.io/chaos (ChaosLabel; put it on a
// Deployment's or Job's pod template), or when one of its container images contains ":fail" or
// ":never-ready"; the label wins over the images:
//
//   - gennaker.io/chaos=fail, or an image such as "app:fail": its containers exit with code 1. A pod
//     that is not restarted (restartPolicy Never or OnFailure, as in a Job) ends in phase Failed
//     with every container terminated; a pod that would be restarted (restartPolicy Always, as in a
//     Deployment) keeps running in CrashLoopBackOff and is never Ready.
//   - gennaker.io/chaos=never-ready, or an image such as "app:never-ready": the pod runs, its
//     containers start, and it never becomes Ready; a Job's pod never completes.
//
// kwok's stages for such pods are written here; kwok's own pod-ready and pod-complete stages are
// narrowed so that they never pick a chaos pod up.
//
// # Pod logs
//
// kwok also plays the kubelet's server, on a loopback port every fake node advertises as its
// kubelet endpoint, so the API server's pod log endpoint (kubectl logs, client-go's GetLogs) works.
// No container runs, so a pod logs nothing until a test says what it prints: Cluster.SetPodLogs
// writes the text to a file under DataDir and points kwok's ClusterLogs resource at it. A pod
// nobody set logs for has none, and reading them fails with "no logs found for container".
package localkube

import (
	"bufio"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/gennaker/gennaker/internal/freeport"
)

// BinDirEnv names the environment variable that points at the folder holding the programs when
// Options.BinDir is empty.
const BinDirEnv = "GENNAKER_KUBE_BIN"

// Binaries are the programs Start runs, by file name in the binaries' folder.
var Binaries = []string{"etcd", "kube-apiserver", "kube-controller-manager", "kube-scheduler", "kwok"}

// ErrMissingBinaries is returned (wrapped) when a program or stage file is not where Start looks.
var ErrMissingBinaries = errors.New("localkube: control-plane programs missing")

// DefaultNodes is how many fake nodes a cluster gets when Options.Nodes is 0.
const DefaultNodes = 2

// startupTimeout caps Start when its context has no earlier deadline; a cold start on a busy
// two-core machine takes well under a minute.
const startupTimeout = 3 * time.Minute

// Options configures a cluster.
type Options struct {
	// BinDir holds the programs and StagesDir; default: DefaultBinDir().
	BinDir string
	// DataDir holds etcd's data, certificates, keys, logs/ and the kubeconfig; required.
	DataDir string
	// Nodes is how many fake nodes to run; default DefaultNodes. Nodes from an earlier start are kept.
	Nodes int
	// Logger receives progress at debug level and problems at warn and error; default: warnings
	// to stderr.
	Logger *slog.Logger
}

// Cluster is a running control plane with its fake nodes.
type Cluster struct {
	opts       Options
	logger     *slog.Logger
	procs      []*process // in start order
	kubeconfig string
	config     *rest.Config
	kwokPort   int // kwok's kubelet server, on loopback
	stopOnce   sync.Once
}

// Start runs the control plane and returns once every node is Ready. The programs keep running
// after ctx ends, until Stop; ctx bounds only the start. On error everything started is stopped
// and the error carries the end of the failing program's log.
func Start(ctx context.Context, opts Options) (*Cluster, error) {
	opts, err := withDefaults(opts)
	if err != nil {
		return nil, err
	}
	if err := FindBinaries(opts.BinDir); err != nil {
		return nil, err
	}
	for _, dir := range []string{opts.DataDir, filepath.Join(opts.DataDir, "logs"), filepath.Join(opts.DataDir, certDir)} {
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return nil, fmt.Errorf("localkube: create %s: %w", dir, err)
		}
	}
	ctx, cancel := context.WithTimeout(ctx, startupTimeout)
	defer cancel()

	for attempt := 1; ; attempt++ {
		c := &Cluster{opts: opts, logger: opts.Logger, kubeconfig: filepath.Join(opts.DataDir, kubeconfigFile)}
		if err = c.start(ctx); err == nil {
			return c, nil
		}
		c.Stop()
		// The ports are reserved until the programs serve (see start), but a process that binds a
		// port by its number can still take one first, and the program that wanted it exits. A
		// new start picks new ports.
		if !errors.Is(err, errExited) || attempt == startAttempts || ctx.Err() != nil {
			return nil, err
		}
		opts.Logger.Warn("localkube: a program exited while starting; starting again on other ports", "attempt", attempt, "error", err)
	}
}

// startAttempts bounds the starts tried when a program exits while the cluster starts.
const startAttempts = 3

// errExited marks a program of the cluster that exited while it started.
var errExited = errors.New("exited")

// Kubeconfig is the path of a kubeconfig (DataDir/kubeconfig) with the admin token, for kubectl
// and for clients outside this process.
func (c *Cluster) Kubeconfig() string { return c.kubeconfig }

// RESTConfig is a client-go config for the admin user; each call returns a fresh copy.
func (c *Cluster) RESTConfig() *rest.Config { return rest.CopyConfig(c.config) }

// Stop ends every program, newest first, each with SIGTERM and, if it lingers, SIGKILL. Calling
// it again does nothing. DataDir is kept for the next Start.
func (c *Cluster) Stop() {
	c.stopOnce.Do(func() {
		for i := len(c.procs) - 1; i >= 0; i-- {
			c.procs[i].stop()
		}
		c.logger.Debug("localkube: stopped", "dataDir", c.opts.DataDir)
	})
}

// FindBinaries checks that binDir holds every program and stage file Start needs.
func FindBinaries(binDir string) error {
	var missing []string
	for _, name := range Binaries {
		info, err := os.Stat(filepath.Join(binDir, name))
		if err != nil || !info.Mode().IsRegular() || info.Mode().Perm()&0o111 == 0 {
			missing = append(missing, name)
		}
	}
	for _, name := range stageFiles() {
		if _, err := os.Stat(filepath.Join(binDir, StagesDir, name)); err != nil {
			missing = append(missing, filepath.Join(StagesDir, name))
		}
	}
	if len(missing) > 0 {
		return fmt.Errorf("%w from %s: %s; run `make kube-tools` (or point %s at a folder that has them)",
			ErrMissingBinaries, binDir, strings.Join(missing, ", "), BinDirEnv)
	}
	return nil
}

// DefaultBinDir is where Start looks for the programs when Options.BinDir is empty: $GENNAKER_KUBE_BIN
// if set; else the running executable's folder if it holds kube-apiserver (a gennaker built by
// `make build` sits beside them in bin/); else bin/ at the root of the gennaker source tree that
// holds the working directory (where `go test` runs).
func DefaultBinDir() string {
	if dir := os.Getenv(BinDirEnv); dir != "" {
		return dir
	}
	if exe, err := os.Executable(); err == nil {
		dir := filepath.Dir(exe)
		if _, err := os.Stat(filepath.Join(dir, "kube-apiserver")); err == nil {
			return dir
		}
	}
	wd, err := os.Getwd()
	if err != nil {
		return "bin"
	}
	for dir := wd; ; {
		if isGennakerRoot(dir) {
			return filepath.Join(dir, "bin")
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return filepath.Join(wd, "bin")
		}
		dir = parent
	}
}

// isGennakerRoot reports whether dir holds the go.mod of gennaker's main module.
func isGennakerRoot(dir string) bool {
	f, err := os.Open(filepath.Join(dir, "go.mod"))
	if err != nil {
		return false
	}
	defer f.Close()
	scanner := bufio.NewScanner(f)
	for scanner.Scan() {
		if line := strings.TrimSpace(scanner.Text()); strings.HasPrefix(line, "module ") {
			return strings.TrimSpace(strings.TrimPrefix(line, "module ")) == "github.com/gennaker/gennaker"
		}
	}
	return false
}

func withDefaults(opts Options) (Options, error) {
	if opts.DataDir == "" {
		return opts, errors.New("localkube: Options.DataDir is required")
	}
	dataDir, err := filepath.Abs(opts.DataDir)
	if err != nil {
		return opts, fmt.Errorf("localkube: data dir: %w", err)
	}
	opts.DataDir = dataDir
	if opts.BinDir == "" {
		opts.BinDir = DefaultBinDir()
	}
	if opts.BinDir, err = filepath.Abs(opts.BinDir); err != nil {
		return opts, fmt.Errorf("localkube: bin dir: %w", err)
	}
	if opts.Nodes < 0 {
		return opts, fmt.Errorf("localkube: Options.Nodes is %d", opts.Nodes)
	}
	if opts.Nodes == 0 {
		opts.Nodes = DefaultNodes
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	}
	return opts, nil
}

// ports of one run; every start picks free ones.
type ports struct {
	etcdClient, etcdPeer, apiserver, controllerManager, scheduler, kwok int
}

// start runs each program in dependency order and waits for it to serve before the next.
func (c *Cluster) start(ctx context.Context) error {
	token, err := ensureToken(c.opts.DataDir)
	if err != nil {
		return err
	}
	saKey, err := ensureServiceAccountKey(c.opts.DataDir)
	if err != nil {
		return err
	}
	// The programs must be told their ports, and kube-apiserver, the controller manager and the
	// scheduler cannot bind port 0; each port stays reserved until the cluster serves, so that no
	// other process is handed it before its program binds it.
	free, err := freeport.ReserveN(6)
	if err != nil {
		return fmt.Errorf("localkube: reserve ports: %w", err)
	}
	defer freeport.ReleaseAll(free)
	p := ports{etcdClient: free[0].Port, etcdPeer: free[1].Port, apiserver: free[2].Port, controllerManager: free[3].Port, scheduler: free[4].Port, kwok: free[5].Port}
	c.kwokPort = p.kwok
	certs := filepath.Join(c.opts.DataDir, certDir)
	apiserverURL := "https://" + hostPort(p.apiserver)

	etcd, err := c.run("etcd", c.etcdArgs(p))
	if err != nil {
		return err
	}
	if err := waitServing(ctx, etcd, func(ctx context.Context) error {
		return httpOK(ctx, http.DefaultClient, "http://"+hostPort(p.etcdClient)+"/health")
	}); err != nil {
		return err
	}
	c.logger.Debug("localkube: etcd serving", "port", p.etcdClient)

	apiserver, err := c.run("kube-apiserver", c.apiserverArgs(p, saKey))
	if err != nil {
		return err
	}
	// The API server writes its self-signed certificate early in its start; the kubeconfig that
	// trusts it can be written only then.
	if err := waitServing(ctx, apiserver, func(ctx context.Context) error {
		if err := writeKubeconfig(c.kubeconfig, apiserverURL, filepath.Join(certs, apiserverCert), token); err != nil {
			return err
		}
		cfg, err := clientcmd.BuildConfigFromFlags("", c.kubeconfig)
		if err != nil {
			return err
		}
		cfg.QPS, cfg.Burst = 50, 100
		cs, err := kubernetes.NewForConfig(cfg)
		if err != nil {
			return err
		}
		if _, err := cs.Discovery().RESTClient().Get().AbsPath("/readyz").DoRaw(ctx); err != nil {
			return err
		}
		c.config = cfg
		return nil
	}); err != nil {
		return err
	}
	c.logger.Debug("localkube: kube-apiserver serving", "url", apiserverURL)

	controllerManager, err := c.run("kube-controller-manager", c.controllerManagerArgs(p, saKey))
	if err != nil {
		return err
	}
	scheduler, err := c.run("kube-scheduler", c.schedulerArgs(p))
	if err != nil {
		return err
	}
	for _, s := range []struct {
		proc *process
		port int
	}{{controllerManager, p.controllerManager}, {scheduler, p.scheduler}} {
		if err := waitServing(ctx, s.proc, func(ctx context.Context) error {
			return httpOK(ctx, selfSignedClient, "https://"+hostPort(s.port)+"/healthz")
		}); err != nil {
			return err
		}
	}
	c.logger.Debug("localkube: controller manager and scheduler serving")

	dyn, err := dynamic.NewForConfig(c.config)
	if err != nil {
		return fmt.Errorf("localkube: dynamic client: %w", err)
	}
	// kwok's CRDs and stages go in before kwok starts, so its first list finds them all.
	if err := applyStages(ctx, dyn, filepath.Join(c.opts.BinDir, StagesDir)); err != nil {
		return err
	}

	cs, err := kubernetes.NewForConfig(c.config)
	if err != nil {
		return fmt.Errorf("localkube: client: %w", err)
	}
	if err := releaseNodeLeases(ctx, cs); err != nil {
		return err
	}

	kwokHome := filepath.Join(c.opts.DataDir, "kwok")
	if err := os.MkdirAll(kwokHome, 0o755); err != nil {
		return fmt.Errorf("localkube: create %s: %w", kwokHome, err)
	}
	kwokStarted := time.Now()
	// kwok always reads ~/.kwok/kwok.yaml when it exists; its own HOME keeps a user's file out.
	kwok, err := c.run("kwok", c.kwokArgs(p), "HOME="+kwokHome)
	if err != nil {
		return err
	}

	if err := ensureNodes(ctx, cs, c.opts.Nodes, p.kwok); err != nil {
		return withTail(err, kwok, controllerManager)
	}
	kwokAlive := func() error {
		if done, err := kwok.exited(); done {
			return fmt.Errorf("localkube: kwok %w: %v", errExited, err)
		}
		return nil
	}
	if err := waitNodesReady(ctx, cs, kwokStarted, kwokAlive); err != nil {
		return withTail(err, kwok, controllerManager)
	}
	// kwok starts its server after its controllers; pod logs are served only from then on.
	if err := waitServing(ctx, kwok, func(ctx context.Context) error {
		return httpOK(ctx, http.DefaultClient, "http://"+hostPort(p.kwok)+"/healthz")
	}); err != nil {
		return err
	}
	if err := waitDefaultServiceAccount(ctx, cs); err != nil {
		return withTail(err, controllerManager)
	}
	for _, proc := range c.procs {
		if done, err := proc.exited(); done {
			return withTail(fmt.Errorf("localkube: %s %w: %v", proc.name, errExited, err), proc)
		}
	}
	c.logger.Info("localkube: Kubernetes control plane ready", "server", apiserverURL, "kubeconfig", c.kubeconfig, "nodes", c.opts.Nodes)
	return nil
}

// run starts one program from BinDir with its log in DataDir/logs, and keeps it for Stop.
func (c *Cluster) run(name string, args []string, env ...string) (*process, error) {
	proc, err := startProcess(name, filepath.Join(c.opts.BinDir, name), args, env, filepath.Join(c.opts.DataDir, "logs"), c.logger)
	if err != nil {
		return nil, err
	}
	c.procs = append(c.procs, proc)
	return proc, nil
}

func (c *Cluster) etcdArgs(p ports) []string {
	client := "http://" + hostPort(p.etcdClient)
	peer := "http://" + hostPort(p.etcdPeer)
	return []string{
		"--name=localkube",
		"--data-dir=" + filepath.Join(c.opts.DataDir, "etcd"),
		"--listen-client-urls=" + client,
		"--advertise-client-urls=" + client,
		"--listen-peer-urls=" + peer,
		"--initial-advertise-peer-urls=" + peer,
		"--initial-cluster=localkube=" + peer,
		"--auto-compaction-retention=1",
		// Written data survives the process being killed (it is in the page cache); only a machine
		// crash can lose the last writes, which a throwaway cluster can afford for much faster writes.
		"--unsafe-no-fsync",
		"--log-level=warn",
	}
}

func (c *Cluster) apiserverArgs(p ports, saKey string) []string {
	return []string{
		"--etcd-servers=http://" + hostPort(p.etcdClient),
		"--bind-address=127.0.0.1",
		"--advertise-address=127.0.0.1",
		"--secure-port=" + strconv.Itoa(p.apiserver),
		"--cert-dir=" + filepath.Join(c.opts.DataDir, certDir),
		"--token-auth-file=" + filepath.Join(c.opts.DataDir, tokenFile),
		"--authorization-mode=RBAC",
		"--service-account-issuer=https://kubernetes.default.svc.cluster.local",
		"--service-account-key-file=" + saKey,
		"--service-account-signing-key-file=" + saKey,
		"--service-cluster-ip-range=10.96.0.0/16",
		"--allow-privileged=true",
		// Fake nodes are reached at their InternalIP, the loopback address of kwok's kubelet
		// server; their Hostname address names no host. kwok serves a certificate it makes up,
		// which the API server accepts because it is given no kubelet certificate authority.
		"--kubelet-preferred-address-types=InternalIP",
		"--profiling=false",
	}
}

// componentArgs are the flags the controller manager and the scheduler share: the admin
// kubeconfig for everything, a loopback serving port and a certificate directory of their own.
func (c *Cluster) componentArgs(name string, port int) []string {
	return []string{
		"--kubeconfig=" + c.kubeconfig,
		"--authentication-kubeconfig=" + c.kubeconfig,
		"--authorization-kubeconfig=" + c.kubeconfig,
		// Clients authenticate with tokens only; there is no client CA to look up.
		"--authentication-skip-lookup",
		"--bind-address=127.0.0.1",
		"--secure-port=" + strconv.Itoa(port),
		"--cert-dir=" + filepath.Join(c.opts.DataDir, certDir, name),
	}
}

func (c *Cluster) controllerManagerArgs(p ports, saKey string) []string {
	return append(c.componentArgs("kube-controller-manager", p.controllerManager),
		// Every controller, nodelifecycle above all: it lifts the not-ready taint a new node is
		// created with, without which no pod is ever scheduled.
		"--controllers=*",
		"--leader-elect=false",
		"--use-service-account-credentials=false",
		"--service-account-private-key-file="+saKey,
		"--root-ca-file="+filepath.Join(c.opts.DataDir, certDir, apiserverCert),
		"--cluster-name="+contextName,
		// kwok renews each node's lease every 10s; a minute without one rides out a busy machine.
		"--node-monitor-period=5s",
		"--node-monitor-grace-period=60s",
		"--kube-api-qps=100",
		"--kube-api-burst=200",
		"--profiling=false",
	)
}

func (c *Cluster) schedulerArgs(p ports) []string {
	return append(c.componentArgs("kube-scheduler", p.scheduler),
		"--leader-elect=false",
		"--profiling=false",
	)
}

func (c *Cluster) kwokArgs(p ports) []string {
	return []string{
		"--kubeconfig=" + c.kubeconfig,
		"--manage-all-nodes=false",
		"--manage-nodes-with-annotation-selector=" + kwokNodeAnnotation + "=" + kwokNodeAnnotationValue,
		"--enable-crds=Stage,Logs,ClusterLogs",
		// The kubelet server for every node: pod logs. A node kwok initializes advertises this
		// address and port (ensureNodes writes them too, for nodes that are Ready already).
		"--server-address=" + hostPort(p.kwok),
		"--node-ip=" + nodeIP,
		"--node-port=" + strconv.Itoa(p.kwok),
		"--node-lease-duration-seconds=40",
		// Room for many pods; kwok's default hands out the 254 addresses of a /24 only.
		"--cidr=10.244.0.0/16",
	}
}

// waitServing polls check until it succeeds, failing early when the process exits. Errors carry
// the end of the process's log.
func waitServing(ctx context.Context, proc *process, check func(context.Context) error) error {
	var last error
	for {
		if done, err := proc.exited(); done {
			// Most often a port someone else bound by its number: the start is tried again on
			// other ports.
			return withTail(fmt.Errorf("localkube: %s %w: %v", proc.name, errExited, err), proc)
		}
		attempt, cancel := context.WithTimeout(ctx, 2*time.Second)
		last = check(attempt)
		cancel()
		if last == nil {
			return nil
		}
		select {
		case <-ctx.Done():
			return withTail(fmt.Errorf("localkube: %s did not start: %w (last: %v)", proc.name, ctx.Err(), last), proc)
		case <-time.After(200 * time.Millisecond):
		}
	}
}

// withTail adds the ends of the given programs' logs to err.
func withTail(err error, procs ...*process) error {
	var b strings.Builder
	for _, p := range procs {
		fmt.Fprintf(&b, "\n--- end of %s ---\n%s", p.logPath, p.tail())
	}
	return fmt.Errorf("%w%s", err, b.String())
}

// selfSignedClient checks the health of the controller manager and the scheduler, which serve
// with certificates they sign themselves on loopback ports this process chose.
var selfSignedClient = &http.Client{Transport: &http.Transport{
	TLSClientConfig: &tls.Config{InsecureSkipVerify: true},
}}

func httpOK(ctx context.Context, client *http.Client, url string) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return err
	}
	resp, err := client.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("%s: %s: %s", url, resp.Status, strings.TrimSpace(string(body)))
	}
	return nil
}

func hostPort(port int) string { return net.JoinHostPort("127.0.0.1", strconv.Itoa(port)) }
