package api

import (
	"bytes"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"

	"sigs.k8s.io/yaml"
)

// decodeStrict reads a JSON object, refusing unknown fields so a typo is an error, not ignored.
func decodeStrict(body []byte, v any) error {
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return err
	}
	if dec.More() {
		return fmt.Errorf("unexpected data after the JSON object")
	}
	return nil
}

// isObject reports whether a JSON or YAML body holds an object. A pipeline is decoded from null or an
// empty YAML document as an empty pipeline, and saving that would silently drop every stage.
func isObject(body []byte) bool {
	trimmed := bytes.TrimSpace(body)
	if len(trimmed) > 0 && trimmed[0] == '{' {
		return true
	}
	converted, err := yaml.YAMLToJSON(body)
	converted = bytes.TrimSpace(converted)
	return err == nil && len(converted) > 0 && converted[0] == '{'
}

// pageTokenSumLen is the length of the checksum a page token starts with.
const pageTokenSumLen = 8

// encodePageToken wraps Temporal's page token with a checksum of it and of the listing query. Temporal
// answers an altered token with an internal error that its client retries until the deadline, so
// the API refuses a token it did not issue, or one issued for another filter, before asking.
func encodePageToken(query string, t []byte) string {
	return base64.RawURLEncoding.EncodeToString(append(pageTokenSum(query, t), t...))
}

func decodePageToken(query, s string) ([]byte, error) {
	raw, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil {
		return nil, err
	}
	if len(raw) < pageTokenSumLen || !bytes.Equal(raw[:pageTokenSumLen], pageTokenSum(query, raw[pageTokenSumLen:])) {
		return nil, errors.New("the page token does not belong to this listing")
	}
	return raw[pageTokenSumLen:], nil
}

func pageTokenSum(query string, t []byte) []byte {
	h := sha256.New()
	h.Write([]byte(query))
	h.Write([]byte{0})
	h.Write(t)
	return h.Sum(nil)[:pageTokenSumLen]
}
