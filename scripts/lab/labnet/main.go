// Command labnet is the lab's tiny traffic tool: a server that answers every
// TCP connection and UDP datagram with its name and the address it saw the
// peer come from, and a client that makes N bounded connections and prints
// each answer. scripts/lab.sh runs it inside the lab's network namespaces;
// deploy/ uses it in the client and server containers.
//
//	labnet serve --name backend1 --listen tcp::80 --listen udp::53
//	labnet get --n 20 --timeout 2s 10.200.0.10:80
//	labnet get --proto udp --n 5 [fd00:99::2]:53
//
// Every answer is one line "<name> <peer-ip>". get prints one line per try:
// the answer, or "ERR <reason>"; it exits 1 if any try failed.
package main

import (
	"bufio"
	"errors"
	"flag"
	"fmt"
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
	fmt.Fprintln(os.Stderr, "usage: labnet serve --name N --listen tcp:ADDR|udp:ADDR ... | labnet get [--proto tcp|udp] [--n N] [--timeout D] HOST:PORT")
	os.Exit(2)
}

type listFlag []string

func (l *listFlag) String() string     { return strings.Join(*l, ",") }
func (l *listFlag) Set(s string) error { *l = append(*l, s); return nil }

func serve(args []string) error {
	fs := flag.NewFlagSet("serve", flag.ExitOnError)
	name := fs.String("name", "", "name to answer with (default: hostname)")
	var listens listFlag
	fs.Var(&listens, "listen", "tcp:ADDR or udp:ADDR to serve on (repeatable), e.g. tcp::80")
	if err := fs.Parse(args); err != nil {
		return err
	}
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
			ln, err := net.Listen("tcp", addr)
			if err != nil {
				return err
			}
			go func() { errc <- serveTCP(ln, *name) }()
		case "udp":
			pc, err := net.ListenPacket("udp", addr)
			if err != nil {
				return err
			}
			go func() { errc <- serveUDP(pc, *name) }()
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

func peerIP(a net.Addr) string {
	switch a := a.(type) {
	case *net.TCPAddr:
		return a.IP.String()
	case *net.UDPAddr:
		return a.IP.String()
	}
	return a.String()
}

func serveTCP(ln net.Listener, name string) error {
	for {
		c, err := ln.Accept()
		if err != nil {
			return err
		}
		go func() {
			defer c.Close()
			_ = c.SetDeadline(time.Now().Add(5 * time.Second))
			fmt.Fprintf(c, "%s %s\n", name, peerIP(c.RemoteAddr()))
		}()
	}
}

func serveUDP(pc net.PacketConn, name string) error {
	buf := make([]byte, 2048)
	for {
		_, from, err := pc.ReadFrom(buf)
		if err != nil {
			return err
		}
		_, _ = pc.WriteTo([]byte(fmt.Sprintf("%s %s\n", name, peerIP(from))), from)
	}
}

func get(args []string) error {
	fs := flag.NewFlagSet("get", flag.ExitOnError)
	proto := fs.String("proto", "tcp", "tcp or udp")
	n := fs.Int("n", 1, "number of connections (datagrams), at most 10000")
	timeout := fs.Duration("timeout", 2*time.Second, "timeout of each try")
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
	target := fs.Arg(0)
	failed := 0
	for i := 0; i < *n; i++ {
		line, err := once(*proto, target, *timeout)
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

func once(proto, target string, timeout time.Duration) (string, error) {
	c, err := net.DialTimeout(proto, target, timeout)
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
	line, err := bufio.NewReader(c).ReadString('\n')
	if err != nil {
		return "", err
	}
	return strings.TrimSpace(line), nil
}
