// Command memberlist-peer runs one or many hashicorp/memberlist nodes in one process for
// trio_gossip's interop tests, driven by JSON lines on stdin and reporting on stdout.
//
// Every stdin line is a command {"id": 1, "cmd": "members", "node": "go-0", ...}; every answer
// is a line {"id": 1, "ok": true, "result": ...} or {"id": 1, "ok": false, "error": "..."}.
// Lines without an id are events: {"event": "ready", ...} once all nodes are up and joined,
// then join, leave, update, message and conflict events as memberlist reports them. The
// process shuts every node down (without leaving) and exits on the "exit" command or when
// stdin closes. Warnings and errors memberlist logs go to stderr.
//
// Commands (control.go): nodes, census, and per node: members (the whole node map with state
// and incarnation, read as view.go explains), send (best effort or reliable), messages,
// broadcast (user broadcasts for the gossip), update_meta, join, leave, shutdown, keyring
// (list, install, use, remove), ping, logs (logged lines with their counts) and stats.
package main

import (
	"bufio"
	"encoding/base64"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/hashicorp/memberlist"
)

type listFlag []string

func (l *listFlag) String() string { return strings.Join(*l, ",") }

func (l *listFlag) Set(v string) error {
	for _, part := range strings.Split(v, ",") {
		if part = strings.TrimSpace(part); part != "" {
			*l = append(*l, part)
		}
	}
	return nil
}

type options struct {
	count           int
	basePort        int
	bind            string
	prefix          string
	joins           listFlag
	keys            listFlag
	label           string
	skipLabelCheck  bool
	compression     string
	meta            string
	userState       string
	protocolVersion int
	delegateVersion string
	profile         string
	probeInterval   time.Duration
	probeTimeout    time.Duration
	gossipInterval  time.Duration
	pushPull        time.Duration
	toTheDead       time.Duration
	reclaim         time.Duration
	suspicionMult   int
	retransmitMult  int
	indirectChecks  int
	tcpTimeout      time.Duration
	udpBufferSize   int
	disableTCPPings bool
	capture         string
	captureNodes    int
	quiet           bool
	verbose         bool
}

func parseFlags() *options {
	o := &options{}
	flag.IntVar(&o.count, "count", 1, "number of nodes in this process")
	flag.IntVar(&o.basePort, "base-port", 0, "port of the first node, the next ones follow (0: any free port each)")
	flag.StringVar(&o.bind, "bind", "127.0.0.1", "address every node binds and advertises")
	flag.StringVar(&o.prefix, "name-prefix", "go-", "node names are this prefix plus the node's index")
	flag.Var(&o.joins, "join", "HOST:PORT the first node joins; repeatable or comma separated")
	flag.Var(&o.keys, "key", "base64 AES key; repeatable, the first is primary")
	flag.StringVar(&o.label, "label", "", "memberlist label")
	flag.BoolVar(&o.skipLabelCheck, "skip-inbound-label-check", false, "memberlist's SkipInboundLabelCheck")
	flag.StringVar(&o.compression, "compression", "on", "on or off")
	flag.StringVar(&o.meta, "meta", "", "node metadata; {name} and {i} are replaced")
	flag.StringVar(&o.userState, "user-state", "", "push/pull user state (Delegate.LocalState); {name} and {i} are replaced")
	flag.IntVar(&o.protocolVersion, "protocol-version", int(memberlist.ProtocolVersion2Compatible), "memberlist protocol version (1..5)")
	flag.StringVar(&o.delegateVersion, "delegate-version", "0,0,0", "delegate protocol min,max,current")
	flag.StringVar(&o.profile, "profile", "lan", "lan or local (memberlist's DefaultLANConfig or DefaultLocalConfig)")
	flag.DurationVar(&o.probeInterval, "probe-interval", 0, "override ProbeInterval")
	flag.DurationVar(&o.probeTimeout, "probe-timeout", 0, "override ProbeTimeout")
	flag.DurationVar(&o.gossipInterval, "gossip-interval", 0, "override GossipInterval")
	flag.DurationVar(&o.pushPull, "push-pull-interval", -1, "override PushPullInterval (0 disables)")
	flag.DurationVar(&o.toTheDead, "gossip-to-the-dead", 0, "override GossipToTheDeadTime")
	flag.DurationVar(&o.reclaim, "dead-node-reclaim", 0, "DeadNodeReclaimTime")
	flag.IntVar(&o.suspicionMult, "suspicion-mult", 0, "override SuspicionMult")
	flag.IntVar(&o.retransmitMult, "retransmit-mult", 0, "override RetransmitMult")
	flag.IntVar(&o.indirectChecks, "indirect-checks", -1, "override IndirectChecks")
	flag.DurationVar(&o.tcpTimeout, "tcp-timeout", 0, "override TCPTimeout")
	flag.IntVar(&o.udpBufferSize, "udp-buffer-size", 0, "override UDPBufferSize (the gossip packet budget)")
	flag.BoolVar(&o.disableTCPPings, "disable-tcp-pings", false, "DisableTcpPings")
	flag.StringVar(&o.capture, "capture", "", "write every packet and stream as hex JSON lines to this file")
	flag.IntVar(&o.captureNodes, "capture-nodes", 0, "capture only the first this many nodes (0: all)")
	flag.BoolVar(&o.quiet, "quiet", false, "report no membership or message events (big clusters)")
	flag.BoolVar(&o.verbose, "verbose", false, "echo memberlist's debug and info lines to stderr too")
	flag.Parse()
	return o
}

// output serialises the JSON lines written to stdout.
type output struct {
	mu  sync.Mutex
	enc *json.Encoder
}

func (o *output) send(v any) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if err := o.enc.Encode(v); err != nil {
		fmt.Fprintf(os.Stderr, "stdout: %v\n", err)
	}
}

func fatal(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "memberlist-peer: "+format+"\n", args...)
	os.Exit(2)
}

func parseDelegateVersion(s string) [3]uint8 {
	var v [3]uint8
	parts := strings.Split(s, ",")
	if len(parts) != 3 {
		fatal("-delegate-version wants min,max,current, got %q", s)
	}
	for i, p := range parts {
		n, err := strconv.ParseUint(strings.TrimSpace(p), 10, 8)
		if err != nil {
			fatal("-delegate-version: %v", err)
		}
		v[i] = uint8(n)
	}
	return v
}

func (o *options) config(name string) *memberlist.Config {
	var c *memberlist.Config
	switch o.profile {
	case "lan":
		c = memberlist.DefaultLANConfig()
	case "local":
		c = memberlist.DefaultLocalConfig()
	default:
		fatal("-profile must be lan or local, not %q", o.profile)
	}
	c.Name = name
	c.BindAddr = o.bind
	c.AdvertiseAddr = o.bind
	c.Label = o.label
	c.SkipInboundLabelCheck = o.skipLabelCheck
	c.EnableCompression = o.compression == "on"
	c.ProtocolVersion = uint8(o.protocolVersion)
	d := parseDelegateVersion(o.delegateVersion)
	c.DelegateProtocolMin, c.DelegateProtocolMax, c.DelegateProtocolVersion = d[0], d[1], d[2]
	if o.probeInterval > 0 {
		c.ProbeInterval = o.probeInterval
	}
	if o.probeTimeout > 0 {
		c.ProbeTimeout = o.probeTimeout
	}
	if o.gossipInterval > 0 {
		c.GossipInterval = o.gossipInterval
	}
	if o.pushPull >= 0 {
		c.PushPullInterval = o.pushPull
	}
	if o.toTheDead > 0 {
		c.GossipToTheDeadTime = o.toTheDead
	}
	c.DeadNodeReclaimTime = o.reclaim
	if o.suspicionMult > 0 {
		c.SuspicionMult = o.suspicionMult
	}
	if o.retransmitMult > 0 {
		c.RetransmitMult = o.retransmitMult
	}
	if o.indirectChecks >= 0 {
		c.IndirectChecks = o.indirectChecks
	}
	if o.tcpTimeout > 0 {
		c.TCPTimeout = o.tcpTimeout
	}
	if o.udpBufferSize > 0 {
		c.UDPBufferSize = o.udpBufferSize
	}
	c.DisableTcpPings = o.disableTCPPings
	return c
}

func (o *options) keyring() (*memberlist.Keyring, error) {
	if len(o.keys) == 0 {
		return nil, nil
	}
	var keys [][]byte
	for _, k := range o.keys {
		b, err := base64.StdEncoding.DecodeString(k)
		if err != nil {
			return nil, fmt.Errorf("-key %q: %v", k, err)
		}
		keys = append(keys, b)
	}
	return memberlist.NewKeyring(keys, keys[0])
}

// listen binds a NetTransport for one node, retrying when a free port for TCP is taken for UDP.
func listen(bind string, port int, logs *logSink) (*memberlist.NetTransport, error) {
	var err error
	for attempt := 0; attempt < 20; attempt++ {
		var t *memberlist.NetTransport
		t, err = memberlist.NewNetTransport(&memberlist.NetTransportConfig{
			BindAddrs: []string{bind},
			BindPort:  port,
			Logger:    newLogger(logs),
		})
		if err == nil || port != 0 {
			return t, err
		}
	}
	return nil, err
}

func startNode(o *options, i int, out *output, rec *recorder) (*node, error) {
	name := o.prefix + strconv.Itoa(i)
	c := o.config(name)
	n := &node{name: name, index: i, out: out, quiet: o.quiet}
	fill := strings.NewReplacer("{name}", name, "{i}", strconv.Itoa(i))
	n.meta = []byte(fill.Replace(o.meta))
	n.localState = []byte(fill.Replace(o.userState))
	n.logs = newLogSink(name, o.verbose)
	keys, err := o.keyring()
	if err != nil {
		return nil, err
	}
	n.keys = keys
	c.Keyring = keys
	c.Logger = newLogger(n.logs)
	c.Delegate, c.Events, c.Merge, c.Conflict = n, n, n, n

	port := 0
	if o.basePort > 0 {
		port = o.basePort + i
	}
	nt, err := listen(o.bind, port, n.logs)
	if err != nil {
		return nil, err
	}
	c.BindPort = nt.GetAutoBindPort()
	c.AdvertisePort = c.BindPort
	if rec != nil && (o.captureNodes == 0 || i < o.captureNodes) {
		c.Transport = newTap(nt, name, rec)
	} else {
		c.Transport = nt
	}
	n.ml, err = memberlist.Create(c)
	if err != nil {
		_ = nt.Shutdown()
		return nil, err
	}
	return n, nil
}

func main() {
	o := parseFlags()
	if err := checkLayout(); err != nil {
		fatal("%v", err)
	}
	out := &output{enc: json.NewEncoder(os.Stdout)}
	var rec *recorder
	if o.capture != "" {
		var err error
		if rec, err = newRecorder(o.capture); err != nil {
			fatal("-capture: %v", err)
		}
	}

	nodes := make([]*node, o.count)
	for i := range nodes {
		n, err := startNode(o, i, out, rec)
		if err != nil {
			fatal("node %d: %v", i, err)
		}
		nodes[i] = n
	}
	joinErrors := joinAll(o, nodes)

	s := &server{nodes: nodes, out: out}
	list := make([]any, len(nodes))
	for i, n := range nodes {
		list[i] = s.describe(n)
	}
	out.send(map[string]any{"event": "ready", "nodes": list, "join_errors": joinErrors})
	s.serve(bufio.NewScanner(os.Stdin))
	for _, n := range nodes {
		_ = n.ml.Shutdown()
	}
}

// joinAll joins the first node to -join, then every other node to the first, one by one (each
// later joiner thus learns all earlier ones from the push/pull itself). In a big process the
// gossip of all these joins can be dropped under load (a full handler queue), so a second pass
// of push/pulls with the first node, which knows everyone by then, makes every node start
// with the whole membership.
func joinAll(o *options, nodes []*node) map[string]string {
	errs := map[string]string{}
	if len(o.joins) > 0 {
		if _, err := nodes[0].ml.Join(o.joins); err != nil {
			errs[nodes[0].name] = err.Error()
		}
	}
	if len(nodes) < 2 {
		return errs
	}
	first := nodes[0].ml.LocalNode().Address()
	passes := 1
	if len(nodes) > 16 {
		passes = 2
	}
	for pass := 0; pass < passes; pass++ {
		for _, n := range nodes[1:] {
			if _, err := n.ml.Join([]string{first}); err != nil {
				errs[n.name] = err.Error()
			}
		}
	}
	return errs
}
