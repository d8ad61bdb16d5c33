package pipeline

import (
	"reflect"
	"strings"
	"testing"
	"time"
)

// jsonSettings decodes a stage's settings as a saved pipeline holds them.
func jsonSettings(t *testing.T, doc string) map[string]any {
	t.Helper()
	var m map[string]any
	if err := unmarshalNumbers([]byte(doc), &m); err != nil {
		t.Fatal(err)
	}
	return m
}

func TestReadWebhookStage(t *testing.T) {
	for _, tc := range []struct {
		name    string
		doc     string
		want    WebhookRequest
		monitor *WebhookMonitor
	}{
		{
			name: "minimal GET",
			doc:  `{"url": "https://ci.example.com/hook", "type": "webhook", "name": "Notify"}`,
			want: WebhookRequest{URL: "https://ci.example.com/hook", Method: "GET"},
		},
		{
			name: "payload defaults to POST",
			doc:  `{"url": "https://x.example/h", "payload": {"a": 1.5}, "waitForCompletion": false}`,
			want: WebhookRequest{URL: "https://x.example/h", Method: "POST", Payload: map[string]any{"a": 1.5}},
		},
		{
			name: "everything",
			doc: `{"url": "https://x.example/h", "method": "put",
				"customHeaders": {"X-One": "1", "X-Many": ["a", "b"]},
				"expectedStatusCodes": [200, 201.0, "202"], "failFastStatusCodes": "404, 409", "retryStatusCodes": [418],
				"waitForCompletion": true, "statusUrlResolution": "webhookResponse", "statusUrlJsonPath": "$.links.status",
				"statusJsonPath": "$.status", "progressJsonPath": "$.message",
				"successStatuses": "SUCCESS, done ,", "canceledStatuses": ["CANCELED"], "terminalStatuses": "FAILED",
				"monitorIntervalSeconds": 0.01, "waitBeforeMonitorSeconds": "1.5"}`,
			want: WebhookRequest{
				URL: "https://x.example/h", Method: "PUT",
				Headers:             map[string][]string{"X-One": {"1"}, "X-Many": {"a", "b"}},
				ExpectedStatusCodes: []int{200, 201, 202}, FailFastStatusCodes: []int{404, 409}, RetryStatusCodes: []int{418},
				StatusURLResolution: "webhookResponse", StatusURLJSONPath: "$.links.status",
			},
			monitor: &WebhookMonitor{
				StatusJSONPath: "$.status", ProgressJSONPath: "$.message",
				SuccessStatuses: []string{"SUCCESS", "done"}, CanceledStatuses: []string{"CANCELED"}, TerminalStatuses: []string{"FAILED"},
				Interval: 10 * time.Millisecond, WaitBefore: 1500 * time.Millisecond,
			},
		},
		{
			// A list of statuses is what the stage takes when it runs, so saving it must take it too.
			name: "monitoring defaults, statuses as a list",
			doc:  `{"url": "http://x.example/h", "waitForCompletion": "true", "statusJsonPath": "$.s", "successStatuses": ["OK"], "customHeaders": {"A": "b"}}`,
			want: WebhookRequest{URL: "http://x.example/h", Method: "GET", Headers: map[string][]string{"A": {"b"}},
				StatusURLResolution: "getMethod"},
			monitor: &WebhookMonitor{StatusJSONPath: "$.s", SuccessStatuses: []string{"OK"}, Interval: 10 * time.Second},
		},
		{
			name: "monitoring fields ignored without waitForCompletion",
			doc:  `{"url": "http://x.example/h", "statusUrlResolution": "bogus", "statusJsonPath": 5}`,
			want: WebhookRequest{URL: "http://x.example/h", Method: "GET"},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s, problems := ReadWebhookStage(jsonSettings(t, tc.doc), "")
			if len(problems) > 0 {
				t.Fatal(problems)
			}
			if !reflect.DeepEqual(s.Request, tc.want) {
				t.Errorf("request = %#v\nwant      %#v", s.Request, tc.want)
			}
			if !reflect.DeepEqual(s.Monitor, tc.monitor) {
				t.Errorf("monitor = %#v\nwant      %#v", s.Monitor, tc.monitor)
			}
		})
	}
}

func TestReadWebhookStageProblems(t *testing.T) {
	waiting := `"url": "https://x.example/h", "waitForCompletion": true, "statusJsonPath": "$.status", "successStatuses": "OK"`
	for _, tc := range []struct {
		name, doc, want string
		unevaluated     bool
	}{
		{"no url", `{}`, "url: required", false},
		{"url not a string", `{"url": 42}`, "url: must be a string", false},
		{"url not http", `{"url": "file:///etc/passwd"}`, "url: must be an absolute http or https URL", false},
		{"url an unevaluated expression", `{"url": "${base}/h"}`, "url: must be an absolute http or https URL", true},
		{"unknown method", `{"url": "https://x.example", "method": "FETCH"}`, "method: must be one of", false},
		{"headers not an object", `{"url": "https://x.example", "customHeaders": "X-A: b"}`, "customHeaders: must be an object", false},
		{"header value a number", `{"url": "https://x.example", "customHeaders": {"X-A": 1}}`, "customHeaders.X-A: must be a string or a list of strings", false},
		{"header list with a number", `{"url": "https://x.example", "customHeaders": {"X-A": ["a", 2]}}`, "customHeaders.X-A[1]: must be a string", false},
		{"codes not numbers", `{"url": "https://x.example", "expectedStatusCodes": "ok"}`, "expectedStatusCodes: must be an HTTP status code", false},
		{"code a fraction", `{"url": "https://x.example", "retryStatusCodes": [500.5]}`, "retryStatusCodes[0]: must be an HTTP status code", false},
		{"codes an object", `{"url": "https://x.example", "failFastStatusCodes": {}}`, "failFastStatusCodes: must be a list of HTTP status codes", false},
		{"wait not a boolean", `{"url": "https://x.example", "waitForCompletion": 1}`, "waitForCompletion: must be true or false", false},
		{"interval not a number", `{` + waiting + `, "monitorIntervalSeconds": "soon"}`, "monitorIntervalSeconds: must be a number", false},
		{"interval zero", `{` + waiting + `, "monitorIntervalSeconds": 0}`, "monitorIntervalSeconds: must be a number of seconds above 0", false},
		{"no status path", `{` + waiting + `, "statusJsonPath": null}`, "statusJsonPath: required", false},
		{"status path invalid", `{` + waiting + `, "statusJsonPath": "$["}`, `statusJsonPath: "$[" is not a JSONPath`, false},
		{"progress path invalid", `{` + waiting + `, "progressJsonPath": "$.a b"}`, "progressJsonPath", false},
		{"statuses a number", `{` + waiting + `, "terminalStatuses": 3}`, "terminalStatuses: must be a comma-separated string or a list of strings", false},
		{"unknown resolution", `{` + waiting + `, "statusUrlResolution": "magic"}`, "statusUrlResolution: must be one of", false},
		{"webhookResponse without path", `{` + waiting + `, "statusUrlResolution": "webhookResponse"}`, "statusUrlJsonPath: required", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, problems := ReadWebhookStage(jsonSettings(t, tc.doc), "")
			if len(problems) != 1 {
				t.Fatalf("problems %v, want one starting %q", problems, tc.want)
			}
			if !strings.HasPrefix(problems[0].String(), tc.want) || problems[0].Unevaluated != tc.unevaluated {
				t.Errorf("problem %q (unevaluated %v), want %q (unevaluated %v)", problems[0], problems[0].Unevaluated, tc.want, tc.unevaluated)
			}
		})
	}
}

// Deck writes successful; Orca long read succeeded and still takes both. The singular
// expectedArtifact is what older Spinnaker releases wrote.
func TestReadFindArtifactFromExecutionStage(t *testing.T) {
	for _, doc := range []string{
		`{"pipeline": "p1", "executionOptions": {"successful": true, "running": "true"}, "expectedArtifact": {"id": "a", "matchArtifact": {"type": "docker/image"}}}`,
		`{"pipeline": "p1", "executionOptions": {"succeeded": true, "running": true}, "expectedArtifacts": [{"id": "a", "matchArtifact": {"type": "docker/image"}}]}`,
	} {
		s, problems := ReadFindArtifactFromExecutionStage(jsonSettings(t, doc), "")
		if len(problems) > 0 || !reflect.DeepEqual(s.Statuses, []string{"SUCCEEDED", "RUNNING"}) || len(s.Expected) != 1 || s.Expected[0].ID != "a" {
			t.Errorf("%s: %+v, %v", doc, s, problems)
		}
	}
	if _, problems := ReadFindArtifactFromExecutionStage(jsonSettings(t, `{"pipeline": "p1"}`), "stages[0]"); len(problems) != 1 ||
		!strings.HasPrefix(problems[0].String(), "stages[0].expectedArtifacts: required") {
		t.Errorf("without expected artifacts: %v", problems)
	}
}
