package store

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
)

// stamp returns cfg with its id, application and name fields set. Every other field is copied byte
// for byte and in its original order, so the stored text stays recognisable to whoever wrote it and
// nothing the typed model does not know is lost. Missing fields are appended; an application or name
// that disagrees with where the config is being saved is refused rather than overwritten, because
// that is a rename, which saving does not do.
func stamp(cfg json.RawMessage, id, app, name string) (json.RawMessage, error) {
	want := map[string]string{"id": id, "application": app, "name": name}
	seen := map[string]bool{}

	dec := json.NewDecoder(bytes.NewReader(cfg))
	tok, err := dec.Token()
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrInvalidConfig, err)
	}
	if delim, ok := tok.(json.Delim); !ok || delim != '{' {
		return nil, fmt.Errorf("%w: not a JSON object", ErrInvalidConfig)
	}

	var out bytes.Buffer
	out.WriteByte('{')
	write := func(key string, value []byte) error {
		if out.Len() > 1 {
			out.WriteByte(',')
		}
		quoted, err := encodeString(key)
		if err != nil {
			return err
		}
		out.Write(quoted)
		out.WriteByte(':')
		out.Write(value)
		return nil
	}

	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return nil, fmt.Errorf("%w: %v", ErrInvalidConfig, err)
		}
		key, ok := tok.(string)
		if !ok {
			return nil, fmt.Errorf("%w: unexpected %v", ErrInvalidConfig, tok)
		}
		var value json.RawMessage
		if err := dec.Decode(&value); err != nil {
			return nil, fmt.Errorf("%w: field %q: %v", ErrInvalidConfig, key, err)
		}
		if target, ok := want[key]; ok {
			if key != "id" {
				if err := checkField(key, value, target); err != nil {
					return nil, err
				}
			}
			if value, err = encodeString(target); err != nil {
				return nil, err
			}
			seen[key] = true
		}
		if err := write(key, value); err != nil {
			return nil, err
		}
	}
	if _, err := dec.Token(); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrInvalidConfig, err)
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return nil, fmt.Errorf("%w: data after the config object", ErrInvalidConfig)
	}

	for _, key := range []string{"application", "name", "id"} {
		if seen[key] {
			continue
		}
		value, err := encodeString(want[key])
		if err != nil {
			return nil, err
		}
		if err := write(key, value); err != nil {
			return nil, err
		}
	}
	out.WriteByte('}')
	return out.Bytes(), nil
}

// checkField refuses an application or name field that is not a string or names something other
// than target. An empty string counts as unset, since an editor may send a blank form field.
func checkField(key string, value json.RawMessage, target string) error {
	if string(value) == "null" {
		return nil
	}
	var got string
	if err := json.Unmarshal(value, &got); err != nil {
		return fmt.Errorf("%w: field %q is not a string", ErrInvalidConfig, key)
	}
	if got != "" && got != target {
		return fmt.Errorf("%w: config has %s %q, saving under %q", ErrInvalidConfig, key, got, target)
	}
	return nil
}

// encodeString writes s as a JSON string without escaping <, > and &, which are common in
// pipeline expressions and would otherwise be stored as \u003c and friends.
func encodeString(s string) ([]byte, error) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(s); err != nil {
		return nil, fmt.Errorf("encoding %q: %w", s, err)
	}
	return bytes.TrimSuffix(buf.Bytes(), []byte("\n")), nil
}

// configID is the id a config gives, if it gives one as a non-empty string.
func configID(cfg json.RawMessage) string {
	var fields struct {
		ID any `json:"id"`
	}
	if json.Unmarshal(cfg, &fields) != nil {
		return ""
	}
	id, _ := fields.ID.(string)
	return strings.TrimSpace(id)
}
