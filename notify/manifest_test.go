package notify

import (
	"net/url"
	"os"
	"slices"
	"testing"

	"sigs.k8s.io/yaml"
)

// TestSlackAppManifest checks that the app manifest the README points to asks for what gennaker
// uses: the scopes its Web API calls need, and interactivity at the path the API serves.
func TestSlackAppManifest(t *testing.T) {
	data, err := os.ReadFile("slack-app-manifest.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var m struct {
		OAuth struct {
			Scopes struct {
				Bot []string `json:"bot"`
			} `json:"scopes"`
		} `json:"oauth_config"`
		Settings struct {
			Interactivity struct {
				Enabled    bool   `json:"is_enabled"`
				RequestURL string `json:"request_url"`
			} `json:"interactivity"`
		} `json:"settings"`
	}
	// The other fields are Slack's business; only the ones read here are checked.
	if err := yaml.Unmarshal(data, &m); err != nil {
		t.Fatalf("the manifest is not YAML: %v", err)
	}
	for _, scope := range []string{"chat:write", "users:read", "users:read.email"} {
		if !slices.Contains(m.OAuth.Scopes.Bot, scope) {
			t.Errorf("the manifest lacks the bot scope %s", scope)
		}
	}
	u, err := url.Parse(m.Settings.Interactivity.RequestURL)
	if !m.Settings.Interactivity.Enabled || err != nil || u.Path != "/slack/interactions" {
		t.Errorf("interactivity = %+v; want it enabled at /slack/interactions", m.Settings.Interactivity)
	}
}
