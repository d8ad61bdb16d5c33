package sources_test

import (
	"errors"
	"slices"
	"strings"
	"testing"

	"github.com/gennaker/gennaker/canary/metrics/prometheus"
	"github.com/gennaker/gennaker/canary/sources"
)

func TestNewPrometheus(t *testing.T) {
	src, err := sources.New("prometheus", sources.Config{Prometheus: prometheus.Config{URL: "http://127.0.0.1:9090"}})
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := src.(*prometheus.Source); !ok {
		t.Errorf("New(prometheus) = %T, want *prometheus.Source", src)
	}
}

func TestNewPassesConfigErrorsOn(t *testing.T) {
	_, err := sources.New("prometheus", sources.Config{})
	if err == nil || !strings.Contains(err.Error(), "metric source prometheus") || !strings.Contains(err.Error(), "URL") {
		t.Errorf("err = %v, want the Prometheus config error with the type", err)
	}
}

func TestNewUnknownType(t *testing.T) {
	for _, typ := range []string{"datadog", "", "Prometheus"} {
		src, err := sources.New(typ, sources.Config{Prometheus: prometheus.Config{URL: "http://127.0.0.1:9090"}})
		if !errors.Is(err, sources.ErrUnknownType) || src != nil {
			t.Fatalf("New(%q) = %v, %v; want ErrUnknownType", typ, src, err)
		}
		want := `unknown metric source type "` + typ + `" (known: prometheus)`
		if err.Error() != want {
			t.Errorf("error %q, want %q", err, want)
		}
	}
}

func TestTypes(t *testing.T) {
	if got := sources.Types(); !slices.Equal(got, []string{"prometheus"}) {
		t.Errorf("Types() = %v, want [prometheus]", got)
	}
}
