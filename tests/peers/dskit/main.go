// Command dskit is trio_gossip's reference peer for dskit's wire mode: real grafana/dskit code
// (memberlist KV, TCP transport, ring model, ring lookups, lifecyclers) behind a small CLI.
//
// Subcommands:
//
//	serve        run N dskit nodes on loopback, each with the memberlist KV and a ring lifecycler;
//	             JSON-lines control channel on stdin/stdout (see serve.go)
//	gen-ring     build a random ring with dskit's token generator; print its protobuf and JSON
//	decode-ring  read ring.Desc protobufs (hex, one JSON request on stdin), print them as JSON
//	merge        run ring.Desc.Merge on pairs of rings, with and without localCAS
//	lookup       build a ring.Ring on a ring and answer Get, GetAllHealthy,
//	             GetReplicationSetForOperation, ShuffleShard and ShuffleShardWithLookback
//	kv           run a real memberlist KV: what it broadcasts and writes for push/pull, and what
//	             it makes of push/pull state and broadcasts it is given
//	frame        packets written by dskit's TCP transport (plain, snappy, labelled), and packets
//	             it receives on loopback
//	bench        time merge, decode and encode of a large ring (see bench.go)
//
// The offline subcommands read one JSON request on stdin and write one JSON answer on stdout.
package main

import (
	"bufio"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"sort"

	"github.com/grafana/dskit/ring"
)

func main() {
	if len(os.Args) < 2 {
		fmt.Fprintln(os.Stderr, "usage: dskit serve|gen-ring|decode-ring|merge|lookup|kv|frame|bench [flags]")
		os.Exit(2)
	}
	cmd, args := os.Args[1], os.Args[2:]
	var err error
	switch cmd {
	case "serve":
		err = runServe(args)
	case "gen-ring":
		err = runGenRing(args)
	case "decode-ring":
		err = runDecodeRing()
	case "merge":
		err = runMerge()
	case "lookup":
		err = runLookup()
	case "kv":
		err = runKV()
	case "frame":
		err = runFrame(args)
	case "bench":
		err = runBench(args)
	default:
		err = fmt.Errorf("unknown subcommand %q", cmd)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "dskit peer:", err)
		os.Exit(1)
	}
}

// instanceJSON is one ring.InstanceDesc, field for field, plus its key in the ring.
type instanceJSON struct {
	Key                      string      `json:"key"`
	ID                       string      `json:"id"`
	Addr                     string      `json:"addr"`
	Timestamp                int64       `json:"timestamp"`
	State                    int32       `json:"state"`
	Tokens                   []uint32    `json:"tokens"`
	Zone                     string      `json:"zone"`
	RegisteredTimestamp      int64       `json:"registered_timestamp"`
	ReadOnlyUpdatedTimestamp int64       `json:"read_only_updated_timestamp"`
	ReadOnly                 bool        `json:"read_only"`
	Versions                 [][2]uint64 `json:"versions"`
}

func toJSON(key string, d ring.InstanceDesc) instanceJSON {
	versions := [][2]uint64{}
	for k, v := range d.Versions {
		versions = append(versions, [2]uint64{k, v})
	}
	sort.Slice(versions, func(i, j int) bool { return versions[i][0] < versions[j][0] })
	tokens := d.Tokens
	if tokens == nil {
		tokens = []uint32{}
	}
	return instanceJSON{
		Key: key, ID: d.Id, Addr: d.Addr, Timestamp: d.Timestamp, State: int32(d.State),
		Tokens: tokens, Zone: d.Zone, RegisteredTimestamp: d.RegisteredTimestamp,
		ReadOnlyUpdatedTimestamp: d.ReadOnlyUpdatedTimestamp, ReadOnly: d.ReadOnly,
		Versions: versions,
	}
}

// descJSON lists a ring's instances sorted by key.
func descJSON(d *ring.Desc) []instanceJSON {
	out := []instanceJSON{}
	if d == nil {
		return out
	}
	for k, v := range d.Ingesters {
		out = append(out, toJSON(k, v))
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Key < out[j].Key })
	return out
}

func decodeDescHex(s string) (*ring.Desc, error) {
	raw, err := hex.DecodeString(s)
	if err != nil {
		return nil, err
	}
	d := ring.NewDesc()
	if err := d.Unmarshal(raw); err != nil {
		return nil, err
	}
	return d, nil
}

func marshalHex(d *ring.Desc) (string, error) {
	raw, err := d.Marshal()
	if err != nil {
		return "", err
	}
	return hex.EncodeToString(raw), nil
}

func readRequest(v any) error {
	data, err := io.ReadAll(bufio.NewReader(os.Stdin))
	if err != nil {
		return err
	}
	return json.Unmarshal(data, v)
}

func writeJSON(v any) error {
	enc := json.NewEncoder(os.Stdout)
	return enc.Encode(v)
}
