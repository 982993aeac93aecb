package main

// memberlist keeps each member's state and incarnation in its unexported nodeMap (state.go,
// type nodeState); the public API shows neither (Members() hides dead and left nodes, and
// Node.State is never written because nodeState.State shadows it). The tests need Go's own
// view, so this file reads it, under the same nodeLock memberlist uses, through a mirror of
// nodeState whose layout is checked against the real type at start-up.

import (
	"fmt"
	"net"
	"reflect"
	"sync"
	"time"
	"unsafe"

	"github.com/hashicorp/memberlist"
)

// nodeStateMirror has the layout of memberlist.nodeState (state.go) in v0.7.0.
type nodeStateMirror struct {
	memberlist.Node
	Incarnation uint32
	State       memberlist.NodeStateType
	StateChange time.Time
}

var (
	nodeLockOffset uintptr
	nodesOffset    uintptr
)

// checkLayout verifies the mirror against memberlist's types; the peer refuses to start if a
// field moved, rather than read garbage.
func checkLayout() error {
	ml := reflect.TypeOf(memberlist.Memberlist{})
	lock, ok := ml.FieldByName("nodeLock")
	if !ok || lock.Type != reflect.TypeOf(sync.RWMutex{}) {
		return fmt.Errorf("memberlist.Memberlist.nodeLock is not a sync.RWMutex")
	}
	nodes, ok := ml.FieldByName("nodes")
	if !ok || nodes.Type.Kind() != reflect.Slice || nodes.Type.Elem().Kind() != reflect.Pointer {
		return fmt.Errorf("memberlist.Memberlist.nodes is not a slice of pointers")
	}
	real := nodes.Type.Elem().Elem()
	mirror := reflect.TypeOf(nodeStateMirror{})
	if real.Size() != mirror.Size() || real.NumField() != mirror.NumField() {
		return fmt.Errorf("nodeState has changed: %d fields, %d bytes", real.NumField(), real.Size())
	}
	for i := 0; i < real.NumField(); i++ {
		r, m := real.Field(i), mirror.Field(i)
		if r.Name != m.Name || r.Offset != m.Offset || r.Type != m.Type {
			return fmt.Errorf("nodeState field %d is %s %s at %d", i, r.Name, r.Type, r.Offset)
		}
	}
	nodeLockOffset, nodesOffset = lock.Offset, nodes.Offset
	return nil
}

// memberView is one member as a node sees it.
type memberView struct {
	Name        string `json:"name"`
	Addr        string `json:"addr"`
	Port        uint16 `json:"port"`
	State       string `json:"state"`
	Incarnation uint32 `json:"incarnation"`
	Meta        string `json:"meta"` // hex
	Vsn         []int  `json:"vsn"`
}

var stateNames = map[memberlist.NodeStateType]string{
	memberlist.StateAlive:   "alive",
	memberlist.StateSuspect: "suspect",
	memberlist.StateDead:    "dead",
	memberlist.StateLeft:    "left",
}

func stateName(s memberlist.NodeStateType) string {
	if name, ok := stateNames[s]; ok {
		return name
	}
	return fmt.Sprintf("state-%d", int(s))
}

// mirrorOf gives the nodeState around a *Node that memberlist handed to a delegate: Node is
// nodeState's first field, so both share an address. Only valid for event delegate calls,
// which memberlist makes with nodeLock held.
func mirrorOf(n *memberlist.Node) *nodeStateMirror {
	return (*nodeStateMirror)(unsafe.Pointer(n))
}

func viewOf(s *nodeStateMirror) memberView {
	return memberView{
		Name:        s.Name,
		Addr:        net.IP(s.Addr).String(),
		Port:        s.Port,
		State:       stateName(s.State),
		Incarnation: s.Incarnation,
		Meta:        fmt.Sprintf("%x", s.Meta),
		Vsn:         []int{int(s.PMin), int(s.PMax), int(s.PCur), int(s.DMin), int(s.DMax), int(s.DCur)},
	}
}

// members lists every member in m's node map (alive, suspect, dead and left until reaped).
func members(m *memberlist.Memberlist) []memberView {
	base := unsafe.Pointer(m)
	lock := (*sync.RWMutex)(unsafe.Add(base, nodeLockOffset))
	nodes := (*[]*nodeStateMirror)(unsafe.Add(base, nodesOffset))
	lock.RLock()
	defer lock.RUnlock()
	out := make([]memberView, 0, len(*nodes))
	for _, s := range *nodes {
		out = append(out, viewOf(s))
	}
	return out
}
