package postgres

import (
	"fmt"
	"strings"
	"testing"
)

func TestEndpointFormatsWithoutPassword(t *testing.T) {
	e := Endpoint{Host: "127.0.0.1", Port: 5432, User: "postgres", Password: "s3cret-pw", Database: "postgres"}
	for _, f := range []string{"%v", "%+v", "%#v", "%s"} {
		if got := fmt.Sprintf(f, e); strings.Contains(got, "s3cret-pw") {
			t.Errorf("%s prints the password: %s", f, got)
		}
	}
}
