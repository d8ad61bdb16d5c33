package bake

import (
	"bytes"
	"compress/gzip"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"

	"github.com/klauspost/compress/zstd"
	"github.com/ulikunitz/xz"
)

// debData reads the data archive of a Debian package: an ar archive whose data.tar member
// (plain, gzip, xz or zstd, as dpkg-deb writes them) holds the files it installs.
func debData(deb []byte) ([]byte, error) {
	const magic = "!<arch>\n"
	if !bytes.HasPrefix(deb, []byte(magic)) {
		return nil, errors.New("not a Debian package (no ar archive)")
	}
	rest := deb[len(magic):]
	for len(rest) >= 60 {
		hdr := rest[:60]
		name := strings.TrimSuffix(strings.TrimSpace(string(hdr[:16])), "/")
		size, err := strconv.ParseInt(strings.TrimSpace(string(hdr[48:58])), 10, 64)
		if err != nil || size < 0 || int64(len(rest)-60) < size {
			return nil, fmt.Errorf("the Debian package's member %q is damaged", name)
		}
		body := rest[60 : 60+size]
		if strings.HasPrefix(name, "data.tar") {
			return body, nil
		}
		rest = rest[60+size:]
		if size%2 == 1 && len(rest) > 0 {
			rest = rest[1:]
		}
	}
	return nil, errors.New("the Debian package has no data.tar")
}

// decompress opens data as plain, gzip, xz or zstd, by its first bytes.
func decompress(data []byte) (io.Reader, error) {
	switch {
	case bytes.HasPrefix(data, []byte{0x1f, 0x8b}):
		return gzip.NewReader(bytes.NewReader(data))
	case bytes.HasPrefix(data, []byte{0xfd, '7', 'z', 'X', 'Z', 0x00}):
		return xz.NewReader(bytes.NewReader(data))
	case bytes.HasPrefix(data, []byte{0x28, 0xb5, 0x2f, 0xfd}):
		d, err := zstd.NewReader(bytes.NewReader(data))
		if err != nil {
			return nil, err
		}
		return d.IOReadCloser(), nil
	}
	return bytes.NewReader(data), nil
}
