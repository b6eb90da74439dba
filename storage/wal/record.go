// Package wal holds the on-disk format of raftchat's write-ahead log: the record framing
// (length, type, CRC32C), the typed record payloads, and segment files with the scan that
// tells a torn tail from corruption in the middle of the log.
//
// A record is a 9-byte header followed by its payload:
//
//	offset 0  uint32 LE  payload length
//	offset 4  uint8      record type (never 0, so zero-filled space is never a record)
//	offset 5  uint32 LE  CRC32C (Castagnoli) of bytes 0..4 followed by the payload
//
// The checksum covers the length and type too, so a flipped length bit cannot make the
// decoder skip a wrong number of bytes and still agree.
package wal

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
)

// RecordType says what a record's payload holds.
type RecordType uint8

// The record types. Zero is reserved as invalid.
const (
	// TypeSegmentHeader opens every segment: the state of the log when the segment began.
	TypeSegmentHeader RecordType = iota + 1
	// TypeEntry is one raft.Entry.
	TypeEntry
	// TypeHardState is a raft.HardState.
	TypeHardState
	// TypeTruncate discards the stored entries at or after an index.
	TypeTruncate
	// TypeSnapshot marks that a snapshot at (index, term) is durable.
	TypeSnapshot
	typeLimit // one past the last valid type
)

func (t RecordType) String() string {
	switch t {
	case TypeSegmentHeader:
		return "segment-header"
	case TypeEntry:
		return "entry"
	case TypeHardState:
		return "hard-state"
	case TypeTruncate:
		return "truncate"
	case TypeSnapshot:
		return "snapshot"
	default:
		return fmt.Sprintf("RecordType(%d)", uint8(t))
	}
}

// HeaderBytes is the size of a record header.
const HeaderBytes = 9

// MaxPayloadBytes bounds one record's payload. It is far above any entry raftchat proposes
// (upload chunks are small) and keeps a corrupt length from describing gigabytes.
const MaxPayloadBytes = 256 << 20

// Decoding errors. DecodeRecord wraps them with the details; check them with errors.Is.
var (
	// ErrShort: the buffer ends inside the record (a partial write).
	ErrShort = errors.New("wal: record truncated")
	// ErrBadType: the type byte names no record type (zeroed or garbage bytes).
	ErrBadType = errors.New("wal: invalid record type")
	// ErrTooLarge: the length field exceeds MaxPayloadBytes.
	ErrTooLarge = errors.New("wal: record length too large")
	// ErrChecksum: the CRC does not match the bytes.
	ErrChecksum = errors.New("wal: record checksum mismatch")
)

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// AppendRecord appends one framed record to dst and returns the extended slice.
// It panics if payload exceeds MaxPayloadBytes: callers check sizes first.
func AppendRecord(dst []byte, typ RecordType, payload []byte) []byte {
	if len(payload) > MaxPayloadBytes {
		panic(fmt.Sprintf("wal: record payload of %d bytes exceeds the %d-byte limit", len(payload), MaxPayloadBytes))
	}
	start := len(dst)
	dst = binary.LittleEndian.AppendUint32(dst, uint32(len(payload)))
	dst = append(dst, byte(typ), 0, 0, 0, 0)
	dst = append(dst, payload...)
	sealRecord(dst[start:])
	return dst
}

// sealRecord computes and stores the CRC of a record whose header and payload are in place.
func sealRecord(rec []byte) {
	binary.LittleEndian.PutUint32(rec[5:9], checksum(rec))
}

// DecodeRecord decodes the record at the start of b. It returns the record type, the payload
// (a sub-slice of b, not a copy) and the number of bytes the record occupies. It never
// allocates more than an error and never reads past b.
func DecodeRecord(b []byte) (RecordType, []byte, int, error) {
	typ, end, fault := frame(b)
	switch fault {
	case faultNone:
		return typ, b[HeaderBytes:end], end, nil
	case faultShortHeader:
		return 0, nil, 0, fmt.Errorf("%w: %d header bytes of %d", ErrShort, len(b), HeaderBytes)
	case faultType:
		return 0, nil, 0, fmt.Errorf("%w %d", ErrBadType, b[4])
	case faultLength:
		return 0, nil, 0, fmt.Errorf("%w: %d bytes", ErrTooLarge, le.Uint32(b))
	case faultShort:
		return 0, nil, 0, fmt.Errorf("%w: %d of %d bytes", ErrShort, len(b), end)
	default:
		return 0, nil, 0, fmt.Errorf("%w: stored %08x, computed %08x", ErrChecksum, le.Uint32(b[5:9]), checksum(b[:end]))
	}
}

type fault uint8

const (
	faultNone fault = iota
	faultShortHeader
	faultType
	faultLength
	faultShort
	faultChecksum
)

// frame checks the record at the start of b without allocating; end is the record's
// length when the header is readable.
func frame(b []byte) (RecordType, int, fault) {
	if len(b) < HeaderBytes {
		return 0, 0, faultShortHeader
	}
	n := le.Uint32(b[0:4])
	typ := RecordType(b[4])
	if typ == 0 || typ >= typeLimit {
		return 0, 0, faultType
	}
	if n > MaxPayloadBytes {
		return 0, 0, faultLength
	}
	end := HeaderBytes + int(n)
	if len(b) < end {
		return 0, end, faultShort
	}
	if checksum(b[:end]) != le.Uint32(b[5:9]) {
		return 0, end, faultChecksum
	}
	return typ, end, faultNone
}

// checksum is the CRC a whole record (header and payload) should carry.
func checksum(rec []byte) uint32 {
	crc := crc32.Update(0, castagnoli, rec[:5])
	return crc32.Update(crc, castagnoli, rec[HeaderBytes:])
}
