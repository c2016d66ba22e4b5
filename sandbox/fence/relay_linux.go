package fence

import (
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"

	"github.com/arcodange/labsbx/sandbox/guard"
)

// relayRequest is one labsbx command line run inside the fence; its standard streams
// and the socket of the answer travel beside it (SCM_RIGHTS, in that order).
type relayRequest struct {
	Args []string `json:"args"`
	Dir  string   `json:"dir"`
	Env  []string `json:"env"`
}

// Relay is labsbx run inside a fence (EnvRelay set): it asks the labsbx outside to run
// args there, with this process's standard streams, and ends with its exit status.
func Relay(fdText string, args []string) int {
	fd, err := strconv.Atoi(fdText)
	if err != nil || fd < 3 {
		fmt.Fprintf(os.Stderr, "labsbx: %s=%q is not a descriptor\n", EnvRelay, fdText)
		return 1
	}
	answer, err := socketpair(unix.SOCK_STREAM)
	if err != nil {
		fmt.Fprintf(os.Stderr, "labsbx: %v\n", err)
		return 1
	}
	defer closeAll(answer[:]...)
	dir, _ := os.Getwd()
	var env []string
	for _, kv := range guard.ScrubbedEnv(os.Environ()) {
		if len(kv) > len(EnvRelay) && kv[:len(EnvRelay)+1] == EnvRelay+"=" {
			continue
		}
		env = append(env, kv)
	}
	b, err := json.Marshal(relayRequest{Args: args, Dir: dir, Env: env})
	if err == nil {
		err = unix.Sendmsg(fd, b, unix.UnixRights(0, 1, 2, int(answer[1].Fd())), nil, 0)
	}
	if err != nil {
		fmt.Fprintf(os.Stderr, "labsbx: inside the fence, the labsbx outside cannot be reached: %v\n", err)
		return 1
	}
	_ = answer[1].Close()
	var code int32
	if err := binary.Read(answer[0], binary.BigEndian, &code); err != nil {
		fmt.Fprintln(os.Stderr, "labsbx: the labsbx outside the fence ended without an exit status")
		return 1
	}
	return int(code)
}

// serveRelay runs, outside the fence, each labsbx command line asked from inside.
func (r *fenced) serveRelay() {
	defer r.wg.Done()
	for {
		buf := make([]byte, 1<<16)
		oob := make([]byte, unix.CmsgSpace(4*4))
		n, oobn, _, _, err := r.relay.ReadMsgUnix(buf, oob)
		if err != nil || n == 0 || r.ctx.Err() != nil {
			return
		}
		files := rightsOf(oob[:oobn])
		var req relayRequest
		if json.Unmarshal(buf[:n], &req) != nil || len(files) != 4 {
			closeAll(files...)
			continue
		}
		r.wg.Add(1)
		go r.runRelayed(req, files)
	}
}

func (r *fenced) runRelayed(req relayRequest, files []*os.File) {
	defer r.wg.Done()
	defer closeAll(files...)
	cmd := exec.CommandContext(r.ctx, r.self, req.Args...)
	cmd.Stdin, cmd.Stdout, cmd.Stderr, cmd.Dir, cmd.Env = files[0], files[1], files[2], req.Dir, outsideHome(req.Env)
	code := int32(0)
	err := cmd.Run()
	var exit *exec.ExitError
	switch {
	case errors.As(err, &exit):
		code = int32(exit.ExitCode())
	case err != nil:
		fmt.Fprintf(files[2], "labsbx: relay: %v\n", err)
		code = 1
	}
	_ = binary.Write(files[3], binary.BigEndian, code)
}

// outsideHome is env with HOME and DOCKER_CONFIG as they are outside the fence: the
// relayed labsbx runs as the labsbx outside does (its state root, its own fence for a
// command it runs, whose HOME must not be the caller's), not with the fenced
// command's HOME of the sandbox.
func outsideHome(env []string) []string {
	out := make([]string, 0, len(env)+2)
	for _, kv := range env {
		k, _, _ := strings.Cut(kv, "=")
		if k != "HOME" && k != "DOCKER_CONFIG" {
			out = append(out, kv)
		}
	}
	for _, k := range []string{"HOME", "DOCKER_CONFIG"} {
		if v, ok := os.LookupEnv(k); ok {
			out = append(out, k+"="+v)
		}
	}
	return out
}
