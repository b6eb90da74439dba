package wal

import (
	"bytes"
	"testing"

	"github.com/raftchat/raftchat/raft"
)

// FuzzDecodeRecord feeds arbitrary bytes to the record decoder and the payload decoders.
// Whatever decodes must re-encode to the same bytes; nothing may panic or read out of
// bounds; the recovery scan must stay inside the buffer.
func FuzzDecodeRecord(f *testing.F) {
	f.Add(sampleRecords())
	f.Add(AppendEntry(nil, raft.Entry{Term: 1, Index: 1, Data: bytes.Repeat([]byte{0}, 40)}))
	f.Add(AppendHardState(nil, raft.HardState{Term: 1}))
	f.Add(make([]byte, HeaderBytes))
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, b []byte) {
		typ, payload, n, err := DecodeRecord(b)
		if err != nil {
			if n != 0 || payload != nil {
				t.Fatalf("failed decode returned n=%d payload=%d bytes", n, len(payload))
			}
		} else {
			if n < HeaderBytes || n > len(b) || len(payload) != n-HeaderBytes {
				t.Fatalf("decode returned n=%d payload=%d of %d bytes", n, len(payload), len(b))
			}
			if re := AppendRecord(nil, typ, payload); !bytes.Equal(re, b[:n]) {
				t.Fatalf("re-encoding differs:\n%x\n%x", re, b[:n])
			}
			checkPayload(t, typ, payload)
		}
		end, _ := Scan(b, func(typ RecordType, p []byte, _ int) error {
			checkPayload(t, typ, p)
			return nil
		})
		if end < 0 || end > len(b) {
			t.Fatalf("scan ended at %d of %d", end, len(b))
		}
		if next, _ := NextValid(b, end); next != -1 && (next <= end || next+HeaderBytes > len(b)) {
			t.Fatalf("NextValid(%d) = %d of %d", end, next, len(b))
		}
	})
}

// checkPayload decodes a payload by its type and, when it decodes, checks that encoding
// the value gives back the same record payload.
func checkPayload(t *testing.T, typ RecordType, p []byte) {
	var re []byte
	var err error
	switch typ {
	case TypeSegmentHeader:
		var h SegmentHeader
		if h, err = DecodeSegmentHeader(p); err == nil {
			re = AppendSegmentHeader(nil, h)
		}
	case TypeEntry:
		var e raft.Entry
		if e, err = DecodeEntry(p); err == nil {
			re = AppendEntry(nil, e)
		}
	case TypeHardState:
		var hs raft.HardState
		if hs, err = DecodeHardState(p); err == nil {
			re = AppendHardState(nil, hs)
		}
	case TypeTruncate:
		var i raft.Index
		if i, err = DecodeTruncate(p); err == nil {
			re = AppendTruncate(nil, i)
		}
	case TypeSnapshot:
		var m SnapshotMark
		if m, err = DecodeSnapshotMark(p); err == nil {
			re = AppendSnapshotMark(nil, m)
		}
	default:
		t.Fatalf("decoder accepted record type %d", typ)
	}
	if err == nil && !bytes.Equal(re[HeaderBytes:], p) {
		t.Fatalf("%s payload does not round trip:\n%x\n%x", typ, re[HeaderBytes:], p)
	}
}
