// Package bake makes the immutable artifacts a release deploys. Container images are built here
// without a Docker daemon, as ko and Jib do: a base image pulled from a registry, layers made from
// the build's files and packages, labels, and the result pushed to a registry. The same inputs
// always give the same image digest.
package bake

import (
	"archive/tar"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"path"
	"slices"
	"strings"
	"time"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/remote/transport"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
)

// ErrInvalid marks a bake that cannot succeed as asked: a file that is not what it says, a base
// image that does not exist. Retrying does not help.
var ErrInvalid = errors.New("invalid bake")

// epoch is the time every file and the image itself carry, so that the digest depends on the
// content only (ko and Jib do the same).
var epoch = time.Unix(0, 0).UTC()

// File is one input of a container bake, added to the image as its kind says.
type File struct {
	// Name is the file's name; for a plain file, an absolute name is its path in the image and a
	// relative one goes under /app.
	Name string
	Kind FileKind
	Data []byte
}

// FileKind says how a file joins the image.
type FileKind string

// The kinds of files a container bake takes.
const (
	// Plain is a file copied into the image.
	Plain FileKind = "file"
	// Tarball is a tar archive (plain, gzip, xz or zstd) whose entries are unpacked at /.
	Tarball FileKind = "tarball"
	// Deb is a Debian package whose files (its data.tar) are unpacked at /; its maintainer
	// scripts are not run.
	Deb FileKind = "deb"
)

// KindOf is the kind of a file by its name.
func KindOf(name string) FileKind {
	switch n := strings.ToLower(name); {
	case strings.HasSuffix(n, ".deb"):
		return Deb
	case strings.HasSuffix(n, ".tar"), strings.HasSuffix(n, ".tar.gz"), strings.HasSuffix(n, ".tgz"),
		strings.HasSuffix(n, ".tar.xz"), strings.HasSuffix(n, ".tar.zst"):
		return Tarball
	}
	return Plain
}

// ContainerRequest is one container image to bake.
type ContainerRequest struct {
	// Base is the image to start from, by tag or digest; empty starts from nothing (scratch).
	Base string
	// Target is where the image goes: registry/repository:tag.
	Target string
	Files  []File
	Labels map[string]string
	// Insecure talks plain HTTP to the registries.
	Insecure bool
	// Push pushes the image even when the target already holds it.
	Push bool
}

// ContainerResult is the image baked.
type ContainerResult struct {
	// Repository is registry/repository, Digest the image's (sha256:…), and Reference both, the
	// way a deploy pins it.
	Repository string
	Tag        string
	Digest     string
	Reference  string
	// BaseDigest is the base image's digest, as it was resolved.
	BaseDigest string
	// Existed means the target tag already held this very image: nothing was pushed.
	Existed bool
}

// BakeContainer builds the image and pushes it, unless the target already holds it. Pushing the
// same image again changes nothing, so a bake retried after a crash is safe.
func BakeContainer(ctx context.Context, in ContainerRequest) (ContainerResult, error) {
	remoteOpts := []remote.Option{remote.WithContext(ctx), remote.WithAuthFromKeychain(authn.DefaultKeychain)}
	nameOpts := []name.Option{name.StrictValidation}
	if in.Insecure {
		nameOpts = []name.Option{name.Insecure}
	}
	target, err := name.NewTag(in.Target, nameOpts...)
	if err != nil {
		return ContainerResult{}, fmt.Errorf("%w: target image %q: %v", ErrInvalid, in.Target, err)
	}
	base := empty.Image
	var res ContainerResult
	if in.Base != "" {
		ref, err := name.ParseReference(in.Base, nameOpts...)
		if err != nil {
			return ContainerResult{}, fmt.Errorf("%w: base image %q: %v", ErrInvalid, in.Base, err)
		}
		if base, err = remote.Image(ref, remoteOpts...); err != nil {
			return ContainerResult{}, registryError(err, "read the base image %s", in.Base)
		}
		d, err := base.Digest()
		if err != nil {
			return ContainerResult{}, fmt.Errorf("base image %s: %w", in.Base, err)
		}
		res.BaseDigest = d.String()
	}
	img, err := build(base, in.Files, in.Labels)
	if err != nil {
		return ContainerResult{}, err
	}
	digest, err := img.Digest()
	if err != nil {
		return ContainerResult{}, err
	}
	res.Repository, res.Tag, res.Digest = target.Context().Name(), target.TagStr(), digest.String()
	res.Reference = res.Repository + "@" + res.Digest
	if existing, err := remote.Head(target, remoteOpts...); !in.Push && err == nil && existing.Digest == digest {
		res.Existed = true
		return res, nil
	}
	if err := remote.Write(target, img, remoteOpts...); err != nil {
		return ContainerResult{}, registryError(err, "push %s", in.Target)
	}
	return res, nil
}

// registryError words a registry's refusal; one that names no such image or repository, or
// refuses the credentials, cannot be cured by retrying.
func registryError(err error, format string, args ...any) error {
	var terr *transport.Error
	if errors.As(err, &terr) && !terr.Temporary() && terr.StatusCode < 500 && terr.StatusCode != 429 {
		return fmt.Errorf("%w: %s: %v", ErrInvalid, fmt.Sprintf(format, args...), err)
	}
	return fmt.Errorf("%s: %w", fmt.Sprintf(format, args...), err)
}

// build appends one layer per file to base, in order, and sets the labels; every time in it is
// epoch.
func build(base v1.Image, files []File, labels map[string]string) (v1.Image, error) {
	var adds []mutate.Addendum
	for _, f := range files {
		entries, err := entriesOf(f)
		if err != nil {
			return nil, fmt.Errorf("%w: %s: %v", ErrInvalid, f.Name, err)
		}
		data, err := writeTar(entries)
		if err != nil {
			return nil, err
		}
		layer, err := tarball.LayerFromOpener(func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(data)), nil })
		if err != nil {
			return nil, err
		}
		adds = append(adds, mutate.Addendum{Layer: layer, History: v1.History{
			Created: v1.Time{Time: epoch}, CreatedBy: fmt.Sprintf("gennaker bake: %s %s", f.Kind, f.Name), Comment: "gennaker"}})
	}
	img, err := mutate.Append(base, adds...)
	if err != nil {
		return nil, err
	}
	cf, err := img.ConfigFile()
	if err != nil {
		return nil, err
	}
	cfg := cf.Config.DeepCopy()
	if len(labels) > 0 && cfg.Labels == nil {
		cfg.Labels = map[string]string{}
	}
	for k, v := range labels {
		cfg.Labels[k] = v
	}
	if img, err = mutate.Config(img, *cfg); err != nil {
		return nil, err
	}
	return mutate.CreatedAt(img, v1.Time{Time: epoch})
}

// entry is one file, directory or link of a layer.
type entry struct {
	hdr  tar.Header
	data []byte
}

// entriesOf reads what a file adds to the image.
func entriesOf(f File) ([]entry, error) {
	switch f.Kind {
	case Tarball:
		return readTar(f.Data)
	case Deb:
		data, err := debData(f.Data)
		if err != nil {
			return nil, err
		}
		return readTar(data)
	}
	p := f.Name
	if !path.IsAbs(p) {
		p = path.Join("/app", p)
	}
	p = path.Clean(p)
	var out []entry
	// Its directories, so that the layer stands on its own.
	for dir := path.Dir(p); dir != "/"; dir = path.Dir(dir) {
		out = append(out, entry{hdr: tar.Header{Typeflag: tar.TypeDir, Name: strings.TrimPrefix(dir, "/") + "/", Mode: 0o755}})
	}
	out = append(out, entry{hdr: tar.Header{Typeflag: tar.TypeReg, Name: strings.TrimPrefix(p, "/"), Mode: 0o644, Size: int64(len(f.Data))}, data: f.Data})
	return out, nil
}

// readTar reads a tar archive, compressed or not.
func readTar(data []byte) ([]entry, error) {
	r, err := decompress(data)
	if err != nil {
		return nil, err
	}
	tr := tar.NewReader(r)
	var out []entry
	for {
		hdr, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return out, nil
		}
		if err != nil {
			return nil, fmt.Errorf("not a tar archive: %v", err)
		}
		body, err := io.ReadAll(tr)
		if err != nil {
			return nil, err
		}
		out = append(out, entry{hdr: *hdr, data: body})
	}
}

// writeTar writes entries as a layer: sorted by name, each once (the last wins), owned by root,
// every time epoch, so that the same files give the same bytes.
func writeTar(entries []entry) ([]byte, error) {
	byName := map[string]entry{}
	for _, e := range entries {
		n := strings.TrimPrefix(path.Clean("/"+e.hdr.Name), "/")
		if n == "" {
			continue
		}
		if e.hdr.Typeflag == tar.TypeDir {
			n += "/"
		}
		e.hdr.Name = n
		byName[n] = e
	}
	names := make([]string, 0, len(byName))
	for n := range byName {
		names = append(names, n)
	}
	slices.Sort(names)
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, n := range names {
		e := byName[n]
		hdr := tar.Header{Typeflag: e.hdr.Typeflag, Name: n, Linkname: e.hdr.Linkname, Mode: e.hdr.Mode & 0o7777,
			Size: int64(len(e.data)), ModTime: epoch, Format: tar.FormatPAX}
		if hdr.Typeflag == 0 {
			// Old archives mark regular files with NUL.
			hdr.Typeflag = tar.TypeReg
		}
		if hdr.Typeflag != tar.TypeReg {
			hdr.Size = 0
		}
		if err := tw.WriteHeader(&hdr); err != nil {
			return nil, err
		}
		if hdr.Size > 0 {
			if _, err := tw.Write(e.data); err != nil {
				return nil, err
			}
		}
	}
	if err := tw.Close(); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}
