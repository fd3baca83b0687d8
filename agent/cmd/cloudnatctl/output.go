package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"

	pb "github.com/cloudnat/cloudnat/proto/cloudnat/v1"
)

var jsonOpts = protojson.MarshalOptions{UseProtoNames: true, EmitDefaultValues: true}

// marshal renders m as JSON with stable spacing (protojson's own output
// varies its whitespace on purpose); indent "" means one line.
func marshal(m proto.Message, indent string) ([]byte, error) {
	b, err := jsonOpts.Marshal(m)
	if err != nil {
		return nil, err
	}
	var out bytes.Buffer
	if indent == "" {
		err = json.Compact(&out, b)
	} else {
		err = json.Indent(&out, b, "", indent)
	}
	return out.Bytes(), err
}

// printJSON writes one message as indented JSON.
func (a *app) printJSON(m proto.Message) error {
	b, err := marshal(m, "  ")
	if err != nil {
		return fail(err)
	}
	fmt.Fprintln(a.stdout, string(b))
	return nil
}

// printJSONLine writes one message on one line (streams: NDJSON).
func (a *app) printJSONLine(m proto.Message) error {
	b, err := marshal(m, "")
	if err != nil {
		return fail(err)
	}
	fmt.Fprintln(a.stdout, string(b))
	return nil
}

func (a *app) table() *tabwriter.Writer {
	return tabwriter.NewWriter(a.stdout, 0, 4, 2, ' ', 0)
}

func row(w io.Writer, cols ...any) {
	s := make([]string, len(cols))
	for i, c := range cols {
		s[i] = fmt.Sprint(c)
	}
	fmt.Fprintln(w, strings.Join(s, "\t"))
}

func syncString(s *pb.Sync) string {
	switch s.GetState() {
	case pb.SyncState_SYNC_STATE_PENDING:
		return "pending"
	case pb.SyncState_SYNC_STATE_FAILED:
		return "failed"
	case pb.SyncState_SYNC_STATE_SYNCED:
		return "synced"
	}
	return "-"
}

// warnSync tells on stderr when a stored change is not (yet) in the
// dataplane; the command still succeeds.
func (a *app) warnSync(s *pb.Sync) {
	switch s.GetState() {
	case pb.SyncState_SYNC_STATE_PENDING:
		fmt.Fprintf(a.stderr, "cloudnatctl: stored; dataplane pending (applied when it connects): %s\n", s.GetError())
	case pb.SyncState_SYNC_STATE_FAILED:
		fmt.Fprintf(a.stderr, "cloudnatctl: stored; dataplane failed (retrying): %s\n", s.GetError())
	}
}

// done prints a write's outcome: "ok" (table) or the response (json).
func (a *app) done(resp proto.Message, s *pb.Sync, what string) error {
	a.warnSync(s)
	if a.output == "json" {
		return a.printJSON(resp)
	}
	fmt.Fprintf(a.stdout, "%s (%s)\n", what, syncString(s))
	return nil
}

func vrfString(v *uint32) string {
	if v == nil {
		return "global"
	}
	return fmt.Sprint(*v)
}

func kindString(k pb.TranslationKind) string {
	if k == pb.TranslationKind_TRANSLATION_KIND_REAL {
		return "real"
	}
	return "vip"
}

func lbString(t *pb.Translation) string {
	if t.GetLb() == pb.LBMethod_LB_METHOD_MAGLEV {
		if t.GetMaglevLen() != 0 {
			return fmt.Sprintf("maglev(%d)", t.GetMaglevLen())
		}
		return "maglev"
	}
	return "hash"
}

func durString(d interface{ AsDuration() time.Duration }) string {
	if d == nil {
		return "-"
	}
	return d.AsDuration().String()
}

// translationTable prints translations, one backend a line.
func (a *app) translationTable(ts []*pb.TranslationResponse) error {
	w := a.table()
	row(w, "VRF", "PROTO", "ADDRESS", "KIND", "LB", "HASH", "BACKENDS", "SYNC")
	for _, r := range ts {
		t := r.GetTranslation()
		first := ""
		if len(t.GetBackends()) > 0 {
			first = backendString(t.GetBackends()[0])
		}
		state := syncString(r.GetSync())
		if r.GetSync().GetError() != "" {
			state += ": " + r.GetSync().GetError()
		}
		row(w, t.GetVrf(), protoName(t.GetProto()), endpointString(t.GetVip(), t.GetPort()), kindString(t.GetKind()),
			lbString(t), hashString(t.GetHashFields()), first, state)
		for _, b := range t.GetBackends()[min(1, len(t.GetBackends())):] {
			row(w, "", "", "", "", "", "", backendString(b), "")
		}
	}
	return w.Flush()
}
