// Package imagetest helps tests of baked images: a Debian package built with dpkg-deb, and the
// files an image holds.
package imagetest

import (
	"archive/tar"
	"errors"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
)

// DebFiles are the files the package BuildDeb makes installs, by path.
var DebFiles = map[string]string{"/usr/share/web/VERSION": "1.2.3\n", "/usr/share/web/index.md": "hello\n"}

// BuildDeb builds, with Debian's dpkg-deb, the package web 1.2.3, which installs DebFiles. The
// test is skipped where dpkg-deb is missing, and fails under CI.
func BuildDeb(t testing.TB) []byte {
	t.Helper()
	if _, err := exec.LookPath("dpkg-deb"); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal("dpkg-deb is missing; CI runs on Debian, which has it")
		}
		t.Skip("dpkg-deb is not installed")
	}
	dir := t.TempDir()
	root := filepath.Join(dir, "web")
	files := map[string]string{"DEBIAN/control": "Package: web\nVersion: 1.2.3\nArchitecture: all\nMaintainer: web team <web@example.com>\nDescription: web\n"}
	for p, c := range DebFiles {
		files[p[1:]] = c
	}
	for p, content := range files {
		if err := os.MkdirAll(filepath.Dir(filepath.Join(root, p)), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(root, p), []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	out, err := exec.Command("dpkg-deb", "--root-owner-group", "--build", root, filepath.Join(dir, "web.deb")).CombinedOutput()
	if err != nil {
		t.Fatalf("dpkg-deb: %v: %s", err, out)
	}
	deb, err := os.ReadFile(filepath.Join(dir, "web.deb"))
	if err != nil {
		t.Fatal(err)
	}
	return deb
}

// Files reads every regular file of an image's layers, by absolute path.
func Files(t testing.TB, img v1.Image) map[string]string {
	t.Helper()
	out := map[string]string{}
	tr := tar.NewReader(mutate.Extract(img))
	for {
		hdr, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return out
		}
		if err != nil {
			t.Fatal(err)
		}
		if hdr.Typeflag == tar.TypeReg {
			b, err := io.ReadAll(tr)
			if err != nil {
				t.Fatal(err)
			}
			out["/"+hdr.Name] = string(b)
		}
	}
}
