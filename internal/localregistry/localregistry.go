// Package localregistry runs the container registry `gennaker dev` gives container bakes: an OCI
// distribution registry (go-containerregistry's) served in process on loopback, its blobs kept
// under the data directory, with an empty base image to bake on.
package localregistry

import (
	"context"
	"errors"
	"io"
	"log"
	"net"
	"net/http"
	"os"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/registry"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/remote"

	"github.com/gennaker/gennaker/bake"
)

// BaseOS is the base image the local bakery offers: an empty image, for bakes whose packages
// bring everything (the local cluster runs no containers anyway).
const BaseOS = "scratch"

// Registry is a running local registry.
type Registry struct {
	// Host is its host:port.
	Host string
	srv  *http.Server
}

// Start serves a registry on a free loopback port, its blobs in dir, and pushes the base image.
func Start(ctx context.Context, dir string) (*Registry, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	r := &Registry{Host: ln.Addr().String(), srv: &http.Server{
		Handler:           registry.New(registry.Logger(log.New(io.Discard, "", 0)), registry.WithBlobHandler(registry.NewDiskBlobHandler(dir))),
		ReadHeaderTimeout: 10 * time.Second,
	}}
	go func() { _ = r.srv.Serve(ln) }()
	if err := r.pushBase(ctx); err != nil {
		r.Stop()
		return nil, err
	}
	return r, nil
}

// BaseImage is the reference of the base image.
func (r *Registry) BaseImage() string { return r.Host + "/base/" + BaseOS + ":latest" }

// Bakery is the container bakery that pushes here.
func (r *Registry) Bakery() *bake.ContainerBakery {
	return &bake.ContainerBakery{Registry: r.Host, Insecure: true, BaseImages: []bake.BaseImage{{BaseOS: BaseOS, Image: r.BaseImage()}}}
}

func (r *Registry) pushBase(ctx context.Context) error {
	tag, err := name.NewTag(r.BaseImage(), name.Insecure)
	if err != nil {
		return err
	}
	return remote.Write(tag, empty.Image, remote.WithContext(ctx))
}

// Stop ends the server.
func (r *Registry) Stop() {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := r.srv.Shutdown(ctx); err != nil && !errors.Is(err, http.ErrServerClosed) {
		_ = r.srv.Close()
	}
}
