package main

import (
	"encoding/hex"
	"fmt"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/hashicorp/memberlist"
)

// node is one memberlist instance of this process with the delegates that report on it.
type node struct {
	name  string
	index int
	ml    *memberlist.Memberlist
	keys  *memberlist.Keyring
	logs  *logSink
	out   *output
	quiet bool // no events on stdout (big clusters)

	mu         sync.Mutex
	meta       []byte
	localState []byte
	outbox     [][]byte // user broadcasts for GetBroadcasts, oldest first
	messages   []string // hex of every user message received
	merges     int      // push/pulls merged (memberlist's MergeDelegate)
	lastMerge  int      // nodes in the last remote state merged
	maxMerge   int
	userState  int // push/pull user states received
	down       bool
}

func (n *node) event(kind string, fields map[string]any) {
	if n.quiet {
		return
	}
	fields["event"] = kind
	fields["node"] = n.name
	n.out.send(fields)
}

// ---- memberlist.Delegate ----------------------------------------------------------------------

func (n *node) NodeMeta(limit int) []byte {
	n.mu.Lock()
	defer n.mu.Unlock()
	if len(n.meta) > limit {
		return n.meta[:limit]
	}
	return append([]byte(nil), n.meta...)
}

func (n *node) NotifyMsg(b []byte) {
	data := hex.EncodeToString(b)
	n.mu.Lock()
	n.messages = append(n.messages, data)
	n.mu.Unlock()
	n.event("message", map[string]any{"data": data})
}

// GetBroadcasts hands memberlist's gossip as many queued user broadcasts as fit in limit.
func (n *node) GetBroadcasts(overhead, limit int) [][]byte {
	n.mu.Lock()
	defer n.mu.Unlock()
	var out [][]byte
	for len(n.outbox) > 0 && len(n.outbox[0])+overhead <= limit {
		limit -= len(n.outbox[0]) + overhead
		out = append(out, n.outbox[0])
		n.outbox = n.outbox[1:]
	}
	return out
}

func (n *node) LocalState(join bool) []byte {
	if len(n.localState) == 0 {
		return nil
	}
	return n.localState
}

func (n *node) MergeRemoteState(buf []byte, join bool) {
	n.mu.Lock()
	n.userState++
	n.mu.Unlock()
}

// ---- memberlist.EventDelegate: called with memberlist's nodeLock held --------------------------

func (n *node) notify(kind string, peer *memberlist.Node) {
	if n.quiet {
		return
	}
	v := viewOf(mirrorOf(peer))
	n.event(kind, map[string]any{"member": v})
}

func (n *node) NotifyJoin(peer *memberlist.Node)   { n.notify("join", peer) }
func (n *node) NotifyLeave(peer *memberlist.Node)  { n.notify("leave", peer) }
func (n *node) NotifyUpdate(peer *memberlist.Node) { n.notify("update", peer) }

// ---- memberlist.MergeDelegate -------------------------------------------------------------------

func (n *node) NotifyMerge(peers []*memberlist.Node) error {
	n.mu.Lock()
	n.merges++
	n.lastMerge = len(peers)
	n.maxMerge = max(n.maxMerge, len(peers))
	n.mu.Unlock()
	return nil
}

// ---- memberlist.ConflictDelegate ----------------------------------------------------------------

func (n *node) NotifyConflict(existing, other *memberlist.Node) {
	n.event("conflict", map[string]any{
		"name": existing.Name, "existing": existing.Address(), "other": other.Address(),
	})
}

// logSink is a node's memberlist logger: it counts every line by its text (debug lines only in
// total, as they carry ever-changing addresses) and echoes warnings and errors to stderr.
type logSink struct {
	node    string
	verbose bool
	mu      sync.Mutex
	counts  map[string]int
	debug   int
}

func newLogSink(node string, verbose bool) *logSink {
	return &logSink{node: node, verbose: verbose, counts: map[string]int{}}
}

func (s *logSink) Write(p []byte) (int, error) {
	for _, line := range strings.Split(strings.TrimRight(string(p), "\n"), "\n") {
		isDebug := strings.HasPrefix(line, "[DEBUG]")
		s.mu.Lock()
		if isDebug {
			s.debug++
		} else {
			s.counts[line]++
		}
		s.mu.Unlock()
		if s.verbose || !isDebug && !strings.HasPrefix(line, "[INFO]") {
			fmt.Fprintf(os.Stderr, "%s %s %s\n", time.Now().Format("15:04:05.000"), s.node, line)
		}
	}
	return len(p), nil
}

func (s *logSink) snapshot() map[string]any {
	s.mu.Lock()
	defer s.mu.Unlock()
	counts := make(map[string]int, len(s.counts))
	for k, v := range s.counts {
		counts[k] = v
	}
	return map[string]any{"counts": counts, "debug_lines": s.debug}
}
