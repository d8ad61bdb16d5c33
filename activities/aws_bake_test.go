package activities

import (
	"slices"
	"testing"

	"github.com/gennaker/gennaker/pipeline"
)

func TestBakeCommandsHandTheScriptItsVariables(t *testing.T) {
	got := bakeCommands(pipeline.BakeStage{Package: "web=1.2.3 nginx", BaseOS: "debian",
		ExtendedAttributes: map[string]string{"repository": "http://repo.example.com stable main", "copy_to": "us-west-2", "it's": "x"}},
		[]string{"https://ci.example.com/web.deb"}, "set -e\napt-get install -y ${PACKAGES}\n")
	want := []string{
		"export BASE_OS='debian'",
		"export COPY_TO='us-west-2'",
		"export PACKAGES='web=1.2.3 nginx'",
		"export PACKAGE_ARTIFACTS='https://ci.example.com/web.deb'",
		"export REPOSITORY='http://repo.example.com stable main'",
		"set -e",
		"apt-get install -y ${PACKAGES}",
	}
	if !slices.Equal(got, want) {
		t.Errorf("commands\n got %q\nwant %q", got, want)
	}
}
