package snap

// crcCombine returns the CRC-32C of a‖b given crcA of a, crcB of b and len(b): a streamed
// snapshot's checksum covers its head, whose data length is known only after the data was
// written and checksummed. A CRC is linear over GF(2): appending n bytes to a multiplies a's
// contribution by x^(8n) modulo the polynomial, and b's contribution adds to it.
func crcCombine(crcA, crcB uint32, lenB uint64) uint32 {
	return mulModP(xPow8n(lenB), crcA) ^ crcB
}

// castagnoliReflected is the CRC-32C polynomial, bit-reversed as the table-driven code uses it.
const castagnoliReflected = 0x82f63b78

// mulModP multiplies two polynomials modulo the CRC-32C polynomial, both in the reflected
// representation (the coefficient of x^0 in the top bit).
func mulModP(a, b uint32) uint32 {
	var p uint32
	for m := uint32(1) << 31; m != 0; m >>= 1 {
		if a&m != 0 {
			p ^= b
		}
		if b&1 != 0 {
			b = b>>1 ^ castagnoliReflected
		} else {
			b >>= 1
		}
	}
	return p
}

// xPow8n returns x^(8n) modulo the CRC-32C polynomial, reflected, by repeated squaring.
func xPow8n(n uint64) uint32 {
	result := uint32(1) << 31 // x^0
	sq := uint32(1) << (31 - 8)
	for ; n > 0; n >>= 1 {
		if n&1 != 0 {
			result = mulModP(sq, result)
		}
		sq = mulModP(sq, sq)
	}
	return result
}
