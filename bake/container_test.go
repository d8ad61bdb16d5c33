package bake

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"context"
	"errors"
	"io"
	"log"
	"net/http/httptest"
	"net/url"
	"testing"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/registry"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/remote"

	"github.com/gennaker/gennaker/internal/imagetest"
)

// These tests push to go-containerregistry's registry, a real OCI distribution implementation
// served in process; the end-to-end test of the bake stage pushes to Debian's docker-registry.

func startRegistry(t *testing.T) string {
	t.Helper()
	srv := httptest.NewServer(registry.New(registry.Logger(log.New(io.Discard, "", 0))))
	t.Cleanup(srv.Close)
	u, _ := url.Parse(srv.URL)
	return u.Host
}

// pushBase pushes a small random base image and returns its reference.
func pushBase(t *testing.T, host string) string {
	t.Helper()
	img, err := random.Image(256, 1)
	if err != nil {
		t.Fatal(err)
	}
	ref := host + "/base/debian:12"
	tag, _ := name.NewTag(ref, name.Insecure)
	if err := remote.Write(tag, img); err != nil {
		t.Fatal(err)
	}
	return ref
}

func gzipTar(t *testing.T, files map[string]string) []byte {
	t.Helper()
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	tw := tar.NewWriter(zw)
	for n, c := range files {
		if err := tw.WriteHeader(&tar.Header{Name: n, Mode: 0o755, Size: int64(len(c)), Typeflag: tar.TypeReg}); err != nil {
			t.Fatal(err)
		}
		if _, err := tw.Write([]byte(c)); err != nil {
			t.Fatal(err)
		}
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func TestBakeContainerIsReproducibleAndUnpacksPackages(t *testing.T) {
	host := startRegistry(t)
	base := pushBase(t, host)
	files := []File{
		{Name: "web.deb", Kind: Deb, Data: imagetest.BuildDeb(t)},
		{Name: "bin.tar.gz", Kind: Tarball, Data: gzipTar(t, map[string]string{"usr/local/bin/web": "#!/bin/sh\n", "etc/web/a": "a", "etc/web/b": "b"})},
		{Name: "/etc/web/config.yaml", Kind: Plain, Data: []byte("port: 8080\n")},
		{Name: "notes.txt", Kind: Plain, Data: []byte("notes")},
	}
	labels := map[string]string{"appversion": "web-1.2.3-h7.abc1234", "build_info_url": "https://ci.example.com/job/web/7"}
	ctx := context.Background()
	first, err := BakeContainer(ctx, ContainerRequest{Base: base, Target: host + "/acme/web:abc1234", Files: files, Labels: labels, Insecure: true})
	if err != nil {
		t.Fatal(err)
	}
	if first.Existed || first.Repository != host+"/acme/web" || first.Reference != first.Repository+"@"+first.Digest || first.BaseDigest == "" {
		t.Errorf("first bake %+v", first)
	}
	// The same inputs again, to another tag: the same digest.
	again, err := BakeContainer(ctx, ContainerRequest{Base: base, Target: host + "/acme/web:again", Files: files, Labels: labels, Insecure: true})
	if err != nil {
		t.Fatal(err)
	}
	if again.Digest != first.Digest {
		t.Errorf("the same inputs gave %s, then %s", first.Digest, again.Digest)
	}
	// And to the same tag: nothing to push.
	if same, err := BakeContainer(ctx, ContainerRequest{Base: base, Target: host + "/acme/web:abc1234", Files: files, Labels: labels, Insecure: true}); err != nil || !same.Existed {
		t.Errorf("baking the same image to its tag again: %+v, %v", same, err)
	}
	// Another label, another digest.
	labels["appversion"] = "web-1.2.4-h8.def5678"
	other, err := BakeContainer(ctx, ContainerRequest{Base: base, Target: host + "/acme/web:def5678", Files: files, Labels: labels, Insecure: true})
	if err != nil || other.Digest == first.Digest {
		t.Errorf("a changed label gave %+v, %v", other, err)
	}

	ref, _ := name.ParseReference(first.Reference, name.Insecure)
	img, err := remote.Image(ref)
	if err != nil {
		t.Fatal(err)
	}
	got := imagetest.Files(t, img)
	for p, want := range map[string]string{"/usr/share/web/VERSION": "1.2.3\n", "/usr/local/bin/web": "#!/bin/sh\n", "/etc/web/b": "b",
		"/etc/web/config.yaml": "port: 8080\n", "/app/notes.txt": "notes"} {
		if got[p] != want {
			t.Errorf("%s holds %q, want %q", p, got[p], want)
		}
	}
	cf, err := img.ConfigFile()
	if err != nil {
		t.Fatal(err)
	}
	if cf.Config.Labels["appversion"] != "web-1.2.3-h7.abc1234" || cf.Created.Unix() != 0 {
		t.Errorf("config labels %v, created %v", cf.Config.Labels, cf.Created)
	}
}

func TestBakeContainerRefusesWhatCannotWork(t *testing.T) {
	host := startRegistry(t)
	ctx := context.Background()
	for _, tt := range []struct {
		name string
		in   ContainerRequest
	}{
		{"a base image that is not there", ContainerRequest{Base: host + "/base/nothing:1", Target: host + "/acme/web:1", Insecure: true}},
		{"a package that is not one", ContainerRequest{Target: host + "/acme/web:1", Insecure: true, Files: []File{{Name: "web.deb", Kind: Deb, Data: []byte("hello")}}}},
		{"a tarball that is not one", ContainerRequest{Target: host + "/acme/web:1", Insecure: true, Files: []File{{Name: "x.tar.gz", Kind: Tarball, Data: []byte{0x1f, 0x8b, 1}}}}},
		{"a target that is no image name", ContainerRequest{Target: "Not An Image", Insecure: true}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := BakeContainer(ctx, tt.in); !errors.Is(err, ErrInvalid) {
				t.Errorf("got %v, want ErrInvalid", err)
			}
		})
	}
}

func TestKindOf(t *testing.T) {
	for n, want := range map[string]FileKind{"web_1.2.3_all.deb": Deb, "site.tar.gz": Tarball, "x.TGZ": Tarball, "a.tar.zst": Tarball, "config.yaml": Plain} {
		if got := KindOf(n); got != want {
			t.Errorf("KindOf(%q) = %s, want %s", n, got, want)
		}
	}
}
