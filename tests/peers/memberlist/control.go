package main

import (
	"bufio"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"log"
	"net"
	"strconv"
	"sync"
	"time"

	"github.com/hashicorp/memberlist"
)

func newLogger(s *logSink) *log.Logger { return log.New(s, "", 0) }

// request is one control command; which fields matter depends on Cmd.
type request struct {
	ID       int64    `json:"id"`
	Cmd      string   `json:"cmd"`
	Node     string   `json:"node"`     // a node name or index in this process
	To       string   `json:"to"`       // a member name (send, ping)
	Data     string   `json:"data"`     // hex (send, update_meta)
	Reliable bool     `json:"reliable"` // send over a stream
	Timeout  float64  `json:"timeout"`  // seconds (leave, update_meta)
	Addrs    []string `json:"addrs"`    // join
	Op       string   `json:"op"`       // keyring: list, install, use, remove
	Key      string   `json:"key"`      // base64 (keyring)
	Names    []string `json:"names"`    // census: members whose state to report
	Items    []string `json:"items"`    // broadcast: hex user broadcasts to queue
}

type server struct {
	nodes []*node
	out   *output
	wg    sync.WaitGroup
}

// serve runs every command in its own goroutine (leave and join block) until "exit" or EOF.
func (s *server) serve(in *bufio.Scanner) {
	in.Buffer(make([]byte, 1<<20), 1<<24)
	for in.Scan() {
		var req request
		if err := json.Unmarshal(in.Bytes(), &req); err != nil {
			s.out.send(map[string]any{"ok": false, "error": "bad command: " + err.Error()})
			continue
		}
		if req.Cmd == "exit" {
			s.wg.Wait()
			s.out.send(map[string]any{"id": req.ID, "ok": true, "result": nil})
			return
		}
		s.wg.Add(1)
		go func() {
			defer s.wg.Done()
			result, err := s.handle(&req)
			if err != nil {
				s.out.send(map[string]any{"id": req.ID, "ok": false, "error": err.Error()})
			} else {
				s.out.send(map[string]any{"id": req.ID, "ok": true, "result": result})
			}
		}()
	}
}

func (s *server) find(name string) (*node, error) {
	for _, n := range s.nodes {
		if n.name == name {
			return n, nil
		}
	}
	if i, err := strconv.Atoi(name); err == nil && i >= 0 && i < len(s.nodes) {
		return s.nodes[i], nil
	}
	return nil, fmt.Errorf("no node %q in this process", name)
}

func (s *server) describe(n *node) map[string]any {
	local := n.ml.LocalNode()
	n.mu.Lock()
	defer n.mu.Unlock()
	return map[string]any{
		"name": n.name, "addr": local.Addr.String(), "port": local.Port, "running": !n.down,
	}
}

func (s *server) handle(req *request) (any, error) {
	if req.Cmd == "nodes" {
		list := make([]any, len(s.nodes))
		for i, n := range s.nodes {
			list[i] = s.describe(n)
		}
		return list, nil
	}
	if req.Cmd == "census" {
		return s.census(req.Names), nil
	}
	n, err := s.find(req.Node)
	if err != nil {
		return nil, err
	}
	n.mu.Lock()
	down := n.down
	n.mu.Unlock()
	if down && req.Cmd != "logs" && req.Cmd != "stats" {
		return nil, fmt.Errorf("node %s is shut down", n.name)
	}
	switch req.Cmd {
	case "members":
		return members(n.ml), nil
	case "send":
		return nil, s.send(n, req)
	case "update_meta":
		data, err := hex.DecodeString(req.Data)
		if err != nil {
			return nil, err
		}
		n.mu.Lock()
		n.meta = data
		n.mu.Unlock()
		return nil, n.ml.UpdateNode(seconds(req.Timeout))
	case "broadcast":
		for _, item := range req.Items {
			data, err := hex.DecodeString(item)
			if err != nil {
				return nil, err
			}
			n.mu.Lock()
			n.outbox = append(n.outbox, data)
			n.mu.Unlock()
		}
		return nil, nil
	case "leave":
		return nil, n.ml.Leave(seconds(req.Timeout))
	case "shutdown":
		n.mu.Lock()
		n.down = true
		n.mu.Unlock()
		return nil, n.ml.Shutdown()
	case "join":
		joined, err := n.ml.Join(req.Addrs)
		if err != nil {
			return map[string]any{"joined": joined, "error": err.Error()}, nil
		}
		return map[string]any{"joined": joined}, nil
	case "keyring":
		return keyring(n, req)
	case "ping":
		return s.ping(n, req.To)
	case "messages":
		n.mu.Lock()
		defer n.mu.Unlock()
		return append([]string{}, n.messages...), nil
	case "logs":
		return n.logs.snapshot(), nil
	case "stats":
		n.mu.Lock()
		defer n.mu.Unlock()
		return map[string]any{
			"health":        n.ml.GetHealthScore(),
			"num_members":   n.ml.NumMembers(),
			"messages":      len(n.messages),
			"merges":        n.merges,
			"last_merge":    n.lastMerge,
			"max_merge":     n.maxMerge,
			"user_states":   n.userState,
			"protocol":      n.ml.ProtocolVersion(),
			"local_address": n.ml.LocalNode().Address(),
		}, nil
	}
	return nil, fmt.Errorf("unknown command %q", req.Cmd)
}

func seconds(s float64) time.Duration { return time.Duration(s * float64(time.Second)) }

func (s *server) target(n *node, name string) (*memberlist.Node, error) {
	for _, m := range n.ml.Members() {
		if m.Name == name {
			return m, nil
		}
	}
	return nil, fmt.Errorf("%s knows no live member %q", n.name, name)
}

func (s *server) send(n *node, req *request) error {
	data, err := hex.DecodeString(req.Data)
	if err != nil {
		return err
	}
	to, err := s.target(n, req.To)
	if err != nil {
		return err
	}
	if req.Reliable {
		return n.ml.SendReliable(to, data)
	}
	return n.ml.SendBestEffort(to, data)
}

func (s *server) ping(n *node, name string) (any, error) {
	to, err := s.target(n, name)
	if err != nil {
		return nil, err
	}
	addr, err := net.ResolveUDPAddr("udp", to.Address())
	if err != nil {
		return nil, err
	}
	rtt, err := n.ml.Ping(name, addr)
	if err != nil {
		return nil, err
	}
	return rtt.Seconds(), nil
}

func keyring(n *node, req *request) (any, error) {
	if n.keys == nil {
		return nil, fmt.Errorf("%s has no keyring", n.name)
	}
	var err error
	if req.Op != "list" {
		key, derr := base64.StdEncoding.DecodeString(req.Key)
		if derr != nil {
			return nil, derr
		}
		switch req.Op {
		case "install":
			err = n.keys.AddKey(key)
		case "use":
			err = n.keys.UseKey(key)
		case "remove":
			err = n.keys.RemoveKey(key)
		default:
			return nil, fmt.Errorf("unknown keyring op %q", req.Op)
		}
	}
	if err != nil {
		return nil, err
	}
	var keys []string
	for _, k := range n.keys.GetKeys() {
		keys = append(keys, base64.StdEncoding.EncodeToString(k))
	}
	return map[string]any{
		"primary": base64.StdEncoding.EncodeToString(n.keys.GetPrimaryKey()), "keys": keys,
	}, nil
}

// census summarises every running node's view: counts per state, and the state of the named
// members (absent: "none"), without the full member lists of a big cluster.
func (s *server) census(names []string) map[string]any {
	result := map[string]any{}
	for _, n := range s.nodes {
		n.mu.Lock()
		down := n.down
		n.mu.Unlock()
		if down {
			continue
		}
		counts := map[string]int{}
		states := map[string]string{}
		for _, name := range names {
			states[name] = "none"
		}
		views := members(n.ml)
		for _, v := range views {
			counts[v.State]++
			if _, ok := states[v.Name]; ok {
				states[v.Name] = v.State
			}
		}
		result[n.name] = map[string]any{"counts": counts, "states": states}
	}
	return result
}
