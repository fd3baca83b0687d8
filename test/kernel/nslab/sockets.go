package nslab

import (
	"bufio"
	"errors"
	"fmt"
	"net"
	"strings"
	"sync"
	"time"
)

// Server answers every TCP connection and UDP datagram with
// "<name> <peer address>\n", so a client learns which backend it reached
// and what source address the server saw.
type Server struct {
	name string
	tcp  net.Listener
	udp  net.PacketConn
	wg   sync.WaitGroup
}

// Serve starts a Server in namespace ns on addr ("ip:port", TCP and UDP).
func (l *Lab) Serve(ns, name, addr string) *Server {
	l.t.Helper()
	s := &Server{name: name}
	err := l.Do(ns, func() error {
		var err error
		if s.tcp, err = net.Listen("tcp", addr); err != nil {
			return err
		}
		s.udp, err = net.ListenPacket("udp", addr)
		return err
	})
	if err != nil {
		l.t.Fatalf("nslab: serve %s in %s: %v", addr, ns, err)
	}
	s.wg.Add(2)
	go s.acceptLoop()
	go s.udpLoop()
	l.t.Cleanup(s.Close)
	return s
}

func (s *Server) acceptLoop() {
	defer s.wg.Done()
	for {
		c, err := s.tcp.Accept()
		if err != nil {
			return
		}
		go func() {
			defer c.Close()
			fmt.Fprintf(c, "%s %s\n", s.name, c.RemoteAddr())
			// Echo lines until the client closes, so tests can hold
			// established sessions and check they still carry data.
			r := bufio.NewReader(c)
			for {
				line, err := r.ReadString('\n')
				if err != nil {
					return
				}
				if _, err := c.Write([]byte(line)); err != nil {
					return
				}
			}
		}()
	}
}

func (s *Server) udpLoop() {
	defer s.wg.Done()
	buf := make([]byte, 1500)
	for {
		_, peer, err := s.udp.ReadFrom(buf)
		if err != nil {
			return
		}
		_, _ = s.udp.WriteTo([]byte(fmt.Sprintf("%s %s\n", s.name, peer)), peer)
	}
}

// Close stops the server.
func (s *Server) Close() {
	s.tcp.Close()
	s.udp.Close()
	s.wg.Wait()
}

// Reply is what a Server answered.
type Reply struct {
	Server string // server name
	Peer   string // the client address the server saw, "ip:port"
}

// PeerIP is the address part of Peer.
func (r Reply) PeerIP() string {
	h, _, _ := net.SplitHostPort(r.Peer)
	return h
}

func parseReply(line string) (Reply, error) {
	f := strings.Fields(line)
	if len(f) != 2 {
		return Reply{}, fmt.Errorf("bad reply %q", line)
	}
	return Reply{Server: f[0], Peer: f[1]}, nil
}

// Conn is an open TCP connection to a Server.
type Conn struct {
	net.Conn
	Reply Reply
	r     *bufio.Reader
}

// Echo sends a line and checks the server echoes it back.
func (c *Conn) Echo(line string) error {
	_ = c.SetDeadline(time.Now().Add(2 * time.Second))
	defer c.SetDeadline(time.Time{})
	if _, err := c.Write([]byte(line + "\n")); err != nil {
		return fmt.Errorf("echo write: %w", err)
	}
	got, err := c.r.ReadString('\n')
	if err != nil {
		return fmt.Errorf("echo read: %w", err)
	}
	if strings.TrimSpace(got) != line {
		return fmt.Errorf("echo: got %q, want %q", got, line)
	}
	return nil
}

// Close ends the connection.
func (c *Conn) Close() error { return c.Conn.Close() }

// DialTCP connects from namespace ns to addr (optionally from local
// "ip:port") and reads the server's reply; the connection stays open.
func (l *Lab) DialTCP(ns, addr, local string) (*Conn, error) {
	var c net.Conn
	err := l.Do(ns, func() error {
		d := net.Dialer{Timeout: 2 * time.Second}
		if local != "" {
			la, err := net.ResolveTCPAddr("tcp", local)
			if err != nil {
				return err
			}
			d.LocalAddr = la
		}
		var err error
		c, err = d.Dial("tcp", addr)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("dial tcp %s from %s: %w", addr, ns, err)
	}
	_ = c.SetReadDeadline(time.Now().Add(2 * time.Second))
	br := bufio.NewReader(c)
	line, err := br.ReadString('\n')
	if err != nil {
		c.Close()
		return nil, fmt.Errorf("read from %s: %w", addr, err)
	}
	r, err := parseReply(line)
	if err != nil {
		c.Close()
		return nil, err
	}
	_ = c.SetReadDeadline(time.Time{})
	return &Conn{Conn: c, Reply: r, r: br}, nil
}

// TCP is DialTCP that closes the connection at once.
func (l *Lab) TCP(ns, addr string) (Reply, error) {
	c, err := l.DialTCP(ns, addr, "")
	if err != nil {
		return Reply{}, err
	}
	c.Close()
	return c.Reply, nil
}

// UDP sends one datagram from ns to addr and returns the reply (three
// tries, 700 ms each).
func (l *Lab) UDP(ns, addr string) (Reply, error) {
	var c net.Conn
	err := l.Do(ns, func() error {
		var err error
		c, err = net.Dial("udp", addr)
		return err
	})
	if err != nil {
		return Reply{}, fmt.Errorf("dial udp %s from %s: %w", addr, ns, err)
	}
	defer c.Close()
	buf := make([]byte, 1500)
	var last error
	for i := 0; i < 3; i++ {
		if _, err := c.Write([]byte("hi\n")); err != nil {
			return Reply{}, err
		}
		_ = c.SetReadDeadline(time.Now().Add(700 * time.Millisecond))
		n, err := c.Read(buf)
		if err == nil {
			return parseReply(string(buf[:n]))
		}
		last = err
	}
	return Reply{}, fmt.Errorf("udp %s from %s: no reply: %w", addr, ns, errors.Join(last))
}

// Ping sends ICMP echo requests with the system ping from ns.
func (l *Lab) Ping(ns, addr string) error {
	out, err := l.Try(ns, "ping", "-c", "2", "-i", "0.2", "-W", "1", addr)
	if err != nil {
		return fmt.Errorf("ping %s from %s: %w\n%s", addr, ns, err, out)
	}
	return nil
}
