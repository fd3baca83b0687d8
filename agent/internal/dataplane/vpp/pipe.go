package vpp

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"go.fd.io/govpp/api"
	"go.fd.io/govpp/core"
)

// apiConn is the part of *core.Connection the dataplane uses.
type apiConn interface {
	api.Connection
}

// timeoutConn gives every request made through the generated RPC clients
// an explicit reply timeout (govpp's default is none): Invoke is bounded by
// a context deadline, streams (dumps) by govpp's per-reply timeout.
type timeoutConn struct {
	c       apiConn
	timeout time.Duration
}

func (t timeoutConn) NewStream(ctx context.Context, opts ...api.StreamOption) (api.Stream, error) {
	o := append([]api.StreamOption{core.WithReplyTimeout(t.timeout), core.WithReplySize(dumpReplyBuffer)}, opts...)
	return t.c.NewStream(ctx, o...)
}

func (t timeoutConn) Invoke(ctx context.Context, req, reply api.Message) error {
	ctx, cancel := context.WithTimeout(ctx, t.timeout)
	defer cancel()
	return t.c.Invoke(ctx, req, reply)
}

func (t timeoutConn) WatchEvent(ctx context.Context, event api.Message) (api.Watcher, error) {
	return t.c.WatchEvent(ctx, event)
}

const (
	// dumpReplyBuffer is the reply buffer of a dump's stream: govpp drops
	// a reply the reader has not taken within 100 ms once it is full.
	dumpReplyBuffer = 4096
	// pipeWindow bounds the requests in flight on the pipe.
	pipeWindow = 1024
)

// errPipeClosed: the connection the pipe ran on went away.
var errPipeClosed = errors.New("request pipeline closed")

// pipe sends requests that have one reply each (add/del/set) over one
// govpp stream without waiting for each reply before sending the next:
// a writer sends in order, a reader takes the replies in the same order
// (VPP answers one client's messages in the order it receives them). Any
// number of goroutines may call do concurrently; a batch is many calls
// queued at once. This is what makes programming thousands of objects take
// milliseconds instead of one round trip each.
type pipe struct {
	stream  api.Stream
	cancel  context.CancelFunc
	timeout time.Duration

	sendq    chan *call
	inflight chan *call
	done     chan struct{} // closed when the pipe has stopped
	once     sync.Once
	err      error // why it stopped; set before done is closed
}

type call struct {
	p     *pipe
	req   api.Message
	reply api.Message // filled in from the received reply
	errc  chan error  // buffered 1
}

func newPipe(conn apiConn, timeout time.Duration) (*pipe, error) {
	ctx, cancel := context.WithCancel(context.Background())
	s, err := conn.NewStream(ctx,
		core.WithRequestSize(1), core.WithReplySize(pipeWindow+64), core.WithReplyTimeout(timeout))
	if err != nil {
		cancel()
		return nil, fmt.Errorf("open stream: %w", err)
	}
	p := &pipe{
		stream:   s,
		cancel:   cancel,
		timeout:  timeout,
		sendq:    make(chan *call, pipeWindow),
		inflight: make(chan *call, pipeWindow),
		done:     make(chan struct{}),
	}
	go p.writer()
	go p.reader()
	return p, nil
}

// close stops the pipe: calls queued or in flight fail with err.
func (p *pipe) close(err error) {
	p.once.Do(func() {
		p.err = err
		p.cancel()
		close(p.done)
	})
}

func (p *pipe) writer() {
	for {
		var c *call
		select {
		case <-p.done:
			return
		case c = <-p.sendq:
		}
		if err := p.stream.SendMsg(c.req); err != nil {
			// The connection is gone or the message is unknown to VPP:
			// fail this call, stop the pipe (failing everything queued) and
			// let the owner open a new one.
			c.errc <- fmt.Errorf("send %s: %w", c.req.GetMessageName(), err)
			p.close(fmt.Errorf("send %s: %w", c.req.GetMessageName(), err))
			return
		}
		// Only a sent call goes in flight, in send order. The reader must
		// not call RecvMsg before the first SendMsg has returned: govpp's
		// stream resolves replies by the package path SendMsg records
		// after writing, and a fast reply would otherwise be "unknown
		// message ID for path ''".
		select {
		case <-p.done:
			return // the reader fails it: see wait
		case p.inflight <- c:
		}
	}
}

func (p *pipe) reader() {
	defer func() {
		// Fail whatever is still queued or in flight.
		for {
			select {
			case c := <-p.inflight:
				c.errc <- p.err
			case c := <-p.sendq:
				c.errc <- p.err
			default:
				return
			}
		}
	}()
	for {
		var c *call
		select {
		case <-p.done:
			return
		case c = <-p.inflight:
		}
		msg, err := p.stream.RecvMsg()
		if err != nil {
			p.close(fmt.Errorf("receive %s reply: %w", c.req.GetMessageName(), err))
			c.errc <- p.err
			return
		}
		if msg.GetMessageName() != c.reply.GetMessageName() {
			p.close(fmt.Errorf("reply out of order: got %s, want %s", msg.GetMessageName(), c.reply.GetMessageName()))
			c.errc <- p.err
			return
		}
		c.reply = msg
		c.errc <- nil
	}
}

// start queues req; wait returns its reply. reply is a zero value of the
// expected reply type.
func (p *pipe) start(ctx context.Context, req, reply api.Message) (*call, error) {
	c := &call{p: p, req: req, reply: reply, errc: make(chan error, 1)}
	select {
	case <-p.done:
		return nil, p.err
	case <-ctx.Done():
		return nil, ctx.Err()
	case p.sendq <- c:
		return c, nil
	}
}

func (c *call) wait(ctx context.Context) (api.Message, error) {
	select {
	case err := <-c.errc:
		return c.result(err)
	case <-c.p.done:
		select {
		case err := <-c.errc:
			return c.result(err)
		default:
			return nil, c.p.err
		}
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

func (c *call) result(err error) (api.Message, error) {
	if err != nil {
		return nil, err
	}
	return c.reply, nil
}

// do sends one request and waits for its reply.
func (p *pipe) do(ctx context.Context, req, reply api.Message) (api.Message, error) {
	c, err := p.start(ctx, req, reply)
	if err != nil {
		return nil, err
	}
	return c.wait(ctx)
}
