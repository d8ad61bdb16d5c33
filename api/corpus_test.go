package api_test

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/gennaker/gennaker/api"
	"github.com/gennaker/gennaker/pipeline"
	"github.com/gennaker/gennaker/store"
)

// corpusDir holds pipelines Spinnaker users wrote, found in public repositories (its
// PROVENANCE.md says where each comes from). They are read where they are, never copied here.
const corpusDir = "../../shared/corpus/spinnaker-pipelines"

// Why a pipeline of the corpus is refused: gennaker does not offer something it uses, or the file
// has a mistake that Spinnaker would trip over too.
const (
	notOffered = "uses what gennaker does not offer"
	mistake    = "has a mistake of its own"
)

// corpusOutcome is how saving one pipeline of the corpus ends: accepted (no problems) with its
// warnings, or refused with exactly these problems (each given by its start), and why.
type corpusOutcome struct {
	problems []string
	warnings int
	why      string
}

func accepted(warnings int) corpusOutcome { return corpusOutcome{warnings: warnings} }

func refused(why string, problems ...string) corpusOutcome {
	return corpusOutcome{problems: problems, why: why}
}

// bakeOn is a bake for a cloud provider other than docker and aws.
func bakeOn(path, provider string) string {
	return path + `.cloudProviderType: bake on "` + provider + `" is not offered`
}

func unknownStage(path, typ string) string {
	return path + `.type: unknown stage type "` + typ + `"`
}

const googlePubsub = `.pubsubSystem: unknown pubsub system "google"; gennaker polls "amazon"`

// notOn is a stage of a type gennaker runs on AWS only, written for another cloud provider.
func notOn(path, typ, provider string) string {
	return path + `.cloudProvider: ` + typ + ` on cloud provider "` + provider + `" is not offered`
}

// deployNotOn is a deploy stage's cluster for a cloud provider gennaker does not deploy clusters to.
func deployNotOn(path, key, provider string) string {
	return path + "." + key + ": deploying clusters to " + provider + " "
}

// corpusOutcomes holds, for every file of the corpus, how its save ends and why. Warnings name
// pipelines and canary configs the file refers to that are not saved (they belong to the same
// Spinnaker installation); a save goes through with them.
var corpusOutcomes = map[string]corpusOutcome{
	"001-kayenta-simple-deploy.json":             accepted(0),
	"002-kayenta-canary-deploy.json":             accepted(2),
	"003-kayenta-automated-canary.json":          accepted(3),
	"004-bluegreen.json":                         accepted(0),
	"005-codelab-deploy-to-staging.json":         refused(notOffered, "triggers[0]"+googlePubsub, "triggers[1]"+googlePubsub),
	"006-codelab-deploy-simple-canary.json":      accepted(1),
	"007-codelab-promote-canary.json":            accepted(1),
	"008-deck-k8s-bake-and-deploy-manifest.json": refused(notOffered, unknownStage("stages[1]", "bakeManifest")),
	"009-deck-k8s-deployment.json":               accepted(0),
	"010-deck-gce-resize-up.json":                refused(notOffered, notOn("stages[0]", "resizeServerGroup", "gce")),
	"011-deck-gce-clone.json": refused(notOffered, deployNotOn("stages[0].clusters[0]", "cloudProvider", "gce"),
		notOn("stages[1]", "findImage", "gce"), deployNotOn("stages[2].clusters[0]", "cloudProvider", "gce")),
	"012-deck-gce-bake-deploy.json": refused(notOffered, bakeOn("stages[0]", "gce"), deployNotOn("stages[1].clusters[0]", "cloudProvider", "gce"),
		notOn("stages[2]", "disableServerGroup", "gce")),
	"013-deck-gce-kayenta-shorter-lifetimes.json": refused(notOffered, notOn("stages[1]", "findImage", "gce"),
		notOn("stages[2]", "cloneServerGroup", "gce")),
	"014-deck-gce-empty-stages.json":           accepted(0),
	"015-deck-webhook-artifacts.json":          accepted(0),
	"016-deck-gce-load-balancers.json":         refused(notOffered, unknownStage("stages[0]", "upsertLoadBalancers")),
	"017-deck-ecs-demo.json":                   refused(notOffered, deployNotOn("stages[0].clusters[0]", "cloudProvider", "ecs")),
	"018-deck-appengine-deploy-container.json": refused(notOffered, deployNotOn("stages[0].clusters[0]", "cloudProvider", "appengine")),
	"019-deck-appengine-pubsub-trigger.json":   refused(notOffered, "triggers[0]"+googlePubsub),
	"020-deck-cf-bake-manifest.json":           refused(notOffered, unknownStage("stages[0]", "bakeCloudFoundryManifest")),
	"021-deck-simple-wait.json":                accepted(0),
	"022-orca-aws-bake-deploy.json":            refused(notOffered, `notifications[0].type: unknown notification type "email"`),
	"023-orca-mpt-partials-jenkins.json":       refused(notOffered, unknownStage("stages[1]", "jenkins"), unknownStage("stages[2]", "jenkins")),
	"024-orca-mpt-find-image-deploy.json":      accepted(1),
	"025-orca-mpt-depends-on.json":             accepted(0),
	"026-orca-mpt-stage-injection.json":        accepted(0),
	"027-spin-cli-save-test.json":              accepted(0),
	"028-gcp-istio-canary-deploy.json":         accepted(8),
	"029-gcp-istio-trigger.json":               accepted(2),
	"030-gcp-istio-prod-deploy.json":           accepted(0),
	"031-gcp-istio-canary-failed.json":         accepted(0),
	"032-gcp-helloworld-deploy-staging.json":   refused(notOffered, "triggers[0]"+googlePubsub),
	"033-gcp-helloworld-deploy-prod.json":      refused(notOffered, `notifications[0].type: unknown notification type "pubsub"`),
	"034-gke-tutorial-deploy.json":             refused(notOffered, "triggers[0]"+googlePubsub),
	"035-gke-tutorial-multicluster.json":       refused(notOffered, "triggers[0]"+googlePubsub),
	// Spinnaker's first Kubernetes provider deployed with "deploy"; the repository is a placeholder
	// the tutorial asks to replace, which no registry would have.
	"036-gke-tutorial-v1-deploy.json": refused(notOffered+"; "+mistake, `triggers[0].repository: "PROJECT/sample-app" is not a repository`,
		deployNotOn("stages[0].clusters[0]", "cloudProvider", "kubernetes"), deployNotOn("stages[1].clusters[0]", "cloudProvider", "kubernetes"),
		deployNotOn("stages[3].clusters[0]", "cloudProvider", "kubernetes"), deployNotOn("stages[4].clusters[0]", "cloudProvider", "kubernetes")),
	"037-armory-demo-aws-bake-deploy.json": refused(notOffered, `stages[0].templateFileName: the bakery of AWS account "`+corpusAccount+`" has no template "aws-ebs-extra.json"`),
	"038-armory-demo-terraform.json": refused(notOffered, unknownStage("stages[1]", "terraform"), unknownStage("stages[3]", "terraform"),
		unknownStage("stages[5]", "terraform"), unknownStage("stages[7]", "terraform")),
	"039-armory-demo-rollback-full.json":    accepted(2),
	"040-armory-demo-rollback-backend.json": accepted(0),
	"041-armory-demo-bluegreen.json":        accepted(0),
	"042-armory-demo-manual-canary.json":    accepted(0),
	"043-armory-se-canary.json":             accepted(1),
	"044-dinghy-deploy-to-all.json":         accepted(0),
	"045-dinghy-jenkins-trigger.json":       refused(notOffered, unknownStage("stages[4]", "jenkins")),
	"046-dinghy-invoicing.json":             accepted(0),
	"047-dinghy-judgment-only.json":         accepted(0),
	"048-nginx-bake-deploy.json":            refused(notOffered, unknownStage("stages[0]", "bakeManifest")),
	"049-demo-app-deploy.json":              accepted(0),
	"050-k8s-v1-workshop-deploy.json": refused(notOffered+"; "+mistake, `triggers[0].repository: "PROJECT/web-server" is not a repository`,
		deployNotOn("stages[0].clusters[0]", "cloudProvider", "kubernetes"), deployNotOn("stages[1].clusters[0]", "cloudProvider", "kubernetes"),
		deployNotOn("stages[5].clusters[0]", "cloudProvider", "kubernetes"), deployNotOn("stages[6].clusters[0]", "cloudProvider", "kubernetes")),
	// The stage names expected artifact ...7f; the pipeline declares ...7g.
	"051-sample-deploy-manifest.json": refused(mistake, `stages[0].manifestArtifactId: "62108410-5628-469f-810a-38da8cb9b87f" is not the id`),
	"052-cloud-sql-backup-job.json":   accepted(0),
	// A git trigger without its source (github, gitlab, bitbucket) never fires; stages without
	// refIds would all run at once.
	// Its application, sample-app, cannot be part of a server group's name (Frigga takes no '-'
	// in an application's name).
	"053-aws-deploy-wrapped.json": refused(notOffered+"; "+mistake, "triggers[0].source: required", "stages[0].refId: required",
		"stages[0].clusters[0].application: takes letters, digits", "stages[1].refId: required",
		deployNotOn("stages[1].clusters[0]", "cloudProvider", "azure")),
	"054-istio-demo.json":        accepted(0),
	"055-istio-canary-helm.json": refused(notOffered, "triggers[0]"+googlePubsub, unknownStage("stages[0]", "bakeManifest")),
	// Written by hand: no refIds, deploys without manifests, a strategy Spinnaker does not have.
	"056-chatbot-jenkins-bake-deploy.json": refused(notOffered+"; "+mistake,
		"stages[0].refId: required", unknownStage("stages[0]", "jenkins"), "stages[1].refId: required", bakeOn("stages[1]", "kubernetes"),
		"stages[2].refId: required", "stages[2].manifests: must have at least one item", "stages[3].refId: required",
		"stages[4].refId: required", "stages[4].manifests: must have at least one item", "stages[4].trafficManagement.options.services: required",
		`stages[4].trafficManagement.options.strategy: must be one of redblack, highlander, none, not "bluegreen"`),
	"057-helm-dev-prod.json": refused(notOffered, unknownStage("stages[0]", "bakeManifest"), unknownStage("stages[1]", "bakeManifest")),
	// The webhook's URL is a placeholder, SAMSON_DEPLOY_WEBHOOK_URL.
	"058-hello-ci-webhooks.json": refused(mistake, "stages[4].url: must be an absolute http or https URL"),
	"059-knative-runjob.json":    refused(notOffered, "triggers[0]"+googlePubsub),
	// Expected artifacts without ids, and a deploy from an artifact that names none.
	"060-helm-s3-bake.json": refused(notOffered+"; "+mistake, "expectedArtifacts[0].id: required", unknownStage("stages[0]", "bakeManifest"),
		"stages[0].expectedArtifacts[0].id: required", `stages[1].manifestArtifactId: required when source is "artifact"`),
	"061-ecs-fargate-jenkins.json": refused(notOffered, unknownStage("stages[1]", "jenkins"), deployNotOn("stages[2].clusters[0]", "provider", "ecs"),
		deployNotOn("stages[4].clusters[0]", "provider", "ecs")),
	"062-frontendapp.json":             refused(notOffered, "triggers[0]"+googlePubsub),
	"063-multi-service-31-stages.json": accepted(0),
	"064-showks-portal-prod.json":      accepted(0),
	"065-lambda-plugin-scenario7.json": refused(notOffered, unknownStage("stages[0]", "Aws.LambdaDeploymentStage"),
		unknownStage("stages[1]", "Aws.LambdaDeleteStage"), unknownStage("stages[2]", "Aws.LambdaDeleteStage")),
	"066-opsmx-summit-deploy-job.json":    accepted(0),
	"067-opsmx-summit-runjob.json":        accepted(0),
	"068-opsmx-summit-webhook.json":       accepted(0),
	"069-pipeline-stage-composition.json": accepted(0),
	"070-summit2019-kaniko.json":          refused(notOffered, unknownStage("stages[0]", "kanikoBuild"), unknownStage("stages[3]", "runContainerScript")),
	"071-gsa-ci-jenkins.json":             refused(notOffered, unknownStage("stages[0]", "jenkins"), unknownStage("stages[1]", "jenkins")),
	"072-gsa-cd-v1.json": refused(notOffered, deployNotOn("stages[0].clusters[0]", "cloudProvider", "kubernetes"),
		deployNotOn("stages[1].clusters[0]", "cloudProvider", "kubernetes"), deployNotOn("stages[5].clusters[0]", "cloudProvider", "kubernetes"),
		deployNotOn("stages[6].clusters[0]", "cloudProvider", "kubernetes")),
	"073-cloud-migration-canary.json": accepted(5),
	"074-springboot-jenkins-k8s.json": refused(notOffered, unknownStage("stages[0]", "jenkins")),
	"075-samplek8s-deploy.json":       accepted(0),
}

// The test's account, as gennaker would have it configured, and the metrics source. The account is
// both a Kubernetes and an AWS account (a configuration would name them apart), with the regions the
// corpus deploys to.
const (
	corpusAccount = "local"
	corpusMetrics = "prometheus"
)

var corpusRegions = []string{"eu-west-1", "us-east-1", "us-west-1", "us-west-2"}

// mapAccounts points every account a pipeline names at the test's: a Kubernetes stage's
// account, a precondition's credentials, a canary's metrics account.
func mapAccounts(v any) any {
	switch x := v.(type) {
	case map[string]any:
		for k, e := range x {
			if s, isString := e.(string); isString && s != "" {
				switch k {
				case "account", "credentials":
					x[k] = corpusAccount
					continue
				case "metricsAccountName":
					x[k] = corpusMetrics
					continue
				}
			}
			x[k] = mapAccounts(e)
		}
	case []any:
		for i, e := range x {
			x[i] = mapAccounts(e)
		}
	}
	return v
}

// Every pipeline of the corpus is saved as its author wrote it (accounts mapped to the test's): it
// is accepted, and comes back unchanged when read, or refused for what corpusOutcomes says.
func TestSpinnakerCorpus(t *testing.T) {
	files, err := filepath.Glob(filepath.Join(corpusDir, "*.json"))
	if err != nil {
		t.Fatal(err)
	}
	if len(files) == 0 {
		// The corpus is kept beside the repository, not in it; a checkout elsewhere has none.
		t.Skipf("no corpus of Spinnaker pipelines in %s beside the repository", corpusDir)
	}
	// Each file is saved into an installation of its own: files from one repository share
	// placeholder ids ("unknown"), which one installation would refuse as a second pipeline
	// with the same id.
	newEnv := func(t *testing.T) *testEnv {
		st, err := store.OpenSQLite(filepath.Join(t.TempDir(), "corpus.db"))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = st.Close() })
		srv := httptest.NewServer((&api.Server{Store: st, KubernetesAccounts: []string{corpusAccount},
			AWSAccounts: map[string][]string{corpusAccount: corpusRegions},
			// The account bakes from the base image these pipelines name, with the default script.
			AWSBakeries:       map[string]pipeline.AWSBakeryOptions{corpusAccount: {BaseImages: map[string][]string{"trusty": {"release"}}, Templates: []string{"install_packages.sh"}}},
			NotificationTypes: []string{"slack"}, MetricsAccounts: []string{corpusMetrics}}).Handler())
		t.Cleanup(srv.Close)
		return &testEnv{baseURL: srv.URL}
	}

	seen := map[string]bool{}
	accepted := 0
	for _, file := range files {
		name := filepath.Base(file)
		seen[name] = true
		t.Run(name, func(t *testing.T) {
			want, ok := corpusOutcomes[name]
			if !ok {
				t.Fatalf("no expected outcome for %s", name)
			}
			data, err := os.ReadFile(file)
			if err != nil {
				t.Fatal(err)
			}
			var doc map[string]any
			if err := json.Unmarshal(data, &doc); err != nil {
				t.Fatal(err)
			}
			mapAccounts(doc)
			app, _ := doc["application"].(string)
			pipelineName, _ := doc["name"].(string)
			if app == "" {
				app = "corpus"
			}
			if pipelineName == "" {
				pipelineName = strings.TrimSuffix(name, ".json")
			}
			sent, _ := json.Marshal(doc)
			env := newEnv(t)
			r := env.put(t, pipelinePath(app, pipelineName), json.RawMessage(sent))
			if want.problems != nil {
				got := r.expectError(t, http.StatusBadRequest)
				if len(got.Details) != len(want.problems) {
					t.Fatalf("refused with\n  %s\nwant (%s)\n  %s", strings.Join(got.Details, "\n  "), want.why, strings.Join(want.problems, "\n  "))
				}
				for i, w := range want.problems {
					if !strings.HasPrefix(got.Details[i], w) {
						t.Errorf("problem %d: %q, want one starting %q", i, got.Details[i], w)
					}
				}
				return
			}
			accepted++
			var rec struct {
				ID       string          `json:"id"`
				Config   json.RawMessage `json:"config"`
				Warnings []string        `json:"warnings"`
			}
			r.expect(t, http.StatusOK, &rec)
			if len(rec.Warnings) != want.warnings {
				t.Errorf("warnings %q, want %d", rec.Warnings, want.warnings)
			}
			// What comes back is what was sent, with the fields gennaker sets: the id (kept when
			// the file gives one), the application and the name.
			var back map[string]any
			env.get(t, pipelinePath(app, pipelineName)).expect(t, http.StatusOK, &rec)
			if err := json.Unmarshal(rec.Config, &back); err != nil {
				t.Fatal(err)
			}
			if id, given := doc["id"].(string); given && id != "" && rec.ID != id {
				t.Errorf("id %s, want the file's %s", rec.ID, id)
			}
			for _, k := range []string{"id", "application", "name"} {
				if _, given := doc[k]; !given {
					delete(back, k)
				}
			}
			var wantBack map[string]any
			_ = json.Unmarshal(sent, &wantBack)
			if !reflect.DeepEqual(back, wantBack) {
				for _, k := range slices.Sorted(mapsKeys(wantBack, back)) {
					if !reflect.DeepEqual(back[k], wantBack[k]) {
						g, _ := json.Marshal(back[k])
						w, _ := json.Marshal(wantBack[k])
						t.Errorf("%s came back as\n%s\nwant\n%s", k, g, w)
					}
				}
			}
		})
	}
	for name := range corpusOutcomes {
		if !seen[name] {
			t.Errorf("the corpus has no %s any more", name)
		}
	}
	t.Logf("%d of %d pipelines accepted", accepted, len(files))
}

// mapsKeys lists the keys of both maps.
func mapsKeys(a, b map[string]any) func(func(string) bool) {
	return func(yield func(string) bool) {
		for k := range a {
			if !yield(k) {
				return
			}
		}
		for k := range b {
			if _, inA := a[k]; !inA && !yield(k) {
				return
			}
		}
	}
}
