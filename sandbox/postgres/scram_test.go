package postgres

import "testing"

// The verifier of a fixed password and salt, as Python's hashlib and hmac compute
// RFC 7677's SCRAM-SHA-256 (the form Postgres stores in pg_authid).
func TestSCRAMVerifier(t *testing.T) {
	got, err := scramVerifier("pencil", []byte("0123456789abcdef"), 4096)
	if err != nil {
		t.Fatal(err)
	}
	const want = "SCRAM-SHA-256$4096:MDEyMzQ1Njc4OWFiY2RlZg==$nQpbZ77WudtqufPwikHXGRt6g2QJ4zns8bZLw273DRM=:jn2amWP1q1h+jgjy0YTO14S6/F02SV7taipOeB7ef20="
	if got != want {
		t.Fatalf("verifier\n got %s\nwant %s", got, want)
	}
	a, _ := SCRAMVerifier("pencil")
	b, _ := SCRAMVerifier("pencil")
	if a == b {
		t.Error("two verifiers of one password share a salt")
	}
}
