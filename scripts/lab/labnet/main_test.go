package main

import (
	"net"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

func TestPeer(t *testing.T) {
	for _, tc := range []struct {
		addr    net.Addr
		portToo bool
		want    string
	}{
		{&net.TCPAddr{IP: net.ParseIP("100.64.0.1"), Port: 4242}, false, "100.64.0.1"},
		{&net.TCPAddr{IP: net.ParseIP("100.64.0.1"), Port: 4242}, true, "100.64.0.1 4242"},
		{&net.UDPAddr{IP: net.ParseIP("fd00:64::2"), Port: 53}, true, "fd00:64::2 53"},
		{&net.UnixAddr{Name: "/x", Net: "unix"}, true, "/x"},
	} {
		if got := peer(tc.addr, tc.portToo); got != tc.want {
			t.Errorf("peer(%v, %v) = %q, want %q", tc.addr, tc.portToo, got, tc.want)
		}
	}
}

// TestGetLocalAndTTL: get --local sends from the given port (the server
// sees it, --port-too); with --ttl the socket reports the ICMP error of a
// closed port.
func TestGetLocalAndTTL(t *testing.T) {
	pc, err := reuseListen.ListenPacket(t.Context(), "udp", "127.0.0.1:0")
	if err != nil {
		t.Skipf("no UDP on loopback: %v", err)
	}
	defer pc.Close()
	go func() { _ = serveUDP(pc, "s", true) }()
	srv := pc.LocalAddr().String()

	free, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	lport := free.LocalAddr().(*net.UDPAddr).Port
	free.Close()
	d := net.Dialer{LocalAddr: &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1), Port: lport}}
	line, err := once(&d, "udp", srv, 2*time.Second, 0)
	if err != nil || !strings.HasSuffix(line, " "+strconv.Itoa(lport)) {
		t.Errorf("get --local :%d -> %q, %v; want the server to see port %d", lport, line, err, lport)
	}

	// A closed port: with --ttl the socket hears the port unreachable.
	closed, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	dst := closed.LocalAddr().String()
	closed.Close()
	d = net.Dialer{Control: func(_, _ string, c syscall.RawConn) error { return setSockopts(c, 64, true) }}
	if _, err := once(&d, "udp", dst, 2*time.Second, 0); err == nil || !strings.Contains(err.Error(), "connection refused") {
		t.Errorf("get --ttl 64 to a closed port: %v, want connection refused", err)
	}
}
