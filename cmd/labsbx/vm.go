package main

import (
	"errors"
	"fmt"
	"io"
	"os/exec"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/arcodange/labsbx/sandbox"
	"github.com/arcodange/labsbx/sandbox/guard"
	"github.com/arcodange/labsbx/sandbox/vm"
	"github.com/arcodange/labsbx/vmimages"
)

func newVMCmd(g *globals) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "vm",
		Short: "Operate the sandbox's arm64 VMs: list, ssh, stop, start, inventory, image build",
		Long: `Operate the sandbox's arm64 VMs (create them with 'labsbx up --vms N').

Each VM is a qemu-system-aarch64 process on an overlay of a cached image, with SSH
forwarded on 127.0.0.1 only. The guard checks that a PID is the sandbox's own QEMU
before labsbx signals it or connects to its port.`,
		Args: noArgs,
	}
	cmd.AddCommand(newVMListCmd(g), newVMSSHCmd(g), newVMStopCmd(g), newVMStartCmd(g), newVMInventoryCmd(g), newVMImageCmd(g))
	return cmd
}

func newVMListCmd(g *globals) *cobra.Command {
	op := sandbox.NewVMList(g.conf)
	return &cobra.Command{
		Use:   "list",
		Short: "List the sandbox's VMs, whether each runs, and how to reach it",
		Args:  noArgs,
		RunE: func(*cobra.Command, []string) error {
			if _, err := g.configuration(); err != nil {
				return err
			}
			op.Name = g.name
			rows, err := op.Run()
			if err != nil {
				return err
			}
			return g.print(rows, func(w io.Writer) error { return vmListText(w, g.name, rows) })
		},
	}
}

func vmListText(w io.Writer, name string, rows []sandbox.VMStatus) error {
	if len(rows) == 0 {
		_, err := fmt.Fprintf(w, "Sandbox %q has no VMs; create them with 'labsbx up --vms N --name %s'.\n", name, name)
		return err
	}
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "NAME\tSTATE\tPID\tSSH\tUSER\tACCEL\tCPUS\tMEMORY\tIMAGE")
	for _, r := range rows {
		pid := "-"
		if r.PID > 0 {
			pid = fmt.Sprint(r.PID)
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s:%d\t%s\t%s\t%d\t%d MiB\t%s\n", r.Name, r.State, pid, r.Host, r.Port, r.User, r.Accel, r.CPUs, r.MemoryMiB, r.Image)
	}
	return tw.Flush()
}

// remoteExit carries the exit status of a command run in a VM, which labsbx exits with.
type remoteExit struct {
	vm   string
	code int
}

func (e *remoteExit) Error() string       { return fmt.Sprintf("%s: exit status %d", e.vm, e.code) }
func (e *remoteExit) RemoteExitCode() int { return e.code }

func newVMSSHCmd(g *globals) *cobra.Command {
	op := sandbox.NewVMSSH(g.conf)
	return &cobra.Command{
		Use:   "ssh <vm> [-- command...]",
		Short: "Log into a VM, or run a command in it, with the sandbox's SSH key",
		Long: `Log into a VM with ssh(1), or run a command in it, as the VM's user with the
sandbox's key. The host is always 127.0.0.1, the port is the one the VM's own QEMU
forwards, and the VM's host key is checked strictly against the one labsbx gave it.
labsbx exits with the command's exit status.`,
		Example: `  labsbx vm ssh vm-0
  labsbx vm ssh vm-0 -- uname -m`,
		Args: func(cmd *cobra.Command, args []string) error {
			if len(args) == 0 {
				return usagef("name a VM: %q (see 'labsbx vm list')", cmd.CommandPath()+" <vm> [-- command...]")
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			if _, err := g.configuration(); err != nil {
				return err
			}
			op.Name, op.VM = g.name, args[0]
			sshArgs, err := op.Args()
			if err != nil {
				return err
			}
			if _, err := exec.LookPath("ssh"); err != nil {
				return errors.New("ssh not found: install the OpenSSH client (apt-get install openssh-client)")
			}
			sshArgs = append([]string{"-o", "LogLevel=ERROR"}, sshArgs...)
			if len(args) > 1 {
				sshArgs = append(sshArgs, "--")
				sshArgs = append(sshArgs, args[1:]...)
			}
			c := exec.CommandContext(cmd.Context(), "ssh", sshArgs...)
			c.Env = guard.ScrubbedEnv(environ(g))
			c.Stdin, c.Stdout, c.Stderr = cmd.InOrStdin(), g.stdout, g.stderr
			err = c.Run()
			var ee *exec.ExitError
			if errors.As(err, &ee) && ee.ExitCode() >= 0 {
				return &remoteExit{vm: args[0], code: ee.ExitCode()}
			}
			return err
		},
	}
}

func newVMStopCmd(g *globals) *cobra.Command {
	op := sandbox.NewVMStop(g.conf)
	cmd := &cobra.Command{
		Use:   "stop <vm>",
		Short: "Stop a VM: the guest powers off cleanly (--hard: QEMU is terminated)",
		Args:  exactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if _, err := g.configuration(); err != nil {
				return err
			}
			op.Name, op.VM = g.name, args[0]
			res, err := op.Run(cmd.Context())
			if err != nil {
				return err
			}
			return g.print(res, func(w io.Writer) error {
				if !res.Stopped {
					_, err := fmt.Fprintf(w, "VM %s was not running.\n", res.VM)
					return err
				}
				_, err := fmt.Fprintf(w, "VM %s stopped; its disk is kept. Start it with 'labsbx vm start %s --name %s'.\n", res.VM, res.VM, g.name)
				return err
			})
		},
	}
	cmd.Flags().BoolVar(&op.Hard, "hard", false, "terminate QEMU (SIGTERM, then SIGKILL) instead of powering the guest off")
	return cmd
}

func newVMStartCmd(g *globals) *cobra.Command {
	op := sandbox.NewVMStart(g.conf)
	return &cobra.Command{
		Use:   "start <vm>",
		Short: "Start a stopped VM on its own disk and wait until SSH answers",
		Args:  exactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if _, err := g.configuration(); err != nil {
				return err
			}
			op.Name, op.VM = g.name, args[0]
			res, err := op.Run(cmd.Context())
			if err != nil {
				return err
			}
			return g.print(res, func(w io.Writer) error {
				if !res.Started {
					_, err := fmt.Fprintf(w, "VM %s is already running.\n", res.VM)
					return err
				}
				r := res.Readiness
				_, err := fmt.Fprintf(w, "VM %s is up: SSH banner after %s, ready after %s.\n", res.VM, r.Banner.Round(100*time.Millisecond), r.Ready.Round(100*time.Millisecond))
				return err
			})
		},
	}
}

func newVMInventoryCmd(g *globals) *cobra.Command {
	op := sandbox.NewVMInventory(g.conf)
	cmd := &cobra.Command{
		Use:   "inventory",
		Short: "Print an Ansible inventory (YAML or INI) or an ssh_config of the sandbox's VMs",
		Long: `Print how to reach the sandbox's VMs: an Ansible inventory (YAML by default, or INI)
with host, port, user and key, or an ssh_config for 'ssh -F'. The files are also kept
in the sandbox state, beside the known_hosts file that pins each VM's host key.`,
		Example: `  labsbx vm inventory > inventory.yaml && ansible -i inventory.yaml all -m ping
  labsbx vm inventory -f ssh-config > ssh_config && ssh -F ssh_config vm-0 uname -m`,
		Args: noArgs,
		RunE: func(*cobra.Command, []string) error {
			if _, err := g.configuration(); err != nil {
				return err
			}
			op.Name = g.name
			res, err := op.Run()
			if errors.Is(err, sandbox.ErrBadFormat) {
				return &usageError{err}
			}
			if err != nil {
				return err
			}
			return g.print(res, func(w io.Writer) error { _, err := fmt.Fprint(w, res.Text); return err })
		},
	}
	cmd.Flags().StringVarP(&op.Format, "format", "f", vm.FormatYAML, "yaml, ini or ssh-config")
	_ = cmd.RegisterFlagCompletionFunc("format", cobra.FixedCompletions(vm.Formats, cobra.ShellCompDirectiveNoFileComp))
	return cmd
}

func newVMImageCmd(g *globals) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "image",
		Short: "Build the VM images",
		Args:  noArgs,
	}
	op := sandbox.NewVMImageBuild(g.conf)
	var source string
	build := &cobra.Command{
		Use:   "build [recipe]",
		Short: "Build a VM image into the cache (by recipe hash); nothing happens when it is there",
		Long: `Build the qcow2 image of a recipe (default debian-12-arm64) into
${LABSBX_CACHE_DIR:-${XDG_CACHE_HOME:-~/.cache}/labsbx}/vmimages/<recipe>-<hash>/.

On Linux the image is built from Debian's arm64 packages (mmdebstrap, as root; other
architectures run the arm64 packages' scripts under qemu-user). On macOS, or with
--source cloud, the official Debian arm64 cloud image is downloaded instead and
checked against Debian's SHA512SUMS.`,
		Example: `  labsbx vm image build
  labsbx vm image build debian-12-arm64 --source cloud`,
		ValidArgs: vmimages.Names(),
		RunE: func(cmd *cobra.Command, args []string) error {
			if len(args) > 1 {
				return usagef("%q takes at most one recipe", cmd.CommandPath())
			}
			if len(args) == 1 {
				op.Recipe = args[0]
			}
			src, err := vmimages.ParseSource(source)
			if err != nil {
				return &usageError{err}
			}
			op.Source = src
			if _, err := g.configuration(); err != nil {
				return err
			}
			res, err := op.Run(cmd.Context())
			if errors.Is(err, vmimages.ErrUnknownRecipe) {
				return &usageError{err}
			}
			if err != nil {
				return err
			}
			return g.print(res, func(w io.Writer) error {
				verb := "cached"
				if res.Built {
					verb = "built in " + res.Duration.Round(time.Second).String()
				}
				_, err := fmt.Fprintf(w, "Image %s-%s (%s): %s\n%s\n", res.Image.Recipe, res.Image.Hash, res.Image.Source, verb, res.Image.Dir)
				return err
			})
		},
	}
	build.Flags().StringVar(&source, "source", "auto", "auto (local on Linux, cloud elsewhere), local or cloud")
	build.Flags().BoolVar(&op.Force, "force", false, "build again even when the image is cached")
	cmd.AddCommand(build)
	return cmd
}

// environ is the process environment as the command sees it (getenv is injectable for
// tests; child processes still only get what guard.ScrubbedEnv keeps).
func environ(g *globals) []string {
	var out []string
	for _, k := range []string{"PATH", "HOME", "USER", "LOGNAME", "TERM", "LANG", "TZ", "TMPDIR"} {
		if v := g.getenv(k); v != "" {
			out = append(out, k+"="+v)
		}
	}
	return out
}
