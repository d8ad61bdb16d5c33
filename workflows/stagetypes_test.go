package workflows

import (
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/gennaker/gennaker/pipeline"
)

// Every stage type validation accepts has a runner, and every runner a stage type: a type accepted
// at save time but not run would fail only when an execution reaches it.
func TestEveryStageTypeHasARunner(t *testing.T) {
	var registered []string
	for _, st := range pipeline.RegisteredStageTypes() {
		registered = append(registered, st.Name+"/"+st.CloudProvider)
	}
	if got := RegisteredStageTypes(); !slices.Equal(registered, got) {
		t.Errorf("validation accepts %v, the worker runs %v", registered, got)
	}
}

// Every registered stage type is complete: it has a runner (above), the README documents it in its
// table of stage types, and a test runs a pipeline that uses it.
func TestEveryStageTypeIsDocumentedAndUsedInATest(t *testing.T) {
	readme, err := os.ReadFile("../README.md")
	if err != nil {
		t.Fatal(err)
	}
	var tests strings.Builder
	err = filepath.WalkDir("..", func(path string, d fs.DirEntry, err error) error {
		switch {
		case err != nil:
			return err
		case d.IsDir() && (d.Name() == ".git" || d.Name() == "bin" || d.Name() == "testdata"):
			return filepath.SkipDir
		case !d.IsDir() && strings.HasSuffix(path, "_test.go"):
			data, err := os.ReadFile(path)
			tests.Write(data)
			return err
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	for _, st := range pipeline.RegisteredStageTypes() {
		names := append([]string{st.Name}, st.Aliases...)
		documented := slices.ContainsFunc(names, func(n string) bool {
			return regexp.MustCompile("(?m)^\\| [^|]*`" + regexp.QuoteMeta(n) + "`").Match(readme)
		})
		if !documented {
			t.Errorf("stage type %s is not in the README's table of stage types", st.Name)
		}
		used := regexp.MustCompile(`"type":\s*"` + regexp.QuoteMeta(st.Name) + `"|type:\s*` + regexp.QuoteMeta(st.Name) +
			`\b|[sS]tage(JSON)?\("[^"]*",\s*"` + regexp.QuoteMeta(st.Name) + `"`)
		if !used.MatchString(tests.String()) {
			t.Errorf("no test runs a pipeline with a %s stage", st.Name)
		}
	}
}
