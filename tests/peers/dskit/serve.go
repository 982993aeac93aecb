package main

import (
	"bufio"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/go-kit/log"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/grafana/dskit/kv/memberlist"
	"github.com/grafana/dskit/ring"
	"github.com/grafana/dskit/services"
)

// node is one dskit process-in-a-process: a memberlist KV and a BasicLifecycler on the ring key.
type node struct {
	name   string
	port   int
	kv     *memberlist.KV
	client *memberlist.Client
	lc     *ring.BasicLifecycler
	reg    *prometheus.Registry
}

type serveFlags struct {
	nodes, basePort, tokens, extra                   int
	join, zones, label, compression, key, lifecycler string
	prefix                                           string
	tlsCert, tlsKey, tlsCA, tlsServerName            string
	tlsInsecure                                      bool
	heartbeatPeriod, heartbeatTimeout                time.Duration
	pushPull, gossip, leftTimeout, autoForget        time.Duration
}

var out = struct {
	sync.Mutex
	enc *json.Encoder
}{enc: json.NewEncoder(os.Stdout)}

func emit(v any) {
	out.Lock()
	defer out.Unlock()
	_ = out.enc.Encode(v)
}

// serve: N dskit nodes on loopback, each with dskit's memberlist KV (TCP transport) and a
// ring.BasicLifecycler registering "instance-<i>" on the ring key; node i>0 joins node 0, and
// node 0 joins -join. Prints {"event": "ready", "nodes": [...]}, then answers JSON lines on stdin:
//
//	{"cmd": "ring", "node": i}                 the ring node i holds (LEFT tombstones included)
//	{"cmd": "state", "node": i, "state": "LEAVING"}   BasicLifecycler.ChangeState
//	{"cmd": "leave", "node": i}                stop the lifecycler (unregisters: a LEFT tombstone)
//	{"cmd": "stop", "node": i}                 stop the lifecycler, then the KV (memberlist leave)
//	{"cmd": "forget", "node": i, "id": "x"}    CAS that removes instance x (the ring page's forget)
//	{"cmd": "metrics", "node": i}              node i's memberlist and TCP transport metrics
//	{"cmd": "quit"}                            stop everything and exit
func runServe(args []string) error {
	var f serveFlags
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	fs.IntVar(&f.nodes, "nodes", 3, "number of dskit nodes in this process")
	fs.IntVar(&f.basePort, "base-port", 0, "gossip port of node 0 (node i uses base+i); 0 picks free ports")
	fs.IntVar(&f.tokens, "tokens", 128, "tokens per instance")
	fs.IntVar(&f.extra, "extra-instances", 0, "more instances node 0 registers and heartbeats itself")
	fs.StringVar(&f.join, "join", "", "comma-separated host:port node 0 joins")
	fs.StringVar(&f.zones, "zones", "zone-a,zone-b,zone-c", "zones, given to instances round robin ('' for none)")
	fs.StringVar(&f.label, "cluster-label", "", "memberlist cluster label")
	fs.StringVar(&f.compression, "compression", "lzw", "lzw, snappy or none")
	fs.StringVar(&f.key, "key", "ring", "ring key in the KV store")
	fs.StringVar(&f.lifecycler, "lifecycler", "basic", "basic (ring.BasicLifecycler)")
	fs.StringVar(&f.prefix, "prefix", "", "prefix of node and instance names (for a second process in one cluster)")
	fs.StringVar(&f.tlsCert, "tls-cert", "", "TLS certificate (enables TLS)")
	fs.StringVar(&f.tlsKey, "tls-key", "", "TLS key")
	fs.StringVar(&f.tlsCA, "tls-ca", "", "TLS CA")
	fs.StringVar(&f.tlsServerName, "tls-server-name", "", "TLS server name")
	fs.BoolVar(&f.tlsInsecure, "tls-insecure-skip-verify", false, "skip TLS verification")
	fs.DurationVar(&f.heartbeatPeriod, "heartbeat-period", 5*time.Second, "lifecycler heartbeat period")
	fs.DurationVar(&f.heartbeatTimeout, "heartbeat-timeout", time.Minute, "lifecycler heartbeat timeout")
	fs.DurationVar(&f.pushPull, "pushpull-interval", 30*time.Second, "memberlist push/pull interval (0 disables)")
	fs.DurationVar(&f.gossip, "gossip-interval", 200*time.Millisecond, "memberlist gossip interval")
	fs.DurationVar(&f.leftTimeout, "left-timeout", 5*time.Minute, "LEFT tombstone lifetime")
	fs.DurationVar(&f.autoForget, "auto-forget", 0, "forget instances unhealthy this long (0: off)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if f.lifecycler != "basic" {
		return fmt.Errorf("unsupported -lifecycler %q", f.lifecycler)
	}
	var zones []string
	if f.zones != "" {
		zones = strings.Split(f.zones, ",")
	}
	ctx := context.Background()
	logger := log.NewNopLogger()
	nodes := make([]*node, f.nodes)
	for i := range nodes {
		port := 0
		if f.basePort > 0 {
			port = f.basePort + i
		}
		cfg := defaultKVConfig(fmt.Sprintf("%sdskit-%d", f.prefix, i), port)
		cfg.ClusterLabel = f.label
		cfg.EnableCompression = f.compression != "none"
		if cfg.EnableCompression {
			cfg.CompressionAlgorithm = f.compression
		}
		cfg.PushPullInterval = f.pushPull
		cfg.GossipInterval = f.gossip
		cfg.LeftIngestersTimeout = f.leftTimeout
		cfg.TCPTransport.TLSEnabled = f.tlsCert != ""
		cfg.TCPTransport.TLS.CertPath = f.tlsCert
		cfg.TCPTransport.TLS.KeyPath = f.tlsKey
		cfg.TCPTransport.TLS.CAPath = f.tlsCA
		cfg.TCPTransport.TLS.ServerName = f.tlsServerName
		cfg.TCPTransport.TLS.InsecureSkipVerify = f.tlsInsecure
		if i == 0 && f.join != "" {
			cfg.JoinMembers = strings.Split(f.join, ",")
		} else if i > 0 {
			cfg.JoinMembers = []string{fmt.Sprintf("127.0.0.1:%d", nodes[0].port)}
		}
		cfg.MaxJoinRetries = 3
		reg := prometheus.NewRegistry()
		kv := memberlist.NewKV(cfg, logger, &staticDNS{}, reg)
		if err := services.StartAndAwaitRunning(ctx, kv); err != nil {
			return fmt.Errorf("node %d: %w", i, err)
		}
		client, err := memberlist.NewClient(kv, ring.GetCodec())
		if err != nil {
			return err
		}
		nodes[i] = &node{name: cfg.NodeName, port: kv.GetListeningPort(), kv: kv, client: client, reg: reg}
	}
	for i, n := range nodes {
		zone := ""
		if len(zones) > 0 {
			zone = zones[i%len(zones)]
		}
		lcCfg := ring.BasicLifecyclerConfig{
			ID:               fmt.Sprintf("%sinstance-%d", f.prefix, i),
			Addr:             fmt.Sprintf("127.0.0.1:%d", 19000+i),
			Zone:             zone,
			HeartbeatPeriod:  f.heartbeatPeriod,
			HeartbeatTimeout: f.heartbeatTimeout,
			NumTokens:        f.tokens,
		}
		var delegate ring.BasicLifecyclerDelegate = ring.NewInstanceRegisterDelegate(ring.ACTIVE, f.tokens)
		if f.autoForget > 0 {
			delegate = ring.NewAutoForgetDelegate(f.autoForget, delegate, logger)
		}
		delegate = ring.NewLeaveOnStoppingDelegate(delegate, logger)
		lc, err := ring.NewBasicLifecycler(lcCfg, "ingester", f.key, n.client, delegate, logger, prometheus.NewRegistry())
		if err != nil {
			return err
		}
		if err := services.StartAndAwaitRunning(ctx, lc); err != nil {
			return fmt.Errorf("lifecycler %d: %w", i, err)
		}
		n.lc = lc
	}
	stopExtra := make(chan struct{})
	if f.extra > 0 {
		go heartbeatExtra(nodes[0], f, zones, stopExtra)
	}
	info := []map[string]any{}
	for i, n := range nodes {
		info = append(info, map[string]any{"name": n.name, "addr": fmt.Sprintf("127.0.0.1:%d", n.port), "instance": fmt.Sprintf("%sinstance-%d", f.prefix, i)})
	}
	emit(map[string]any{"event": "ready", "nodes": info})

	in := bufio.NewReader(os.Stdin)
	for {
		line, err := in.ReadString('\n')
		if strings.TrimSpace(line) != "" {
			if quit := handleCommand(ctx, nodes, f.key, line); quit {
				break
			}
		}
		if err == io.EOF {
			break
		}
		if err != nil {
			return err
		}
	}
	close(stopExtra)
	for _, n := range nodes {
		if n.lc != nil {
			_ = services.StopAndAwaitTerminated(ctx, n.lc)
		}
		_ = services.StopAndAwaitTerminated(ctx, n.kv)
	}
	return nil
}

func handleCommand(ctx context.Context, nodes []*node, key, line string) (quit bool) {
	var cmd struct {
		Cmd   string `json:"cmd"`
		Node  int    `json:"node"`
		State string `json:"state"`
		ID    string `json:"id"`
	}
	if err := json.Unmarshal([]byte(line), &cmd); err != nil {
		emit(map[string]any{"error": err.Error()})
		return false
	}
	if cmd.Cmd == "quit" {
		emit(map[string]any{"ok": true, "cmd": "quit"})
		return true
	}
	if cmd.Node < 0 || cmd.Node >= len(nodes) {
		emit(map[string]any{"error": "no such node", "cmd": cmd.Cmd})
		return false
	}
	n := nodes[cmd.Node]
	reply := map[string]any{"cmd": cmd.Cmd, "node": cmd.Node}
	var err error
	switch cmd.Cmd {
	case "ring":
		reply["now"] = float64(time.Now().UnixNano()) / 1e9
		reply["instances"], err = ringWithTombstones(n.kv, key)
	case "state":
		state, ok := ring.InstanceState_value[cmd.State]
		if !ok || n.lc == nil {
			err = fmt.Errorf("bad state %q or no lifecycler", cmd.State)
			break
		}
		err = n.lc.ChangeState(ctx, ring.InstanceState(state))
	case "leave":
		if n.lc != nil {
			err = services.StopAndAwaitTerminated(ctx, n.lc)
			n.lc = nil
		}
	case "stop":
		if n.lc != nil {
			_ = services.StopAndAwaitTerminated(ctx, n.lc)
			n.lc = nil
		}
		err = services.StopAndAwaitTerminated(ctx, n.kv)
	case "metrics":
		reply["metrics"], err = gatherMetrics(n.reg)
	case "forget":
		err = n.client.CAS(ctx, key, func(in interface{}) (interface{}, bool, error) {
			desc := ring.GetOrCreateRingDesc(in)
			desc.RemoveIngester(cmd.ID)
			return desc, true, nil
		})
	default:
		err = fmt.Errorf("unknown command %q", cmd.Cmd)
	}
	if err != nil {
		reply["error"] = err.Error()
	} else {
		reply["ok"] = true
	}
	emit(reply)
	return false
}

// ringWithTombstones reads the ring from the KV's push/pull state, which (unlike Get) keeps LEFT.
func ringWithTombstones(kv *memberlist.KV, key string) ([]instanceJSON, error) {
	data := kv.LocalState(false)
	for len(data) >= 4 {
		n := int(data[0])<<24 | int(data[1])<<16 | int(data[2])<<8 | int(data[3])
		data = data[4:]
		if n > len(data) {
			break
		}
		var pair memberlist.KeyValuePair
		if err := pair.Unmarshal(data[:n]); err != nil {
			return nil, err
		}
		data = data[n:]
		if pair.Key != key {
			continue
		}
		v, err := ring.GetCodec().Decode(pair.Value)
		if err != nil {
			return nil, err
		}
		return descJSON(v.(*ring.Desc)), nil
	}
	return []instanceJSON{}, nil
}

// heartbeatExtra registers f.extra instances from node 0 and heartbeats them every period.
func heartbeatExtra(n *node, f serveFlags, zones []string, stop <-chan struct{}) {
	ctx := context.Background()
	gen := ring.NewRandomTokenGenerator()
	beat := func(first bool) {
		_ = n.client.CAS(ctx, f.key, func(in interface{}) (interface{}, bool, error) {
			desc := ring.GetOrCreateRingDesc(in)
			now := time.Now()
			for i := 0; i < f.extra; i++ {
				id := fmt.Sprintf("extra-%03d", i)
				inst, ok := desc.Ingesters[id]
				if !ok {
					zone := ""
					if len(zones) > 0 {
						zone = zones[i%len(zones)]
					}
					tokens := gen.GenerateTokens(f.tokens, desc.GetTokens())
					inst = desc.AddIngester(id, fmt.Sprintf("127.0.0.2:%d", 20000+i), zone, tokens, ring.ACTIVE, now, false, time.Time{}, nil)
				}
				inst.Timestamp = now.Unix()
				desc.Ingesters[id] = inst
			}
			return desc, true, nil
		})
	}
	beat(true)
	ticker := time.NewTicker(f.heartbeatPeriod)
	defer ticker.Stop()
	for {
		select {
		case <-stop:
			return
		case <-ticker.C:
			beat(false)
		}
	}
}

// gatherMetrics: every gauge and counter of a node's registry (summed over labels), by name.
func gatherMetrics(reg *prometheus.Registry) (map[string]float64, error) {
	families, err := reg.Gather()
	if err != nil {
		return nil, err
	}
	values := map[string]float64{}
	for _, family := range families {
		for _, m := range family.GetMetric() {
			if g := m.GetGauge(); g != nil {
				values[family.GetName()] += g.GetValue()
			} else if c := m.GetCounter(); c != nil {
				values[family.GetName()] += c.GetValue()
			}
		}
	}
	return values, nil
}
