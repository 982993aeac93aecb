package main

import (
	"context"
	"flag"
	"fmt"
	"math/rand"
	"sort"
	"strings"
	"time"

	"github.com/go-kit/log"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/grafana/dskit/kv/consul"
	"github.com/grafana/dskit/ring"
	"github.com/grafana/dskit/services"
)

// gen-ring: a random ring built with dskit's own token generator and ring.Desc.AddIngester.
func runGenRing(args []string) error {
	fs := flag.NewFlagSet("gen-ring", flag.ContinueOnError)
	seed := fs.Int64("seed", 1, "random seed")
	n := fs.Int("instances", 30, "number of instances")
	numTokens := fs.Int("tokens", 128, "tokens per instance")
	zonesFlag := fs.String("zones", "zone-a,zone-b,zone-c", "comma-separated zones ('' for none)")
	now := fs.Int64("now", time.Now().Unix(), "Unix seconds the timestamps are relative to")
	mixed := fs.Bool("mixed", false, "mixed states, unhealthy instances, read-only instances, versions")
	if err := fs.Parse(args); err != nil {
		return err
	}
	var zones []string
	if *zonesFlag != "" {
		zones = strings.Split(*zonesFlag, ",")
	}
	rnd := rand.New(rand.NewSource(*seed))
	gen := ring.NewRandomTokenGeneratorWithSeed(*seed)
	desc := ring.NewDesc()
	var taken []uint32
	for i := 0; i < *n; i++ {
		id := fmt.Sprintf("instance-%03d", i)
		zone := ""
		if len(zones) > 0 {
			zone = zones[i%len(zones)]
		}
		state := ring.ACTIVE
		timestamp := *now - rnd.Int63n(15)
		registered := time.Unix(*now-86400-rnd.Int63n(86400), 0)
		var readOnlyUpdated time.Time
		readOnly := false
		var versions ring.InstanceVersions
		count := *numTokens
		if *mixed {
			switch r := rnd.Intn(20); {
			case r == 0:
				state = ring.LEAVING
			case r == 1:
				state = ring.JOINING
			case r == 2:
				state = ring.PENDING
				count = 0
			case r == 3:
				state = ring.PENDING
			}
			if rnd.Intn(10) == 0 {
				timestamp = *now - 300 - rnd.Int63n(3600) // past any heartbeat timeout up to 5m
			}
			switch rnd.Intn(8) {
			case 0:
				registered = time.Unix(*now-rnd.Int63n(1800), 0) // inside a 1h lookback
			case 1:
				registered = time.Time{} // unknown
			}
			switch rnd.Intn(10) {
			case 0:
				readOnly = true
				readOnlyUpdated = time.Unix(*now-rnd.Int63n(1800), 0)
			case 1:
				readOnly = true
				readOnlyUpdated = time.Unix(*now-7200-rnd.Int63n(7200), 0)
			case 2:
				readOnlyUpdated = time.Unix(*now-rnd.Int63n(1800), 0)
			}
			if rnd.Intn(4) == 0 {
				versions = ring.InstanceVersions{}
				for j := 0; j < 1+rnd.Intn(3); j++ {
					versions[uint64(rnd.Intn(5))] = rnd.Uint64()
				}
			}
		}
		var tokens []uint32
		if count > 0 {
			tokens = gen.GenerateTokens(count, taken)
			taken = append(taken, tokens...)
		}
		addr := fmt.Sprintf("10.0.%d.%d:9095", i/250, i%250+1)
		inst := desc.AddIngester(id, addr, zone, tokens, state, registered, readOnly, readOnlyUpdated, versions)
		inst.Timestamp = timestamp
		desc.Ingesters[id] = inst
	}
	raw, err := desc.Marshal()
	if err != nil {
		return err
	}
	value, err := ring.GetCodec().Encode(desc)
	if err != nil {
		return err
	}
	return writeJSON(map[string]any{
		"desc_hex":  fmt.Sprintf("%x", raw),
		"value_hex": fmt.Sprintf("%x", value),
		"now":       *now,
		"instances": descJSON(desc),
	})
}

// decode-ring: {"descs_hex": [...], "values_hex": [...]} -> the rings as dskit reads them.
func runDecodeRing() error {
	var req struct {
		DescsHex  []string `json:"descs_hex"`
		ValuesHex []string `json:"values_hex"`
	}
	if err := readRequest(&req); err != nil {
		return err
	}
	type answer struct {
		Instances []instanceJSON `json:"instances,omitempty"`
		Error     string         `json:"error,omitempty"`
	}
	descs := []answer{}
	for _, h := range req.DescsHex {
		d, err := decodeDescHex(h)
		if err != nil {
			descs = append(descs, answer{Error: err.Error()})
			continue
		}
		descs = append(descs, answer{Instances: descJSON(d)})
	}
	values := []answer{}
	for _, h := range req.ValuesHex {
		raw, err := hexBytes(h)
		if err == nil {
			var v any
			v, err = ring.GetCodec().Decode(raw)
			if err == nil {
				values = append(values, answer{Instances: descJSON(v.(*ring.Desc))})
				continue
			}
		}
		values = append(values, answer{Error: err.Error()})
	}
	return writeJSON(map[string]any{"descs": descs, "values": values})
}

// merge: {"cases": [{"a_hex", "b_hex", "local_cas"}]} -> a.Merge(b, local_cas) for each.
func runMerge() error {
	var req struct {
		Cases []struct {
			AHex     string `json:"a_hex"`
			BHex     string `json:"b_hex"`
			LocalCAS bool   `json:"local_cas"`
		} `json:"cases"`
	}
	if err := readRequest(&req); err != nil {
		return err
	}
	type result struct {
		Merged []instanceJSON `json:"merged"`
		Change []instanceJSON `json:"change"`
		Now    int64          `json:"now"`
	}
	results := []result{}
	for _, c := range req.Cases {
		for {
			a, err := decodeDescHex(c.AHex)
			if err != nil {
				return err
			}
			b, err := decodeDescHex(c.BHex)
			if err != nil {
				return err
			}
			before := time.Now().Unix()
			change, err := a.Merge(b, c.LocalCAS)
			if err != nil {
				return err
			}
			if time.Now().Unix() != before {
				continue // localCAS stamps tombstones with time.Now(): retry within one second
			}
			r := result{Merged: descJSON(a), Now: before}
			if change != nil {
				r.Change = descJSON(change.(*ring.Desc))
			}
			results = append(results, r)
			break
		}
	}
	return writeJSON(map[string]any{"results": results})
}

var opsByName = map[string]ring.Operation{
	"write":           ring.Write,
	"write_no_extend": ring.WriteNoExtend,
	"read":            ring.Read,
	"reporting":       ring.Reporting,
}

type setJSON struct {
	IDs                 []string `json:"ids,omitempty"`
	MaxErrors           int      `json:"max_errors"`
	MaxUnavailableZones int      `json:"max_unavailable_zones"`
	Error               string   `json:"error,omitempty"`
}

func replicationSetJSON(rs ring.ReplicationSet, err error, sorted bool) setJSON {
	if err != nil {
		return setJSON{Error: err.Error()}
	}
	ids := []string{}
	for _, inst := range rs.Instances {
		ids = append(ids, inst.Id)
	}
	if sorted {
		sort.Strings(ids)
	}
	return setJSON{IDs: ids, MaxErrors: rs.MaxErrors, MaxUnavailableZones: rs.MaxUnavailableZones}
}

// newRing builds a started ring.Ring client whose KV (dskit's in-memory consul mock, through
// the ring codec) holds desc, as a ring client sees a ring.
func newRing(desc *ring.Desc, rf int, zoneAware bool, heartbeatTimeout time.Duration, excluded []string) (*ring.Ring, func(), error) {
	logger := log.NewNopLogger()
	store, closer := consul.NewInMemoryClient(ring.GetCodec(), logger, nil)
	ctx := context.Background()
	err := store.CAS(ctx, "ring", func(in interface{}) (out interface{}, retry bool, err error) {
		return desc, false, nil
	})
	if err != nil {
		closer.Close()
		return nil, nil, err
	}
	cfg := ring.Config{
		HeartbeatTimeout:     heartbeatTimeout,
		ReplicationFactor:    rf,
		ZoneAwarenessEnabled: zoneAware,
		ExcludedZones:        excluded,
	}
	r, err := ring.NewWithStoreClientAndStrategy(cfg, "oracle", "ring", store, ring.NewDefaultReplicationStrategy(), prometheus.NewRegistry(), logger)
	if err != nil {
		closer.Close()
		return nil, nil, err
	}
	if err := services.StartAndAwaitRunning(ctx, r); err != nil {
		closer.Close()
		return nil, nil, err
	}
	return r, func() { _ = services.StopAndAwaitTerminated(ctx, r); closer.Close() }, nil
}

func subringIDs(parent *ring.Desc, sub ring.ReadRing) []string {
	r := sub.(*ring.Ring)
	ids := []string{}
	for id := range parent.Ingesters {
		if r.HasInstance(id) {
			ids = append(ids, id)
		}
	}
	sort.Strings(ids)
	return ids
}

// lookup: one ring, many questions.
func runLookup() error {
	var req struct {
		DescHex          string   `json:"desc_hex"`
		RF               int      `json:"rf"`
		ZoneAware        bool     `json:"zone_aware"`
		HeartbeatTimeout float64  `json:"heartbeat_timeout"`
		ExcludedZones    []string `json:"excluded_zones"`
		Keys             []uint32 `json:"keys"`
		Ops              []string `json:"ops"`
		Tenants          []string `json:"tenants"`
		ShardSizes       []int    `json:"shard_sizes"`
		Lookback         float64  `json:"lookback"`
		Now              int64    `json:"now"`
		ShardKeys        []uint32 `json:"shard_keys"`
	}
	if err := readRequest(&req); err != nil {
		return err
	}
	desc, err := decodeDescHex(req.DescHex)
	if err != nil {
		return err
	}
	// What dskit's memberlist client hands a ring: tombstones removed (memberlist_client.go get).
	desc.RemoveTombstones(time.Time{})
	timeout := time.Duration(req.HeartbeatTimeout * float64(time.Second))
	r, stop, err := newRing(desc, req.RF, req.ZoneAware, timeout, req.ExcludedZones)
	if err != nil {
		return err
	}
	defer stop()
	start := time.Now()

	get := map[string][]setJSON{}
	healthy := map[string]setJSON{}
	forOp := map[string]setJSON{}
	for _, name := range req.Ops {
		op := opsByName[name]
		sets := make([]setJSON, 0, len(req.Keys))
		for _, key := range req.Keys {
			rs, err := r.Get(key, op, nil, nil, nil)
			sets = append(sets, replicationSetJSON(rs, err, false))
		}
		get[name] = sets
		rs, err := r.GetAllHealthy(op)
		healthy[name] = replicationSetJSON(rs, err, true)
		rs, err = r.GetReplicationSetForOperation(op)
		forOp[name] = replicationSetJSON(rs, err, true)
	}

	lookback := time.Duration(req.Lookback * float64(time.Second))
	nowT := time.Unix(req.Now, 0)
	type shardJSON struct {
		Tenant      string    `json:"tenant"`
		Size        int       `json:"size"`
		IDs         []string  `json:"ids"`
		LookbackIDs []string  `json:"lookback_ids"`
		Get         []setJSON `json:"get"`
	}
	shards := []shardJSON{}
	for _, tenant := range req.Tenants {
		for _, size := range req.ShardSizes {
			sub := r.ShuffleShard(tenant, size)
			lb := r.ShuffleShardWithLookback(tenant, size, lookback, nowT)
			s := shardJSON{Tenant: tenant, Size: size, IDs: subringIDs(desc, sub), LookbackIDs: subringIDs(desc, lb)}
			for _, key := range req.ShardKeys {
				rs, err := sub.Get(key, ring.Write, nil, nil, nil)
				s.Get = append(s.Get, replicationSetJSON(rs, err, false))
			}
			shards = append(shards, s)
		}
	}
	end := time.Now()
	return writeJSON(map[string]any{
		"now_start":   float64(start.UnixNano()) / 1e9,
		"now_end":     float64(end.UnixNano()) / 1e9,
		"get":         get,
		"all_healthy": healthy,
		"for_op":      forOp,
		"shards":      shards,
		"zones":       r.Zones(),
	})
}
