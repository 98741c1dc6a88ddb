import ATCrypto
import Foundation
import Logging
import PDSNetwork
import PDSStore
import Synchronization

/// Outgoing e-mail: a durable queue in SQLite (`EmailOutbox`) and the loop that submits it over
/// SMTP (`SMTPClient`), retrying with exponential backoff. Requests only enqueue (one small
/// write) and answer; delivery happens in `run()`, so a slow or unreachable SMTP server never
/// holds a request up.
///
/// Queued messages carry one-time tokens, so each is sealed (ChaCha20-Poly1305, RFC 8439) under
/// a key derived with HKDF (RFC 5869) from the server's signing key, which is only ever in
/// memory, decrypted from its age file. A message sealed under an earlier key (the key was
/// rotated while it waited) cannot be opened and is dropped with an error in the log; its token
/// can be asked for again.
///
/// Not here: which messages exist and what they say (`AccountEmail`), the SMTP dialogue.
public final class Mailer: Sendable {
    /// Give up on a message this long after it was queued (its token expired long before).
    public static let maxAge: TimeInterval = 24 * 3600
    /// The longest wait between attempts.
    public static let maxBackoff: TimeInterval = 3600

    public let settings: SMTPSettings
    let outbox: EmailOutbox
    let client: SMTPClient
    let logger: Logger
    private let sealingKey: [UInt8]
    private let wake: AsyncStream<Void>.Continuation
    private let wakeups: Mutex<AsyncStream<Void>?>

    public init(settings: SMTPSettings, database: PDSDatabase, keys: ServerKeys, heloName: String, logger: Logger) {
        self.settings = settings
        outbox = EmailOutbox(database: database)
        client = SMTPClient(settings: settings, heloName: heloName)
        self.logger = logger
        var material = keys.signingKey.privateKeyBytes
        sealingKey = HKDF.sha256(inputKeyMaterial: material, salt: Array("atproto-pds email outbox".utf8),
                                 info: Array("ChaCha20-Poly1305 v1".utf8), outputByteCount: 32)
        material.zeroize()
        let (stream, continuation) = AsyncStream.makeStream(of: Void.self, bufferingPolicy: .bufferingNewest(1))
        wake = continuation
        wakeups = Mutex(stream)
    }

    // MARK: Queueing

    /// Queues `message` for `recipient` and wakes the delivery loop; returns once it is stored.
    public func enqueue(_ message: EmailMessage, purpose: String, now: Date = Date()) throws {
        let domain = settings.fromAddress.split(separator: "@").last.map(String.init) ?? "localhost"
        let bytes = message.rendered(unixTime: Int64(now.timeIntervalSince1970), messageID: EmailMessage.newMessageID(domain: domain))
        let sealed = try seal(Array(message.to.utf8) + [10] + bytes, purpose: purpose)
        try outbox.enqueue(purpose: purpose, sealed: sealed, now: now)
        wake.yield()
    }

    /// The message for `settings.fromAddress` to `to`.
    public func message(to: String, subject: String, body: String) -> EmailMessage {
        EmailMessage(fromAddress: settings.fromAddress, fromName: settings.fromName, to: to, subject: subject, body: body)
    }

    func seal(_ plaintext: [UInt8], purpose: String) throws -> [UInt8] {
        let nonce = SecureRandom.bytes(ChaCha20Poly1305.nonceByteCount)
        return nonce + (try ChaCha20Poly1305.seal(plaintext, key: sealingKey, nonce: nonce, authenticating: Array(purpose.utf8)))
    }

    /// The recipient and the message bytes of a sealed row (nil when it does not open).
    func open(_ item: EmailOutbox.Item) -> (recipient: String, message: [UInt8])? {
        guard item.sealed.count > ChaCha20Poly1305.nonceByteCount else { return nil }
        let nonce = Array(item.sealed.prefix(ChaCha20Poly1305.nonceByteCount))
        guard let plain = try? ChaCha20Poly1305.open(item.sealed.dropFirst(ChaCha20Poly1305.nonceByteCount), key: sealingKey, nonce: nonce,
                                                     authenticating: Array(item.purpose.utf8)),
              let newline = plain.firstIndex(of: 10) else { return nil }
        return (String(decoding: plain[..<newline], as: UTF8.self), Array(plain[(newline + 1)...]))
    }

    /// Messages waiting in the queue.
    public func pendingCount() throws -> Int { try outbox.summary().pending }

    // MARK: Delivery

    /// The wait before attempt `attempts + 1`: `retryBase`, doubled per failure, at most an hour.
    public func backoff(afterAttempts attempts: Int) -> TimeInterval {
        min(Self.maxBackoff, settings.retryBase * pow(2, Double(min(attempts, 20))))
    }

    /// Submits every due message once; returns how many were delivered.
    @discardableResult
    public func deliverDue(now: @Sendable () -> Date = { Date() }) async -> Int {
        let items: [EmailOutbox.Item]
        do { items = try outbox.due(now: now()) } catch {
            logger.error("e-mail queue unreadable", metadata: ["error": "\(error)"])
            return 0
        }
        var delivered = 0
        for item in items where !Task.isCancelled {
            if await deliver(item, now: now) { delivered += 1 }
        }
        return delivered
    }

    private func deliver(_ item: EmailOutbox.Item, now: @Sendable () -> Date) async -> Bool {
        let meta: Logger.Metadata = ["purpose": "\(item.purpose)", "attempt": "\(item.attempts + 1)", "smtp": "\(settings)"]
        guard let (recipient, message) = open(item) else {
            logger.error("a queued e-mail cannot be opened (sealed under another server key); dropped", metadata: meta)
            try? outbox.remove(id: item.id)
            return false
        }
        do {
            let reply = try await client.send(message, to: [recipient])
            try outbox.remove(id: item.id)
            logger.info("e-mail delivered", metadata: meta.merging(["reply": "\(reply.summary)"]) { $1 })
            return true
        } catch {
            let age = now().timeIntervalSince1970 - Double(item.enqueuedAt) / 1000
            let permanent = (error as? SMTPError)?.isPermanent ?? false
            if permanent || age > Self.maxAge {
                logger.error("e-mail not delivered; giving up", metadata: meta.merging(["error": "\(error)"]) { $1 })
                try? outbox.remove(id: item.id)
            } else {
                let wait = backoff(afterAttempts: item.attempts)
                logger.warning("e-mail not delivered; will retry", metadata: meta.merging(["error": "\(error)", "retry_in_s": "\(Int(wait))"]) { $1 })
                try? outbox.failed(id: item.id, error: "\(error)", retryAt: now().addingTimeInterval(wait))
            }
            return false
        }
    }

    /// Delivers until cancelled: whenever something is due, and at once when a message is queued.
    public func run() async {
        guard let wakeups = wakeups.withLock({ stream -> AsyncStream<Void>? in defer { stream = nil }; return stream }) else { return }
        var iterator = wakeups.makeAsyncIterator()
        while !Task.isCancelled {
            await deliverDue()
            let next = (try? outbox.nextDue()) ?? nil
            let wait = max(0.05, min(Self.maxBackoff, next.map { $0.timeIntervalSinceNow } ?? Self.maxBackoff))
            let wake = self.wake
            // Wakes the loop when the next message is due; cancelled (without waking it) when a
            // new message woke it first.
            let timer = Task {
                guard (try? await Task.sleep(for: .milliseconds(Int(wait * 1000)))) != nil else { return }
                wake.yield()
            }
            _ = await iterator.next()
            timer.cancel()
        }
    }
}
