package guard

// Every check the guard runs, in order. Names (of a sandbox, of a VM) follow one rule,
// ValidName. A target is refused at the first
// failed check, and nothing is dialled before every offline check has passed.

// kubeChecks decide offline whether a kube context is the sandbox's cluster.
var kubeChecks = []step[*kubeRun]{
	{"kube-record", (*kubeRun).record},             // the sandbox recorded a cluster: valid name, UUID, context, loopback server, CA fingerprint
	{"context-name", (*kubeRun).contextName},       // the context is byte-for-byte the recorded k3d-labsbx-<name>
	{"kubeconfig-files", (*kubeRun).loadFiles},     // only the given files, each a readable, regular, well-formed kubeconfig (links followed)
	{"context-entry", (*kubeRun).contextEntry},     // the context is defined (first file wins, no conflicting copy) and uses the recorded user
	{"cluster-entry", (*kubeRun).clusterEntry},     // the context's own cluster field names the recorded cluster entry, defined without conflict
	{"server-loopback", (*kubeRun).serverLoopback}, // the server is https://<loopback literal>:<port>, no userinfo, path or query, never resolved
	{"server-port", (*kubeRun).serverPort},         // the port is the recorded port
	{"server-recorded", (*kubeRun).serverRecorded}, // the server is the recorded server
	{"tls-overrides", (*kubeRun).tlsOverrides},     // no proxy-url, insecure-skip-tls-verify or tls-server-name
	{"ca-file", (*kubeRun).caFile},                 // a CA file is no key path (~/.arcodange by name or by device and inode, cluster-keys.json), judged before it is opened
	{"ca-fingerprint", (*kubeRun).caFingerprint},   // the CA (inline or file) is exactly one certificate with the recorded sha256
	{"user-entry", (*kubeRun).userEntry},           // the user entry is defined without conflict; no impersonation or basic auth
	{"auth-plugin", (*kubeRun).authPlugin},         // no exec or auth-provider unless it is exactly the recorded one
	{"key-files", (*kubeRun).keyFiles},             // no tokenFile, client-certificate, client-key, exec command or path in its args, env or auth-provider config is a key path; none is opened
	{"credentials", (*kubeRun).credentials},        // the credentials are readable and complete
}

// kubeOnlineChecks run only after kubeChecks passed, against the approved server.
var kubeOnlineChecks = []step[*kubeOnline]{
	{"marker", (*kubeOnline).marker}, // ConfigMap kube-system/labsbx-sandbox carries the sandbox UUID (unless up has not written it yet)
}

// Kube.RequireVerified: the app-side observer (VSO, the demo apps) reads nothing before
// the marker is verified.

// vaultChecks decide offline whether a Vault address is the sandbox's Vault.
var vaultChecks = []step[*vaultRun]{
	{"vault-record", (*vaultRun).record},     // the sandbox recorded a Vault address (and, unless initialising, its cluster_id)
	{"vault-address", (*vaultRun).address},   // the address is http(s)://<loopback literal>:<port>, nothing else, never resolved
	{"vault-recorded", (*vaultRun).recorded}, // the address is the recorded address
	{"vault-receiver", (*vaultRun).receiver}, // a proof is given that every connection reaches the sandbox's own container (receiverChecks), on that port
}

// ApproveVaultAdopt (an up interrupted between init and recording the cluster_id) runs
// vaultChecks in init mode, then proves ownership online: the key saved at init unseals
// the Vault, or, when it is unsealed already, the saved root token is a root token there.

// PreflightVault runs vaultChecks offline on what a state recorded before any
// operation; before init, the recorded address must be exactly the one up writes,
// http://127.0.0.1:<port>.

// vaultOnlineChecks run only after vaultChecks passed, against the recorded address.
var vaultOnlineChecks = []step[*vaultRun]{
	{"vault-identity", (*vaultRun).identity}, // init: sys/init says uninitialised; else unsealed cluster_id equals the recorded one (sealed: pending)
}

// receiverChecks decide, right before and right after each connection that may carry
// a token, key or password opens (the two epochs must agree), whether the local port
// is served by the sandbox's own process: cluster_id and an answering port prove
// nothing. They read Docker; a container that is ours but down is ErrReceiverDown or
// ErrReceiverStopped, not a refusal, and nothing is sent (ReceiverProof.Prove,
// proveDial).
var receiverChecks = []step[*receiverRun]{
	{"receiver-engine", (*receiverRun).engineIdentity}, // the engine answering is the one the sandbox recorded at creation (ID and data root; checked once per proof)
	{"receiver-labels", (*receiverRun).labels},         // the container carries the sandbox UUID (a k3d node: UUID and component k3d)
	{"receiver-recorded", (*receiverRun).recorded},     // it is the container ID labsbx recorded (k3d nodes: by UUID)
	{"receiver-running", (*receiverRun).running},       // it runs, not paused or restarting (else: down, not refused)
	{"receiver-publishes", (*receiverRun).publishes},   // it publishes the container port on 127.0.0.1:<recorded port>; the epoch is its ID and start time
}

// keyChecks decide whether a path may hold an unseal key or root token.
var keyChecks = []step[*keyRun]{
	{"key-state-dir", (*keyRun).stateDir},         // the recorded state dir is an absolute, existing directory outside ~/.arcodange
	{"key-absolute", (*keyRun).absolute},          // the path is absolute (relative paths are refused, not guessed)
	{"key-no-dotdot", (*keyRun).noDotDot},         // no ".." element
	{"key-name", (*keyRun).name},                  // not named cluster-keys.json, in any case
	{"key-not-arcodange", (*keyRun).notArcodange}, // not under ~/.arcodange, lexically, through symlinks, or by identity (device and inode: a bind mount, a hard link)
	{"key-inside-state", (*keyRun).insideState},   // inside the state dir, lexically and after resolving every symlink
}

// writeChecks decide whether labsbx may write a file (or fill a directory) outside its
// state dir: a kubeconfig merge target, a report dir, a bundle dir. A kubeconfig lock
// (<file>.lock) is created beside an approved file with O_CREATE|O_EXCL, which never
// opens or follows an existing path.
var writeChecks = []step[*writeRun]{
	{"write-absolute", (*writeRun).absolute},          // the path is absolute, with no ".." element
	{"write-name", (*writeRun).name},                  // not named cluster-keys.json, in any case
	{"write-resolve", (*writeRun).resolve},            // every symlink resolved (dangling or looping: refused); the target is not named cluster-keys.json either, and stays in its approved dir
	{"write-not-arcodange", (*writeRun).notArcodange}, // neither the path nor its target is under ~/.arcodange, by name or by identity (a bind mount of it, a hard link into it)
	{"write-not-state", (*writeRun).notState},         // not inside a labsbx state root, nor inside any sandbox's state dir (recognised by its state file)
	{"write-type", (*writeRun).fileType},              // a regular file (a directory, for dirs) or a new path: never a device, FIFO or socket
	{"write-content", (*writeRun).content},            // an existing file parses as what labsbx is about to write there (a kubeconfig, a drill report, …)
}

// clusterChecks decide whether the k3d cluster labsbx-<name>, as the Docker engine
// shows it (not as k3d's node structs do: they keep only k3d.* labels), is the
// sandbox's, to use or to remove (ApproveCluster). A failed create's leftovers are
// judged the same way.
var clusterChecks = []step[*clusterRun]{
	{"cluster-record", (*clusterRun).record},      // a valid sandbox name and a recorded UUID
	{"cluster-network", (*clusterRun).network},    // network k3d-labsbx-<name>, if present, carries the UUID (labsbx makes it before k3d reuses it)
	{"cluster-volume", (*clusterRun).imageVolume}, // image volume k3d-labsbx-<name>-images, if present, carries the UUID (likewise)
	{"cluster-nodes", (*clusterRun).nodes},        // every container labelled k3d.cluster=labsbx-<name> carries the UUID, or is k3d's tools container, proven: exactly k3d-labsbx-<name>-tools, k3d's labels app=k3d, k3d.cluster=labsbx-<name>, k3d.role=noRole, no labsbx label, and it mounts that image volume carrying the UUID
	{"cluster-proof", (*clusterRun).proof},        // something present carries the UUID
}

// dockerChecks decide whether the Docker engine is the local one.
var dockerChecks = []step[*dockerRun]{
	{"docker-host", (*dockerRun).host},       // DOCKER_HOST, if set, is a unix:// socket (npipe:// on Windows) or tcp:// on a loopback literal
	{"docker-context", (*dockerRun).context}, // without DOCKER_HOST, the selected docker context (if any) passes the same rule
}

// vmChecks decide whether a PID may be signalled as a sandbox VM's QEMU. Only the
// last three read the process; none of them sends anything.
var vmChecks = []step[*vmRun]{
	{"vm-record", (*vmRun).record},          // the sandbox recorded a name, UUID and absolute state dir; the VM name is one labsbx gives
	{"vm-pidfile", (*vmRun).pidFileInState}, // the PID file is a regular file inside the state dir (lexically and resolved) holding a PID > 1
	{"vm-alive", (*vmRun).alive},            // the PID is a live process (gone or zombie: the VM is stopped, not refused)
	{"vm-identity", (*vmRun).identity},      // it is qemu-system-aarch64 with -name labsbx-<uuid>-<vm>, run by this user (/proc, or ps on macOS)
	{"vm-network", (*vmRun).network},        // its only network is user-mode with SSH forwarded on 127.0.0.1: no tap, bridge or LAN
}

// runbookChecks decide whether a drill file's commands may run (CheckRunbook): every
// command, command probe, http probe, manual step, and script file they name beside
// the drill file, read as written, before anything of the drill runs. The commands
// then run with RunbookEnv only: the identity allow-list of the caller's environment
// and the sandbox's endpoints. Once the sandbox is open, every loopback URL must be one
// of its recorded endpoints (ApproveRunbookURL).
var runbookChecks = []step[*runbookRun]{
	{"runbook-arcodange", (*runbookRun).arcodange}, // it names no ~/.arcodange (any case)
	{"runbook-key-file", (*runbookRun).keyFile},    // it names no cluster-keys.json
	{"runbook-endpoints", (*runbookRun).endpoints}, // it sets none of endpointVars (VAULT_ADDR, VAULT_TOKEN, KUBECONFIG, PG*, DOCKER_HOST, …)
	{"runbook-flags", (*runbookRun).flags},         // it passes no -address, --kubeconfig, --context, --server or --host
	{"runbook-urls", (*runbookRun).loopbackURLs},   // every URL it names is on loopback
}

// fenceChecks decide, before a command labsbx runs for the user starts (a drill
// file's commands and command probes, `labsbx exec`, `labsbx ci exec`), what its fence
// lets through (ApproveFence, fence.go). Where no fence can be built (macOS, user
// namespaces refused), runbookChecks and clientChecks are all that stand, and labsbx
// says so once on stderr.
var fenceChecks = []step[*fenceRun]{
	{"fence-record", (*fenceRun).record}, // the sandbox recorded a valid name, a UUID and an absolute state dir
	{"fence-ports", (*fenceRun).ports},   // each port let through is named, a TCP port, given once, the one its receiver proof is about; Vault's is the recorded address's
	{"fence-home", (*fenceRun).home},     // HOME is <state dir>/home: a 0700 directory, resolved inside the state dir, never the caller's HOME
}

// fenceInsideChecks run in the fenced child, inside its new namespaces, before it
// executes the command (CheckFenceInside); a refusal there means the command never
// runs, and labsbx reports the check by name.
var fenceInsideChecks = []step[*FenceInside]{
	{"fence-netns", (*FenceInside).netns},           // the child's network namespace is not labsbx's (net:[inode] of /proc/self/ns/net)
	{"fence-interfaces", (*FenceInside).interfaces}, // lo is up with loopback addresses only; any other interface (a tunnel module's sit0, tunl0) is down without an address: no route leaves the namespace
	{"fence-listeners", (*FenceInside).listeners},   // it listens on 127.0.0.1:<port> for exactly the approved ports
}

// For each connection a fenced command opens to one of those listeners, labsbx (in the
// host's namespace) dials the host's 127.0.0.1:<same port> with ForwardDial:
//
//	fence-receiver  the port is approved, and, when a container serves it, receiverChecks pass before and after the host connection opens with the same epoch (else the connection is closed, nothing is forwarded)

// The client checks (clients.go) decide whether a client that labsbx hands a secret to
// may run with these arguments, before anything is sent: the Vault CLI and psql that
// `labsbx vault --` and `labsbx psql` run in the sandbox's containers, and the command
// of `labsbx exec` and `labsbx ci exec`.
var vaultClientChecks = []step[*clientRun]{
	{"client-vault-address", (*clientRun).vaultAddress}, // the Vault CLI gets no -address or -agent-address (any dashes, = or a separate value)
}

var psqlClientChecks = []step[*clientRun]{
	{"client-psql-server", (*clientRun).psqlServer},     // psql gets no -h/--host, -p/--port (bundled short options and unique long prefixes too)
	{"client-psql-conninfo", (*clientRun).psqlConninfo}, // no database or user argument (or -d) is a conninfo that names host, hostaddr, port or service, or a URI with a host or port
	{"client-psql-connect", (*clientRun).psqlConnect},   // no -c/--command holds a \connect (\c) that names another server
}

var execClientChecks = []step[*clientRun]{
	{"client-exec", (*clientRun).execRunbook},         // the command line passes runbookChecks; its loopback URLs are the handed-out endpoints only
	{"client-exec-clients", (*clientRun).execClients}, // every vault or psql it names (argv[0], or a word of an argument such as sh -c's) passes the client checks above
}

// handoutChecks (ApproveHandout) prove what `env`, `exec` and `ci exec` hand out, as
// labsbx's own connections are proven. A Postgres that is ours but down is
// ErrReceiverDown or ErrReceiverStopped, not a refusal.
var handoutChecks = []step[*handoutRun]{
	{"handout-vault", (*handoutRun).vault},       // VAULT_ADDR is the approved, proven Vault address
	{"handout-postgres", (*handoutRun).postgres}, // PGHOST:PGPORT is 127.0.0.1 and the port Docker shows the sandbox's Postgres publishing (receiverChecks)
}

// kubeChecks' ca-file and key-files judge a kubeconfig's files with keyFileRefusal:
// named cluster-keys.json, or under ~/.arcodange by name, through symlinks or by
// identity, and refused without being opened.

// The down-owner checks (downowner.go) decide what `down` may remove of another UUID
// and when it keeps a state dir; the state roots searched are the current one, the
// default one and every one `up` recorded (state.KnownRoots), read without being
// changed. --force skips them; no hint ever gives it.
var downUUIDChecks = []step[*LostUUID]{
	{"down-uuid-owner", (*LostUUID).owner}, // --uuid: no known state of the name records the UUID
	{"down-uuid-vault", (*LostUUID).vault}, // --uuid: the running Vault of that UUID does not answer with a cluster_id a known state records
}

// downKeepKeyChecks: the state dir stays (ErrKeptKey, not a refusal) while a Vault data
// volume of the name that down left alone is not proven another known sandbox's.
var downKeepKeyChecks = []step[*KeptKey]{
	{"down-keep-key", (*KeptKey).keepKey}, // the volume down left alone (which no other known state owns) keeps this state's key
}
