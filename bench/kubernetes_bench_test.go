package bench

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"text/tabwriter"
	"time"

	"github.com/oklog/ulid/v2"
	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/client"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/dynamic"
	clientset "k8s.io/client-go/kubernetes"

	"github.com/gennaker/gennaker/activities"
	"github.com/gennaker/gennaker/cloud/kubernetes"
	"github.com/gennaker/gennaker/internal/localkube"
	"github.com/gennaker/gennaker/pipeline"
	"github.com/gennaker/gennaker/worker"
	"github.com/gennaker/gennaker/workflows"
)

// kubeTaskQueue carries the deploy pipelines, on a worker of its own that has the Kubernetes
// account the webhook benchmarks' worker lacks.
const kubeTaskQueue = "bench-kubernetes"

// kubeAccount is the account the deploy stage names: the local cluster.
const kubeAccount = "bench"

// kubeTargetRatio is what gennaker aims for on a deploy: at most 20% slower than kubectl.
const kubeTargetRatio = 1.2

// rolloutTimeout bounds one deploy's rollout on either side.
const rolloutTimeout = 2 * time.Minute

// kubePoll runs the worker's rollout wait at another status polling interval than the product's,
// to see what the interval costs; zero keeps the product's.
var kubePoll = flag.Duration("kubepoll", 0, "poll rollout status at this interval instead of the product's default (an experiment)")

var (
	gvrDeployments = schema.GroupVersionResource{Group: "apps", Version: "v1", Resource: "deployments"}
	gvrConfigMaps  = schema.GroupVersionResource{Version: "v1", Resource: "configmaps"}
)

// BenchmarkKubernetes deploys a ConfigMap and a two-replica Deployment and waits for the rollout,
// as a gennaker deployManifest stage and as the floor, kubectl apply and kubectl rollout status of
// the same objects, on one local Kubernetes control plane. Every deploy changes the image and the
// configuration, so every one is a real rollout.
func BenchmarkKubernetes(b *testing.B) {
	if env == nil {
		b.Skip("the environment starts only under -bench")
	}
	bin := localkube.DefaultBinDir()
	kubectl := filepath.Join(bin, "kubectl")
	if _, err := os.Stat(kubectl); err != nil {
		b.Skipf("%s is missing; run `make kube-tools` to build it: %v", kubectl, err)
	}
	if err := localkube.FindBinaries(bin); err != nil {
		b.Skipf("the Kubernetes control-plane programs are missing; run `make kube-tools` to build them: %v", err)
	}
	// A cluster of its own rather than a shared one: no other benchmark needs it, and this
	// function runs once per -count, so each run starts and stops its own.
	cluster, err := localkube.Start(b.Context(), localkube.Options{DataDir: b.TempDir()})
	if err != nil {
		b.Fatalf("starting the Kubernetes control plane: %v", err)
	}
	b.Cleanup(cluster.Stop)

	k := &kubeEnv{kubectl: kubectl, kubeconfig: cluster.Kubeconfig(), cacheDir: b.TempDir(), manifests: b.TempDir()}
	if k.dyn, err = dynamic.NewForConfig(cluster.RESTConfig()); err != nil {
		b.Fatal(err)
	}
	cs, err := clientset.NewForConfig(cluster.RESTConfig())
	if err != nil {
		b.Fatal(err)
	}
	k.gennakerNS, k.floorNS = "bench-gennaker", "bench-kubectl"
	for _, ns := range []string{k.gennakerNS, k.floorNS} {
		if _, err := cs.CoreV1().Namespaces().Create(b.Context(), &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}, metav1.CreateOptions{}); err != nil {
			b.Fatal(err)
		}
	}

	providers := kubernetes.NewProviders([]kubernetes.Account{{Name: kubeAccount, Kubeconfig: cluster.Kubeconfig()}})
	w := worker.New(env.client, kubeTaskQueue, worker.Dependencies{Kubernetes: providers})
	if *kubePoll > 0 {
		// Registered again under the same names, it replaces the product's rollout wait.
		w.RegisterActivityWithOptions(&activities.Kubernetes{Accounts: providers, PollInterval: *kubePoll},
			activity.RegisterOptions{DisableAlreadyRegisteredCheck: true})
	}
	if err := w.Start(); err != nil {
		b.Fatal(err)
	}
	defer w.Stop()
	k.pipeline = deployPipeline(b, k.gennakerNS)

	b.Run("deployManifest", func(b *testing.B) { k.run(b) })
	printKubeTable(os.Stdout)
}

// kubeEnv is what both sides of the deploy benchmark use.
type kubeEnv struct {
	kubectl, kubeconfig string
	// cacheDir keeps kubectl's discovery cache between runs, as on a machine that deploys often.
	cacheDir string
	// manifests is where the floor's manifest files are written.
	manifests  string
	dyn        dynamic.Interface
	gennakerNS string
	floorNS    string
	pipeline   pipeline.Pipeline
	seq        int
}

// deploySample is one deploy as measured: the caller's wait, when the first object was written
// after the deploy began, and how long after the rollout completed the caller heard so.
type deploySample struct {
	wall, firstWrite, doneLag time.Duration
}

// run deploys b.N pairs back to back, alternating which side goes first so that neither always
// meets a warmer cluster, and reports the medians.
func (k *kubeEnv) run(b *testing.B) {
	ctx := b.Context()
	type kubePair struct{ gennaker, floor deploySample }
	pairs := make([]kubePair, b.N)
	for i := range pairs {
		gennaker := func() { k.seq++; pairs[i].gennaker = k.deployGennaker(ctx, b, k.seq) }
		floor := func() { k.seq++; pairs[i].floor = k.deployKubectl(ctx, b, k.seq) }
		if i%2 == 0 {
			gennaker()
			floor()
		} else {
			floor()
			gennaker()
		}
	}
	b.StopTimer()

	var gSamples, fSamples []deploySample
	var ratios []float64
	for _, p := range pairs {
		gSamples, fSamples = append(gSamples, p.gennaker), append(fSamples, p.floor)
		ratios = append(ratios, float64(p.gennaker.wall)/float64(p.floor.wall))
	}
	r := kubeResult{runs: len(pairs), gennaker: medianSample(gSamples), floor: medianSample(fSamples), ratio: median(ratios), poll: *kubePoll}
	kubeResults.Lock()
	kubeResults.last = &r
	kubeResults.Unlock()

	b.ReportMetric(0, "ns/op")
	b.ReportMetric(ms(r.gennaker.wall), "gennaker-ms/deploy")
	b.ReportMetric(ms(r.floor.wall), "kubectl-ms/deploy")
	b.ReportMetric(r.ratio, "ratio")
	b.ReportMetric(ms(r.gennaker.firstWrite), "gennaker-stage-to-write-ms")
	b.ReportMetric(ms(r.floor.firstWrite), "kubectl-start-to-write-ms")
	b.ReportMetric(ms(r.gennaker.doneLag), "gennaker-rolled-out-to-done-ms")
	b.ReportMetric(ms(r.floor.doneLag), "kubectl-rolled-out-to-done-ms")
}

// medianSample takes the median of each measure on its own.
func medianSample(ss []deploySample) deploySample {
	var wall, firstWrite, doneLag []time.Duration
	for _, s := range ss {
		wall, firstWrite, doneLag = append(wall, s.wall), append(firstWrite, s.firstWrite), append(doneLag, s.doneLag)
	}
	return deploySample{wall: median(wall), firstWrite: median(firstWrite), doneLag: median(doneLag)}
}

// deployPipeline is examples/deploy-web.json in the benchmark's namespace and account: the image
// and the greeting are parameters, so every run rolls out.
func deployPipeline(b *testing.B, namespace string) pipeline.Pipeline {
	b.Helper()
	manifests := webManifests("${parameters.image}", "web-config", "${parameters.greeting}")
	raw, err := json.Marshal(map[string]any{
		"application": "bench",
		"name":        "deploy-web",
		"parameterConfig": []map[string]any{
			{"name": "greeting", "required": true},
			{"name": "image", "required": true},
		},
		"stages": []map[string]any{{
			"refId":             "1",
			"type":              "deployManifest",
			"name":              "Deploy web",
			"account":           kubeAccount,
			"namespaceOverride": namespace,
			"source":            "text",
			"manifests":         manifests,
		}},
	})
	if err != nil {
		b.Fatal(err)
	}
	p, err := pipeline.Decode(raw)
	if err != nil {
		b.Fatal(err)
	}
	if problems := pipeline.Validate(p, pipeline.ValidateOptions{KubernetesAccounts: []string{kubeAccount}}); len(problems) > 0 {
		b.Fatalf("the deploy pipeline is invalid: %v", problems)
	}
	return p
}

// webManifests are the ConfigMap and the Deployment that reads it, as the example deploys them.
func webManifests(image, configName, greeting string) []map[string]any {
	return []map[string]any{
		{
			"apiVersion": "v1",
			"kind":       "ConfigMap",
			"metadata":   map[string]any{"name": configName},
			"data":       map[string]any{"greeting": greeting},
		},
		{
			"apiVersion": "apps/v1",
			"kind":       "Deployment",
			"metadata":   map[string]any{"name": "web"},
			"spec": map[string]any{
				"replicas":                2,
				"progressDeadlineSeconds": 60,
				"selector":                map[string]any{"matchLabels": map[string]any{"app": "web"}},
				"template": map[string]any{
					"metadata": map[string]any{"labels": map[string]any{"app": "web"}},
					"spec": map[string]any{
						"containers": []map[string]any{{
							"name":    "web",
							"image":   image,
							"envFrom": []map[string]any{{"configMapRef": map[string]any{"name": configName}}},
						}},
					},
				},
			},
		},
	}
}

func benchImage(seq int) string { return fmt.Sprintf("registry.test/web:%d", seq) }

// deployGennaker runs the pipeline as the launcher starts it and waits for its result.
func (k *kubeEnv) deployGennaker(ctx context.Context, b *testing.B, seq int) deploySample {
	b.Helper()
	ctx, cancel := context.WithTimeout(ctx, rolloutTimeout)
	defer cancel()
	image := benchImage(seq)
	rec := k.record(ctx, b, k.gennakerNS, image)
	params, problems := pipeline.ResolveParameters(k.pipeline.ParameterConfig, map[string]any{"image": image, "greeting": fmt.Sprintf("hello %d", seq)})
	if len(problems) > 0 {
		b.Fatalf("parameters: %v", problems)
	}
	trig := pipeline.TriggerInfo{Type: pipeline.TriggerManual, User: "bench", Parameters: params}
	began := time.Now()
	run, err := env.client.ExecuteWorkflow(ctx, client.StartWorkflowOptions{
		ID:                    ulid.Make().String(),
		TaskQueue:             kubeTaskQueue,
		TypedSearchAttributes: workflows.StartAttributes(k.pipeline, trig.Type),
	}, workflows.Pipeline, workflows.PipelineInput{Pipeline: k.pipeline, Trigger: trig, BuildTime: began.UnixMilli()})
	if err != nil {
		b.Fatalf("starting gennaker's deploy: %v", err)
	}
	var res workflows.PipelineResult
	if err := run.Get(ctx, &res); err != nil {
		b.Fatalf("gennaker's deploy: %v", err)
	}
	done := time.Now()
	if len(res.Execution.Stages) != 1 || res.Execution.Stages[0].Status != pipeline.StatusSucceeded {
		data, _ := json.Marshal(res.Execution.Stages)
		b.Fatalf("gennaker's deploy of %s did not succeed: %s", image, data)
	}
	stageStart := time.UnixMilli(res.Execution.Stages[0].StartTime)
	firstWrite, rolledOut := rec.wait(b)
	return deploySample{wall: done.Sub(began), firstWrite: firstWrite.Sub(stageStart), doneLag: done.Sub(rolledOut)}
}

// deployKubectl is the floor: kubectl apply of the same objects gennaker writes (the ConfigMap
// under a new name each time, as gennaker versions it, so the Deployment's template changes with
// it), then kubectl rollout status, which watches the Deployment.
func (k *kubeEnv) deployKubectl(ctx context.Context, b *testing.B, seq int) deploySample {
	b.Helper()
	ctx, cancel := context.WithTimeout(ctx, rolloutTimeout)
	defer cancel()
	image := benchImage(seq)
	list := map[string]any{"apiVersion": "v1", "kind": "List", "items": webManifests(image, fmt.Sprintf("web-config-%03d", seq), fmt.Sprintf("hello %d", seq))}
	data, err := json.Marshal(list)
	if err != nil {
		b.Fatal(err)
	}
	file := filepath.Join(k.manifests, fmt.Sprintf("web-%d.json", seq))
	if err := os.WriteFile(file, data, 0o600); err != nil {
		b.Fatal(err)
	}
	rec := k.record(ctx, b, k.floorNS, image)
	began := time.Now()
	k.runKubectl(ctx, b, "apply", "-f", file)
	k.runKubectl(ctx, b, "rollout", "status", "deployment/web", "--timeout", rolloutTimeout.String())
	done := time.Now()
	firstWrite, rolledOut := rec.wait(b)
	return deploySample{wall: done.Sub(began), firstWrite: firstWrite.Sub(began), doneLag: done.Sub(rolledOut)}
}

func (k *kubeEnv) runKubectl(ctx context.Context, b *testing.B, args ...string) {
	b.Helper()
	args = append([]string{"--kubeconfig", k.kubeconfig, "--cache-dir", k.cacheDir, "--namespace", k.floorNS}, args...)
	out, err := exec.CommandContext(ctx, k.kubectl, args...).CombinedOutput()
	if err != nil {
		b.Fatalf("kubectl %s: %v\n%s", strings.Join(args, " "), err, out)
	}
}

// recorder watches a namespace's ConfigMaps and Deployments during one deploy and notes when the
// first object was written and when the Deployment had rolled out the deploy's image. The times
// are when the watch delivered the events, a few milliseconds after the API server took the
// writes, the same for both sides.
type recorder struct {
	image   string
	mu      sync.Mutex
	first   time.Time
	done    time.Time
	doneCh  chan struct{}
	stop    context.CancelFunc
	watches sync.WaitGroup
}

// record starts watching from the namespace's current state, so that objects already there are
// not reported as written.
func (k *kubeEnv) record(ctx context.Context, b *testing.B, namespace, image string) *recorder {
	b.Helper()
	ctx, cancel := context.WithCancel(ctx)
	r := &recorder{image: image, doneCh: make(chan struct{}), stop: cancel}
	for _, gvr := range []schema.GroupVersionResource{gvrConfigMaps, gvrDeployments} {
		res := k.dyn.Resource(gvr).Namespace(namespace)
		list, err := res.List(ctx, metav1.ListOptions{Limit: 1})
		if err != nil {
			b.Fatalf("listing %s in %s: %v", gvr.Resource, namespace, err)
		}
		w, err := res.Watch(ctx, metav1.ListOptions{ResourceVersion: list.GetResourceVersion()})
		if err != nil {
			b.Fatalf("watching %s in %s: %v", gvr.Resource, namespace, err)
		}
		r.watches.Go(func() {
			defer w.Stop()
			for {
				select {
				case <-ctx.Done():
					return
				case ev, ok := <-w.ResultChan():
					if !ok {
						return
					}
					r.observe(ev, time.Now())
				}
			}
		})
	}
	return r
}

func (r *recorder) observe(ev watch.Event, at time.Time) {
	if ev.Type != watch.Added && ev.Type != watch.Modified {
		return
	}
	obj, ok := ev.Object.(*unstructured.Unstructured)
	if !ok {
		return
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.first.IsZero() {
		r.first = at
	}
	if obj.GetKind() != "Deployment" || !r.done.IsZero() {
		return
	}
	containers, _, _ := unstructured.NestedSlice(obj.Object, "spec", "template", "spec", "containers")
	if len(containers) == 0 {
		return
	}
	if c, _ := containers[0].(map[string]any); c["image"] != r.image {
		return
	}
	if kubernetes.RolloutStatus(obj).Done {
		r.done = at
		close(r.doneCh)
	}
}

// wait returns when the first write and the end of the rollout were seen. The side measured has
// already seen the rollout end, so the watch is at most a moment behind.
func (r *recorder) wait(b *testing.B) (first, done time.Time) {
	b.Helper()
	defer r.watches.Wait()
	defer r.stop()
	select {
	case <-r.doneCh:
	case <-time.After(10 * time.Second):
		b.Fatalf("the watch never saw %s rolled out", r.image)
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.first, r.done
}

// kubeResult is the deploy benchmark as the summary shows it.
type kubeResult struct {
	runs            int
	gennaker, floor deploySample
	ratio           float64
	poll            time.Duration
}

// kubeResults holds the last measurement; the warm-up run comes first and is replaced.
var kubeResults struct {
	sync.Mutex
	last *kubeResult
}

// printKubeTable writes the deploy benchmark's summary a person reads after `make bench`.
func printKubeTable(out io.Writer) {
	kubeResults.Lock()
	defer kubeResults.Unlock()
	r := kubeResults.last
	if r == nil {
		return
	}
	poll := "the product's interval"
	if r.poll > 0 {
		poll = fmt.Sprintf("%s (-kubepoll)", r.poll)
	}
	fmt.Fprintf(out, "\ngennaker's deployManifest stage against kubectl apply + kubectl rollout status of the same\n")
	fmt.Fprintf(out, "ConfigMap and 2-replica Deployment, a new image each time, on one local control plane;\n")
	fmt.Fprintf(out, "gennaker polls the rollout status at %s.\n\n", poll)
	tw := tabwriter.NewWriter(out, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "side\truns\tms/deploy\tto first write ms\trolled out to done ms\t")
	fmt.Fprintf(tw, "gennaker\t%d\t%.1f\t%.1f\t%.1f\t\n", r.runs, ms(r.gennaker.wall), ms(r.gennaker.firstWrite), ms(r.gennaker.doneLag))
	fmt.Fprintf(tw, "kubectl\t%d\t%.1f\t%.1f\t%.1f\t\n", r.runs, ms(r.floor.wall), ms(r.floor.firstWrite), ms(r.floor.doneLag))
	_ = tw.Flush()
	mark := ""
	if r.ratio > kubeTargetRatio {
		mark = " *"
	}
	fmt.Fprintf(out, `
  ratio %.2f%s (gennaker / kubectl, median over pairs run back to back; target %.1f or less)
  ms/deploy              start to result: the execution, or both kubectl commands; medians
  to first write         gennaker: from the stage's start; kubectl: from starting kubectl apply
  rolled out to done     from the watch seeing the Deployment rolled out to the caller hearing so

`, r.ratio, mark, kubeTargetRatio)
}
