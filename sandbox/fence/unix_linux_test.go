package fence

import (
	"bufio"
	"bytes"
	"context"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/arcodange/labsbx/sandbox/guard"
)

// A unix socket of the fence reaches the approved port, and nothing when the guard
// refuses the receiver.
func TestServeUnix(t *testing.T) {
	port := listen(t, "127.0.0.1:0", "sandbox")
	p := guard.FencePort{Name: "postgres", Port: port}
	f := approved(t, p)
	dir, err := os.MkdirTemp("", "fence-")
	if err != nil {
		t.Fatal(err)
	}
	defer os.RemoveAll(dir)
	var log bytes.Buffer
	u, err := ServeUnix(context.Background(), f.Approval, p, filepath.Join(dir, "s"), &log)
	if err != nil {
		t.Fatal(err)
	}
	defer u.Close()
	c, err := net.Dial("unix", filepath.Join(dir, "s"))
	if err != nil {
		t.Fatal(err)
	}
	line, err := bufio.NewReader(c).ReadString('\n')
	_ = c.Close()
	if err != nil || line != "sandbox\n" {
		t.Fatalf("through the socket: %q %v", line, err)
	}
	if _, err := ServeUnix(context.Background(), guard.FenceApproval{}, p, filepath.Join(dir, "z"), &log); err == nil || !strings.Contains(err.Error(), "refused") {
		t.Errorf("a zero approval: %v", err)
	}
}
