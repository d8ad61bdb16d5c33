package triggers

import (
	"reflect"
	"strings"
	"testing"

	"github.com/gennaker/gennaker/pipeline"
)

const flatBuild = `{"job":"web-build","buildNumber":42,"result":"SUCCESS","url":"https://ci.example.com/job/web-build/42/",` +
	`"properties":{"VERSION":"1.2.3","REPLICAS":3,"CANARY":false,"NOTE":null}}`

func ciDelivery(master string, body []byte, h ...string) Delivery {
	return Delivery{Kind: pipeline.TriggerJenkins, Source: master, Header: headers(h...), Body: body}
}

func TestJenkins(t *testing.T) {
	flat := []byte(flatBuild)
	plugin := load(t, "jenkins-notification.json")
	completed := patch(t, plugin, map[string]any{"build.phase": "COMPLETED"})
	started := patch(t, plugin, map[string]any{"build.phase": "STARTED", "build.status": nil})
	queued := patch(t, plugin, map[string]any{"build.phase": "QUEUED", "build.status": nil})
	finalizedNoStatus := patch(t, plugin, map[string]any{"build.status": nil})
	noPhase := patch(t, plugin, map[string]any{"build.phase": nil})
	noPhaseNoStatus := patch(t, plugin, map[string]any{"build.phase": nil, "build.status": nil})
	failed := patch(t, flat, map[string]any{"result": "FAILURE"})
	unstable := patch(t, plugin, map[string]any{"build.status": "UNSTABLE"})
	lowerCase := patch(t, flat, map[string]any{"result": "success"})
	noResult := patch(t, flat, map[string]any{"result": nil})
	byName := patch(t, flat, map[string]any{"job": nil, "name": "web-build"})
	numberAsText := patch(t, flat, map[string]any{"buildNumber": "42"})
	badProperties := patch(t, flat, map[string]any{"properties": []any{"VERSION=1.2.3"}})
	signed := func(body []byte) string { return Sign("s3cret", body) }

	web := cand(t, "web", "deploy", 0, `{"type":"jenkins","master":"ci","job":"web-build"}`)
	apiJob := cand(t, "api", "deploy", 0, `{"type":"jenkins","master":"ci","job":"api-build","secret":"other"}`)
	folder := cand(t, "web", "folder", 1, `{"type":"jenkins","master":"ci","job":"team/web-build"}`)
	upperJob := cand(t, "web", "upper", 2, `{"type":"jenkins","master":"ci","job":"Web-Build"}`)
	otherMaster := cand(t, "web", "other-master", 0, `{"type":"jenkins","master":"ci2","job":"web-build"}`)
	upperMaster := cand(t, "web", "upper-master", 0, `{"type":"jenkins","master":"CI","job":"web-build"}`)
	hook := cand(t, "web", "hook", 0, `{"type":"webhook","source":"ci"}`)
	git := cand(t, "web", "git", 0, `{"type":"git","source":"github","project":"ci","slug":"web-build"}`)
	secret := cand(t, "web", "signed", 0, `{"type":"jenkins","master":"ci","job":"web-build","secret":"s3cret"}`)
	onFailure := cand(t, "web", "rollback", 3, `{"type":"jenkins","master":"ci","job":"web-build","buildResults":["FAILURE","ABORTED"]}`)
	anyEnd := cand(t, "web", "any", 4, `{"type":"jenkins","master":"ci","job":"web-build","buildResults":["SUCCESS","UNSTABLE","FAILURE","ABORTED"]}`)

	runEvalCases(t, []evalCase{
		{
			name:       "flat form fires the job's triggers on its master only",
			d:          ciDelivery("ci", flat),
			candidates: []Candidate{web, apiJob, folder, upperJob, otherMaster, upperMaster, hook, git},
			matches:    []string{"web/deploy#0"},
			checked:    4,
			reasons: []string{
				`api/deploy triggers[0]: the build is of job "web-build", the trigger watches "api-build"`,
				`web/folder triggers[1]: the build is of job "web-build", the trigger watches "team/web-build"`,
				`web/upper triggers[2]: the build is of job "web-build", the trigger watches "Web-Build"`,
			},
		},
		{
			name:       "the Notification plugin's FINALIZED",
			d:          ciDelivery("ci", plugin),
			candidates: []Candidate{web, otherMaster},
			matches:    []string{"web/deploy#0"},
			checked:    1,
		},
		{name: "COMPLETED", d: ciDelivery("ci", completed), candidates: []Candidate{web}, matches: []string{"web/deploy#0"}, checked: 1},
		{name: "a status without a phase", d: ciDelivery("ci", noPhase), candidates: []Candidate{web}, matches: []string{"web/deploy#0"}, checked: 1},
		{name: "flat form naming the job in name", d: ciDelivery("ci", byName), candidates: []Candidate{web}, matches: []string{"web/deploy#0"}, checked: 1},
		{name: "build number as text", d: ciDelivery("ci", numberAsText), candidates: []Candidate{web}, matches: []string{"web/deploy#0"}, checked: 1},
		{name: "result in lower case", d: ciDelivery("ci", lowerCase), candidates: []Candidate{web}, matches: []string{"web/deploy#0"}, checked: 1},
		{
			name:       "STARTED has not finished",
			d:          ciDelivery("ci", started),
			candidates: []Candidate{web, anyEnd},
			checked:    2,
			reasons: []string{
				`web/deploy triggers[0]: the notification is of phase "STARTED"; a build fires triggers once it has finished`,
				`web/any triggers[4]: the notification is of phase "STARTED"`,
			},
		},
		{
			name:       "QUEUED has not finished",
			d:          ciDelivery("ci", queued),
			candidates: []Candidate{web},
			checked:    1,
			reasons:    []string{`phase "QUEUED"`},
		},
		{
			name:       "a finished phase without a status",
			d:          ciDelivery("ci", finalizedNoStatus),
			candidates: []Candidate{anyEnd},
			checked:    1,
			reasons:    []string{`web/any triggers[4]: the notification is of phase "FINALIZED" and has no build.status`},
		},
		{
			name:       "neither phase nor status",
			d:          ciDelivery("ci", noPhaseNoStatus),
			candidates: []Candidate{anyEnd},
			checked:    1,
			reasons:    []string{"the notification has no build.status: the build has not finished"},
		},
		{
			name:       "flat form without a result",
			d:          ciDelivery("ci", noResult),
			candidates: []Candidate{anyEnd},
			checked:    1,
			reasons:    []string{"the notification has no result: the build has not finished"},
		},
		{
			name:       "a failed build fires only triggers that ask for failures",
			d:          ciDelivery("ci", failed),
			candidates: []Candidate{web, onFailure, anyEnd},
			matches:    []string{"web/rollback#3", "web/any#4"},
			checked:    3,
			reasons:    []string{`web/deploy triggers[0]: build 42 ended "FAILURE"; the trigger fires on SUCCESS`},
		},
		{
			name:       "an unstable build",
			d:          ciDelivery("ci", unstable),
			candidates: []Candidate{web, onFailure, anyEnd},
			matches:    []string{"web/any#4"},
			checked:    3,
			reasons: []string{
				`web/deploy triggers[0]: build 42 ended "UNSTABLE"; the trigger fires on SUCCESS`,
				`web/rollback triggers[3]: build 42 ended "UNSTABLE"; the trigger fires on FAILURE, ABORTED`,
			},
		},
		{
			name:       "signed",
			d:          ciDelivery("ci", flat, SignatureHeader, signed(flat)),
			candidates: []Candidate{secret, web, apiJob},
			matches:    []string{"web/signed#0", "web/deploy#0"},
			checked:    3,
			// The other job's trigger is refused for its job, not for a signature made with another secret.
			reasons: []string{`api/deploy triggers[0]: the build is of job "web-build"`},
		},
		{
			name:       "wrong signature",
			d:          ciDelivery("ci", flat, SignatureHeader, Sign("guess", flat)),
			candidates: []Candidate{secret, web},
			matches:    []string{"web/deploy#0"},
			checked:    2,
			unsigned:   1,
			reasons:    []string{"web/signed triggers[0]: X-Hub-Signature-256 does not match the body signed with the trigger's secret"},
		},
		{
			name:       "signature of another body",
			d:          ciDelivery("ci", flat, SignatureHeader, signed(plugin)),
			candidates: []Candidate{secret},
			checked:    1,
			unsigned:   1,
			reasons:    []string{"does not match"},
		},
		{
			name:       "missing signature",
			d:          ciDelivery("ci", flat),
			candidates: []Candidate{secret},
			checked:    1,
			unsigned:   1,
			reasons:    []string{"web/signed triggers[0]: the trigger has a secret and the delivery has no X-Hub-Signature-256 header"},
		},
		{
			name:       "a wrong signature is reported before an unfinished build",
			d:          ciDelivery("ci", started),
			candidates: []Candidate{secret},
			checked:    1,
			unsigned:   1,
			reasons:    []string{"no X-Hub-Signature-256 header"},
		},
		{
			name: "disabled trigger and disabled pipeline",
			d:    ciDelivery("ci", flat),
			candidates: []Candidate{
				cand(t, "web", "off", 5, `{"type":"jenkins","master":"ci","job":"web-build","enabled":false}`),
				disabledPipeline(web),
				cand(t, "web", "off-failures", 6, `{"type":"jenkins","master":"ci","job":"web-build","enabled":false,"buildResults":["FAILURE"]}`),
			},
			disabled: []string{"web/off#5", "web/deploy#0"},
			checked:  3,
			reasons: []string{
				"web/off triggers[5]: matches, but the trigger is disabled",
				"web/deploy triggers[0]: matches, but the pipeline is disabled",
				`web/off-failures triggers[6]: build 42 ended "SUCCESS"; the trigger fires on FAILURE`,
			},
		},
		{
			name:       "properties that are not an object are a note on the match",
			d:          ciDelivery("ci", badProperties),
			candidates: []Candidate{web},
			matches:    []string{"web/deploy#0"},
			checked:    1,
			reasons:    []string{"web/deploy triggers[0]: payload properties is not an object; started without properties"},
		},
		{name: "other master", d: ciDelivery("ci2", plugin), candidates: []Candidate{web, upperMaster}},
		{name: "master compared with case", d: ciDelivery("CI", plugin), candidates: []Candidate{web, upperMaster}, matches: []string{"web/upper-master#0"}, checked: 1},
		{name: "not JSON", d: ciDelivery("ci", []byte("job=web-build")), candidates: []Candidate{web}, err: ErrBadPayload},
		{name: "a list", d: ciDelivery("ci", []byte(`[`+flatBuild+`]`)), candidates: []Candidate{web}, err: ErrBadPayload},
		{name: "empty", d: ciDelivery("ci", nil), candidates: []Candidate{web}, err: ErrBadPayload},
		{name: "no job", d: ciDelivery("ci", patch(t, flat, map[string]any{"job": nil})), candidates: []Candidate{web}, err: ErrBadPayload},
		{name: "blank job", d: ciDelivery("ci", patch(t, flat, map[string]any{"job": "  "})), candidates: []Candidate{web}, err: ErrBadPayload},
		{name: "job not a string", d: ciDelivery("ci", patch(t, flat, map[string]any{"job": 7})), candidates: []Candidate{web}, err: ErrBadPayload},
		{name: "plugin form without a name", d: ciDelivery("ci", patch(t, plugin, map[string]any{"name": nil})), candidates: []Candidate{web}, err: ErrBadPayload},
		{name: "no build number", d: ciDelivery("ci", patch(t, flat, map[string]any{"buildNumber": nil})), candidates: []Candidate{web}, err: ErrBadPayload},
		{name: "plugin form without build.number", d: ciDelivery("ci", patch(t, plugin, map[string]any{"build.number": nil})), candidates: []Candidate{web}, err: ErrBadPayload},
		{name: "build number zero", d: ciDelivery("ci", patch(t, flat, map[string]any{"buildNumber": 0})), candidates: []Candidate{web}, err: ErrBadPayload},
		{name: "build number negative", d: ciDelivery("ci", patch(t, flat, map[string]any{"buildNumber": -3})), candidates: []Candidate{web}, err: ErrBadPayload},
		{name: "build number a fraction", d: ciDelivery("ci", patch(t, flat, map[string]any{"buildNumber": 4.5})), candidates: []Candidate{web}, err: ErrBadPayload},
		{name: "build number not digits", d: ciDelivery("ci", patch(t, flat, map[string]any{"buildNumber": "42a"})), candidates: []Candidate{web}, err: ErrBadPayload},
		{name: "no master", d: ciDelivery("", flat), candidates: []Candidate{web}, err: ErrUnsupported},
	})
}

func TestJenkinsPropertyConstraints(t *testing.T) {
	d := ciDelivery("ci", []byte(flatBuild))
	tests := []struct {
		key, pattern string
		match        bool
		reason       string
	}{
		{key: "VERSION", pattern: "1.2.3", match: true},
		{key: "VERSION", pattern: `1\.2\..*`, match: true},
		{key: "VERSION", pattern: "1.2|1.2.3", match: true},
		{key: "VERSION", pattern: "1.2", reason: `property "VERSION" is "1.2.3", which does not match "1.2" in full`},
		{key: "VERSION", pattern: "2.3", reason: "does not match"},
		{key: "VERSION", pattern: "1.2|2.3", reason: "does not match"},
		{key: "REPLICAS", pattern: "[0-9]+", match: true},
		{key: "REPLICAS", pattern: "3", match: true},
		{key: "CANARY", pattern: "false", match: true},
		{key: "CANARY", pattern: "False", reason: `property "CANARY" is "false"`},
		{key: "version", pattern: ".*", reason: `the build has no property "version" for constraint ".*"`},
		{key: "NOTE", pattern: ".*", reason: `the build has no property "NOTE"`},
		{key: "VERSION", pattern: "(", reason: `constraint on property "VERSION" is not a regular expression`},
	}
	for _, tt := range tests {
		c := cand(t, "web", "deploy", 0, `{"type":"jenkins","master":"ci","job":"web-build"}`)
		c.Trigger.Context["propertyConstraints"] = map[string]any{tt.key: tt.pattern}
		out, err := Evaluate(d, []Candidate{c})
		if err != nil {
			t.Fatalf("%s ~ %s: %v", tt.key, tt.pattern, err)
		}
		if got := len(out.Matches) == 1; got != tt.match {
			t.Errorf("%s ~ %s: matched %v, want %v; reasons %v", tt.key, tt.pattern, got, tt.match, out.Reasons)
			continue
		}
		if tt.match {
			continue
		}
		if len(out.Reasons) != 1 || !strings.Contains(out.Reasons[0], tt.reason) {
			t.Errorf("%s ~ %s: reasons %q, want one containing %q", tt.key, tt.pattern, out.Reasons, tt.reason)
		}
	}

	// Every constraint must hold, and every one that does not is named.
	c := cand(t, "web", "deploy", 0, `{"type":"jenkins","master":"ci","job":"web-build",`+
		`"propertyConstraints":{"VERSION":"1\\.2\\.3","REPLICAS":"[12]","MISSING":"x"}}`)
	out, err := Evaluate(d, []Candidate{c})
	if err != nil {
		t.Fatal(err)
	}
	want := `web/deploy triggers[0]: the build has no property "MISSING" for constraint "x"; property "REPLICAS" is "3", which does not match "[12]" in full`
	if len(out.Matches) != 0 || !reflect.DeepEqual(out.Reasons, []string{want}) {
		t.Errorf("got matches %v, reasons %q", out.Matches, out.Reasons)
	}

	// The Notification plugin's build parameters are the properties constraints read.
	c = cand(t, "web", "deploy", 0, `{"type":"jenkins","master":"ci","job":"web-build","propertyConstraints":{"VERSION":"1\\.2\\.3","REPLICAS":"3"}}`)
	out, _ = Evaluate(ciDelivery("ci", load(t, "jenkins-notification.json")), []Candidate{c})
	if len(out.Matches) != 1 {
		t.Errorf("plugin parameters as properties: %q", out.Reasons)
	}
}

func TestJenkinsTrigger(t *testing.T) {
	properties := map[string]any{"VERSION": "1.2.3", "REPLICAS": int64(3), "CANARY": false}
	parameters := map[string]any{"VERSION": "1.2.3", "REPLICAS": "3", "CANARY": "false"}
	tests := []struct {
		name string
		d    Delivery
		want pipeline.TriggerInfo
	}{
		{
			name: "flat",
			d:    ciDelivery("ci", []byte(flatBuild), "X-Request-Id", "proxy-1"),
			want: pipeline.TriggerInfo{
				Type: "jenkins", User: "jenkins:ci", Source: "ci",
				BuildInfo: &pipeline.BuildInfo{Name: "web-build", Number: 42, Result: "SUCCESS", URL: "https://ci.example.com/job/web-build/42/", Master: "ci"},
				// A null property is kept as null, and as an empty parameter.
				Properties: map[string]any{"VERSION": "1.2.3", "REPLICAS": int64(3), "CANARY": false, "NOTE": nil},
				Parameters: map[string]any{"VERSION": "1.2.3", "REPLICAS": "3", "CANARY": "false", "NOTE": ""},
				DeliveryID: "jenkins:ci/web-build#42",
			},
		},
		{
			name: "Notification plugin",
			d:    ciDelivery("ci", load(t, "jenkins-notification.json")),
			want: pipeline.TriggerInfo{
				Type: "jenkins", User: "jenkins:ci", Source: "ci",
				BuildInfo:  &pipeline.BuildInfo{Name: "web-build", Number: 42, Result: "SUCCESS", URL: "https://ci.example.com/job/web-build/42/", Master: "ci"},
				Properties: properties,
				Parameters: parameters,
				DeliveryID: "jenkins:ci/web-build#42",
			},
		},
		{
			name: "plugin form with a relative URL only, and no parameters",
			d: ciDelivery("ci", patch(t, load(t, "jenkins-notification.json"),
				map[string]any{"build.full_url": nil, "build.parameters": nil, "build.status": "ABORTED"})),
			want: pipeline.TriggerInfo{
				Type: "jenkins", User: "jenkins:ci", Source: "ci",
				BuildInfo:  &pipeline.BuildInfo{Name: "web-build", Number: 42, Result: "ABORTED", URL: "job/web-build/42/", Master: "ci"},
				DeliveryID: "jenkins:ci/web-build#42",
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := cand(t, "web", "deploy", 0, `{"type":"jenkins","master":"ci","job":"web-build"}`)
			if tt.want.BuildInfo.Result != pipeline.BuildSuccess {
				c.Trigger.Context["buildResults"] = []any{tt.want.BuildInfo.Result}
			}
			out, err := Evaluate(tt.d, []Candidate{c})
			if err != nil {
				t.Fatal(err)
			}
			if len(out.Matches) != 1 {
				t.Fatalf("no match: %q", out.Reasons)
			}
			if got := out.Matches[0].Trigger; !reflect.DeepEqual(got, tt.want) {
				t.Errorf("trigger:\n got  %+v %+v\n want %+v %+v", got, got.BuildInfo, tt.want, tt.want.BuildInfo)
			}
		})
	}
}

func TestJenkinsTriggerInExpressions(t *testing.T) {
	c := cand(t, "web", "deploy", 0, `{"type":"jenkins","master":"ci","job":"web-build"}`)
	out, err := Evaluate(ciDelivery("ci", load(t, "jenkins-notification.json")), []Candidate{c})
	if err != nil || len(out.Matches) != 1 {
		t.Fatalf("%v %q", err, out.Reasons)
	}
	env := pipeline.ExprEnv{Trigger: out.Matches[0].Trigger}
	got, errs := pipeline.EvaluateValue(
		"${parameters.VERSION} #${trigger.buildInfo.number} ${trigger.buildInfo.result} on ${trigger.buildInfo.master}, ${trigger.properties.REPLICAS + 1} replicas", env)
	if len(errs) > 0 || got != "1.2.3 #42 SUCCESS on ci, 4 replicas" {
		t.Errorf("got %v, errors %v", got, errs)
	}

	// A pipeline's parameterConfig applies to the properties, which arrive as text.
	params, problems := pipeline.ResolveParameters([]pipeline.Parameter{
		{Name: "REPLICAS", HasOptions: true, Options: []pipeline.OptionValue{{Value: 1}, {Value: 3}}},
		{Name: "REGION", Default: "eu-west-1"},
	}, out.Matches[0].Trigger.Parameters)
	if len(problems) > 0 || params["REPLICAS"] != "3" || params["REGION"] != "eu-west-1" || params["VERSION"] != "1.2.3" {
		t.Errorf("parameters %v, problems %v", params, problems)
	}
}

func TestJenkinsMatchesDoNotShare(t *testing.T) {
	body := []byte(`{"job":"web-build","buildNumber":7,"result":"SUCCESS","properties":{"IMAGE":{"tag":"1.2.3"}}}`)
	a := cand(t, "web", "a", 0, `{"type":"jenkins","master":"ci","job":"web-build"}`)
	b := cand(t, "web", "b", 0, `{"type":"jenkins","master":"ci","job":"web-build"}`)
	out, err := Evaluate(ciDelivery("ci", body), []Candidate{a, b})
	if err != nil || len(out.Matches) != 2 {
		t.Fatalf("%v %+v", err, out)
	}
	first, second := out.Matches[0].Trigger, out.Matches[1].Trigger
	if second.Parameters["IMAGE"] != `{"tag":"1.2.3"}` {
		t.Errorf("an object property as a parameter: %v", second.Parameters["IMAGE"])
	}
	first.Properties["IMAGE"].(map[string]any)["tag"] = "changed"
	first.Parameters["IMAGE"] = "changed"
	first.BuildInfo.Result = "changed"
	if second.Properties["IMAGE"].(map[string]any)["tag"] != "1.2.3" || second.Parameters["IMAGE"] == "changed" || second.BuildInfo.Result != "SUCCESS" {
		t.Error("matches share their properties, parameters or build")
	}
}

func TestJenkinsDeliveryID(t *testing.T) {
	plugin := load(t, "jenkins-notification.json")
	flat := []byte(flatBuild)
	d := ciDelivery("ci", plugin, "X-Gennaker-Delivery", "one", "X-Request-Id", "proxy-1")
	const want = "jenkins:ci/web-build#42"
	if got := DeliveryID(d); got != want {
		t.Fatalf("DeliveryID: got %q, want %q", got, want)
	}

	// However often, and in whichever form, build 42 is reported, it is one delivery, so a trigger
	// starts one execution for it.
	c := Candidate{Application: "web", Pipeline: "deploy", PipelineID: "0f6b"}
	id := ExecutionID(d, c)
	for name, again := range map[string]Delivery{
		"no headers":    ciDelivery("ci", plugin),
		"other headers": ciDelivery("ci", plugin, "X-Gennaker-Delivery", "two"),
		"COMPLETED":     ciDelivery("ci", patch(t, plugin, map[string]any{"build.phase": "COMPLETED"})),
		"STARTED":       ciDelivery("ci", patch(t, plugin, map[string]any{"build.phase": "STARTED", "build.status": nil})),
		"flat form":     ciDelivery("ci", flat),
		"number text":   ciDelivery("ci", patch(t, flat, map[string]any{"buildNumber": " 42"})),
		"other result":  ciDelivery("ci", patch(t, flat, map[string]any{"result": "FAILURE"})),
	} {
		if got := DeliveryID(again); got != want {
			t.Errorf("%s: DeliveryID %q, want %q", name, got, want)
		}
		if got := ExecutionID(again, c); got != id {
			t.Errorf("%s: ExecutionID %q, want %q", name, got, id)
		}
	}

	// Another build, job or master is another delivery.
	seen := map[string]string{want: "base"}
	for name, other := range map[string]Delivery{
		"number":       ciDelivery("ci", patch(t, plugin, map[string]any{"build.number": 43})),
		"job":          ciDelivery("ci", patch(t, plugin, map[string]any{"name": "web-build2"})),
		"master":       ciDelivery("ci2", plugin),
		"master case":  ciDelivery("CI", plugin),
		"short job":    ciDelivery("ci", []byte(`{"job":"web","buildNumber":42}`)),
		"joined names": ciDelivery("ci", []byte(`{"job":"web-build#4","buildNumber":2}`)),
	} {
		got := DeliveryID(other)
		if prev, dup := seen[got]; dup {
			t.Errorf("%s gives the same delivery as %s: %q", name, prev, got)
		}
		seen[got] = name
	}
	if got := DeliveryID(ciDelivery("ci2", plugin)); got != "jenkins:ci2/web-build#42" {
		t.Errorf("other master: %q", got)
	}

	// A very long job name is hashed, stably, and still told apart.
	long := strings.Repeat("folder/", 40) + "web-build"
	longBody := patch(t, flat, map[string]any{"job": long})
	got := DeliveryID(ciDelivery("ci", longBody))
	if !strings.HasPrefix(got, "sha256:") || len(got) != len("sha256:")+64 || got != DeliveryID(ciDelivery("ci", longBody, "X-Request-Id", "x")) {
		t.Errorf("long job name: %q", got)
	}
	if DeliveryID(ciDelivery("ci", patch(t, flat, map[string]any{"job": long + "2"}))) == got {
		t.Error("two long job names gave the same delivery")
	}

	// A notification that cannot be read falls back to the header rules, then the body's digest.
	unread := ciDelivery("ci", []byte(`{"job":"web-build"}`), "X-Gennaker-Delivery", "d-9")
	if got := DeliveryID(unread); got != "d-9" {
		t.Errorf("unreadable with a header: %q", got)
	}
	unread.Header = nil
	if got := DeliveryID(unread); got != hashID(unread.Body) {
		t.Errorf("unreadable without a header: %q", got)
	}
	// Only a jenkins delivery is keyed by its build.
	hook := Delivery{Kind: pipeline.TriggerWebhook, Source: "ci", Body: plugin}
	if got := DeliveryID(hook); got != hashID(plugin) {
		t.Errorf("a webhook delivery of a build body: %q", got)
	}
}
