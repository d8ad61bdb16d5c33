package api

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"fmt"
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

func encodePageToken(t []byte) string { return base64.RawURLEncoding.EncodeToString(t) }

func decodePageToken(s string) ([]byte, error) { return base64.RawURLEncoding.DecodeString(s) }
