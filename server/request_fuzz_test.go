package server

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"unicode/utf8"
)

// FuzzDecodeRequest: any bytes sent as the body of any JSON endpoint are
// decoded or refused with a 400 whose message speaks JSON, never a panic
// or a 500; what is accepted is UTF-8, nests at most 256 levels and
// re-encodes as JSON.
func FuzzDecodeRequest(f *testing.F) {
	for _, s := range []string{
		`{"input": {"a": [1, 2, {"b": null}]}, "version": 2, "idempotency_key": "k"}`,
		`{"worker_id": "w", "queues": ["q"], "max": 4, "wait": "30s", "resources": {"gpu": 1}}`,
		`{"lease": "l", "error": {"message": "m", "type": "t"}, "retryable": true}`,
		`{"lease": "l", "output": {"r2": 0.9}}`, `{"from": "a", "input": {}, "latest": true}`,
		`{"action": "cancel", "ids": ["a"], "flow": "f", "status": "failed"}`, `{"role": "admin", "name": "n"}`,
		"{\"input\": {\"s\": \"a\xffb\"}}", `{"input": "\u0000"}`, `{"input": "\ud800"}`, `[]`, `{"version": "2"}`,
		`{"inptu": 1}`, `{"error": {"kind": 1}}`, strings.Repeat("[", 300) + strings.Repeat("]", 300), `{"version": 1e400}`,
	} {
		f.Add([]byte(s))
	}
	targets := func() []any {
		return []any{&startRequest{}, &pollRequest{}, &failRequest{}, &completeRequest{}, &leaseRequest{},
			&rerunRequest{}, &bulkRequest{}, &tokenRequest{}}
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		for _, v := range targets() {
			err := decodeJSON(body, v, true)
			if err != nil {
				var ae *apiError
				if !errors.As(err, &ae) || ae.status != 400 || ae.msg == "" {
					t.Fatalf("%T: error %v is not a 400 with a message", v, err)
				}
				for _, bad := range []string{"server.", "Go struct", "json: ", "reflect"} {
					if strings.Contains(ae.msg, bad) {
						t.Fatalf("%T: message speaks Go: %q", v, ae.msg)
					}
				}
				continue
			}
			out, err := json.Marshal(v)
			if err != nil {
				t.Fatalf("%T: accepted %q but does not re-encode: %v", v, body, err)
			}
			if !utf8.Valid(out) {
				t.Fatalf("%T: accepted text is not UTF-8: %q", v, out)
			}
		}
	})
}
