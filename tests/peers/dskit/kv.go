package main

import (
	"context"
	"encoding/hex"
	"flag"
	"fmt"
	"io"
	"time"

	"github.com/go-kit/log"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/grafana/dskit/kv/codec"
	"github.com/grafana/dskit/kv/memberlist"
	"github.com/grafana/dskit/ring"
	"github.com/grafana/dskit/services"
)

// staticDNS is a DNSProvider for plain "host:port" join addresses (no DNS lookups).
type staticDNS struct{ addrs []string }

func (s *staticDNS) Resolve(_ context.Context, addrs []string) error { s.addrs = addrs; return nil }
func (s *staticDNS) Addresses() []string                             { return s.addrs }

// defaultKVConfig is dskit's KVConfig with its flag defaults, bound to loopback.
func defaultKVConfig(name string, port int) memberlist.KVConfig {
	var cfg memberlist.KVConfig
	fs := flag.NewFlagSet("kv", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	cfg.RegisterFlags(fs)
	cfg.NodeName = name
	cfg.RandomizeNodeName = false
	cfg.TCPTransport.BindAddrs = []string{"127.0.0.1"}
	cfg.TCPTransport.BindPort = port
	// No advertise address: dskit's transport then advertises the bound IP and port
	// (tcp_transport.go FinalAdvertiseAddr), which also works for port 0.
	cfg.AdvertiseAddr = ""
	cfg.Codecs = []codec.Codec{ring.GetCodec()}
	return cfg
}

func hexBytes(s string) ([]byte, error) { return hex.DecodeString(s) }

// kv: a real memberlist KV (started, alone, on a loopback port).
//
// Request: {"key", "desc_hex" (CAS-ed into key, may be empty), "push_pull_hex" (merged with
// MergeRemoteState), "broadcasts_hex" (given to NotifyMsg), "pairs" (KeyValuePairs to marshal)}.
// Answer: the broadcasts queued after the CAS, LocalState before and after the merges, the
// marshalled pairs, and the KV's counters of invalid broadcasts.
func runKV() error {
	var req struct {
		Key           string   `json:"key"`
		DescHex       string   `json:"desc_hex"`
		PushPullHex   string   `json:"push_pull_hex"`
		BroadcastsHex []string `json:"broadcasts_hex"`
		Pairs         []struct {
			Key              string `json:"key"`
			ValueHex         string `json:"value_hex"`
			Codec            string `json:"codec"`
			Deleted          bool   `json:"deleted"`
			UpdateTimeMillis int64  `json:"update_time_millis"`
		} `json:"pairs"`
	}
	if err := readRequest(&req); err != nil {
		return err
	}
	ctx := context.Background()
	reg := prometheus.NewRegistry()
	cfg := defaultKVConfig("oracle", 0)
	kv := memberlist.NewKV(cfg, log.NewNopLogger(), &staticDNS{}, reg)
	if err := services.StartAndAwaitRunning(ctx, kv); err != nil {
		return err
	}
	defer func() { _ = services.StopAndAwaitTerminated(ctx, kv) }()
	rc := ring.GetCodec()

	var broadcasts []string
	if req.DescHex != "" {
		desc, err := decodeDescHex(req.DescHex)
		if err != nil {
			return err
		}
		err = kv.CAS(ctx, req.Key, rc, func(in interface{}) (interface{}, bool, error) { return desc, false, nil })
		if err != nil {
			return err
		}
		for _, b := range kv.GetBroadcasts(0, 1<<30) {
			broadcasts = append(broadcasts, hex.EncodeToString(b))
		}
	}
	before := hex.EncodeToString(kv.LocalState(false))

	if req.PushPullHex != "" {
		raw, err := hexBytes(req.PushPullHex)
		if err != nil {
			return err
		}
		kv.MergeRemoteState(raw, false)
	}
	for _, h := range req.BroadcastsHex {
		raw, err := hexBytes(h)
		if err != nil {
			return err
		}
		kv.NotifyMsg(raw)
	}
	// NotifyMsg hands each update to a per-key worker goroutine: wait until the state settles.
	after := hex.EncodeToString(kv.LocalState(false))
	if len(req.BroadcastsHex) > 0 {
		stable := 0
		for deadline := time.Now().Add(2 * time.Second); stable < 3 && time.Now().Before(deadline); {
			time.Sleep(50 * time.Millisecond)
			next := hex.EncodeToString(kv.LocalState(false))
			if next == after {
				stable++
			} else {
				stable = 0
			}
			after = next
		}
	}

	pairs := []string{}
	for _, p := range req.Pairs {
		value, err := hexBytes(p.ValueHex)
		if err != nil {
			return err
		}
		kvp := memberlist.KeyValuePair{Key: p.Key, Value: value, Codec: p.Codec, Deleted: p.Deleted, UpdateTimeMillis: p.UpdateTimeMillis}
		raw, err := kvp.Marshal()
		if err != nil {
			return err
		}
		pairs = append(pairs, hex.EncodeToString(raw))
	}

	counters := map[string]float64{}
	families, err := reg.Gather()
	if err != nil {
		return err
	}
	for _, f := range families {
		for _, m := range f.GetMetric() {
			if m.GetCounter() != nil {
				counters[f.GetName()] += m.GetCounter().GetValue()
			}
		}
	}
	var value map[string]any
	if v, err := kv.Get(req.Key, rc); err == nil && v != nil {
		value = map[string]any{"instances": descJSON(v.(*ring.Desc))}
	}
	return writeJSON(map[string]any{
		"broadcasts_hex":   broadcasts,
		"state_before_hex": before,
		"state_after_hex":  after,
		"pairs_hex":        pairs,
		"counters":         counters,
		"value":            value,
		"node":             fmt.Sprintf("%v", cfg.NodeName),
	})
}
