package wal

import (
	"bytes"
	"errors"
	"testing"

	"github.com/raftchat/raftchat/raft"
)

func sampleRecords() []byte {
	var b []byte
	b = AppendSegmentHeader(b, SegmentHeader{Seq: 3, HardState: raft.HardState{Term: 2, Vote: 1, Commit: 4}, SnapIndex: 2, SnapTerm: 1, LastIndex: 5, LastTerm: 2})
	b = AppendEntry(b, raft.Entry{Term: 2, Index: 6, Type: raft.EntryNormal, Data: []byte("hello")})
	b = AppendEntry(b, raft.Entry{Term: 2, Index: 7, Type: raft.EntryConfChange})
	b = AppendHardState(b, raft.HardState{Term: 3, Vote: 2, Commit: 7})
	b = AppendTruncate(b, 7)
	b = AppendSnapshotMark(b, SnapshotMark{Index: 6, Term: 2, Reset: true})
	return b
}

func TestRecordsRoundTrip(t *testing.T) {
	b := sampleRecords()
	var types []RecordType
	end, err := Scan(b, func(typ RecordType, p []byte, _ int) error {
		types = append(types, typ)
		switch typ {
		case TypeSegmentHeader:
			h, err := DecodeSegmentHeader(p)
			if err != nil || h.Seq != 3 || h.HardState.Commit != 4 || h.LastIndex != 5 || h.LastTerm != 2 || h.SnapIndex != 2 {
				t.Errorf("header %+v %v", h, err)
			}
		case TypeEntry:
			e, err := DecodeEntry(p)
			if err != nil || e.Term != 2 || (e.Index == 6) != bytes.Equal(e.Data, []byte("hello")) {
				t.Errorf("entry %+v %v", e, err)
			}
		case TypeHardState:
			if hs, err := DecodeHardState(p); err != nil || hs != (raft.HardState{Term: 3, Vote: 2, Commit: 7}) {
				t.Errorf("hard state %+v %v", hs, err)
			}
		case TypeTruncate:
			if i, err := DecodeTruncate(p); err != nil || i != 7 {
				t.Errorf("truncate %d %v", i, err)
			}
		case TypeSnapshot:
			if m, err := DecodeSnapshotMark(p); err != nil || m != (SnapshotMark{Index: 6, Term: 2, Reset: true}) {
				t.Errorf("mark %+v %v", m, err)
			}
		default:
			t.Errorf("unexpected record type %s", typ)
		}
		return nil
	})
	if err != nil || end != len(b) {
		t.Fatalf("scan stopped at %d of %d: %v", end, len(b), err)
	}
	want := []RecordType{TypeSegmentHeader, TypeEntry, TypeEntry, TypeHardState, TypeTruncate, TypeSnapshot}
	if !bytesEqualTypes(types, want) {
		t.Fatalf("types %v, want %v", types, want)
	}
}

func bytesEqualTypes(a, b []RecordType) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func TestDecodeErrors(t *testing.T) {
	rec := AppendEntry(nil, raft.Entry{Term: 1, Index: 1, Data: []byte("abc")})
	for _, tc := range []struct {
		name string
		b    []byte
		want error
	}{
		{"empty", nil, ErrShort},
		{"header cut", rec[:5], ErrShort},
		{"payload cut", rec[:len(rec)-1], ErrShort},
		{"zeroes", make([]byte, 64), ErrBadType},
		{"flipped payload", flip(rec, len(rec)-1), ErrChecksum},
		{"flipped length", flip(rec, 0), ErrShort},
		{"flipped crc", flip(rec, 6), ErrChecksum},
		{"huge length", append([]byte{0xff, 0xff, 0xff, 0x7f, 2}, rec[5:]...), ErrTooLarge},
	} {
		if _, _, _, err := DecodeRecord(tc.b); !errors.Is(err, tc.want) {
			t.Errorf("%s: %v, want %v", tc.name, err, tc.want)
		}
	}
	// A length shortened by one still frames, but the checksum covers the length.
	short := append([]byte(nil), rec...)
	short[0]--
	if _, _, _, err := DecodeRecord(short); !errors.Is(err, ErrChecksum) {
		t.Errorf("shortened length: %v, want ErrChecksum", err)
	}
}

func flip(b []byte, i int) []byte {
	c := append([]byte(nil), b...)
	c[i] ^= 0x80
	return c
}

func TestNextValid(t *testing.T) {
	b := sampleRecords()
	_, _, n, _ := DecodeRecord(b)
	bad := flip(b, n+3) // damage the second record
	off, err := Scan(bad, func(RecordType, []byte, int) error { return nil })
	if off != n || err == nil {
		t.Fatalf("scan of damaged log stopped at %d (%v), want %d", off, err, n)
	}
	if next, err := NextValid(bad, off); err != nil || next <= off {
		t.Fatalf("NextValid found nothing after the damaged middle record")
	}
	tail := append(append([]byte(nil), b[:n]...), make([]byte, 100)...)
	if next, err := NextValid(tail, n); err != nil || next != -1 {
		t.Fatalf("NextValid found a record at %d in zero fill", next)
	}
}

func TestNextValidBudget(t *testing.T) {
	// Every fifth window frames a 4 KiB entry record whose checksum fails: checking them
	// all would checksum 800 MB; NextValid gives up instead of taking that long.
	b := bytes.Repeat([]byte{0x00, 0x10, 0x00, 0x00, byte(TypeEntry)}, 1<<20/5)
	if _, err := NextValid(b, 0); !errors.Is(err, ErrUndetermined) {
		t.Fatalf("NextValid over adversarial bytes: %v, want ErrUndetermined", err)
	}
}

func TestSegmentNames(t *testing.T) {
	for _, seq := range []uint64{0, 1, 0xabc, 1<<64 - 1} {
		if got, ok := ParseSegmentName(SegmentName(seq)); !ok || got != seq {
			t.Errorf("round trip of %d: %d %v", seq, got, ok)
		}
	}
	for _, bad := range []string{"", "0.wal", "000000000000000g.wal", "0000000000000001.snap", "0000000000000001.wal.tmp"} {
		if _, ok := ParseSegmentName(bad); ok {
			t.Errorf("%q parsed as a segment name", bad)
		}
	}
	if SegmentName(9) >= SegmentName(10) {
		t.Error("segment names do not sort by sequence")
	}
}
