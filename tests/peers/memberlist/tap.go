package main

// A capture of the real traffic: memberlist.NetTransport wrapped so that every datagram and
// every stream a node sends or receives is written, as hex, to a JSON-lines file. memberlist
// puts its label wrapper (transport.go, labelWrappedTransport) around the transport it is
// given, so the capture holds exactly the bytes on the wire, label headers included.

import (
	"encoding/hex"
	"encoding/json"
	"net"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hashicorp/memberlist"
)

// recorder appends one JSON object per line to the capture file.
type recorder struct {
	mu    sync.Mutex
	enc   *json.Encoder
	start time.Time
	conns atomic.Int64
}

func newRecorder(path string) (*recorder, error) {
	f, err := os.Create(path)
	if err != nil {
		return nil, err
	}
	return &recorder{enc: json.NewEncoder(f), start: time.Now()}, nil
}

func (r *recorder) write(rec map[string]any) {
	rec["t"] = time.Since(r.start).Seconds()
	r.mu.Lock()
	defer r.mu.Unlock()
	_ = r.enc.Encode(rec)
}

// tapTransport records what a NetTransport carries for one node.
type tapTransport struct {
	*memberlist.NetTransport
	node     string
	rec      *recorder
	packetCh chan *memberlist.Packet
	streamCh chan net.Conn
	done     chan struct{}
}

func newTap(inner *memberlist.NetTransport, node string, rec *recorder) *tapTransport {
	t := &tapTransport{
		NetTransport: inner,
		node:         node,
		rec:          rec,
		packetCh:     make(chan *memberlist.Packet),
		streamCh:     make(chan net.Conn),
		done:         make(chan struct{}),
	}
	go t.forward()
	return t
}

func (t *tapTransport) forward() {
	for {
		select {
		case p := <-t.NetTransport.PacketCh():
			t.rec.write(map[string]any{
				"kind": "packet", "node": t.node, "dir": "in", "peer": p.From.String(),
				"hex": hex.EncodeToString(p.Buf),
			})
			select {
			case t.packetCh <- p:
			case <-t.done:
				return
			}
		case c := <-t.NetTransport.StreamCh():
			select {
			case t.streamCh <- t.wrap(c, false):
			case <-t.done:
				return
			}
		case <-t.done:
			return
		}
	}
}

func (t *tapTransport) PacketCh() <-chan *memberlist.Packet { return t.packetCh }

func (t *tapTransport) StreamCh() <-chan net.Conn { return t.streamCh }

func (t *tapTransport) WriteTo(b []byte, addr string) (time.Time, error) {
	return t.WriteToAddress(b, memberlist.Address{Addr: addr})
}

func (t *tapTransport) WriteToAddress(b []byte, a memberlist.Address) (time.Time, error) {
	t.rec.write(map[string]any{
		"kind": "packet", "node": t.node, "dir": "out", "peer": a.Addr, "peer_name": a.Name,
		"hex": hex.EncodeToString(b),
	})
	return t.NetTransport.WriteToAddress(b, a)
}

func (t *tapTransport) DialTimeout(addr string, timeout time.Duration) (net.Conn, error) {
	return t.DialAddressTimeout(memberlist.Address{Addr: addr}, timeout)
}

func (t *tapTransport) DialAddressTimeout(a memberlist.Address, timeout time.Duration) (net.Conn, error) {
	c, err := t.NetTransport.DialAddressTimeout(a, timeout)
	if err != nil {
		return nil, err
	}
	return t.wrap(c, true), nil
}

func (t *tapTransport) Shutdown() error {
	close(t.done)
	return t.NetTransport.Shutdown()
}

func (t *tapTransport) wrap(c net.Conn, dialer bool) net.Conn {
	return &tapConn{Conn: c, tap: t, id: t.rec.conns.Add(1), dialer: dialer}
}

// tapConn keeps both directions of one stream and records them when it is closed.
type tapConn struct {
	net.Conn
	tap      *tapTransport
	id       int64
	dialer   bool
	mu       sync.Mutex
	sent     []byte
	received []byte
	closed   bool
}

func (c *tapConn) Read(b []byte) (int, error) {
	n, err := c.Conn.Read(b)
	c.mu.Lock()
	c.received = append(c.received, b[:n]...)
	c.mu.Unlock()
	return n, err
}

func (c *tapConn) Write(b []byte) (int, error) {
	n, err := c.Conn.Write(b)
	c.mu.Lock()
	c.sent = append(c.sent, b[:n]...)
	c.mu.Unlock()
	return n, err
}

func (c *tapConn) Close() error {
	c.mu.Lock()
	first := !c.closed
	c.closed = true
	c.mu.Unlock()
	if first {
		c.tap.rec.write(map[string]any{
			"kind": "stream", "node": c.tap.node, "conn": c.id, "dialer": c.dialer,
			"local": c.LocalAddr().String(), "remote": c.RemoteAddr().String(),
			"sent": hex.EncodeToString(c.sent), "received": hex.EncodeToString(c.received),
		})
	}
	return c.Conn.Close()
}
