package main

import (
	"bufio"
	"encoding/hex"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"strings"
	"time"

	"github.com/go-kit/log"
	hmemberlist "github.com/hashicorp/memberlist"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/grafana/dskit/kv/memberlist"
)

// captureOne accepts one connection on ln and returns everything written to it.
func captureOne(ln net.Listener) ([]byte, error) {
	_ = ln.(*net.TCPListener).SetDeadline(time.Now().Add(5 * time.Second))
	conn, err := ln.Accept()
	if err != nil {
		return nil, err
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(5 * time.Second))
	return io.ReadAll(conn)
}

// sendVia makes a memberlist (grafana's fork) on dskit's TCP transport and sends payload as a
// user message to ln's address, which captures the packet connection byte for byte.
func sendVia(ln net.Listener, payload []byte, compression string, label string) ([]byte, string, error) {
	tcfg := defaultKVConfig("frame", 0).TCPTransport
	tr, err := memberlist.NewTCPTransport(tcfg, log.NewNopLogger(), prometheus.NewRegistry())
	if err != nil {
		return nil, "", err
	}
	mlCfg := hmemberlist.DefaultLANConfig()
	mlCfg.Name = "frame-" + compression + label
	mlCfg.Transport = tr
	mlCfg.AdvertiseAddr = "127.0.0.1"
	mlCfg.AdvertisePort = tr.GetAutoBindPort()
	mlCfg.LogOutput = io.Discard
	mlCfg.Label = label
	mlCfg.EnableCompression = compression != "none"
	if compression != "none" {
		mlCfg.CompressionAlgorithm = hmemberlist.CompressionAlgorithm(compression)
	}
	ml, err := hmemberlist.Create(mlCfg)
	if err != nil {
		return nil, "", err
	}
	defer func() { _ = ml.Shutdown() }()
	done := make(chan struct{})
	var raw []byte
	var capErr error
	go func() { raw, capErr = captureOne(ln); close(done) }()
	if err := ml.SendToAddress(hmemberlist.Address{Addr: ln.Addr().String()}, payload); err != nil {
		return nil, "", err
	}
	<-done
	return raw, fmt.Sprintf("127.0.0.1:%d", mlCfg.AdvertisePort), capErr
}

// frame: {"payload_hex"} on stdin.
//
// First it prints {"captures": [...]}: the payload sent as a user message by memberlist over
// dskit's TCP transport, without compression, with snappy, with lzw, and with a cluster label.
// Then it listens with a bare dskit TCPTransport and prints {"listening": port}; every packet the
// transport delivers is printed as {"from", "payload_hex"}. A line "done" on stdin (or EOF) ends
// it with {"counters": ...} (the transport's packet error and unknown-connection counters).
func runFrame(args []string) error {
	fs := flag.NewFlagSet("frame", flag.ContinueOnError)
	if err := fs.Parse(args); err != nil {
		return err
	}
	in := bufio.NewReader(os.Stdin)
	line, err := in.ReadString('\n')
	if err != nil && line == "" {
		return err
	}
	var req struct {
		PayloadHex string `json:"payload_hex"`
	}
	if err := json.Unmarshal([]byte(line), &req); err != nil {
		return err
	}
	payload, err := hexBytes(req.PayloadHex)
	if err != nil {
		return err
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	defer ln.Close()
	type capture struct {
		Compression string `json:"compression"`
		Label       string `json:"label"`
		From        string `json:"from"`
		Hex         string `json:"hex"`
	}
	captures := []capture{}
	for _, c := range []struct{ comp, label string }{{"none", ""}, {"snappy", ""}, {"lzw", ""}, {"snappy", "cluster-a"}} {
		raw, from, err := sendVia(ln, payload, c.comp, c.label)
		if err != nil {
			return err
		}
		captures = append(captures, capture{c.comp, c.label, from, hex.EncodeToString(raw)})
	}
	if err := writeJSON(map[string]any{"captures": captures}); err != nil {
		return err
	}

	reg := prometheus.NewRegistry()
	tcfg := defaultKVConfig("receiver", 0).TCPTransport
	tcfg.MetricsNamespace = "t"
	tr, err := memberlist.NewTCPTransport(tcfg, log.NewNopLogger(), reg)
	if err != nil {
		return err
	}
	defer func() { _ = tr.Shutdown() }()
	if err := writeJSON(map[string]any{"listening": tr.GetAutoBindPort()}); err != nil {
		return err
	}
	go func() {
		for p := range tr.PacketCh() {
			_ = writeJSON(map[string]any{"from": p.From.String(), "payload_hex": hex.EncodeToString(p.Buf)})
		}
	}()
	for {
		line, err := in.ReadString('\n')
		if strings.TrimSpace(line) == "done" || err != nil {
			break
		}
	}
	time.Sleep(100 * time.Millisecond)
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
	return writeJSON(map[string]any{"counters": counters})
}
