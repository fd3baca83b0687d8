// Command labnet is the lab's tiny traffic tool: a server that answers every
// TCP connection and UDP datagram with its name and the address it saw the
// peer come from, and a client that makes N bounded connections and prints
// each answer. scripts/lab.sh runs it inside the lab's network namespaces;
// deploy/ uses it in the client and server containers.
//
//	labnet serve --name backend1 --listen tcp::80 --listen udp::53
//	labnet get --n 20 --timeout 2s 10.200.0.10:80
//	labnet get --proto udp --n 5 [fd00:99::2]:53
//	labnet get --bytes 8388608 10.200.0.10:80
//	labnet serve --name internet --port-too --listen udp::5353
//	labnet get --proto udp --local :40000 --ttl 2 198.51.100.10:53
//
// Every answer is one line "<name> <peer-ip>" ("<name> <peer-ip> <peer-port>"
// with serve --port-too). get prints one line per try: the answer, or
// "ERR <reason>"; it exits 1 if any try failed.
//
// get --local [ADDR]:PORT binds each try's socket there first (SO_REUSEADDR,
// so a server's own port can be used too); get --ttl N sends with that IPv4
// TTL / IPv6 hop limit and asks for the ICMP errors that come back (IP_RECVERR),
// so a time exceeded ends the try with "no route to host" and a port
// unreachable with "connection refused", for TCP and UDP alike.
//
// With --bytes N (TCP), get then asks for N bytes of a fixed pattern; the
// server sends them and closes, and get checks count and content, adding
// "<N> bytes ok" to its line: a bulk transfer through the NAT, with full-size
// segments (and TSO/GSO where the hosts' offloads are on).
package main

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"
)

func main() {
	if len(os.Args) < 2 {
		usage()
	}
	var err error
	switch os.Args[1] {
	case "serve":
		err = serve(os.Args[2:])
	case "get":
		err = get(os.Args[2:])
	default:
		usage()
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "labnet:", err)
		os.Exit(1)
	}
}

func usage() {
	fmt.Fprintln(os.Stderr, "usage: labnet serve --name N [--port] --listen tcp:ADDR|udp:ADDR ... | labnet get [--proto tcp|udp] [--n N] [--timeout D] HOST:PORT")
	os.Exit(2)
}

type listFlag []string

func (l *listFlag) String() string     { return strings.Join(*l, ",") }
func (l *listFlag) Set(s string) error { *l = append(*l, s); return nil }

func serve(args []string) error {
	fs := flag.NewFlagSet("serve", flag.ExitOnError)
	name := fs.String("name", "", "name to answer with (default: hostname)")
	portToo := fs.Bool("port-too", false, "answer \"<name> <peer-ip> <peer-port>\"")
	var listens listFlag
	fs.Var(&listens, "listen", "tcp:ADDR or udp:ADDR to serve on (repeatable), e.g. tcp::80")
	withPort := fs.Bool("port", false, "the same as --port-too")
	if err := fs.Parse(args); err != nil {
		return err
	}
	*portToo = *portToo || *withPort
	if *name == "" {
		*name, _ = os.Hostname()
	}
	if len(listens) == 0 {
		return errors.New("serve: at least one --listen")
	}
	errc := make(chan error, len(listens))
	for _, l := range listens {
		proto, addr, ok := strings.Cut(l, ":")
		if !ok {
			return fmt.Errorf("serve: bad --listen %q", l)
		}
		switch proto {
		case "tcp":
			ln, err := reuseListen.Listen(context.Background(), "tcp", addr)
			if err != nil {
				return err
			}
			go func() { errc <- serveTCP(ln, *name, *portToo) }()
		case "udp":
			pc, err := reuseListen.ListenPacket(context.Background(), "udp", addr)
			if err != nil {
				return err
			}
			go func() { errc <- serveUDP(pc, *name, *portToo) }()
		default:
			return fmt.Errorf("serve: bad protocol in --listen %q", l)
		}
		fmt.Printf("labnet %s serving %s\n", *name, l)
	}
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGINT, syscall.SIGTERM)
	select {
	case <-sig:
		return nil
	case err := <-errc:
		return err
	}
}

// reuseListen sets SO_REUSEADDR, so that get --local can send from a
// server's own address and port.
var reuseListen = net.ListenConfig{Control: func(_, _ string, c syscall.RawConn) error {
	return setSockopts(c, 0, true)
}}

// peer is the answer's peer part: "<ip>", or "<ip> <port>" with portToo.
func peer(a net.Addr, portToo bool) string {
	var ip net.IP
	var port int
	switch a := a.(type) {
	case *net.TCPAddr:
		ip, port = a.IP, a.Port
	case *net.UDPAddr:
		ip, port = a.IP, a.Port
	default:
		return a.String()
	}
	if portToo {
		return fmt.Sprintf("%s %d", ip, port)
	}
	return ip.String()
}

func serveTCP(ln net.Listener, name string, portToo bool) error {
	for {
		c, err := ln.Accept()
		if err != nil {
			return err
		}
		go func() {
			defer c.Close()
			_ = c.SetDeadline(time.Now().Add(5 * time.Second))
			if _, err := fmt.Fprintf(c, "%s %s\n", name, peer(c.RemoteAddr(), portToo)); err != nil {
				return
			}
			// An optional request "<n>\n" for n bytes of the pattern; a plain
			// client just closes, which ends this read at once.
			var n int64
			if _, err := fmt.Fscanf(bufio.NewReader(c), "%d\n", &n); err != nil || n <= 0 || n > maxBulk {
				return
			}
			_ = c.SetDeadline(time.Now().Add(60 * time.Second))
			_, _ = io.CopyN(c, &pattern{}, n)
		}()
	}
}

// maxBulk caps a bulk request.
const maxBulk = 1 << 30

// pattern is an endless reader of byte i = i mod 251 (a prime, so that a
// lost, repeated or reordered segment shows).
type pattern struct{ off int64 }

func (p *pattern) Read(b []byte) (int, error) {
	for i := range b {
		b[i] = byte((p.off + int64(i)) % 251)
	}
	p.off += int64(len(b))
	return len(b), nil
}

func serveUDP(pc net.PacketConn, name string, portToo bool) error {
	buf := make([]byte, 2048)
	for {
		_, from, err := pc.ReadFrom(buf)
		if err != nil {
			return err
		}
		_, _ = pc.WriteTo([]byte(fmt.Sprintf("%s %s\n", name, peer(from, portToo))), from)
	}
}

func get(args []string) error {
	fs := flag.NewFlagSet("get", flag.ExitOnError)
	proto := fs.String("proto", "tcp", "tcp or udp")
	n := fs.Int("n", 1, "number of connections (datagrams), at most 10000")
	timeout := fs.Duration("timeout", 2*time.Second, "timeout of each try")
	bulk := fs.Int64("bytes", 0, "TCP: then fetch this many bytes and check them")
	local := fs.String("local", "", "[ADDR]:PORT to send from (SO_REUSEADDR)")
	ttl := fs.Int("ttl", 0, "IPv4 TTL / IPv6 hop limit (1..255), with ICMP errors reported")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() != 1 {
		return errors.New("get: want one HOST:PORT")
	}
	if *n < 1 || *n > 10000 {
		return errors.New("get: --n must be 1..10000")
	}
	if *proto != "tcp" && *proto != "udp" {
		return fmt.Errorf("get: bad --proto %q", *proto)
	}
	if *bulk < 0 || *bulk > maxBulk || (*bulk > 0 && *proto != "tcp") {
		return fmt.Errorf("get: --bytes must be 0..%d, with tcp", maxBulk)
	}
	if *ttl < 0 || *ttl > 255 {
		return errors.New("get: --ttl must be 1..255")
	}
	d := net.Dialer{Timeout: *timeout}
	if *local != "" {
		var err error
		if *proto == "udp" {
			d.LocalAddr, err = net.ResolveUDPAddr("udp", *local)
		} else {
			d.LocalAddr, err = net.ResolveTCPAddr("tcp", *local)
		}
		if err != nil {
			return fmt.Errorf("get: bad --local %q: %w", *local, err)
		}
	}
	if *local != "" || *ttl > 0 {
		d.Control = func(_, _ string, c syscall.RawConn) error { return setSockopts(c, *ttl, true) }
	}
	target := fs.Arg(0)
	failed := 0
	for i := 0; i < *n; i++ {
		line, err := once(&d, *proto, target, *timeout, *bulk)
		if err != nil {
			failed++
			fmt.Printf("ERR %v\n", err)
			continue
		}
		fmt.Println(line)
	}
	if failed > 0 {
		return fmt.Errorf("%d of %d tries to %s failed", failed, *n, target)
	}
	return nil
}

func once(dialer *net.Dialer, proto, target string, timeout time.Duration, bulk int64) (string, error) {
	c, err := dialer.Dial(proto, target)
	if err != nil {
		return "", err
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(timeout))
	if proto == "udp" {
		if _, err := c.Write([]byte("hello\n")); err != nil {
			return "", err
		}
	}
	r := bufio.NewReader(c)
	line, err := r.ReadString('\n')
	if err != nil {
		return "", err
	}
	line = strings.TrimSpace(line)
	if bulk == 0 {
		return line, nil
	}
	// The transfer gets its own, longer deadline: timeout per MiB, at least 10 s.
	d := max(10*time.Second, timeout*time.Duration(bulk>>20))
	_ = c.SetDeadline(time.Now().Add(d))
	if _, err := fmt.Fprintf(c, "%d\n", bulk); err != nil {
		return "", err
	}
	got, err := checkPattern(r)
	if err != nil {
		return "", fmt.Errorf("%s: after %d of %d bytes: %w", line, got, bulk, err)
	}
	if got != bulk {
		return "", fmt.Errorf("%s: got %d of %d bytes", line, got, bulk)
	}
	return fmt.Sprintf("%s %d bytes ok", line, got), nil
}

// checkPattern reads r to EOF and checks it against pattern.
func checkPattern(r io.Reader) (int64, error) {
	buf := make([]byte, 64<<10)
	want := make([]byte, len(buf))
	var p pattern
	var n int64
	for {
		k, err := r.Read(buf)
		if k > 0 {
			_, _ = p.Read(want[:k])
			if !bytes.Equal(buf[:k], want[:k]) {
				for i := 0; i < k; i++ {
					if buf[i] != want[i] {
						return n + int64(i), fmt.Errorf("content differs at byte %d", n+int64(i))
					}
				}
			}
			n += int64(k)
		}
		if err == io.EOF {
			return n, nil
		}
		if err != nil {
			return n, err
		}
	}
}
