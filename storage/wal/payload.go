package wal

import (
	"encoding/binary"
	"fmt"

	"github.com/raftchat/raftchat/raft"
)

// Payload sizes of the fixed-size records.
const (
	entryFixedBytes   = 17 // term, index, type
	hardStateBytes    = 24 // term, vote, commit
	truncateBytes     = 8  // index
	snapshotMarkBytes = 17 // index, term, reset
	segmentHdrBytes   = 64 // seq, hard state (24), snapshot mark (16), last index, last term
)

// MaxEntryDataBytes is the largest raft.Entry.Data a record can hold.
const MaxEntryDataBytes = MaxPayloadBytes - entryFixedBytes

// SegmentHeader opens every segment and describes the log as it stood when the segment was
// started, so that a segment can be replayed after all older ones have been deleted.
type SegmentHeader struct {
	// Seq is the segment's sequence number; it must match the file name.
	Seq       uint64
	HardState raft.HardState
	// SnapIndex and SnapTerm are the newest snapshot marker written before this segment.
	SnapIndex raft.Index
	SnapTerm  raft.Term
	// LastIndex and LastTerm identify the last entry of the log when the segment began;
	// every entry at or below LastIndex lives in an older segment or a snapshot.
	LastIndex raft.Index
	LastTerm  raft.Term
}

// SnapshotMark records that a snapshot covering the log up to Index (at Term) is durable.
type SnapshotMark struct {
	Index raft.Index
	Term  raft.Term
	// Reset says the snapshot replaced the whole log (one received from the leader that
	// the log did not match): replay drops every entry. Without it (a local compaction)
	// the entries after Index stay. The writer decides, so replay never has to guess
	// from terms it may no longer have.
	Reset bool
}

var le = binary.LittleEndian

// beginRecord appends a header placeholder for a record of the given payload size.
func beginRecord(dst []byte, typ RecordType, payloadBytes int) []byte {
	dst = le.AppendUint32(dst, uint32(payloadBytes))
	return append(dst, byte(typ), 0, 0, 0, 0)
}

// AppendEntry appends e as one framed record, encoding straight into dst (no temporary
// payload buffer): this is the hot path of every Save.
func AppendEntry(dst []byte, e raft.Entry) []byte {
	if len(e.Data) > MaxEntryDataBytes {
		panic(fmt.Sprintf("wal: entry %d carries %d bytes, above the %d-byte limit", e.Index, len(e.Data), MaxEntryDataBytes))
	}
	start := len(dst)
	dst = beginRecord(dst, TypeEntry, entryFixedBytes+len(e.Data))
	dst = le.AppendUint64(dst, uint64(e.Term))
	dst = le.AppendUint64(dst, uint64(e.Index))
	dst = append(dst, byte(e.Type))
	dst = append(dst, e.Data...)
	sealRecord(dst[start:])
	return dst
}

// AppendHardState appends hs as one framed record.
func AppendHardState(dst []byte, hs raft.HardState) []byte {
	start := len(dst)
	dst = beginRecord(dst, TypeHardState, hardStateBytes)
	dst = appendHardState(dst, hs)
	sealRecord(dst[start:])
	return dst
}

func appendHardState(dst []byte, hs raft.HardState) []byte {
	dst = le.AppendUint64(dst, uint64(hs.Term))
	dst = le.AppendUint64(dst, uint64(hs.Vote))
	return le.AppendUint64(dst, uint64(hs.Commit))
}

// AppendTruncate appends a record that discards stored entries at or after index.
func AppendTruncate(dst []byte, index raft.Index) []byte {
	start := len(dst)
	dst = beginRecord(dst, TypeTruncate, truncateBytes)
	dst = le.AppendUint64(dst, uint64(index))
	sealRecord(dst[start:])
	return dst
}

// AppendSnapshotMark appends a snapshot marker record.
func AppendSnapshotMark(dst []byte, m SnapshotMark) []byte {
	start := len(dst)
	dst = beginRecord(dst, TypeSnapshot, snapshotMarkBytes)
	dst = le.AppendUint64(dst, uint64(m.Index))
	dst = le.AppendUint64(dst, uint64(m.Term))
	reset := byte(0)
	if m.Reset {
		reset = 1
	}
	dst = append(dst, reset)
	sealRecord(dst[start:])
	return dst
}

// AppendSegmentHeader appends a segment header record.
func AppendSegmentHeader(dst []byte, h SegmentHeader) []byte {
	start := len(dst)
	dst = beginRecord(dst, TypeSegmentHeader, segmentHdrBytes)
	dst = le.AppendUint64(dst, h.Seq)
	dst = appendHardState(dst, h.HardState)
	dst = le.AppendUint64(dst, uint64(h.SnapIndex))
	dst = le.AppendUint64(dst, uint64(h.SnapTerm))
	dst = le.AppendUint64(dst, uint64(h.LastIndex))
	dst = le.AppendUint64(dst, uint64(h.LastTerm))
	sealRecord(dst[start:])
	return dst
}

func checkLen(typ RecordType, p []byte, want int) error {
	if len(p) != want {
		return fmt.Errorf("wal: %s payload has %d bytes, want %d", typ, len(p), want)
	}
	return nil
}

// DecodeEntry decodes an entry payload. Data aliases p.
func DecodeEntry(p []byte) (raft.Entry, error) {
	if len(p) < entryFixedBytes {
		return raft.Entry{}, fmt.Errorf("wal: entry payload has %d bytes, want at least %d", len(p), entryFixedBytes)
	}
	return raft.Entry{
		Term:  raft.Term(le.Uint64(p[0:8])),
		Index: raft.Index(le.Uint64(p[8:16])),
		Type:  raft.EntryType(p[16]),
		Data:  p[entryFixedBytes:],
	}, nil
}

// DecodeHardState decodes a hard-state payload.
func DecodeHardState(p []byte) (raft.HardState, error) {
	if err := checkLen(TypeHardState, p, hardStateBytes); err != nil {
		return raft.HardState{}, err
	}
	return decodeHardState(p), nil
}

func decodeHardState(p []byte) raft.HardState {
	return raft.HardState{
		Term:   raft.Term(le.Uint64(p[0:8])),
		Vote:   raft.NodeID(le.Uint64(p[8:16])),
		Commit: raft.Index(le.Uint64(p[16:24])),
	}
}

// DecodeTruncate decodes a truncate payload into the first discarded index.
func DecodeTruncate(p []byte) (raft.Index, error) {
	if err := checkLen(TypeTruncate, p, truncateBytes); err != nil {
		return 0, err
	}
	return raft.Index(le.Uint64(p)), nil
}

// DecodeSnapshotMark decodes a snapshot marker payload.
func DecodeSnapshotMark(p []byte) (SnapshotMark, error) {
	if err := checkLen(TypeSnapshot, p, snapshotMarkBytes); err != nil {
		return SnapshotMark{}, err
	}
	if p[16] > 1 {
		return SnapshotMark{}, fmt.Errorf("wal: snapshot marker reset flag %d", p[16])
	}
	return SnapshotMark{Index: raft.Index(le.Uint64(p[0:8])), Term: raft.Term(le.Uint64(p[8:16])), Reset: p[16] == 1}, nil
}

// DecodeSegmentHeader decodes a segment header payload.
func DecodeSegmentHeader(p []byte) (SegmentHeader, error) {
	if err := checkLen(TypeSegmentHeader, p, segmentHdrBytes); err != nil {
		return SegmentHeader{}, err
	}
	return SegmentHeader{
		Seq:       le.Uint64(p[0:8]),
		HardState: decodeHardState(p[8:32]),
		SnapIndex: raft.Index(le.Uint64(p[32:40])),
		SnapTerm:  raft.Term(le.Uint64(p[40:48])),
		LastIndex: raft.Index(le.Uint64(p[48:56])),
		LastTerm:  raft.Term(le.Uint64(p[56:64])),
	}, nil
}
