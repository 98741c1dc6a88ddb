/// age's payload encryption: the STREAM construction over ChaCha20-Poly1305 (age spec, "Payload").
///
/// The plaintext is split into 64 KiB chunks; chunk i is sealed under the payload key with the
/// nonce `i as 11-byte big-endian || last-flag` (0x01 on the final chunk). The final chunk may be
/// short, but is empty only when the whole payload is empty.
enum AgeStream {
    static let chunkSize = 64 * 1024
    static let sealedChunkSize = chunkSize + ChaCha20Poly1305.tagByteCount

    static func nonce(counter: UInt64, last: Bool) -> [UInt8] {
        var nonce = [UInt8](repeating: 0, count: ChaCha20Poly1305.nonceByteCount)
        // Bytes 0...2 are the high bytes of the 88-bit counter: always zero for in-memory files.
        for index in 0..<8 { nonce[3 + index] = UInt8(truncatingIfNeeded: counter >> UInt64(8 * (7 - index))) }
        nonce[11] = last ? 1 : 0
        return nonce
    }

    /// Seals `plaintext` and appends the chunks to `output`.
    static func seal(_ plaintext: [UInt8], payloadKey: [UInt8], into output: inout [UInt8]) throws(AgeError) {
        output.reserveCapacity(output.count + plaintext.count + (plaintext.count / chunkSize + 1) * ChaCha20Poly1305.tagByteCount)
        var start = 0
        var counter: UInt64 = 0
        repeat {
            let end = Swift.min(start + chunkSize, plaintext.count)
            let last = end == plaintext.count
            do {
                output.append(contentsOf: try ChaCha20Poly1305.seal(
                    plaintext[start..<end], key: payloadKey, nonce: nonce(counter: counter, last: last)))
            } catch {
                throw .invalidArgument("payload encryption failed: \(error)")
            }
            start = end
            counter += 1
        } while start < plaintext.count
    }

    /// Opens the chunks in `ciphertext`, handing each authenticated chunk to `release` in order.
    ///
    /// Mirrors the reference reader's rules: a full-size chunk is tried as a non-final chunk and,
    /// if that fails, as a full-size final chunk; a shorter chunk must be final; an empty final
    /// chunk is only valid as the first chunk; nothing may follow the final chunk; the input must
    /// not end before a final chunk. Chunks released before an error stay released.
    static func open(_ ciphertext: ArraySlice<UInt8>, payloadKey: [UInt8], release: ([UInt8]) -> Void) throws(AgeError) {
        var position = ciphertext.startIndex
        var counter: UInt64 = 0
        while true {
            let remaining = ciphertext.endIndex - position
            guard remaining > 0 else {
                throw .payloadFailure(counter == 0 ? "payload has no chunks" : "payload ends without a final chunk")
            }
            var last = remaining < sealedChunkSize
            let size = last ? remaining : sealedChunkSize
            if last && counter > 0 && size == ChaCha20Poly1305.tagByteCount {
                throw .payloadFailure("final chunk \(counter) is empty")
            }
            let chunk = ciphertext[position..<(position + size)]
            var plaintext = try? ChaCha20Poly1305.open(chunk, key: payloadKey, nonce: nonce(counter: counter, last: last))
            if plaintext == nil && !last {
                // A full-size chunk can also be the final one.
                last = true
                plaintext = try? ChaCha20Poly1305.open(chunk, key: payloadKey, nonce: nonce(counter: counter, last: true))
            }
            guard let plaintext else { throw .payloadFailure("chunk \(counter) failed to authenticate") }
            release(plaintext)
            position += size
            counter += 1
            if last {
                guard position == ciphertext.endIndex else { throw .payloadFailure("data after the final chunk") }
                return
            }
        }
    }
}
