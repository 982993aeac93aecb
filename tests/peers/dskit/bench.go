package main

import (
	"flag"
	"fmt"
	"runtime"
	"testing"
	"time"

	"github.com/grafana/dskit/kv/memberlist"
	"github.com/grafana/dskit/ring"
)

// benchRing is the ring the benchmark uses on both sides: n ACTIVE instances in three zones with
// tokens from dskit's random generator, all heartbeating at now.
func benchRing(n, tokens int, seed int64, now int64) *ring.Desc {
	gen := ring.NewRandomTokenGeneratorWithSeed(seed)
	zones := []string{"zone-a", "zone-b", "zone-c"}
	desc := ring.NewDesc()
	var taken []uint32
	for i := 0; i < n; i++ {
		id := fmt.Sprintf("ingester-%04d", i)
		t := gen.GenerateTokens(tokens, taken)
		taken = append(taken, t...)
		inst := desc.AddIngester(id, fmt.Sprintf("10.0.%d.%d:9095", i/256, i%256), zones[i%3], t, ring.ACTIVE, time.Unix(now-3600, 0), false, time.Time{}, nil)
		inst.Timestamp = now
		desc.Ingesters[id] = inst
	}
	return desc
}

func cloneDesc(d *ring.Desc) *ring.Desc {
	out := ring.NewDesc()
	for k, v := range d.Ingesters {
		v.Tokens = append([]uint32(nil), v.Tokens...)
		out.Ingesters[k] = v
	}
	return out
}

func nsPerOp(f func(b *testing.B)) float64 {
	r := testing.Benchmark(f)
	return float64(r.T.Nanoseconds()) / float64(r.N)
}

// bench: prints one JSON object of Go dskit's costs on a -instances x -tokens ring.
func runBench(args []string) error {
	fs := flag.NewFlagSet("bench", flag.ContinueOnError)
	n := fs.Int("instances", 1000, "instances")
	tokens := fs.Int("tokens", 128, "tokens per instance")
	seed := fs.Int64("seed", 1, "seed of the token generator")
	if err := fs.Parse(args); err != nil {
		return err
	}
	const now = 1_700_000_000
	base := benchRing(*n, *tokens, *seed, now)
	codec := ring.GetCodec()
	value, err := codec.Encode(base)
	if err != nil {
		return err
	}
	raw, err := base.Marshal()
	if err != nil {
		return err
	}
	hbID := "ingester-0000"
	heartbeat := func(ts int64) *ring.Desc {
		inst := base.Ingesters[hbID]
		inst.Timestamp = ts
		inst.Tokens = append([]uint32(nil), inst.Tokens...)
		return &ring.Desc{Ingesters: map[string]ring.InstanceDesc{hbID: inst}}
	}
	hbValue, err := codec.Encode(heartbeat(now + 1))
	if err != nil {
		return err
	}
	hbPair := memberlist.KeyValuePair{Key: "collectors/ring", Value: hbValue, Codec: codec.CodecID()}
	hbBytes, err := hbPair.Marshal()
	if err != nil {
		return err
	}

	results := map[string]any{"instances": *n, "tokens": *tokens, "go": runtime.Version()}

	// One heartbeat into the full ring, as the receive path does it: the change arrives as a
	// KV value, is decoded (snappy + protobuf) and merged into the stored ring in place.
	recv := cloneDesc(base)
	ts := int64(now)
	results["heartbeat_merge_ns"] = nsPerOp(func(b *testing.B) {
		for i := 0; i < b.N; i++ {
			b.StopTimer()
			ts++
			upd := heartbeat(ts)
			b.StartTimer()
			if _, err := recv.Merge(upd, false); err != nil {
				b.Fatal(err)
			}
		}
	})
	results["heartbeat_receive_ns"] = nsPerOp(func(b *testing.B) {
		for i := 0; i < b.N; i++ {
			b.StopTimer()
			ts++
			v, _ := codec.Encode(heartbeat(ts))
			b.StartTimer()
			upd, err := codec.Decode(v)
			if err != nil {
				b.Fatal(err)
			}
			if _, err := recv.Merge(upd.(*ring.Desc), false); err != nil {
				b.Fatal(err)
			}
		}
	})
	// A full ring in which every instance has a newer heartbeat (a push/pull from a peer).
	results["full_merge_ns"] = nsPerOp(func(b *testing.B) {
		for i := 0; i < b.N; i++ {
			b.StopTimer()
			into := cloneDesc(base)
			upd := cloneDesc(base)
			for k, v := range upd.Ingesters {
				v.Timestamp = now + 1
				upd.Ingesters[k] = v
			}
			b.StartTimer()
			if _, err := into.Merge(upd, false); err != nil {
				b.Fatal(err)
			}
		}
	})
	results["decode_value_ns"] = nsPerOp(func(b *testing.B) {
		for i := 0; i < b.N; i++ {
			if _, err := codec.Decode(value); err != nil {
				b.Fatal(err)
			}
		}
	})
	results["decode_proto_ns"] = nsPerOp(func(b *testing.B) {
		for i := 0; i < b.N; i++ {
			d := ring.NewDesc()
			if err := d.Unmarshal(raw); err != nil {
				b.Fatal(err)
			}
		}
	})
	results["encode_value_ns"] = nsPerOp(func(b *testing.B) {
		for i := 0; i < b.N; i++ {
			if _, err := codec.Encode(base); err != nil {
				b.Fatal(err)
			}
		}
	})
	results["encode_proto_ns"] = nsPerOp(func(b *testing.B) {
		for i := 0; i < b.N; i++ {
			if _, err := base.Marshal(); err != nil {
				b.Fatal(err)
			}
		}
	})

	// Heap held by decoded copies of the ring.
	const copies = 10
	held := make([]*ring.Desc, 0, copies)
	runtime.GC()
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	for i := 0; i < copies; i++ {
		v, err := codec.Decode(value)
		if err != nil {
			return err
		}
		held = append(held, v.(*ring.Desc))
	}
	runtime.GC()
	runtime.ReadMemStats(&after)
	results["ring_copy_bytes"] = float64(after.HeapAlloc-before.HeapAlloc) / copies
	runtime.KeepAlive(held)

	results["heartbeat_broadcast_bytes"] = len(hbBytes) + 1 // + memberlist's user message type
	results["full_value_bytes"] = len(value)
	results["full_proto_bytes"] = len(raw)
	results["value_hex"] = fmt.Sprintf("%x", value) // the same ring, for the other side to measure
	return writeJSON(results)
}
