package wal

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
)

const segmentSuffix = ".wal"

// SegmentName returns the file name of the segment with sequence number seq. Names sort in
// sequence order.
func SegmentName(seq uint64) string { return fmt.Sprintf("%016x%s", seq, segmentSuffix) }

// ParseSegmentName returns the sequence number a segment file name encodes.
func ParseSegmentName(name string) (uint64, bool) {
	hex, ok := strings.CutSuffix(name, segmentSuffix)
	if !ok || len(hex) != 16 {
		return 0, false
	}
	seq, err := strconv.ParseUint(hex, 16, 64)
	return seq, err == nil
}

// Scan decodes the records in data, one segment's bytes, calling fn for each in order with
// its offset. It stops at the first record that does not decode and returns that record's
// offset and the decoding error; for a clean segment it returns len(data) and nil. An error
// from fn stops the scan and is returned as is, with the offset of the offending record.
func Scan(data []byte, fn func(typ RecordType, payload []byte, off int) error) (int, error) {
	off := 0
	for off < len(data) {
		typ, payload, n, err := DecodeRecord(data[off:])
		if err != nil {
			return off, err
		}
		if err := fn(typ, payload, off); err != nil {
			return off, err
		}
		off += n
	}
	return off, nil
}

// ErrUndetermined is returned by NextValid when checking every candidate offset would
// cost more than its budget; callers must then assume valid records may follow.
var ErrUndetermined = errors.New("wal: could not rule out valid records after the damage")

// NextValid returns the offset of the first whole, valid record that starts after offset
// from, or -1 if there is none. Recovery uses it to tell a torn tail (nothing valid follows
// the bad bytes) from corruption in the middle of the log (valid records follow).
//
// A random 9-byte window passes the type and length checks rarely and the CRC only with
// probability 2^-32, so a false "valid record" is not a practical concern. Checksumming
// every candidate can in the worst case cost quadratic time, so the bytes checksummed are
// capped at a multiple of the data's size; past the cap it returns ErrUndetermined.
func NextValid(data []byte, from int) (int, error) {
	budget := 64*len(data) + 1<<20
	for off := from + 1; off+HeaderBytes <= len(data); off++ {
		_, end, f := frame(data[off:])
		switch f {
		case faultNone:
			return off, nil
		case faultChecksum:
			if budget -= end; budget < 0 {
				return -1, ErrUndetermined
			}
		case faultShortHeader, faultType, faultLength, faultShort:
		}
	}
	return -1, nil
}

// AllZero reports whether b holds only zero bytes: the unused, preallocated end of a
// segment. No record starts with a zero byte in the type position, so zeros never decode.
func AllZero(b []byte) bool {
	for len(b) >= 8 {
		if le.Uint64(b) != 0 {
			return false
		}
		b = b[8:]
	}
	for _, c := range b {
		if c != 0 {
			return false
		}
	}
	return true
}
